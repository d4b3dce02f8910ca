"""`python -m tap_supermetrics`."""

from tap_supermetrics.tap import TapSupermetrics

TapSupermetrics.cli()

"""`python -m supermetrics_emulator`."""

from supermetrics_emulator.cli import main

raise SystemExit(main())

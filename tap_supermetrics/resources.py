"""Where the JSON Schema files are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def schemas_directory() -> Path:
    """Return the schemas directory.

    A wheel carries `schemas/` inside the package (`tap_supermetrics/schemas`, see
    pyproject's force-include); an editable install or a checkout reads the top-level
    `schemas/` next to the package.
    """
    packaged = Path(__file__).parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / "schemas"

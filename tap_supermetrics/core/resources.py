"""Where the JSON Schema files are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

#: `tap_supermetrics/`, the package's own folder.
_PACKAGE = Path(__file__).resolve().parent.parent


def schemas_directory() -> Path:
    """Return the schemas directory.

    A wheel carries `schemas/` inside the package (`tap_supermetrics/schemas`, see
    pyproject's force-include); an editable install or a checkout reads the top-level
    `schemas/` next to the package.
    """
    packaged = _PACKAGE / "schemas"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / "schemas"

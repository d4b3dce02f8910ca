"""Field metadata remembered between runs, so discovery asks the API only once.

Meltano runs discovery before every `meltano run`. Without this cache each run would
ask `/query/fields` once per data source (or, where that endpoint fails, run one probe
query per query definition). Two kinds of entry live in the directory:

- a data source's field list (`source-<ds_id>-<digest>.json`), keyed by API host and
  `ds_id`: it types every query on that data source, whatever its fields;
- a probe's answer (`<ds_id>-<digest>.json`, the format of earlier versions), keyed by
  API host, `ds_id` and the exact field list.

File names are built from a sanitised `ds_id` plus a digest of the raw key, and every
path is checked to resolve inside the directory, so no input can make the cache read
or write elsewhere. Delete the directory to force a fresh look-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tap_supermetrics.schema.types import FieldSpec
from tap_supermetrics.settings.queries import QueryDefinition

LOGGER = logging.getLogger(__name__)

#: Bumped when the meaning of an entry changes; other values are ignored, not misread.
SOURCE_FORMAT = 3
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_NAME_CHARACTERS = 40


def default_directory() -> Path:
    """`$XDG_CACHE_HOME/tap-supermetrics`, else `~/.cache/tap-supermetrics`."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "tap-supermetrics"


def safe_name(ds_id: str) -> str:
    """The `ds_id` as a file name part: letters, digits and `_` only, at most 40 of them.

    Not unique on its own (`A/B` and `A_B` give the same), which is why every file
    name also carries a digest of the raw key.
    """
    return _UNSAFE.sub("_", ds_id)[:_NAME_CHARACTERS] or "_"


class SchemaCache:
    """A directory of small JSON files: data source field lists and probe answers."""

    def __init__(self, directory: Path, base_url: str) -> None:
        """Use `directory` for entries that belong to the API at `base_url`."""
        self.directory = directory
        self.host = urlsplit(base_url).netloc

    # Paths ----------------------------------------------------------------------

    def path_for(self, definition: QueryDefinition) -> Path:
        """Where the probe answer for this query definition lives."""
        return self._path("", [self.host, definition.ds_id, list(definition.fields)])

    def source_path(self, ds_id: str) -> Path:
        """Where the field list of data source `ds_id` lives."""
        return self._path("source-", [self.host, ds_id])

    def _path(self, prefix: str, identity: list[Any]) -> Path:
        ds_id = str(identity[1])
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:20]
        return self.directory / f"{prefix}{safe_name(ds_id)}-{digest}.json"

    def confined(self, path: Path) -> bool:
        """Whether `path`, symlinks followed, stays inside the cache directory."""
        try:
            return path.resolve().is_relative_to(self.directory.resolve())
        except (OSError, RuntimeError):  # a symlink loop, say
            return False

    # Probe answers (one query definition) ---------------------------------------

    def load(self, definition: QueryDefinition) -> list[FieldSpec] | None:
        """Return the cached fields, or None when absent, unreadable or not matching."""
        fields = self._read(self.path_for(definition))
        if fields is None or [spec.field_id for spec in fields] != list(definition.fields):
            return None
        return fields

    def save(self, definition: QueryDefinition, fields: list[FieldSpec]) -> None:
        """Store a probe's fields; a read-only disk only costs a probe next time."""
        body = {"ds_id": definition.ds_id, "fields": [spec.to_dict() for spec in fields]}
        self._write(self.path_for(definition), body)

    # Field lists (one data source) ----------------------------------------------

    def load_source(self, ds_id: str) -> dict[str, FieldSpec] | None:
        """Return the data source's cached field list by field id, or None."""
        path = self.source_path(ds_id)
        fields = self._read(path, expect_format=SOURCE_FORMAT, expect_ds_id=ds_id)
        return None if fields is None else {spec.field_id: spec for spec in fields}

    def save_source(self, ds_id: str, fields: Iterable[FieldSpec]) -> None:
        """Store a data source's field list, as `/query/fields` gave it."""
        body = {
            "format": SOURCE_FORMAT,
            "ds_id": ds_id,
            "fields": [spec.to_dict() for spec in fields],
        }
        self._write(self.source_path(ds_id), body)

    # Files ----------------------------------------------------------------------

    def _read(
        self, path: Path, expect_format: int | None = None, expect_ds_id: str | None = None
    ) -> list[FieldSpec] | None:
        if not path.exists():
            return None
        if not self.confined(path):
            LOGGER.warning("Ignoring schema cache entry %s: it points outside the cache", path)
            return None
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if expect_format is not None and body.get("format") != expect_format:
                return None
            if expect_ds_id is not None and body.get("ds_id") != expect_ds_id:
                return None
            entries: list[dict[str, Any]] = body["fields"]
            return [FieldSpec.from_meta(entry) for entry in entries]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            LOGGER.warning("Ignoring unreadable schema cache entry %s", path)
            return None

    def _write(self, path: Path, body: dict[str, Any]) -> None:
        """Write atomically (a temporary file renamed over the entry), inside the directory."""
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not (self.confined(path) and self.confined(temporary)):
                LOGGER.warning(
                    "Not writing schema cache entry %s: it points outside the cache", path
                )
                return
            temporary.write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
            temporary.replace(path)
        except OSError as error:
            LOGGER.warning("Could not write schema cache %s: %s", path, error)

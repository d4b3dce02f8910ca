"""Field metadata remembered between runs, so discovery probes the API only once.

Meltano runs discovery before every `meltano run`. Without this cache each run would
cost one probe query per query definition. The entry is keyed by the API host, the
data source and the exact field list: change any of them and the next discovery
probes again. Delete the directory to force a fresh probe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tap_supermetrics.config import QueryDefinition
from tap_supermetrics.fields import FieldSpec

LOGGER = logging.getLogger("tap_supermetrics.schema_cache")


def default_directory() -> Path:
    """`$XDG_CACHE_HOME/tap-supermetrics`, else `~/.cache/tap-supermetrics`."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "tap-supermetrics"


class SchemaCache:
    """A directory of small JSON files, one per (host, ds_id, fields)."""

    def __init__(self, directory: Path, base_url: str) -> None:
        """Use `directory` for entries that belong to the API at `base_url`."""
        self.directory = directory
        self.host = urlsplit(base_url).netloc

    def path_for(self, definition: QueryDefinition) -> Path:
        """Where the entry for this query definition lives."""
        identity = json.dumps([self.host, definition.ds_id, list(definition.fields)])
        digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
        return self.directory / f"{definition.ds_id}-{digest}.json"

    def load(self, definition: QueryDefinition) -> list[FieldSpec] | None:
        """Return the cached fields, or None when absent, unreadable or not matching."""
        path = self.path_for(definition)
        try:
            entries: list[dict[str, Any]] = json.loads(path.read_text())["fields"]
            fields = [FieldSpec(**entry) for entry in entries]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            LOGGER.warning("Ignoring unreadable schema cache entry %s", path)
            return None
        if [spec.field_id for spec in fields] != list(definition.fields):
            return None
        return fields

    def save(self, definition: QueryDefinition, fields: list[FieldSpec]) -> None:
        """Store the fields; a read-only disk only costs a probe next time."""
        path = self.path_for(definition)
        body = {"ds_id": definition.ds_id, "fields": [spec.to_dict() for spec in fields]}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(body, indent=2))
            temporary.replace(path)
        except OSError as error:
            LOGGER.warning("Could not write schema cache %s: %s", path, error)

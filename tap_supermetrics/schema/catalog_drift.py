"""An input catalog discovered before the config changed: what is read, what is refused.

A sync given `--catalog` emits the catalog's schema (the SDK's SCHEMA message comes from
it), and the loader may not validate records (meltano.yml turns that off for speed). So
the tap reads only the fields that are both configured and declared by the catalog: a
field added to `fields` since discovery would give records with a property their SCHEMA
lacks, and a field removed from `fields` cannot be asked for. Both are left out with one
WARNING per stream, naming them and saying to discover again.

A key field cannot be left out: rows would be merged by the target, or the tap could not
tell accounts or days apart. When a field of the catalog's key, its replication key, the
configured date field, account field or `primary_keys` is missing on either side, the
run is refused in one line, before any query (`ConfigError`); so it is when the catalog
lacks the lineage column `_sm_extracted_at`, which every record carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from singer_sdk.singerlib import StreamMetadata

from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.schema.lineage import LINEAGE_FIELD

if TYPE_CHECKING:
    from singer_sdk.singerlib import CatalogEntry

    from tap_supermetrics.settings.queries import QueryDefinition

#: What to do about it, at the end of every message here.
DISCOVER_AGAIN = (
    "the catalog was discovered before the config changed: run discovery again "
    "(`tap-supermetrics --config … --discover`) and sync with the new catalog"
)


@dataclass(frozen=True)
class CatalogFields:
    """How a stream's configured fields and its input catalog's properties differ."""

    stream: str
    #: The properties the catalog declares for the stream (the lineage column aside).
    declared: frozenset[str]
    #: Configured, not in the catalog: left out of the queries and the records.
    not_in_catalog: tuple[str, ...]
    #: In the catalog, no longer configured: cannot be asked for, absent from records.
    not_in_config: tuple[str, ...]

    def warning(self) -> str | None:
        """One line naming the fields left out on either side, or None when none is."""
        sides = []
        if self.not_in_catalog:
            sides.append(f"{_names(self.not_in_catalog)} (in the config, not in the catalog)")
        if self.not_in_config:
            sides.append(f"{_names(self.not_in_config)} (in the catalog, not in the config)")
        if not sides:
            return None
        return (
            f"stream {self.stream!r}: field(s) {' and '.join(sides)} are not read; {DISCOVER_AGAIN}"
        )


def catalog_fields(definition: QueryDefinition, entry: CatalogEntry) -> CatalogFields:
    """Compare the configured fields with the catalog entry of the same stream.

    Raises:
        ConfigError: a key field is missing on either side (one line).
    """
    properties = entry.schema.to_dict().get("properties") or {}
    declared = frozenset(name for name in properties if name != LINEAGE_FIELD)
    configured = set(definition.fields)
    keys = _key_fields(definition, entry)
    missing = [name for name in keys if name not in configured or name not in declared]
    where = [
        f"{name!r} ({'not in the config' if name not in configured else 'not in the catalog'})"
        for name in missing
    ]
    if LINEAGE_FIELD not in properties:  # every record carries it (a catalog of long ago)
        where.append(f"the lineage column {LINEAGE_FIELD!r} (not in the catalog)")
    if where:
        msg = (
            f"stream {definition.name!r}: key field(s) {', '.join(where)} cannot be left out; "
            f"{DISCOVER_AGAIN}"
        )
        raise ConfigError(msg)
    return CatalogFields(
        stream=definition.name,
        declared=declared,
        not_in_catalog=tuple(name for name in definition.fields if name not in declared),
        not_in_config=tuple(sorted(declared - configured)),
    )


def _key_fields(definition: QueryDefinition, entry: CatalogEntry) -> list[str]:
    """The fields a row is told apart by: the catalog's key and the config's, in order."""
    root = entry.metadata.get(())
    root = root if isinstance(root, StreamMetadata) else StreamMetadata()
    names: Iterable[str | None] = (
        *(entry.key_properties or root.table_key_properties or ()),
        entry.replication_key or root.replication_key,
        definition.date_field,
        definition.account_field,
        *(definition.primary_keys or ()),
    )
    return list(dict.fromkeys(name for name in names if name))


def _names(fields: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in fields)

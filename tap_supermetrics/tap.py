"""TapSupermetrics: the settings, and one stream per configured query plus `query_runs`."""

from __future__ import annotations

import copy
import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_supermetrics.client import SupermetricsStream
from tap_supermetrics.config import (
    CONFIG_SCHEMA,
    DEFAULT_BASE_URL,
    QueryDefinition,
    check_settings,
    date_range,
    query_definitions,
)
from tap_supermetrics.errors import ConfigError, ResultShapeError
from tap_supermetrics.fields import FieldSpec, base_type
from tap_supermetrics.lifecycle import PollTiming, QueryExecution, QueryRun
from tap_supermetrics.pagination import read_page
from tap_supermetrics.scheduler import QueryPool
from tap_supermetrics.schema_cache import SchemaCache, default_directory
from tap_supermetrics.streams import QueryRunsStream, QueryStream
from tap_supermetrics.writer import StateFlushingWriter

if TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum

#: JSON Schema type → the legacy data_type name that maps back to it (fields.py).
_DATA_TYPE_OF = {
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "string:date": "date",
    "string:date-time": "datetime",
}


class TapSupermetrics(Tap):
    """Singer tap for the Supermetrics Enterprise API (v2 query endpoints)."""

    name = "tap-supermetrics"
    config_jsonschema = CONFIG_SCHEMA
    # msgspec encoding, flushed per STATE (writer.py); records are typed by fields.py.
    message_writer_class = StateFlushingWriter
    capabilities: list[CapabilitiesEnum] = [  # type: ignore[misc]  # noqa: RUF012
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401 - the SDK's own keywords
        """Check the settings JSON Schema cannot check, before any request is made."""
        self._runs: list[QueryRun] = []
        self._pool = QueryPool()
        super().__init__(**kwargs)
        _ = self.definitions

    @cached_property
    def definitions(self) -> list[QueryDefinition]:
        """The configured queries, checked; a problem is one ConfigValidationError line."""
        known = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(known)
        try:
            check_settings(dict(self.config), known)
            return query_definitions(dict(self.config))
        except ConfigError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None

    @override
    def discover_streams(self) -> list[Stream]:
        fields = self._field_metadata()
        streams: list[Stream] = [
            QueryStream(self, definition, fields[definition.name], self._pool, self._runs)
            for definition in self.definitions
        ]
        streams.append(QueryRunsStream(self, self._runs))
        return streams

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The streams, `query_runs` last so that it reports every query of the sync."""
        streams = super().streams
        if QueryRunsStream.name in streams and list(streams)[-1] != QueryRunsStream.name:
            streams[QueryRunsStream.name] = streams.pop(QueryRunsStream.name)
        return streams

    # Field metadata: catalog, then cache, then one probe query -------------------

    def _field_metadata(self) -> dict[str, list[FieldSpec]]:
        """Each query's fields, by stream name; probes all run side by side."""
        base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL)
        directory = self.config.get("schema_cache_dir")
        cache = SchemaCache(Path(directory) if directory else default_directory(), base_url)
        fields: dict[str, list[FieldSpec]] = {}
        probes: list[tuple[QueryDefinition, QueryExecution]] = []
        for definition in self.definitions:
            known = self._fields_from_catalog(definition) or cache.load(definition)
            if known:
                fields[definition.name] = known
            else:
                probe = self._probe(definition)
                probe.submit()  # submitted before any probe is waited for
                probes.append((definition, probe))
        for definition, probe in probes:
            fields[definition.name] = self._fields_from_probe(definition, probe)
            cache.save(definition, fields[definition.name])
        return fields

    def _fields_from_catalog(self, definition: QueryDefinition) -> list[FieldSpec] | None:
        entry = self.input_catalog.get_stream(definition.name) if self.input_catalog else None
        if entry is None:
            return None
        properties = entry.schema.to_dict().get("properties") or {}
        if any(field_id not in properties for field_id in definition.fields):
            return None
        keys = set(entry.key_properties or ())
        return [
            FieldSpec(
                field_id=field_id,
                field_name=field_id,
                field_type="dim" if field_id in keys else "met",
                data_type=_DATA_TYPE_OF.get(base_type(properties[field_id]), "string"),
            )
            for field_id in definition.fields
        ]

    def _probe(self, definition: QueryDefinition) -> QueryExecution:
        """The query for one day and one row: enough to learn its fields' types."""
        client = SupermetricsStream(self, name=definition.name, schema={"properties": {}})
        day = date_range(dict(self.config), dt.datetime.now(tz=dt.UTC).date()).end
        params = {**definition.parameters(), "max_rows": 1}
        if not definition.pass_through.get("date_range_type"):
            params.update(start_date=day.isoformat(), end_date=day.isoformat())
        describe = f"stream {definition.name!r}, discovery probe"
        return QueryExecution(
            call_api=lambda endpoint, body: client.call_api(endpoint, body, None, describe),
            params=params,
            timing=PollTiming.from_config(dict(self.config)),
            run=QueryRun(definition.name, definition.ds_id, day.isoformat(), day.isoformat()),
            describe=describe,
            page_size=1,
            logger=self.logger,
        )

    def _fields_from_probe(
        self, definition: QueryDefinition, probe: QueryExecution
    ) -> list[FieldSpec]:
        """Wait for the probe and read the fields' metadata off its answer."""
        describe = probe.describe
        field_meta = read_page(probe.wait(), []).field_meta
        if not field_meta:
            msg = f"{describe}: the answer has no meta.query.fields to type the stream by"
            raise ResultShapeError(msg)
        by_id = {spec.field_id: spec for spec in map(FieldSpec.from_meta, field_meta)}
        missing = [field_id for field_id in definition.fields if field_id not in by_id]
        if missing:
            msg = f"{describe}: the API did not describe field(s) {missing}; got {list(by_id)}"
            raise ResultShapeError(msg)
        self.logger.info("%s: typed %d fields", describe, len(by_id))
        return [by_id[field_id] for field_id in definition.fields]


if __name__ == "__main__":
    TapSupermetrics.cli()

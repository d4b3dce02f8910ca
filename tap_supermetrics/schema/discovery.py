"""Discovery: every stream's fields, from the cheapest source that knows them.

In this order: the input catalog (a sync given `--catalog`), the schema cache on
disk, the API's field list (`GET /query/fields`, one request per data source, no
licence query), and only where that endpoint answers an error, one small probe query
per query definition (the fallback of earlier versions). Unknown field ids, and a
date_field that is not a day (`preflight.py`), are refused after the field lists are
read and before any probe or data query is submitted (a probed query's date_field
right after its probe, the first moment its type is known).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tap_supermetrics.api.client import SupermetricsStream
from tap_supermetrics.api.lifecycle import PollTiming, QueryExecution, QueryRun
from tap_supermetrics.api.pagination import read_page
from tap_supermetrics.core.accounts import KNOWN_ACCOUNT_FIELDS
from tap_supermetrics.core.clock import today_utc
from tap_supermetrics.core.errors import ResultShapeError, RunWideError, SupermetricsError
from tap_supermetrics.schema.cache import SchemaCache, default_directory
from tap_supermetrics.schema.field_catalog import (
    FieldListClient,
    UnknownFieldError,
    fetch_field_list,
    unknown_fields_message,
)
from tap_supermetrics.schema.preflight import DateFieldTypeError, date_field_refusals
from tap_supermetrics.schema.types import FieldSpec, base_type
from tap_supermetrics.settings.config_schema import DEFAULT_BASE_URL
from tap_supermetrics.settings.dates import date_range
from tap_supermetrics.settings.queries import QueryDefinition

if TYPE_CHECKING:
    from singer_sdk import Tap

#: JSON Schema type → the legacy data_type name that maps back to it (fields.py).
_DATA_TYPE_OF = {
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "string:date": "date",
    "string:date-time": "datetime",
}


class FieldDiscovery:
    """Finds the fields of each configured query, spending as few requests as it can."""

    def __init__(self, tap: Tap, definitions: Sequence[QueryDefinition]) -> None:
        """Discover for `definitions`, with `tap`'s config, logger and input catalog."""
        self.tap = tap
        self.definitions = list(definitions)
        self.config = dict(tap.config)
        directory = self.config.get("schema_cache_dir")
        self.cache = SchemaCache(
            Path(directory) if directory else default_directory(),
            str(self.config.get("base_url") or DEFAULT_BASE_URL),
        )
        self._sources: dict[str, dict[str, FieldSpec] | None] = {}
        #: Data sources whose `/query/fields` was asked in this run (at most once each).
        self._asked: set[str] = set()

    def fields_by_stream(self) -> dict[str, list[FieldSpec]]:
        """Each query's fields in configured order, by stream name.

        Every check that needs the fields' metadata runs as soon as the fields are
        known: for the queries typed from the catalog, the cache or `/query/fields`
        before any probe or data query, for probed queries right after their probe.

        Raises:
            UnknownFieldError: a field id is not among its data source's fields (the
                line also names any date_field that is not a day).
            DateFieldTypeError: a date_field is not a day (`preflight.py`).
        """
        fields: dict[str, list[FieldSpec]] = {}
        missing: dict[str, list[QueryDefinition]] = {}  # ds_id → definitions still untyped
        for definition in self.definitions:
            known = self._from_catalog(definition) or self._from_cache(definition)
            if known:
                fields[definition.name] = known
            else:
                missing.setdefault(definition.ds_id, []).append(definition)
        unknown, to_probe = self._from_field_lists(missing, fields)
        _refuse(unknown, date_field_refusals(self.definitions, fields))
        probed = self._probe_all(to_probe)
        _refuse([], date_field_refusals(to_probe, probed))
        fields.update(probed)
        return fields

    def metrics_facts(self, definition: QueryDefinition, known: list[FieldSpec]) -> list[FieldSpec]:
        """The fields with the API's own data types and aggregation flags, for reconciling.

        An input catalog keeps only JSON types (a percent is a plain number there, and
        `is_non_aggregatable` is gone): a reconciled query needs the data source's field
        list, from the cache or `/query/fields` (one request per data source, cached).
        Fields the list lacks keep what is known.
        """
        listing = self._listing(
            definition,
            [spec.field_id for spec in known],
            "reconciling stream(s) {} with the types the catalog or the cache gave",
        )
        listing = listing or {}
        return [listing.get(spec.field_id, spec) for spec in known]

    def account_id_fields(self, ds_id: str) -> list[str]:
        """The fields of the data source's list that carry an account's id (`profileID`)."""
        listing = self._sources.get(ds_id) or {}
        return [field_id for field_id in listing if field_id.lower() in KNOWN_ACCOUNT_FIELDS]

    def _listing(
        self, definition: QueryDefinition, field_ids: Sequence[str], instead: str
    ) -> dict[str, FieldSpec] | None:
        """The data source's field list holding `field_ids`: the cache's, else the API's.

        `/query/fields` is asked at most once per data source and run, also when it
        fails (None then: what the list would tell is not known).
        """
        ds_id = definition.ds_id
        if ds_id not in self._sources:
            self._sources[ds_id] = self.cache.load_source(ds_id)
        listing = self._sources[ds_id]
        if (not listing or any(f not in listing for f in field_ids)) and ds_id not in self._asked:
            listing = self._field_list(ds_id, [definition], instead) or listing
        return listing

    def _from_field_lists(
        self, missing: dict[str, list[QueryDefinition]], fields: dict[str, list[FieldSpec]]
    ) -> tuple[list[str], list[QueryDefinition]]:
        """Type `missing` (by ds_id) from `/query/fields` into `fields`.

        Returns:
            The unknown field id refusals, and the definitions left to probe.
        """
        refusals: list[str] = []
        to_probe: list[QueryDefinition] = []
        for ds_id, definitions in missing.items():
            listing = self._field_list(ds_id, definitions)
            if listing is None:
                to_probe += definitions
                continue
            for definition in definitions:
                refusal = unknown_fields_message(definition, listing)
                if refusal:
                    refusals.append(refusal)
                else:
                    fields[definition.name] = [listing[field_id] for field_id in definition.fields]
        return refusals, to_probe

    # Input catalog and cache ------------------------------------------------------

    def _from_catalog(self, definition: QueryDefinition) -> list[FieldSpec] | None:
        """The fields as the input catalog declares them (title, description kept).

        Catalogs written before titles and descriptions existed have neither; the
        field id then stands in for the name. Whether a field is a dimension or a
        metric is the field list's word (cache first, then `/query/fields` once per
        data source), not the catalog's key: with `primary_keys` set, a dimension
        outside the key is still a dimension, and the state's fingerprint (which
        tells dimensions from metrics) is the same with the catalog and without it.
        Only when the field list cannot be had does the catalog's key stand in.
        """
        catalog = self.tap.input_catalog
        entry = catalog.get_stream(definition.name) if catalog else None
        if entry is None:
            return None
        properties = entry.schema.to_dict().get("properties") or {}
        if any(field_id not in properties for field_id in definition.fields):
            return None
        listing = self._listing(
            definition,
            definition.fields,
            "telling dimensions from metrics of stream(s) {} by the input catalog's key",
        )
        listing = listing or {}
        keys = set(entry.key_properties or ())
        specs = []
        for field_id in definition.fields:
            schema = properties[field_id]
            description = schema.get("description")
            listed = listing.get(field_id)
            specs.append(
                FieldSpec(
                    field_id=field_id,
                    field_name=str(schema.get("title") or field_id),
                    field_type=listed.field_type
                    if listed is not None
                    else ("dim" if field_id in keys else "met"),
                    data_type=_DATA_TYPE_OF.get(base_type(schema), "string"),
                    description=str(description) if description else None,
                )
            )
        return specs

    def _from_cache(self, definition: QueryDefinition) -> list[FieldSpec] | None:
        """The data source's cached field list, else a cached probe answer for this query.

        A cached list that lacks a configured field is not used: the field may be new
        at Supermetrics, so the list is fetched again before the field is refused.
        """
        if definition.ds_id not in self._sources:
            self._sources[definition.ds_id] = self.cache.load_source(definition.ds_id)
        listing = self._sources[definition.ds_id]
        if listing and all(field_id in listing for field_id in definition.fields):
            return [listing[field_id] for field_id in definition.fields]
        return self.cache.load(definition)

    # /query/fields ----------------------------------------------------------------

    def _field_list(
        self,
        ds_id: str,
        definitions: list[QueryDefinition],
        instead: str = "typing stream(s) {} with a one-row probe query each instead",
    ) -> dict[str, FieldSpec] | None:
        """The data source's fields from the API (cached), or None: probe instead.

        Any failure but a rejected key falls back to the probe, also when retries of
        429/5xx are spent: the endpoint may be down for this data source only, and
        the probe then either works or fails with its own, clear error. `instead` says
        in the warning what is done without the list (`{}`: the streams).
        """
        self._asked.add(ds_id)
        client = FieldListClient(self.tap, name=f"{ds_id}_fields", schema={"properties": {}})
        try:
            listing = fetch_field_list(client, ds_id)
        except RunWideError:
            raise  # the key or the licence: a probe would be refused the same way
        except SupermetricsError as error:  # an error answer, or retries (429, 5xx) spent
            names = ", ".join(repr(definition.name) for definition in definitions)
            self.tap.logger.warning("%s; %s", error, instead.format(names))
            return None
        self.tap.logger.info("data source %r: /query/fields lists %d fields", ds_id, len(listing))
        self.cache.save_source(ds_id, listing.values())
        self._sources[ds_id] = listing
        return listing

    # Probe queries (fallback) -----------------------------------------------------

    def _probe_all(self, definitions: list[QueryDefinition]) -> dict[str, list[FieldSpec]]:
        """Probe each query, all submitted before any is waited for; cache the answers."""
        probes = []
        for definition in definitions:
            probe = self._probe(definition)
            probe.submit()
            probes.append((definition, probe))
        fields: dict[str, list[FieldSpec]] = {}
        for definition, probe in probes:
            fields[definition.name] = self._fields_from_probe(definition, probe)
            self.cache.save(definition, fields[definition.name])
        return fields

    def _probe(self, definition: QueryDefinition) -> QueryExecution:
        """The query for one day and one row: enough to learn its fields' types."""
        client = SupermetricsStream(self.tap, name=definition.name, schema={"properties": {}})
        day = date_range(self.config, today_utc()).end
        params = {**definition.parameters(), "max_rows": 1}
        if not definition.pass_through.get("date_range_type"):
            params.update(start_date=day.isoformat(), end_date=day.isoformat())
        describe = f"stream {definition.name!r}, discovery probe"
        return QueryExecution(
            call_api=lambda endpoint, body: client.call_api(endpoint, body, None, describe),
            params=params,
            timing=PollTiming.from_config(self.config),
            run=QueryRun(definition.name, definition.ds_id, day.isoformat(), day.isoformat()),
            describe=describe,
            page_size=1,
            logger=self.tap.logger,
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
        self.tap.logger.info("%s: typed %d fields", describe, len(by_id))
        return [by_id[field_id] for field_id in definition.fields]


def _refuse(unknown: list[str], wrong_date_fields: list[str]) -> None:
    """Raise every refusal at once, one line each, unknown field ids first."""
    if unknown:
        raise UnknownFieldError([*unknown, *wrong_date_fields])
    if wrong_date_fields:
        raise DateFieldTypeError(wrong_date_fields)

"""TapSupermetrics: the settings, one stream per configured query, `coverage`, `query_runs`."""

from __future__ import annotations

import copy
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_supermetrics.api.lifecycle import PollTiming
from tap_supermetrics.check.reconcile import OFF, mode, reconcile_spec
from tap_supermetrics.core.errors import ConfigError, SupermetricsError
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.read.scheduler import DEFAULT_SLOTS
from tap_supermetrics.read.sync_run import SyncRun
from tap_supermetrics.schema.discovery import FieldDiscovery
from tap_supermetrics.schema.types import FieldSpec
from tap_supermetrics.settings.checks import check_settings
from tap_supermetrics.settings.config_schema import CONFIG_SCHEMA
from tap_supermetrics.settings.queries import QueryDefinition, query_definitions
from tap_supermetrics.streams.allocator import keep_large_buffers_out_of_the_heap
from tap_supermetrics.streams.coverage import CoverageStream
from tap_supermetrics.streams.query import QueryStream
from tap_supermetrics.streams.query_runs import QueryRunsStream
from tap_supermetrics.streams.reconciliation import ReconciliationStream
from tap_supermetrics.streams.writer import StateFlushingWriter

if TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum


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
        keep_large_buffers_out_of_the_heap()
        self._run = SyncRun()
        super().__init__(**kwargs)
        _ = self.definitions
        self._run.pool.result_lifetime = float(self.config.get("result_lifetime", 3600))
        self._run.pool.queue.configure(
            int(self.config.get("max_concurrent_queries", DEFAULT_SLOTS)),
            PollTiming.from_config(dict(self.config)),
        )
        self._run.pool.budget.limit = Limits.from_config(self.config).max_rows_per_run

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
        """One stream per query, typed by `FieldDiscovery`, then `query_runs`.

        An unknown field id, or a date_field that is not a day (`preflight.py`), is a
        settings mistake: it is reported like the other settings errors (one line, exit
        code 1), before any data query.
        """
        try:
            discovery = FieldDiscovery(self, self.definitions)
            fields = discovery.fields_by_stream()
            facts = self._reconcile_facts(discovery, fields)
        except ConfigError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        streams: list[Stream] = [
            QueryStream(
                self, definition, fields[definition.name], self._run, facts.get(definition.name)
            )
            for definition in self.definitions
        ]
        query_streams = [(stream.name, stream) for stream in streams]
        streams.append(ReconciliationStream(self, self._run))
        streams.append(CoverageStream(self, self._run, query_streams))
        streams.append(QueryRunsStream(self, self._run))
        return streams

    def _reconcile_facts(
        self, discovery: FieldDiscovery, fields: dict[str, list[FieldSpec]]
    ) -> dict[str, list[FieldSpec]]:
        """Per reconciled stream, its fields as the API types them; refuse what cannot be.

        Raises:
            ConfigError: a query sets `reconcile` itself and cannot be reconciled.
        """
        facts: dict[str, list[FieldSpec]] = {}
        for definition in self.definitions:
            if mode(definition.reconcile) == OFF:
                continue
            facts[definition.name] = discovery.metrics_facts(definition, fields[definition.name])
            _, skipped = reconcile_spec(definition, facts[definition.name], definition.fields)
            if skipped:
                self.logger.info("%s", skipped)
        return facts

    @classmethod
    @override
    def invoke(cls, **kwargs: Any) -> None:
        """Run the tap; an API error that ends the run is one line, not a traceback.

        The SDK logs an uncaught exception with its traceback. A refused key, a
        licence limit or the failures collected over the run are the user's to act
        on, and a traceback only hides the line that says what to do.
        """
        try:
            super().invoke(**kwargs)
        except SupermetricsError as error:
            cls.logger.error("%s", error)  # noqa: TRY400 - the message is the whole story
            raise SystemExit(1) from None

    @override
    def run_discovery(self) -> str:
        """Print the catalog; a refused field id ends it in one line with exit code 1.

        The SDK runs discovery outside the handler that turns settings errors into a
        log line (it does so for errors raised while constructing the tap), so
        without this an unknown field id would end in a traceback.
        """
        try:
            return super().run_discovery()
        except ConfigValidationError as error:
            for message in error.errors:
                self.logger.error("%s", message)  # noqa: TRY400 - a user's mistake, no traceback
            raise SystemExit(1) from None
        except SupermetricsError as error:
            self.logger.error("%s", error)  # noqa: TRY400 - an API answer, no traceback
            raise SystemExit(1) from None

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The streams, `coverage` then `query_runs` last: they report on all the others."""
        streams = super().streams
        for last in (ReconciliationStream.name, CoverageStream.name, QueryRunsStream.name):
            if last in streams:
                streams[last] = streams.pop(last)
        return streams


if __name__ == "__main__":
    TapSupermetrics.cli()

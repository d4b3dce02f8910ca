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
from tap_supermetrics.core.errors import (
    ConfigError,
    ConfigMistakesError,
    Problems,
    SupermetricsError,
    problem_lines,
)
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.run.scheduler import DEFAULT_SLOTS
from tap_supermetrics.run.sync_run import SyncRun
from tap_supermetrics.schema.catalog_drift import catalog_fields
from tap_supermetrics.schema.discovery import FieldDiscovery
from tap_supermetrics.schema.types import FieldSpec
from tap_supermetrics.settings.checks import check_settings
from tap_supermetrics.settings.config_schema import CONFIG_SCHEMA
from tap_supermetrics.settings.queries import QueryDefinition
from tap_supermetrics.streams.allocator import keep_large_buffers_out_of_the_heap
from tap_supermetrics.streams.coverage import CoverageStream
from tap_supermetrics.streams.metric_lines import set_metric_lines
from tap_supermetrics.streams.query import QueryStream
from tap_supermetrics.streams.query_runs import QueryRunsStream
from tap_supermetrics.streams.reconciliation import ReconciliationStream
from tap_supermetrics.streams.writer import StateFlushingWriter

if TYPE_CHECKING:
    import logging

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
        """Check every setting before any request is made, all mistakes at once.

        The SDK's own JSON Schema check is turned off (`validate_config`): it runs in a
        sync but not in discovery, and stops there, so a config with a wrong type and
        a bad date would report the type first and the date one run later.
        `check_settings` checks the types too, and everything else, in both.
        """
        keep_large_buffers_out_of_the_heap()
        self._run = SyncRun()
        super().__init__(**{**kwargs, "validate_config": False})
        _ = self.definitions
        if self.config.get("dry_run") and isinstance(self.message_writer, StateFlushingWriter):
            self.message_writer.only_state = True  # a dry run leaves the warehouse alone
        self._hold_every_streams_bookmark()
        self._run.pool.result_lifetime = float(self.config.get("result_lifetime", 3600))
        self._run.pool.queue.configure(
            int(self.config.get("max_concurrent_queries", DEFAULT_SLOTS)),
            PollTiming.from_config(dict(self.config)),
        )
        self._run.pool.budget.limit = Limits.from_config(self.config).max_rows_per_run

    @cached_property
    def definitions(self) -> list[QueryDefinition]:
        """The configured queries, checked; each mistake is one ConfigValidationError line."""
        known = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(known)
        try:
            return check_settings(dict(self.config), known)
        except ConfigError as error:
            raise settings_refused(error) from None

    def _hold_every_streams_bookmark(self) -> None:
        """Give every stream its bookmark from the start, empty where it has none.

        Each stream's end writes the whole state; a stream that adds its own first empty
        bookmark makes that STATE differ from the last one only by it, and at 1,000
        accounts that is 75 KB written for nothing (unchanged ones are not written again).
        """
        bookmarks = self.state.setdefault("bookmarks", {})
        names = [d.name for d in self.definitions]
        names += [ReconciliationStream.name, CoverageStream.name, QueryRunsStream.name]
        for name in names:
            bookmarks.setdefault(name, {})

    @override
    def discover_streams(self) -> list[Stream]:
        """One stream per query, typed by `FieldDiscovery`, then `query_runs`.

        The checks that need the fields' metadata (unknown field ids, a date_field that
        is not a day, a query that cannot be reconciled) are settings mistakes too: all
        of them are reported together like the other settings mistakes (one line
        each, exit code 1), after discovery and before any data query.
        """
        # Here, not in __init__: the SDK discovers while the tap is being made, and
        # discovery's /query/fields request writes a METRIC line too.
        set_metric_lines(self.metrics_logger, str(self.config.get("metric_lines") or "all"))
        problems = Problems()
        declared: dict[str, frozenset[str]] = {}
        with problems.collect():
            declared = self._catalog_fields()
        try:
            discovery = FieldDiscovery(self, self.definitions)
            fields = discovery.fields_by_stream()
            facts = self._reconcile_facts(discovery, fields)
        except ConfigError as error:
            problems.add(*problem_lines(error))
        if problems:
            raise settings_refused(ConfigMistakesError(problems.lines)) from None
        streams: list[Stream] = [
            QueryStream(
                self,
                definition,
                fields[definition.name],
                self._run,
                facts.get(definition.name),
                catalog_fields=declared.get(definition.name),
                account_id_fields=discovery.account_id_fields(definition.ds_id),
            )
            for definition in self.definitions
        ]
        query_streams = [(stream.name, stream) for stream in streams]
        streams.append(ReconciliationStream(self, self._run))
        streams.append(CoverageStream(self, self._run, query_streams))
        streams.append(QueryRunsStream(self, self._run))
        return streams

    def _catalog_fields(self) -> dict[str, frozenset[str]]:
        """Per stream of the input catalog, the fields it declares; refuse a missing key.

        A catalog discovered before the config changed (`catalog_drift.py`): the fields
        on one side only are not read, with one WARNING per stream; a key field missing
        on either side is refused with the other settings mistakes.

        Raises:
            ConfigMistakesError: the streams whose key fields are missing, one line each.
        """
        catalog = self.input_catalog
        declared: dict[str, frozenset[str]] = {}
        problems = Problems()
        for definition in self.definitions:
            entry = catalog.get_stream(definition.name) if catalog else None
            if entry is None:
                continue
            with problems.collect():
                compared = catalog_fields(definition, entry)
                declared[definition.name] = compared.declared
                if warning := compared.warning():
                    self.logger.warning("%s", warning)
        problems.raise_if_any()
        return declared

    def _reconcile_facts(
        self, discovery: FieldDiscovery, fields: dict[str, list[FieldSpec]]
    ) -> dict[str, list[FieldSpec]]:
        """Per reconciled stream, its fields as the API types them; refuse what cannot be.

        Raises:
            ConfigMistakesError: the queries that set `reconcile` themselves and cannot be
                reconciled, one line each.
        """
        facts: dict[str, list[FieldSpec]] = {}
        problems = Problems()
        for definition in self.definitions:
            if mode(definition.reconcile) == OFF:
                continue
            facts[definition.name] = discovery.metrics_facts(definition, fields[definition.name])
            with problems.collect():
                _, skipped = reconcile_spec(definition, facts[definition.name], definition.fields)
                if skipped:
                    self.logger.info("%s", skipped)
        problems.raise_if_any()
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
        except ConfigValidationError as error:  # settings mistakes, in a sync
            report_refusal(cls.logger, error)
            raise SystemExit(1) from None
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
            report_refusal(self.logger, error)
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


def settings_refused(error: ConfigError) -> ConfigValidationError:
    """The SDK's error for settings mistakes, one entry per line of `error`."""
    return ConfigValidationError("Config validation failed", errors=problem_lines(error))


def report_refusal(logger: logging.Logger, error: ConfigValidationError) -> None:
    """Log every settings mistake as its own ERROR line.

    In the words the SDK uses when it refuses settings during discovery (it logs the
    errors raised while the tap is made there itself), so that a mistake reads the same
    in a sync, in `--discover`, and whether it was found before or after discovery.
    """
    for line in error.errors:
        logger.error("Config validation error: %s", line)


if __name__ == "__main__":
    TapSupermetrics.cli()

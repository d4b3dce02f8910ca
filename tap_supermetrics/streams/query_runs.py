"""The fixed `query_runs` stream: one record per Supermetrics query the sync executed.

It says which stream, accounts and days each query covered, when it finished, and
why it was planned; its `extracted_at` is the `_sm_extracted_at` its rows carry, which
traces every row to its query. The current relations (dbt) read it to learn what the
latest successful query of each day and account answered, rows or none: so `accounts`
are the accounts that execution read, not the stream's. It syncs last, so it reports
every query of the run, and it is where the run fails, after every stream is out, when
an account failed on the way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_supermetrics.core.resources import schemas_directory
from tap_supermetrics.run.progress import run_summary
from tap_supermetrics.run.usage import dry_run_total, usage_line

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_supermetrics.run.sync_run import SyncRun


class QueryRunsStream(Stream):
    """One record per executed Supermetrics query, emitted after the query streams."""

    name = "query_runs"
    primary_keys = ("schedule_id",)
    schema = StreamSchema(SchemaDirectory(schemas_directory()), key="query_runs")

    def __init__(self, tap: Tap, run: SyncRun) -> None:
        """Report the runs collected in `run` by the query streams."""
        super().__init__(tap=tap)
        self._run = run

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for run in self._run.runs:
            yield run.record()
        self._flush()  # the last stream: its records go out now, a STATE after them or not

    def _flush(self) -> None:
        flush = getattr(self._tap.message_writer, "flush", None)
        if callable(flush):
            flush()

    @override
    def log_sync_costs(self) -> None:
        """Fail the run once every stream has synced, if an account failed on the way.

        `Tap.sync_all` (final) calls this for every stream after the last one synced,
        `query_runs` last: the one public place that runs after all streams, so the
        other accounts' and streams' rows and STATE are out before the run fails.
        """
        super().log_sync_costs()
        self._run.pool.close()
        dry_run = bool(self.config.get("dry_run"))
        if dry_run:
            self.logger.info("%s", dry_run_total(self._run))
        self.logger.info("%s", run_summary(self._run, dry_run=dry_run))
        self.logger.info("%s", usage_line(self._run, dry_run=dry_run))
        self._run.failures.raise_if_any(self.logger)

"""The fixed `coverage` stream: per stream and account, what is loaded and what is not.

Gaps must show where people look, in the warehouse, not only in Meltano's state: days a
failed account could not load, days the row budget deferred, days never read. One
record per (stream, account) of every date-incremental stream the run planned, written
after the query streams and upserted on that key, so the table always holds the latest
picture. The current relations (dbt) ignore it: it is not a stream of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_supermetrics.core.resources import schemas_directory
from tap_supermetrics.plan.coverage import DayRange, DaySet
from tap_supermetrics.plan.planner import ALL_ACCOUNTS
from tap_supermetrics.run.failures import AccountFailure

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_supermetrics.read.reads import StreamReads
    from tap_supermetrics.run.sync_run import SyncRun


class CoverageStream(Stream):
    """One record per stream and account: loaded, missing, deferred and failed days."""

    name = "coverage"
    primary_keys = ("stream", "account")
    schema = StreamSchema(SchemaDirectory(schemas_directory()), key="coverage")

    def __init__(self, tap: Tap, run: SyncRun, reads: Iterable[tuple[str, Any]]) -> None:
        """Report the plans of `reads`: (stream name, the stream) pairs, in sync order."""
        super().__init__(tap=tap)
        self._run = run
        self._streams = list(reads)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if self.config.get("dry_run"):  # a dry run emits no records
            return
        updated_at = dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds")
        for name, stream in self._streams:
            reads = planned_reads(stream)
            if reads is not None and reads.definition.date_field is not None:
                yield from self._records(name, reads, updated_at)

    def _records(self, name: str, reads: StreamReads, updated_at: str) -> Iterator[dict[str, Any]]:
        coverage = reads.plan.coverage
        complete = reads.wanted & DaySet.of(reads.configured.start, reads.last_complete_day)
        deferred = self._run.pool.budget.of(name).deferred
        for account in reads.keys:
            loaded = coverage.loaded(account)
            days = {
                "loaded": loaded,
                "missing": complete - loaded,
                "deferred": DaySet(
                    DayRange(q.window.start, q.window.end)
                    for q in deferred
                    if q.window and (account in q.accounts or ALL_ACCOUNTS in q.accounts)
                ),
                "failed": self._failed_days(name, account),
            }
            yield {
                "stream": name,
                "account": account,
                "date_field": reads.definition.date_field,
                "as_of": reads.as_of.isoformat(),
                **{kind: ", ".join(map(str, ranges)) for kind, ranges in days.items()},
                **{f"{kind}_days": _count(ranges) for kind, ranges in days.items()},
                "failed_code": coverage.failed.get(account),
                "refreshed": dict(coverage.refreshed.get(account) or {}),
                "rows_per_day": coverage.rows_per_day.get(account),
                "updated_at": updated_at,
            }

    def _failed_days(self, stream: str, account: str) -> DaySet:
        """The windows that failed for `account` in this run."""
        days: list[DayRange] = []
        for failure in self._run.failures.failures:
            if isinstance(failure, AccountFailure) and (failure.stream, failure.account) == (
                stream,
                account,
            ):
                first, _, last = failure.window.partition("..")
                try:
                    days.append(DayRange(dt.date.fromisoformat(first), dt.date.fromisoformat(last)))
                except ValueError:  # "as configured": no dates
                    continue
        return DaySet(days)


def planned_reads(stream: Any) -> StreamReads | None:  # noqa: ANN401 - a QueryStream
    """The stream's reads if this run planned them (a stream not synced has none)."""
    reads = stream.__dict__.get("reads")
    if reads is None or "plan" not in reads.__dict__:
        return None
    return reads  # type: ignore[no-any-return]


def _count(days: DaySet) -> int:
    return sum((item.end - item.start).days + 1 for item in days)

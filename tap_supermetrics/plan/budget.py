"""The run's row budget (`max_rows_per_run`), shared by every stream of the tap process.

A licence returns 10,000,000 rows a month by default, and one backfill can spend them in a
night. With a budget the run reads what matters first and leaves the rest as gaps in
coverage for the next runs:

1. Up front (`allocate`, when the sync starts), every stream's queries are ranked: new
   days and due refreshes of every stream first, then backfill of every stream, newest
   days first. Queries are earmarked in that order while their estimates (from the rows
   earlier runs returned) fit; the rest are deferred, and so is every older backfill
   query once one did not fit, so coverage grows back from the newest day without holes.
2. At submission (`admit`), also of queries submitted ahead, a query is reserved only if
   the rows received so far, the reservations of queries still running and the earmarks
   of queries still to come leave room for its estimate, which is taken again from the
   rates learnt so far in this run. A stream never read has no estimate: one such query
   at a time may run per stream, and it teaches the others theirs.
3. Rows are counted as they are paged (`receive`); a finished query's reservation is
   released (`release`).

So a run spends at most the budget plus one unestimated query per stream, and the
estimates' error. Nothing deferred is lost: its days stay missing in coverage and the
next runs read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.plan.planner import PlannedQuery

Key = tuple[str, PlannedQuery]


@dataclass
class StreamUsage:
    """What one stream planned, received and deferred in this run."""

    planned_queries: int = 0
    planned_rows: int = 0
    unestimated_queries: int = 0
    rows_received: int = 0
    deferred: list[PlannedQuery] = field(default_factory=list)

    @property
    def deferred_rows(self) -> int:
        """The deferred queries' estimated rows (unestimated ones count none)."""
        return sum(query.estimate or 0 for query in self.deferred)

    def planned(self, queries: Sequence[PlannedQuery]) -> None:
        """Count a stream's planned queries and their estimates."""
        self.planned_queries = len(queries)
        self.planned_rows = sum(query.estimate or 0 for query in queries)
        self.unestimated_queries = sum(query.estimate is None for query in queries)


class RowBudget:
    """The rows a run may receive, and who has reserved what."""

    def __init__(self, limit: int | None = None) -> None:
        """Start with nothing received; `limit` None means no budget (all is admitted)."""
        self.limit = limit
        self.received = 0
        self.usage: dict[str, StreamUsage] = {}
        self._reserved: dict[Key, int] = {}
        self._earmarked: dict[Key, int] = {}
        self._deferred: set[Key] = set()
        self._unestimated: dict[str, Key] = {}
        self._backfill_stopped: set[str] = set()

    def of(self, stream: str) -> StreamUsage:
        """The usage of one stream."""
        return self.usage.setdefault(stream, StreamUsage())

    @property
    def committed(self) -> int:
        """Rows received, plus reserved by running queries, plus earmarked for later ones."""
        return self.received + sum(self._reserved.values()) + sum(self._earmarked.values())

    def allocate(self, candidates: Sequence[Key]) -> None:
        """Earmark the queries that fit, in priority order; defer the others."""
        if self.limit is None:
            return
        current = [key for key in candidates if not key[1].backfill]
        backfill = sorted(
            (key for key in candidates if key[1].backfill),
            key=lambda key: -key[1].window.end.toordinal() if key[1].window else 0,
        )
        total = 0
        unestimated: set[str] = set()
        backfill_full = False
        for key in [*current, *backfill]:
            stream, planned = key
            if planned.estimate is None:
                if stream not in unestimated:  # the stream's first: it runs, unearmarked
                    unestimated.add(stream)
                continue  # later ones are judged when submitted, on what was learnt
            if (planned.backfill and backfill_full) or total + planned.estimate > self.limit:
                backfill_full = backfill_full or planned.backfill
                self._defer(key)
                continue
            total += planned.estimate
            self._earmarked[key] = planned.estimate

    def is_deferred(self, stream: str, planned: PlannedQuery) -> bool:
        """Whether the allocation (or an earlier refusal) deferred this query."""
        return (stream, planned) in self._deferred

    def admit(
        self, stream: str, planned: PlannedQuery, estimate: int | None, *, ahead: bool = False
    ) -> bool:
        """Reserve rows for a query about to be submitted; False: it must not be.

        A query submitted `ahead` that does not fit now is not deferred: it is asked
        again when its stream reaches it.
        """
        key = (stream, planned)
        if self.limit is None or key in self._reserved:
            return True
        if key in self._deferred:
            return False
        earmark = self._earmarked.pop(key, 0)
        committed = self.committed
        fits = (
            stream not in self._unestimated and committed < self.limit
            if estimate is None
            else committed + estimate <= self.limit
        )
        if planned.backfill and stream in self._backfill_stopped:
            fits = False
        if not fits:
            if ahead:
                self._earmarked[key] = earmark
            else:
                self._defer(key)
                if planned.backfill:
                    self._backfill_stopped.add(stream)
            return False
        self._reserved[key] = estimate or 0
        if estimate is None:
            self._unestimated[stream] = key
        return True

    def release(self, stream: str, planned: PlannedQuery | None = None) -> None:
        """A query finished (or was dropped): its rows are counted, not reserved any more.

        Without `planned`, every reservation of the stream is released (it stopped).
        """
        keys = [key for key in self._reserved if key[0] == stream and planned in (None, key[1])]
        for key in keys:
            del self._reserved[key]
            if self._unestimated.get(stream) == key:
                del self._unestimated[stream]

    def receive(self, stream: str, rows: int) -> None:
        """Count rows paged by one of the stream's queries."""
        self.received += rows
        self.of(stream).rows_received += rows

    def _defer(self, key: Key) -> None:
        self._deferred.add(key)
        self.of(key[0]).deferred.append(key[1])

    def summary(self) -> dict[str, Any]:
        """The run's totals against the budget, for the usage line."""
        return {
            "max_rows_per_run": self.limit,
            "rows_received": self.received,
            "deferred_queries": sum(len(usage.deferred) for usage in self.usage.values()),
            "deferred_rows": sum(usage.deferred_rows for usage in self.usage.values()),
        }

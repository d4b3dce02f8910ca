"""The run's row budget (`max_rows_per_run`), shared by every stream of the tap process.

A licence returns 10,000,000 rows a month by default, and one backfill can spend them in a
night. With a budget the run reads what matters first and leaves the rest as gaps in
coverage for the next runs:

1. Up front (`allocate`, when the sync starts), every stream's queries are ranked: the
   new days of every stream first, then their refreshes (due tiers, the unsettled day,
   re-reads), then backfill of every stream, newest days first. The planner keeps these
   apart (a budgeted plan never merges a refresh with new days), so one never waits for
   another. In that order each query is earmarked when its estimate (from the rows
   earlier runs returned) fits what is left; when it does not, it is cut to what fits,
   by days and then by accounts (`fitting.py`), and the rest is deferred. So a window
   larger than the whole budget is read a part at a time, run after run. A stream's
   backfill stops at its first cut, so that its coverage grows back from the newest day
   without holes.
2. At submission (`admit`), also of queries submitted ahead, a query is reserved only if
   the rows received so far, the reservations of queries still running and the earmarks
   of queries still to come leave room for its estimate, which is taken again from the
   rates learnt so far in this run; if they do not, it is cut to what they leave. A
   stream never read has no estimate: one such query at a time may run per stream, and
   it teaches the others theirs.
3. Rows are counted as they are paged (`receive`); a finished query's reservation is
   released (`release`).
4. Totals queries (reconciliation) have a line of their own (`admit_totals`): one that
   does not fit is skipped, and its window is not reconciled; it is never deferred.

When not even one day of one account fits in what the budget leaves a stream after the
classes ranked before it, the stream cannot progress at all: its `Stall` says the
smallest `max_rows_per_run` that would let it, and the run says so in one WARNING.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.plan.fitting import fit
from tap_supermetrics.plan.planner import PlannedQuery
from tap_supermetrics.plan.sizing import RowRates

Key = tuple[str, PlannedQuery]
#: The classes of a budgeted plan, in the order the budget serves them.
NEW_DAYS, REFRESHES, BACKFILL = "new days", "refreshes", "backfill"


def class_of(planned: PlannedQuery) -> str:
    """The budget class of a planned query."""
    if planned.backfill:
        return BACKFILL
    return REFRESHES if planned.refresh else NEW_DAYS


@dataclass(frozen=True)
class Candidate:
    """A planned query of one stream, with the rates its rows are estimated from."""

    stream: str
    planned: PlannedQuery
    rates: RowRates


@dataclass(frozen=True)
class Stall:
    """A stream the budget cannot let progress: not one day of one account fits."""

    #: The class that cannot progress (`backfill`, `new days`, `refreshes`).
    what: str
    #: The rows the classes ranked before it take.
    floor: int
    #: The rows of its smallest part: one day of one account (or of the whole query).
    unit: int

    @property
    def needed(self) -> int:
        """The smallest `max_rows_per_run` with which it progresses."""
        return self.floor + self.unit


@dataclass
class StreamUsage:
    """What one stream planned, received and deferred in this run."""

    planned_queries: int = 0
    planned_rows: int = 0
    unestimated_queries: int = 0
    rows_received: int = 0
    deferred: list[PlannedQuery] = field(default_factory=list)
    #: Set when the budget cannot let the stream progress at all.
    stall: Stall | None = None
    #: Totals queries (reconciliation): planned, their estimated rows, and skipped.
    totals_planned: int = 0
    totals_rows: int = 0
    totals_skipped: int = 0
    #: Accounts read on their own to confirm that the API did not leave them out (sent, or
    #: expected in a dry run).
    confirmations: int = 0

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
        #: Per planned query, the part the allocation kept of it.
        self._kept: dict[Key, PlannedQuery] = {}
        self._unestimated: dict[str, Key] = {}
        self._backfill_stopped: set[str] = set()

    def of(self, stream: str) -> StreamUsage:
        """The usage of one stream."""
        return self.usage.setdefault(stream, StreamUsage())

    @property
    def committed(self) -> int:
        """Rows received, plus reserved by running queries, plus earmarked for later ones."""
        return self.received + sum(self._reserved.values()) + sum(self._earmarked.values())

    def allocate(self, candidates: Sequence[Candidate]) -> None:
        """Earmark what fits, in rank order, cutting to fit; defer the rest."""
        if self.limit is None:
            return
        current = [c for c in candidates if class_of(c.planned) == NEW_DAYS]
        current += [c for c in candidates if class_of(c.planned) == REFRESHES]
        backfill = sorted(
            (c for c in candidates if c.planned.backfill),
            key=lambda c: -c.planned.window.end.toordinal() if c.planned.window else 0,
        )
        served = self._serve(current, 0, floor=None)
        self._serve(backfill, served, floor=served)

    def _serve(self, ranked: Sequence[Candidate], total: int, floor: int | None) -> int:
        """Earmark `ranked` in order on top of `total` rows; the rows earmarked after.

        `floor`: the rows that classes ranked before these take, for a stall's figure
        (None: everything earmarked before the query).
        """
        assert self.limit is not None  # noqa: S101 - only called with a budget
        for candidate in ranked:
            stream, planned = candidate.stream, candidate.planned
            if planned.estimate is None:  # never read: judged at submission
                continue
            if planned.backfill and stream in self._backfill_stopped:
                self._defer((stream, planned))
                continue
            before = total if floor is None else floor
            cut = fit(planned, self.limit - total, candidate.rates, room=self.limit - before)
            if cut.now is None:
                self._defer((stream, planned))
                self._note_stall(stream, planned, cut.unit, before)
                if planned.backfill:
                    self._backfill_stopped.add(stream)
                continue
            estimate = cut.now.estimate or 0
            total += estimate
            self._earmarked[(stream, cut.now)] = estimate
            self._kept[(stream, planned)] = cut.now
            for part in cut.later:
                self._defer((stream, part))
            if cut.later and planned.backfill:
                self._backfill_stopped.add(stream)
        return total

    def planned_for(self, stream: str, queries: Sequence[PlannedQuery]) -> list[PlannedQuery]:
        """The queries a stream sends, as the allocation cut them, deferred ones left out."""
        return [
            self._kept.get((stream, planned), planned)
            for planned in queries
            if (stream, planned) not in self._deferred
        ]

    def is_deferred(self, stream: str, planned: PlannedQuery) -> bool:
        """Whether the allocation (or an earlier refusal) deferred this query."""
        return (stream, planned) in self._deferred

    def admit(
        self, stream: str, planned: PlannedQuery, rates: RowRates, *, ahead: bool = False
    ) -> PlannedQuery | None:
        """Reserve rows for a query about to be submitted: the part that may be, or None.

        The estimate is taken again from `rates` (what this run has learnt). A query that
        does not fit whole is cut to what is left; one submitted `ahead` is not cut and
        not deferred: it is asked again when its stream reaches it.
        """
        key = (stream, planned)
        if self.limit is None or key in self._reserved:
            return planned
        if key in self._deferred:
            return None
        allocated = key in self._earmarked
        earmark = self._earmarked.pop(key, 0)
        kept = self._reserve_part(stream, planned, rates, ahead=ahead, allocated=allocated)
        if kept is None:
            self._refuse(key, earmark, ahead=ahead)
        return kept

    def _reserve_part(
        self, stream: str, planned: PlannedQuery, rates: RowRates, *, ahead: bool, allocated: bool
    ) -> PlannedQuery | None:
        """Reserve what of `planned` fits now; defer the rest of it (None: nothing fits).

        `allocated`: the allocation earmarked it, so a backfill stopped after it still
        lets it through.
        """
        assert self.limit is not None  # noqa: S101 - only called with a budget
        left = self.limit - self.committed
        estimate = rates.estimate(planned.accounts, planned.window)
        if estimate is None:
            if stream in self._unestimated or left <= 0:
                return None
            self._unestimated[stream] = (stream, planned)
            self._reserved[(stream, planned)] = 0
            return planned
        if planned.backfill and stream in self._backfill_stopped and not allocated:
            return None
        cut = fit(planned, left, rates, room=self.limit)
        if cut.now is None or (ahead and cut.now != planned):
            return None
        for part in cut.later:
            self._defer((stream, part))
        if cut.later and planned.backfill:
            self._backfill_stopped.add(stream)
        # A part cut to fit carries its own estimate; a query that fits whole, today's.
        reserved = estimate if cut.now is planned else cut.now.estimate
        self._reserved[(stream, cut.now)] = reserved or 0
        return cut.now

    def _refuse(self, key: Key, earmark: int, *, ahead: bool) -> None:
        """A query that does not fit: kept for later when ahead, else deferred."""
        if ahead:
            self._earmarked[key] = earmark
            return
        self._defer(key)
        if key[1].backfill:
            self._backfill_stopped.add(key[0])

    def admit_totals(self, stream: str, planned: PlannedQuery, estimate: int) -> bool:
        """Reserve rows for a window's totals query; False: skipped, its window unchecked.

        A totals query that does not fit is not deferred: its data query loads anyway,
        and the window is reported not reconciled.
        """
        key = (stream, planned)
        if self.limit is None or key in self._reserved:
            return True
        if self.committed + estimate > self.limit:
            self.of(stream).totals_skipped += 1
            return False
        self._reserved[key] = estimate
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

    def _note_stall(self, stream: str, planned: PlannedQuery, unit: int | None, floor: int) -> None:
        """Record that nothing of `planned` fits even with only higher classes served first."""
        usage = self.of(stream)
        if unit is None or self.limit is None or usage.stall is not None:
            return
        if unit > self.limit - floor:
            usage.stall = Stall(class_of(planned), floor, unit)

    def summary(self) -> dict[str, Any]:
        """The run's totals against the budget, for the usage line."""
        return {
            "max_rows_per_run": self.limit,
            "rows_received": self.received,
            "deferred_queries": sum(len(usage.deferred) for usage in self.usage.values()),
            "deferred_rows": sum(usage.deferred_rows for usage in self.usage.values()),
        }

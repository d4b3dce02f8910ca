"""Which queries go to the licence's queue, and how far ahead of the sync.

The SDK syncs streams one after another (`Tap.sync_all` is final), and a stream reads its
windows one after another; Supermetrics runs a licence's queries a few at a time. So the
pool hands the licence's queue (`licence_queue.py`, `max_concurrent_queries` slots) the
queries the sync will read next, in read order (stream order, then window order), each
ranked for submission: with a row budget by the budget's ranking (new days, refreshes,
then backfill newest first), otherwise in read order. A window's totals query goes with
it.

Queuing too far ahead wastes the licence: a result lives `result_lifetime` seconds after
its query ends (1 hour by default) and must be submitted again after that. So a query is
queued only while the sync is expected to reach it within half the lifetime, judged by
how long this run's windows have taken to read; until one window has been read, only the
stream's next `slots` windows and the next stream's first query are queued.

Every query asks the run's row budget (`budget.py`) before it is queued; with a budget,
the first `start` ranks every stream's queries against it, cutting to fit.

A query keeps its own errors: a refusal at submission is raised when the query is read,
inside its own stream's sync (`QueryExecution.submit`). An answer about the key or the
whole licence stops the run at once; when it comes for another stream's query (queued
ahead, or that stream's account list), it is kept in `stopping`: the stream being read
ends where it is, and the error is raised by the stream it is about, so that the run's
last lines name the right stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from tap_supermetrics.core.errors import RunWideError
from tap_supermetrics.plan.budget import Candidate, RowBudget, class_of
from tap_supermetrics.run.licence_queue import LicenceQueue

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.planner import PlannedQuery
    from tap_supermetrics.plan.sizing import RowRates

Key = tuple[str, "PlannedQuery"]
#: Queues a check's query (a totals query) with the data query it goes with.
QueueCheck = Callable[["QueryExecution"], None]


class WindowedQueryStream(Protocol):
    """What the pool needs of a query stream."""

    name: str

    @property
    def selected(self) -> bool:
        """Whether the stream will be synced."""
        ...

    def planned_queries(self) -> list[PlannedQuery]:
        """The queries this run sends, in order (the budget's deferrals left out)."""
        ...

    def plan_candidates(self) -> list[PlannedQuery]:
        """Every query the plan holds, before the budget (also in a dry run)."""
        ...

    def rates(self) -> RowRates:
        """Rows per day per account, from what the stream has read so far (this run too)."""
        ...

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """A query execution for one planned query, not yet submitted."""
        ...

    def queued_ahead(self, planned: PlannedQuery, queue: QueueCheck) -> None:
        """`planned` was queued ahead: queue the queries that check it, with it."""
        ...


#: The licence's slots when the settings do not say (Supermetrics runs about 5 at once).
DEFAULT_SLOTS = 5
#: Most queries queued ahead of the sync, whatever the lifetime allows.
MOST_AHEAD = 64


class QueryPool:
    """The queries queued ahead of the sync, handed out once each."""

    def __init__(
        self,
        result_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        queue: LicenceQueue | None = None,
    ) -> None:
        """Start with no streams and nothing queued."""
        self.result_lifetime = result_lifetime
        self._clock = clock
        self.queue = queue or LicenceQueue(DEFAULT_SLOTS)
        self._streams: list[WindowedQueryStream] = []
        self._ahead: dict[Key, QueryExecution] = {}
        self._taken: set[Key] = set()
        self._stopping: tuple[str, RunWideError] | None = None
        self._reading: str | None = None
        self._window_started: float | None = None
        self._window_seconds: list[float] = []
        self.budget = RowBudget()
        self._allocated = False

    @property
    def stopping(self) -> tuple[str, RunWideError] | None:
        """An answer about the key or the licence, and the stream whose query it came for."""
        return self._stopping or self.queue.stopping

    def stops(self, stream: str) -> bool:
        """Whether an answer about the key or the licence stops the run, as `stream` sees it.

        When it came for `stream`'s query, it is raised here; when it came for another
        stream's, `stream` ends where it is (its loaded windows keep their coverage) and
        the error is raised by the stream it is about.
        """
        if self.stopping is None:
            return False
        about, error = self.stopping
        if about == stream:
            raise error
        return True

    def register(self, stream: WindowedQueryStream) -> None:
        """Add a stream, in sync order."""
        self._streams.append(stream)

    def start(self) -> None:
        """Rank every stream's queries against the row budget (once), then queue ahead."""
        if not self._allocated:
            self._allocated = True
            if self.budget.limit is not None:
                candidates: list[Candidate] = []
                for stream in self._streams:
                    if stream.selected:
                        with self._stops_for(stream):
                            candidates += [
                                Candidate(stream.name, planned, stream.rates())
                                for planned in stream.plan_candidates()
                            ]
                self.budget.allocate(candidates)
        self.plan_ahead()

    def take(
        self, stream: WindowedQueryStream, planned: PlannedQuery
    ) -> tuple[PlannedQuery, QueryExecution] | None:
        """The part of `planned` to read now and its execution (queued ahead or fresh).

        None: the row budget defers the query to a later run. The part is `planned`
        itself unless the budget cut it to what it has left. The queries after it are
        queued as far ahead as is safe.
        """
        now = self._clock()
        if self._window_started is not None:
            self._window_seconds.append(now - self._window_started)
        self._window_started = now
        self._reading = stream.name
        key = (stream.name, planned)
        self._taken.add(key)
        ahead = self._ahead.pop(key, None)
        if ahead is not None:
            self.plan_ahead()
            return planned, ahead
        part = self.budget.admit(stream.name, planned, stream.rates())
        self.plan_ahead()
        if part is None:
            return None
        return part, stream.new_execution(part)

    def holds(self, stream: WindowedQueryStream, planned: PlannedQuery) -> bool:
        """Whether `planned` was queued ahead and waits to be taken."""
        return (stream.name, planned) in self._ahead

    def drop(self, stream: WindowedQueryStream) -> list[QueryExecution]:
        """Forget what was queued for `stream`; return what was submitted, to report it."""
        submitted = self.queue.drop(stream.name)
        self._ahead = {key: e for key, e in self._ahead.items() if key[0] != stream.name}
        self.budget.release(stream.name)
        return submitted

    def close(self) -> None:
        """The run is over: stop the queue's keeper."""
        self.queue.close()

    # Queuing ahead --------------------------------------------------------------------

    def plan_ahead(self) -> None:
        """Queue the queries the sync reads next, in read order, as far ahead as is safe."""
        if self._stopped():
            return
        position = 0  # queries the sync reads before this one
        streams = self._from_current()
        for index, stream in enumerate(streams):
            first_only = index > 0 and not self._window_seconds
            with self._stops_for(stream):
                queries = stream.planned_queries()
            if self._stopped():
                return
            for planned in queries:
                key = (stream.name, planned)
                if key in self._taken:
                    continue
                if position >= min(MOST_AHEAD, self._reach()):
                    return  # the sync would reach it too late: its result could expire
                position += 1
                if key not in self._ahead and not self._queue(stream, planned, position):
                    # The budget takes it only when its stream reaches it (a never-read
                    # stream's second query, a query it must cut): the stream's later
                    # queries wait with it; the next stream's may still go.
                    position += len(queries)
                    break
                if first_only:
                    break
            if first_only and index > 0:
                return

    def _stopped(self) -> bool:
        return self.stopping is not None

    def _from_current(self) -> list[WindowedQueryStream]:
        """The selected streams in sync order, from the one being read on."""
        selected = [stream for stream in self._streams if stream.selected]
        names = [stream.name for stream in selected]
        start = names.index(self._reading) if self._reading in names else 0
        return selected[start:]

    def _queue(self, stream: WindowedQueryStream, planned: PlannedQuery, position: int) -> bool:
        """Queue `planned` if the row budget takes it now, whole."""
        kept = self.budget.admit(stream.name, planned, stream.rates(), ahead=True)
        if kept is None:
            return False
        execution = stream.new_execution(planned)
        rank = self._rank(stream, planned, position)
        self.queue.add(execution, stream.name, rank)
        self._ahead[(stream.name, planned)] = execution
        stream.queued_ahead(planned, lambda check: self.queue.add(check, stream.name, rank))
        return True

    def _reach(self) -> int:
        """How many queries ahead the sync may be expected to reach in half a lifetime.

        Until one window has been read, the licence's slots' worth.
        """
        if not self._window_seconds:
            return self.queue.slots
        typical = sum(self._window_seconds) / len(self._window_seconds)
        if typical <= 0:
            return MOST_AHEAD
        return int(self.result_lifetime / 2 / typical)

    def _rank(
        self, stream: WindowedQueryStream, planned: PlannedQuery, position: int
    ) -> tuple[object, ...]:
        """Submission order: the budget's ranking with a budget, otherwise read order."""
        if self.budget.limit is None or planned.window is None:
            return (0, position)
        klass = {"new days": 0, "refreshes": 1, "backfill": 2}[class_of(planned)]
        day = -planned.window.end.toordinal() if planned.backfill else position
        return (1, klass, day, position) if stream.name != self._reading else (0, position)

    @contextmanager
    def _stops_for(self, stream: WindowedQueryStream) -> Iterator[None]:
        """Keep an answer about the key or the licence, raised for `stream`'s sake."""
        try:
            yield
        except RunWideError as error:
            if self._stopping is None:
                self._stopping = (stream.name, error)

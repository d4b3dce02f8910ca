"""Keeping the licence queue busy without letting results expire unread.

The SDK syncs streams one after another (`Tap.sync_all` is final), so the tap itself
arranges the overlap: the first queries of the next streams are submitted while the
current one is read, and while a window is paged the next window of the same stream
is already running. Supermetrics runs them side by side; the tap then pages each
stream as the SDK reaches it, so N short queries take about one query's time.

Submitting too far ahead wastes the licence: results live only `result_lifetime`
seconds after a query ends (1 hour by default), and a stream read after that must be
submitted again. So a stream's first query is submitted ahead only while fewer than
`MAX_STREAMS_AHEAD` streams are waiting and its stream is expected to be reached
within half the lifetime, judged by how long the streams read so far took (one
second each until one has been timed); the rest are submitted later, as the sync
reaches them.

Every submission, ahead or not, first asks the run's row budget (`budget.py`); with a
budget, the first `start` ranks every stream's queries against it before any is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tap_supermetrics.core.errors import RunWideError, SupermetricsError
from tap_supermetrics.plan.budget import RowBudget

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.planner import PlannedQuery


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

    def estimate(self, planned: PlannedQuery) -> int | None:
        """Rows expected of `planned`, from what the stream has read so far."""
        ...

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """A query execution for one planned query, not yet submitted."""
        ...


#: Most streams whose first query waits, submitted, for the sync to reach them.
MAX_STREAMS_AHEAD = 8
#: How long reading one stream is taken to last until the first one has been timed:
#: small against the default hour of result lifetime, large against a few seconds.
FIRST_GUESS_SECONDS = 1.0


class QueryPool:
    """Executions submitted ahead of time, handed out once each."""

    def __init__(
        self, result_lifetime: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Start with no streams and nothing submitted."""
        self.result_lifetime = result_lifetime
        self._clock = clock
        self._streams: list[WindowedQueryStream] = []
        self._ahead: dict[tuple[str, PlannedQuery], QueryExecution] = {}
        self._refused: dict[tuple[str, PlannedQuery], SupermetricsError] = {}
        self._opened: set[str] = set()  # streams whose first query was submitted or taken
        self._reading: str | None = None
        self._reading_since = 0.0
        self._read_seconds: list[float] = []
        self.budget = RowBudget()
        self._allocated = False

    def register(self, stream: WindowedQueryStream) -> None:
        """Add a stream, in sync order."""
        self._streams.append(stream)

    def start(self) -> None:
        """Submit the first queries of the first streams (once per run; later calls top up).

        With a row budget, the first call ranks every selected stream's queries first.
        """
        if not self._allocated:
            self._allocated = True
            if self.budget.limit is not None:
                self.budget.allocate(
                    [
                        (stream.name, planned)
                        for stream in self._streams
                        if stream.selected
                        for planned in stream.plan_candidates()
                    ]
                )
        self._top_up()

    def submit_ahead(self, stream: WindowedQueryStream, planned: PlannedQuery) -> None:
        """Submit a planned query now, to be taken later.

        A refusal that concerns only this query's stream (its data source, login or
        accounts) is kept and raised when the query is taken, inside its own stream's
        sync: raised now, it would end whichever stream happens to be syncing. Errors
        about the key or the licence stop the run at once.
        """
        key = (stream.name, planned)
        if key not in self._ahead and key not in self._refused:
            if not self.budget.admit(stream.name, planned, stream.estimate(planned), ahead=True):
                return
            execution = stream.new_execution(planned)
            try:
                execution.submit()
            except RunWideError:
                raise
            except SupermetricsError as error:
                self._refused[key] = error
                self.budget.release(stream.name, planned)
                return
            self._ahead[key] = execution

    def holds(self, stream: WindowedQueryStream, planned: PlannedQuery) -> bool:
        """Whether `planned` was submitted ahead and waits to be taken."""
        return (stream.name, planned) in self._ahead

    def take(self, stream: WindowedQueryStream, planned: PlannedQuery) -> QueryExecution | None:
        """Return the execution submitted ahead for this query, or a fresh one.

        None: the row budget defers the query to a later run. Taking a stream's first
        query marks it as being read: the streams after it are topped up.
        """
        if stream.name != self._reading:
            now = self._clock()
            if self._reading is not None:
                self._read_seconds.append(now - self._reading_since)
            self._reading, self._reading_since = stream.name, now
            self._opened.add(stream.name)
            self._top_up()
        refused = self._refused.pop((stream.name, planned), None)
        if refused is not None:
            raise refused
        ahead = self._ahead.pop((stream.name, planned), None)
        if ahead is not None:
            return ahead
        if not self.budget.admit(stream.name, planned, stream.estimate(planned)):
            return None
        return stream.new_execution(planned)

    def drop(self, stream: WindowedQueryStream) -> list[QueryExecution]:
        """Forget what was submitted ahead for `stream`; return it, so it can be reported."""
        self._refused = {key: e for key, e in self._refused.items() if key[0] != stream.name}
        dropped = [execution for (name, _), execution in self._ahead.items() if name == stream.name]
        self._ahead = {key: e for key, e in self._ahead.items() if key[0] != stream.name}
        self.budget.release(stream.name)
        return dropped

    def _top_up(self) -> None:
        """Submit the first query of the next streams, as far ahead as is safe."""
        per_stream = (
            sum(self._read_seconds) / len(self._read_seconds)
            if self._read_seconds
            else FIRST_GUESS_SECONDS
        )
        waiting = 0
        for stream in self._streams:
            if stream.name == self._reading or not stream.selected:
                continue
            if stream.name in self._opened:
                waiting += any(name == stream.name for name, _ in self._ahead)
                continue
            expected_wait = (waiting + 1) * per_stream
            if waiting >= MAX_STREAMS_AHEAD or expected_wait > self.result_lifetime / 2:
                return
            queries = stream.planned_queries()
            self._opened.add(stream.name)
            if queries:
                self.submit_ahead(stream, queries[0])
                waiting += 1

"""Keeping the license queue busy: queries are submitted before they are needed.

The SDK syncs streams one after another (`Tap.sync_all` is final), so the tap itself
arranges the overlap: when the first query stream starts, the first window of every
selected query stream is submitted, and while a window is paged the next one of the
same stream is already running. Supermetrics runs them side by side; the tap then
pages each stream as the SDK reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tap_supermetrics.lifecycle import QueryExecution
    from tap_supermetrics.planner import PlannedQuery


class WindowedQueryStream(Protocol):
    """What the pool needs of a query stream."""

    name: str

    @property
    def selected(self) -> bool:
        """Whether the stream will be synced."""
        ...

    def planned_queries(self) -> list[PlannedQuery]:
        """The queries this run sends, in order."""
        ...

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """A query execution for one planned query, not yet submitted."""
        ...


class QueryPool:
    """Executions submitted ahead of time, handed out once each."""

    def __init__(self) -> None:
        """Start with no streams and nothing submitted."""
        self._streams: list[WindowedQueryStream] = []
        self._ahead: dict[tuple[str, PlannedQuery], QueryExecution] = {}
        self._started = False

    def register(self, stream: WindowedQueryStream) -> None:
        """Make a stream's first window part of the opening submission."""
        self._streams.append(stream)

    def start(self) -> None:
        """Submit the first window of every selected stream, once per run."""
        if self._started:
            return
        self._started = True
        for stream in self._streams:
            if stream.selected:
                queries = stream.planned_queries()
                if queries:
                    self.submit_ahead(stream, queries[0])

    def submit_ahead(self, stream: WindowedQueryStream, planned: PlannedQuery) -> None:
        """Submit a planned query now, to be taken later."""
        key = (stream.name, planned)
        if key not in self._ahead:
            execution = stream.new_execution(planned)
            execution.submit()
            self._ahead[key] = execution

    def take(self, stream: WindowedQueryStream, planned: PlannedQuery) -> QueryExecution:
        """Return the execution submitted ahead for this query, or a fresh one."""
        return self._ahead.pop((stream.name, planned), None) or stream.new_execution(planned)

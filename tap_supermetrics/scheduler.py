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
    from tap_supermetrics.windows import DateWindow


class WindowedQueryStream(Protocol):
    """What the pool needs of a query stream."""

    name: str

    @property
    def selected(self) -> bool:
        """Whether the stream will be synced."""
        ...

    def planned_windows(self) -> list[DateWindow | None]:
        """The windows this run reads (None: one query without dates)."""
        ...

    def new_execution(self, window: DateWindow | None) -> QueryExecution:
        """A query execution for one window, not yet submitted."""
        ...


class QueryPool:
    """Executions submitted ahead of time, handed out once each."""

    def __init__(self) -> None:
        """Start with no streams and nothing submitted."""
        self._streams: list[WindowedQueryStream] = []
        self._ahead: dict[tuple[str, DateWindow | None], QueryExecution] = {}
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
                windows = stream.planned_windows()
                if windows:
                    self.submit_ahead(stream, windows[0])

    def submit_ahead(self, stream: WindowedQueryStream, window: DateWindow | None) -> None:
        """Submit a window's query now, to be taken later."""
        key = (stream.name, window)
        if key not in self._ahead:
            execution = stream.new_execution(window)
            execution.submit()
            self._ahead[key] = execution

    def take(self, stream: WindowedQueryStream, window: DateWindow | None) -> QueryExecution:
        """Return the execution submitted ahead for this window, or a fresh one."""
        return self._ahead.pop((stream.name, window), None) or stream.new_execution(window)

"""Progress a person can read: a line per finished window, a summary at the end.

A long backfill is a log of submits and polls; what its owner wants to know is how far it
is and how long it has left. So each stream says, as each of its windows is done: which
window of how many, the stream's rows so far and their rate, how many queries are at
Supermetrics and how many wait, and the time left at this pace. The run ends with one
line of its figures beside the JSON usage line (`usage.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

    from tap_supermetrics.run.sync_run import SyncRun


@dataclass
class StreamProgress:
    """How far one stream's windows are."""

    stream: str
    windows: int
    logger: logging.Logger
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        """Start the stream's clock."""
        self.started = self.clock()

    def window_done(self, window: str, rows: int, queue: tuple[int, int]) -> None:
        """Say that one more window is done, with the stream's figures so far."""
        self.done += 1
        elapsed = max(self.clock() - self.started, 1e-6)
        running, waiting = queue
        left = elapsed / self.done * (self.windows - self.done)
        self.logger.info(
            "stream %r: window %d of %d done (%s); %s rows so far, %s rows/s; licence queue: "
            "%d running, %d waiting; %s",
            self.stream,
            self.done,
            self.windows,
            window,
            f"{rows:,}",
            f"{rows / elapsed:,.0f}",
            running,
            waiting,
            f"about {_duration(left)} left" if self.done < self.windows else "stream done",
        )


def run_summary(run: SyncRun, *, dry_run: bool) -> str:
    """The run's figures in one line for a person (the JSON usage line has them all)."""
    runs = [q for q in run.runs if q.schedule_id]
    budget = run.pool.budget
    deferred = sum(len(usage.deferred) for usage in budget.usage.values())
    failures = len(run.failures.failures)
    seconds = time.monotonic() - run.started
    if dry_run:
        return f"Dry run done in {_duration(seconds)}: no query sent"
    return (
        f"Run done in {_duration(seconds)}: {len(runs)} "
        f"{'query' if len(runs) == 1 else 'queries'} sent "
        f"({sum(q.attempts > 1 for q in runs)} submitted again), "
        f"{budget.received:,} rows received, {deferred} deferred to later runs, "
        f"{failures} {'failure' if failures == 1 else 'failures'}"
    )


def _duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3.5 h`."""
    if seconds < 120:  # noqa: PLR2004 - two minutes
        return f"{seconds:.0f} s"
    if seconds < 7200:  # noqa: PLR2004 - two hours
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""Date windows and bookmark arithmetic for incremental streams.

The bookmark is the last day whose rows were all emitted. A run reads from
`max(start_date, bookmark - lookback_days)` to the end date, in windows of
`window_days`; after each window the bookmark moves to the window's last day, and
never backwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of days read by one Supermetrics query."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        """`2024-01-01..2024-01-31`."""
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def first_day(start_date: dt.date, bookmark: dt.date | None, lookback_days: int) -> dt.date:
    """Return the first day this run reads."""
    if bookmark is None:
        return start_date
    return max(start_date, bookmark - dt.timedelta(days=lookback_days))


def split(start: dt.date, end: dt.date, window_days: int) -> Iterator[DateWindow]:
    """Yield consecutive windows of at most `window_days` days covering start..end."""
    cursor = start
    step = dt.timedelta(days=window_days - 1)
    while cursor <= end:
        window_end = min(cursor + step, end)
        yield DateWindow(cursor, window_end)
        cursor = window_end + dt.timedelta(days=1)


def advance(bookmark: dt.date | None, window: DateWindow) -> dt.date:
    """Return the bookmark after `window` was fully emitted: later of the two, never earlier."""
    return window.end if bookmark is None else max(bookmark, window.end)


def parse_bookmark(value: object) -> dt.date | None:
    """Read a stored bookmark (a day, or a timestamp whose day counts)."""
    if value in (None, ""):
        return None
    return dt.date.fromisoformat(str(value)[:10])

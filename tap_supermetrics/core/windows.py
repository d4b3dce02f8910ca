"""Date windows: the inclusive day ranges that one Supermetrics query reads.

Which days to read is planned in planner.py from the coverage (coverage.py); this
module only cuts a range of days into windows of `window_days`.
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

    @property
    def days(self) -> int:
        """How many days the window holds."""
        return (self.end - self.start).days + 1


def split(start: dt.date, end: dt.date, window_days: int) -> Iterator[DateWindow]:
    """Yield consecutive windows of at most `window_days` days covering start..end."""
    cursor = start
    step = dt.timedelta(days=window_days - 1)
    while cursor <= end:
        window_end = min(cursor + step, end)
        yield DateWindow(cursor, window_end)
        cursor = window_end + dt.timedelta(days=1)

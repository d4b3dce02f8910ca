"""The one place the tap reads the calendar: today in UTC.

Planning counts in days (the last complete day, the as-of day of refresh tiers), so
everything that plans asks this function, and tests replace it in one place.
"""

from __future__ import annotations

import datetime as dt


def today_utc() -> dt.date:
    """Today in UTC: the configured end date defaults to the day before."""
    return dt.datetime.now(tz=dt.UTC).date()

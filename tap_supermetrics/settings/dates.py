"""The configured days: `start_date` and `end_date`, read exactly.

A day is `YYYY-MM-DD`, or an ISO timestamp (`2024-01-01T00:00:00`, `…Z`, `…+02:00`) of
which the day is kept. Anything else is refused naming the setting: `2024-13-01` or
`01/02/2024` are not read as some day the user did not write (Meltano's `date_iso8601`
kind does that, which is why meltano.yml declares the dates as strings).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tap_supermetrics.core.errors import ConfigError, Problems

_DAY_LENGTH = len("YYYY-MM-DD")


@dataclass(frozen=True)
class DateRange:
    """The configured first and last day to sync."""

    start: dt.date
    end: dt.date


def parse_day(value: object, where: str) -> dt.date:
    """A day written `YYYY-MM-DD` or as an ISO timestamp (its day); else ConfigError.

    Args:
        value: The value as configured.
        where: Names the setting in the message, e.g. `start_date` or `reread[0].end_date`.
    """
    text = str(value)
    try:
        if len(text) == _DAY_LENGTH:
            return dt.date.fromisoformat(text)
        if len(text) > _DAY_LENGTH and text[_DAY_LENGTH] == "T":  # a timestamp: keep the day
            return dt.datetime.fromisoformat(text).date()
    except ValueError:
        pass
    msg = f"{where} {value!r} is not a date; use YYYY-MM-DD"
    raise ConfigError(msg)


def parse_date(config: dict[str, Any], name: str) -> dt.date | None:
    """Return a date setting (None when unset), or raise ConfigError naming it."""
    value = config.get(name)
    if value is None:
        return None
    return parse_day(value, name)


def date_range(config: dict[str, Any], today: dt.date) -> DateRange:
    """Resolve start and end dates; the end defaults to yesterday, the last full day.

    Raises:
        ConfigError: every mistake of the two settings, one line each.
    """
    problems = Problems()
    if config.get("start_date") is None:
        problems.add("start_date is required")
    start = end = None
    with problems.collect():
        start = parse_date(config, "start_date")
    with problems.collect():
        end = parse_date(config, "end_date")
    problems.raise_if_any()
    if start is None:  # not reached: reported above
        msg = "start_date is required"
        raise ConfigError(msg)
    if end is not None and end < start:
        msg = f"end_date {end} is before start_date {start}"
        raise ConfigError(msg)
    return DateRange(start, end or today - dt.timedelta(days=1))

"""The configured days: `start_date` and `end_date`, read exactly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tap_supermetrics.core.errors import ConfigError

_DAY_LENGTH = len("YYYY-MM-DD")


@dataclass(frozen=True)
class DateRange:
    """The configured first and last day to sync."""

    start: dt.date
    end: dt.date


def parse_date(config: dict[str, Any], name: str) -> dt.date | None:
    """Return a date setting, or raise ConfigError naming it."""
    value = config.get(name)
    if value is None:
        return None
    text = str(value)
    if len(text) > _DAY_LENGTH and text[_DAY_LENGTH] == "T":  # a timestamp: keep the day
        text = text[:_DAY_LENGTH]
    try:
        if len(text) != _DAY_LENGTH:
            return _not_a_date(name, value)
        return dt.date.fromisoformat(text)
    except ValueError:
        return _not_a_date(name, value)


def _not_a_date(name: str, value: object) -> dt.date:
    msg = f"{name} {value!r} is not a date; use YYYY-MM-DD"
    raise ConfigError(msg)


def date_range(config: dict[str, Any], today: dt.date) -> DateRange:
    """Resolve start and end dates; the end defaults to yesterday, the last full day."""
    start = parse_date(config, "start_date")
    if start is None:
        msg = "start_date is required"
        raise ConfigError(msg)
    end = parse_date(config, "end_date")
    if end is not None and end < start:
        msg = f"end_date {end} is before start_date {start}"
        raise ConfigError(msg)
    return DateRange(start, end or today - dt.timedelta(days=1))

"""Settings a query may set for itself, and re-reads asked for by name.

A query entry may set `start_date`, `end_date`, `lookback_days`, `window_days` and
`refresh`; the top-level values are the defaults. Which loaded days are read again is
decided most specific first: the query's `refresh`, the query's `lookback_days`, the
top-level `refresh`, the top-level `lookback_days` (default 3); setting both at one
level is refused. `reread` names (stream, accounts, first day, last day) that the next
run reads like a gap, once, for a known restatement upstream.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tap_supermetrics.core.errors import ConfigError, Problems
from tap_supermetrics.plan.coverage import DaySet
from tap_supermetrics.plan.planner import Reread
from tap_supermetrics.plan.refresh import Tier, lookback, parse_tiers
from tap_supermetrics.settings.dates import parse_day

#: The settings a query entry may set for itself (the top-level values are defaults).
PER_QUERY_SETTINGS = ("start_date", "end_date", "lookback_days", "window_days", "refresh")
DEFAULT_LOOKBACK_DAYS = 3
#: The keys of one `reread` entry.
REREAD_KEYS = frozenset({"stream", "accounts", "start_date", "end_date"})


def query_overrides(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The settings the query sets for itself, checked."""
    overrides = {name: entry[name] for name in PER_QUERY_SETTINGS if entry.get(name) is not None}
    problems = Problems()
    for name, minimum in (("window_days", 1), ("lookback_days", 0)):
        if name in overrides and overrides[name] < minimum:
            problems.add(f"{where}: {name} must be at least {minimum}, got {overrides[name]}")
    problems.raise_if_any()
    return overrides


def refresh_tiers(
    overrides: Mapping[str, Any], config: Mapping[str, Any], where: str
) -> tuple[Tier, ...]:
    """The refresh tiers of one query, the most specific setting first."""
    levels = ((overrides, where), (config, "config"))
    for settings, here in levels:
        if settings.get("refresh") is not None and settings.get("lookback_days") is not None:
            msg = (
                f"{here}: set either refresh or lookback_days, not both "
                "(lookback_days: N is the tier {'days': N, 'every': 1})"
            )
            raise ConfigError(msg)
    for settings, here in levels:
        if settings.get("refresh") is not None:  # the top level's as query_definitions says it
            return parse_tiers(
                settings["refresh"], "refresh" if here == "config" else f"{here}: refresh"
            )
        if settings.get("lookback_days") is not None:
            return lookback(int(settings["lookback_days"]))
    return lookback(DEFAULT_LOOKBACK_DAYS)


def parse_rereads(
    value: object, ranges: Mapping[str, tuple[dt.date, dt.date]]
) -> dict[str, tuple[Reread, ...]]:
    """The `reread` setting, by stream; `ranges` is each stream's first and last day.

    Refused: an unknown stream, days outside its query's range, a malformed entry.
    """
    if value is None:
        return {}
    if not isinstance(value, list):
        msg = "reread must be a list of {stream, accounts, start_date, end_date} entries"
        raise ConfigError(msg)
    by_stream: dict[str, list[Reread]] = {}
    for number, entry in enumerate(value):
        stream, reread = _reread(entry, f"reread[{number}]", ranges)
        by_stream.setdefault(stream, []).append(reread)
    return {stream: tuple(items) for stream, items in by_stream.items()}


def _reread(
    entry: object, where: str, ranges: Mapping[str, tuple[dt.date, dt.date]]
) -> tuple[str, Reread]:
    if not isinstance(entry, dict) or not {"stream", "start_date", "end_date"} <= set(entry):
        msg = f"{where}: needs stream, start_date and end_date (accounts is optional)"
        raise ConfigError(msg)
    unknown = sorted(set(entry) - REREAD_KEYS)
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(unknown)}"
        raise ConfigError(msg)
    stream = str(entry["stream"])
    if stream not in ranges:
        msg = f"{where}: no query is named {stream!r} (streams: {', '.join(sorted(ranges))})"
        raise ConfigError(msg)
    first, last = (parse_day(entry[name], f"{where}.{name}") for name in ("start_date", "end_date"))
    start, end = ranges[stream]
    if first > last or first < start or last > end:
        msg = f"{where}: {first}..{last} is not within stream {stream!r}'s days {start}..{end}"
        raise ConfigError(msg)
    accounts = entry.get("accounts")
    if accounts is not None and not (
        isinstance(accounts, list) and accounts and all(isinstance(a, str) for a in accounts)
    ):
        msg = f"{where}: accounts must be a non-empty list of account ids"
        raise ConfigError(msg)
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:12]
    return stream, Reread(DaySet.of(first, last), _tuple(accounts), digest)


def _tuple(accounts: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if accounts is None else tuple(accounts)

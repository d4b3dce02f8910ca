"""Every check of the settings that needs no request, all of them in one pass.

A user who runs the tap with five mistakes in the config should read five lines, not fix
one mistake per run: every check here runs, and the mistakes are reported together
(`ConfigMistakesError`, one line each), the same way for `--discover` and a sync. The JSON
Schema check comes first and is phrased for a user (the SDK validates types only in
some modes, and stops reporting after its own check); a setting whose type is wrong is
not checked further, so one mistake is one line.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator

from tap_supermetrics.core.clock import today_utc
from tap_supermetrics.core.errors import ConfigError, Problems
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.settings.config_schema import DEFAULT_BASE_URL
from tap_supermetrics.settings.dates import date_range
from tap_supermetrics.settings.queries import QueryDefinition, query_definitions

#: Settings that are numbers of seconds (or a rate): positive.
POSITIVE_NUMBERS = (
    "poll_interval",
    "max_poll_interval",
    "query_timeout",
    "request_timeout",
    "result_lifetime",
    "max_requests_per_second",
)
#: Whole-number settings with their smallest value.
MINIMUMS = (
    ("page_size", 1),
    ("window_days", 1),
    ("lookback_days", 0),
    ("max_concurrent_queries", 1),
)


def check_settings(config: dict[str, Any], schema: dict[str, Any]) -> list[QueryDefinition]:
    """Check every setting before any request; the queries' definitions if all is well.

    Raises:
        ConfigMistakesError: every mistake found, one line each (unknown names, wrong types,
            bad numbers, unsafe URLs, dates, and each query's own mistakes).
    """
    problems = Problems()
    unknown = sorted(set(config) - set(schema["properties"]))
    if unknown:
        problems.add(f"unknown setting(s): {', '.join(unknown)}")
    mistyped, broken_queries = _schema_problems(config, schema, problems)
    known = {name: value for name, value in config.items() if name not in mistyped}
    if not known.get("api_key") and "api_key" not in mistyped:
        problems.add("api_key is required")
    if "base_url" not in mistyped:
        with problems.collect():
            check_base_url(str(known.get("base_url") or DEFAULT_BASE_URL))
    _check_numbers(known, problems)
    if "start_date" in mistyped:
        known.pop("end_date", None)  # compared with start_date, which is reported already
    with problems.collect():
        date_range(known, today_utc())
    definitions: list[QueryDefinition] = []
    if "queries" not in mistyped:
        with problems.collect():
            definitions = query_definitions(known, skip=broken_queries)
    problems.raise_if_any()
    return definitions


def _check_numbers(known: dict[str, Any], problems: Problems) -> None:
    """Minimums, positive seconds and the API's limits, each setting on its own."""
    for name, minimum in MINIMUMS:
        if name in known and known[name] < minimum:
            problems.add(f"{name} must be at least {minimum}, got {known[name]}")
    for name in POSITIVE_NUMBERS:
        if name in known and float(known[name]) <= 0:
            problems.add(f"{name} must be a positive number of seconds, got {known[name]}")
    for name in ("max_rows_per_query", "max_accounts_per_query", "max_rows_per_run"):
        if name in known:
            with problems.collect():
                Limits.from_config({name: known[name]})


def _schema_problems(
    config: dict[str, Any], schema: dict[str, Any], problems: Problems
) -> tuple[set[str], set[int]]:
    """Report what JSON Schema refuses, one line per value.

    Returns:
        The top-level settings whose value is refused, and the `queries` entries (by
        position) that hold a refused value: neither is checked any further.
    """
    mistyped: set[str] = set()
    broken_queries: set[int] = set()
    checked = {**schema, "required": []}  # a missing setting is reported by its own check
    for error in sorted(Draft7Validator(checked).iter_errors(config), key=_order):
        path = list(error.absolute_path)
        problems.add(f"{_where(path)}: {error.message}")
        if path[:1] == ["queries"] and len(path) > 1 and isinstance(path[1], int):
            broken_queries.add(path[1])
        elif path:
            mistyped.add(str(path[0]))
    return mistyped, broken_queries


def _where(path: list[Any]) -> str:
    """`queries[1].ds_id`: where a value is, as the other messages name it."""
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where.lstrip(".") or "config"


def _order(error: Any) -> tuple[str, str]:  # noqa: ANN401 - a jsonschema ValidationError
    return _where(list(error.absolute_path)), error.message


def check_base_url(url: str) -> None:
    """Allow https anywhere, plain http only on loopback (the emulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    msg = f"base_url must be an https URL (http only for loopback addresses), got {url!r}"
    raise ConfigError(msg)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

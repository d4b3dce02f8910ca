"""The tap's settings: their JSON Schema, and the checks JSON Schema cannot express.

Everything here runs before the first request, so that a typo costs the user one
clear line instead of a half-finished sync.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from singer_sdk import typing as th

from tap_supermetrics.accounts import account_field
from tap_supermetrics.clock import today_utc
from tap_supermetrics.errors import ConfigError
from tap_supermetrics.identifiers import (
    DS_ID_RULE,
    STREAM_NAME_RULE,
    check_column_collisions,
    check_ds_id,
    check_stream_name,
)
from tap_supermetrics.limits import Limits
from tap_supermetrics.planner import Reread
from tap_supermetrics.query_settings import parse_rereads, query_overrides, refresh_tiers
from tap_supermetrics.refresh import Tier, parse_tiers

DEFAULT_BASE_URL = "https://api.supermetrics.com/enterprise/v2"
#: dbt builds `<stream>_current` next to every stream's table.
CURRENT_SUFFIX = "_current"

_STRING_OR_LIST = th.CustomType(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)

#: Refresh tiers: checked in full by `refresh.parse_tiers`, which says what is wrong.
_TIERS = th.CustomType({"type": "array", "items": {"type": "object"}})

_ACCOUNTS = th.CustomType(
    {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {
                "type": "object",
                "properties": {"filter_id": {"type": "string"}, "filter_name": {"type": "string"}},
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    }
)

#: A number (seconds, rates) as a JSON number or a numeric string: Meltano hands settings without a
#: numeric kind over as strings, and its `decimal` kind cannot be set from env vars.
_DECIMAL = th.CustomType({"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$"})

#: Query parameters passed to Supermetrics unchanged (documented in README "Queries").
PASS_THROUGH_PARAMETERS = (
    "ds_segments",
    "ds_user",
    "ds_users",
    "settings",
    "filter",
    "order_rows",
    "order_columns",
    "max_rows",
    "cache_minutes",
    "date_range_type",
)

#: `reconcile`: true, false or "strict" (Meltano hands a `string` setting over as text).
_RECONCILE = th.CustomType(
    {"type": ["boolean", "string"], "enum": [True, False, "strict", "true", "false"]}
)

QUERY_SCHEMA = th.ObjectType(
    th.Property(
        "name",
        th.StringType,
        required=True,
        description=f"Stream name, unique ignoring case: {STREAM_NAME_RULE}.",
    ),
    th.Property(
        "ds_id",
        th.StringType,
        required=True,
        description=f"Data source id, e.g. AW: {DS_ID_RULE}.",
    ),
    th.Property(
        "fields",
        th.ArrayType(th.StringType),
        required=True,
        description="Field ids, in the order the record's keys should have.",
    ),
    th.Property(
        "ds_accounts",
        _ACCOUNTS,
        description="Accounts: a list of ids, a comma-separated string, a team list such as "
        '`"list.all_accounts"`, or a filter object `{"filter_id": "<regex>", "filter_name": '
        '"<regex>"}`. See docs/queries.md.',
    ),
    th.Property(
        "account_field",
        th.StringType,
        description="The field that carries the account's id in each row (default: a known "
        "account id field among `fields`, such as `profileID` or `property`). A name field "
        "(`profile`, `account_name`, …) is refused: see docs/account-ids.md. Without one, "
        "rows are sums over the accounts.",
    ),
    th.Property(
        "date_field",
        th.StringType,
        description="Date dimension used as replication key; default `Date` when selected.",
    ),
    th.Property(
        "primary_keys",
        th.ArrayType(th.StringType),
        description="Override the key (default: the date field plus every dimension).",
    ),
    th.Property("ds_segments", _STRING_OR_LIST, description="Passed through."),
    th.Property("ds_user", th.StringType, description="Passed through."),
    th.Property("ds_users", _STRING_OR_LIST, description="Passed through."),
    th.Property(
        "settings", th.ObjectType(additional_properties=True), description="Passed through."
    ),
    th.Property("filter", th.StringType, description="Passed through."),
    th.Property("order_rows", _STRING_OR_LIST, description="Passed through."),
    th.Property("order_columns", th.StringType, description="Passed through."),
    th.Property("max_rows", th.IntegerType, description="Passed through."),
    th.Property("cache_minutes", th.IntegerType, description="Passed through."),
    th.Property(
        "date_range_type",
        th.StringType,
        description="Passed through; only for queries without a date field (full table).",
    ),
    th.Property("start_date", th.DateType, description="This query's own start_date."),
    th.Property("end_date", th.DateType, description="This query's own end_date."),
    th.Property("lookback_days", th.IntegerType, description="This query's own lookback_days."),
    th.Property("window_days", th.IntegerType, description="This query's own window_days."),
    th.Property("refresh", _TIERS, description="This query's own refresh tiers."),
    th.Property(
        "reconcile",
        _RECONCILE,
        description="This query's own reconcile: refused when the query cannot be reconciled.",
    ),
    th.Property(
        "reconcile_metrics",
        th.ArrayType(th.StringType),
        description="The comparable metrics to reconcile (default: all of them).",
    ),
    additional_properties=False,
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        description="Supermetrics API key; sent only in the `Authorization: Bearer` header.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=DEFAULT_BASE_URL,
        description="API base URL. Must be https, except on loopback (the emulator).",
    ),
    th.Property(
        "start_date",
        th.DateType,
        required=True,
        description="First day to sync (YYYY-MM-DD).",
        examples=["2024-01-01"],
    ),
    th.Property(
        "end_date",
        th.DateType,
        description="Last day to sync (YYYY-MM-DD). Default: yesterday (UTC), the last "
        "complete day.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType,
        description="Days before each account's last loaded day that every run reads "
        "again, to pick up late corrections (default 3 when `refresh` is not set). 0 "
        "re-reads only that day. Shorthand for `refresh: [{days: N, every: 1}]`; a query "
        "may set its own.",
    ),
    th.Property(
        "refresh",
        _TIERS,
        description="Refresh tiers, e.g. `[{days: 3, every: 1}, {days: 30, every: 7}]`: "
        "each reads again the `days` days before an account's last loaded day once at "
        "least `every` as-of days have passed since it last ran. Not together with "
        "`lookback_days` at the same level; a query may set its own. See "
        "docs/refresh.md.",
    ),
    th.Property(
        "reread",
        th.ArrayType(
            th.ObjectType(
                th.Property("stream", th.StringType, required=True),
                th.Property("accounts", th.ArrayType(th.StringType)),
                th.Property("start_date", th.DateType, required=True),
                th.Property("end_date", th.DateType, required=True),
                additional_properties=False,
            )
        ),
        description="Re-reads for known restatements: each entry names a stream, optionally "
        "its accounts, and a first and last day; the next run reads them like a gap "
        "(reason 'requested re-read'), once.",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=30,
        description="Days per Supermetrics query; the date range is split into windows and "
        "state is saved after each.",
    ),
    th.Property(
        "max_rows_per_query",
        th.IntegerType,
        default=1_000_000,
        description="Rows one query may return (default and most: 1,000,000, the API's "
        "cap). A window whose result reaches it is split (days first, then accounts) and "
        "read again; windows are sized from the rows earlier runs returned. A query's own "
        "`max_rows` is a deliberate cut and is never split. See docs/limits-and-budget.md.",
    ),
    th.Property(
        "max_accounts_per_query",
        th.IntegerType,
        default=100,
        description="Accounts one query reads at most (default and most: 100, the API's "
        "bound); longer account lists go out in groups. Queries without an account field "
        "(rows summed over accounts) cannot be split and are refused above it.",
    ),
    th.Property(
        "max_rows_per_run",
        th.IntegerType,
        description="Row budget of one run, shared by all its streams (default: none). New "
        "days and due refreshes come first, then backfill, newest days first; queries that "
        "would pass the budget are deferred to the next runs. See docs/limits-and-budget.md.",
    ),
    th.Property(
        "reconcile",
        _RECONCILE,
        default=False,
        description="Default of every query's `reconcile`: per window, also send a totals "
        "query (date, account, comparable metrics) and compare it with the rows loaded, per "
        "day, account and metric, into the `reconciliation` stream; mismatches are WARNING "
        'lines and are read again by the next run; "strict" also fails the run. Queries that '
        "cannot be reconciled are skipped. See docs/reconciliation.md.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=25_000,
        description="Rows per result page (`offset_start`/`offset_end` request).",
    ),
    th.Property(
        "sync_timeout",
        th.IntegerType,
        default=0,
        description="Seconds the submit request may wait for the query to finish. 0 returns "
        "at once, so that all queries get submitted before any is polled.",
    ),
    th.Property(
        "poll_interval",
        _DECIMAL,
        default=0.25,
        description="Seconds before the first status poll; the wait grows by half each poll.",
    ),
    th.Property(
        "max_poll_interval",
        _DECIMAL,
        default=5.0,
        description="Largest wait between two status polls, in seconds.",
    ),
    th.Property(
        "query_timeout",
        _DECIMAL,
        default=14_400,
        description="Seconds after submitting at which a query that has not finished fails "
        "the sync (default 4 h, the API's own limit).",
    ),
    th.Property(
        "max_resubmits",
        th.IntegerType,
        default=3,
        description="How often a query whose results expired (STATUS_NOT_FOUND) is "
        "submitted again before the sync fails.",
    ),
    th.Property(
        "max_request_attempts",
        th.IntegerType,
        default=6,
        description="Tries per HTTP request for 429, 5xx, dropped connections, timeouts and "
        "truncated bodies.",
    ),
    th.Property(
        "max_retry_after",
        _DECIMAL,
        default=300,
        description="Longest `Retry-After` wait honoured, in seconds.",
    ),
    th.Property(
        "request_timeout",
        _DECIMAL,
        default=300,
        description="Seconds to wait for one HTTP response.",
    ),
    th.Property(
        "result_lifetime",
        _DECIMAL,
        default=3600,
        description="Seconds Supermetrics keeps a finished query's results (licence "
        "dependent; 1 hour by default). Queries are submitted ahead of their stream only "
        "as far as their results will still be there when the stream is read.",
    ),
    th.Property(
        "max_requests_per_second",
        _DECIMAL,
        default=10,
        description="Requests per second for the whole run (submits, polls, pages), below "
        "the documented limit of about 20. An answer whose X-RateLimit-Remaining is nearly "
        "spent holds requests back for a second.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Print the plan of the run (per stream: accounts, date ranges, number "
        "of queries and why) and submit no query: no records, state unchanged.",
    ),
    th.Property(
        "schema_cache_dir",
        th.StringType,
        description="Directory for discovered field types, so that discovery asks the API "
        "once per data source (`/query/fields`). Default: ~/.cache/tap-supermetrics.",
    ),
    th.Property(
        "queries",
        th.ArrayType(QUERY_SCHEMA),
        required=True,
        description="One stream per entry: see README 'Queries'.",
    ),
).to_dict()


_DAY_LENGTH = len("YYYY-MM-DD")
#: The tap's own streams: no query may take their names.
RESERVED_STREAMS = frozenset({"query_runs", "coverage", "reconciliation"})


@dataclass(frozen=True)
class QueryDefinition:
    """One configured query, the recipe of one stream."""

    name: str
    ds_id: str
    fields: tuple[str, ...]
    ds_accounts: list[str] | str | dict[str, str] | None
    date_field: str | None
    primary_keys: tuple[str, ...] | None
    pass_through: dict[str, Any] = field(default_factory=dict)
    account_field: str | None = None
    #: The settings the query sets for itself (`start_date`, `window_days`, …).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Which loaded days are read again, and how often.
    tiers: tuple[Tier, ...] = ()
    #: Re-reads asked for this stream (`reread`).
    rereads: tuple[Reread, ...] = ()
    #: `reconcile` (true, false, "strict"), and whether the query set it itself.
    reconcile: object = False
    reconcile_explicit: bool = False
    reconcile_metrics: tuple[str, ...] | None = None

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The top-level settings with this query's own on top."""
        return {**config, **self.settings}

    def parameters(self) -> dict[str, Any]:
        """Return the query parameters common to every request for this query."""
        params: dict[str, Any] = {"ds_id": self.ds_id, "fields": list(self.fields)}
        if self.ds_accounts:
            params["ds_accounts"] = self.ds_accounts
        params.update(self.pass_through)
        return params


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


def check_settings(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Refuse wrong types, unknown names, bad numbers and unsafe URLs, one line each.

    The SDK validates types only in some modes (not during discovery), so the JSON
    Schema check runs here too, phrased for a user.
    """
    unknown = sorted(set(config) - set(schema["properties"]))
    if unknown:
        msg = f"unknown setting(s): {', '.join(unknown)}"
        raise ConfigError(msg)
    for error in sorted(Draft7Validator(schema).iter_errors(config), key=str):
        where = ".".join(str(part) for part in error.absolute_path) or "config"
        msg = f"{where}: {error.message}"
        raise ConfigError(msg)
    if not config.get("api_key"):
        msg = "api_key is required"
        raise ConfigError(msg)
    check_base_url(str(config.get("base_url") or DEFAULT_BASE_URL))
    for name, minimum in (("page_size", 1), ("window_days", 1), ("lookback_days", 0)):
        if name in config and config[name] < minimum:
            msg = f"{name} must be at least {minimum}, got {config[name]}"
            raise ConfigError(msg)
    for name in (
        "poll_interval",
        "max_poll_interval",
        "query_timeout",
        "request_timeout",
        "result_lifetime",
        "max_requests_per_second",
    ):
        if name in config and float(config[name]) <= 0:
            msg = f"{name} must be a positive number of seconds, got {config[name]}"
            raise ConfigError(msg)
    Limits.from_config(config)
    date_range(config, today_utc())


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


def query_definitions(config: dict[str, Any]) -> list[QueryDefinition]:
    """Check the `queries` setting and turn each entry into a QueryDefinition."""
    entries = config.get("queries")
    if not entries:
        msg = "queries must list at least one query"
        raise ConfigError(msg)
    definitions: list[QueryDefinition] = []
    seen: dict[str, str] = {}  # lower-cased name → name: tables ignore case
    for number, entry in enumerate(entries):
        where = f"queries[{number}]"
        name = entry.get("name")
        if name is None or name == "":
            msg = f"{where}: name is required"
            raise ConfigError(msg)
        check_stream_name(name, where)
        if name.lower() in seen or name.lower() in RESERVED_STREAMS:
            other = seen.get(name.lower(), name.lower())
            msg = (
                f"{where}: stream name {name!r} is used twice (as {other!r}; names are compared "
                f"ignoring case, and {', '.join(sorted(RESERVED_STREAMS))} are reserved)"
            )
            raise ConfigError(msg)
        seen[name.lower()] = name
        definitions.append(_definition(entry, f"{where} ({name})", config))
    for lowered, name in seen.items():
        base = lowered.removesuffix(CURRENT_SUFFIX)
        if lowered.endswith(CURRENT_SUFFIX) and base in seen:
            msg = (
                f"stream name {name!r} is taken by the current relation of stream "
                f"{seen[base]!r} (docs/current-relations.md)"
            )
            raise ConfigError(msg)
    if config.get("refresh") is not None:  # checked even where every query sets its own
        parse_tiers(config["refresh"], "refresh")
    if config.get("reread") is None:
        return definitions
    today = today_utc()
    ranges = {}
    for definition in definitions:
        days = date_range(definition.effective(config), today)
        ranges[definition.name] = (days.start, days.end)
    rereads = parse_rereads(config.get("reread"), ranges)
    return [replace(d, rereads=rereads.get(d.name, ())) for d in definitions]


def _check_account_filter(ds_accounts: object, where: str) -> None:
    r"""Refuse a `ds_accounts` filter object whose regex Python's `re` cannot compile.

    Supermetrics documents `filter_id` / `filter_name` as PCRE, but the tap resolves a
    filter itself (`accounts.matching`, with `re` and no flags) to keep coverage per
    account, and would fail there anyway, only later: after `/query/fields` and
    `/query/accounts` were asked. So the check is `re.compile` and nothing stricter:
    whatever `re` compiles passes, even where PCRE would read it differently. PCRE-only
    syntax that `re` rejects (`\p{L}`, `(?<name>...)`, `\Q...\E`) is refused here, as it
    could not be matched later either.

    Args:
        ds_accounts: The query's `ds_accounts` value; only a filter object is checked.
        where: Names the query in the message, e.g. "queries[0] (ads)".

    Raises:
        ConfigError: one line naming the query, the filter key, the regex and `re`'s error.
    """
    if not isinstance(ds_accounts, dict):
        return
    for key in ("filter_id", "filter_name"):
        pattern = ds_accounts.get(key)
        if pattern is None:
            continue
        try:
            re.compile(str(pattern))
        except re.error as error:
            msg = f"{where}: ds_accounts.{key} {pattern!r} is not a valid regex: {error}"
            raise ConfigError(msg) from None


def _overrides(entry: dict[str, Any], where: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The query's own settings, its dates checked against the top-level ones."""
    overrides = query_overrides(entry, where)
    if "start_date" not in overrides and "end_date" not in overrides:
        return overrides  # the top-level dates are checked with the other settings
    try:
        date_range({**config, **overrides}, today_utc())
    except ConfigError as error:
        msg = f"{where}: {error}"
        raise ConfigError(msg) from None
    return overrides


def _check_summed_accounts(ds_accounts: object, where: str, limits: Limits) -> None:
    """Refuse a listed account set too large for one query when rows are summed over it.

    Without an account field a query's rows are sums over its accounts, so it cannot go
    out in groups. Lists resolved by the API (`list.all_accounts`, filters) are checked
    once resolved, before any data query (`reads.py`).
    """
    if isinstance(ds_accounts, str):
        ds_accounts = [] if ds_accounts.startswith("list.") else ds_accounts.split(",")
    if not isinstance(ds_accounts, list):
        return
    accounts = {str(item).strip() for item in ds_accounts if str(item).strip()}
    accounts = {item for item in accounts if not item.startswith("list.")}
    if len(accounts) > limits.max_accounts_per_query:
        msg = (
            f"{where}: ds_accounts lists {len(accounts)} accounts, more than "
            f"max_accounts_per_query={limits.max_accounts_per_query}, and the query has no "
            "account field, so its rows are sums over all accounts and cannot be read in "
            "groups: add the account field (e.g. profileID) to fields"
        )
        raise ConfigError(msg)


def _check_primary_keys(primary_keys: object, fields: tuple[str, ...], where: str) -> None:
    if primary_keys is None:
        return
    keys = list(primary_keys) if isinstance(primary_keys, list) else []
    missing = [key for key in keys if key not in fields]
    if missing or not keys:
        msg = f"{where}: primary_keys must be non-empty and among the fields: {missing}"
        raise ConfigError(msg)


def _definition(entry: dict[str, Any], where: str, config: Mapping[str, Any]) -> QueryDefinition:
    if not entry.get("ds_id"):
        msg = f"{where}: ds_id is required"
        raise ConfigError(msg)
    check_ds_id(entry["ds_id"], where)
    fields = tuple(entry.get("fields") or ())
    if not fields:
        msg = f"{where}: fields must name at least one field"
        raise ConfigError(msg)
    duplicates = sorted({f for f in fields if fields.count(f) > 1})
    if duplicates:
        msg = f"{where}: field(s) listed twice: {', '.join(duplicates)}"
        raise ConfigError(msg)
    check_column_collisions(fields, where)
    _check_account_filter(entry.get("ds_accounts"), where)
    date_field = entry.get("date_field")
    if date_field is not None and date_field not in fields:
        msg = f"{where}: date_field {date_field!r} is not among the fields"
        raise ConfigError(msg)
    if date_field is None and "Date" in fields:
        date_field = "Date"
    if date_field is not None and entry.get("date_range_type"):
        msg = f"{where}: date_range_type only applies to queries without a date field"
        raise ConfigError(msg)
    chosen_account_field = account_field(fields, entry.get("account_field"), where)
    if chosen_account_field is not None and chosen_account_field not in fields:
        msg = f"{where}: account_field {chosen_account_field!r} is not among the fields"
        raise ConfigError(msg)
    if chosen_account_field is None:
        _check_summed_accounts(entry.get("ds_accounts"), where, Limits.from_config(config))
    overrides = _overrides(entry, where, config)
    primary_keys = entry.get("primary_keys")
    _check_primary_keys(primary_keys, fields, where)
    return QueryDefinition(
        name=entry["name"],
        ds_id=entry["ds_id"],
        fields=fields,
        ds_accounts=entry.get("ds_accounts"),
        date_field=date_field,
        primary_keys=tuple(primary_keys) if primary_keys is not None else None,
        pass_through={
            key: entry[key] for key in PASS_THROUGH_PARAMETERS if entry.get(key) is not None
        },
        account_field=chosen_account_field,
        settings=overrides,
        tiers=refresh_tiers(overrides, config, where),
        reconcile=entry["reconcile"] if "reconcile" in entry else config.get("reconcile", False),
        reconcile_explicit="reconcile" in entry,
        reconcile_metrics=tuple(entry["reconcile_metrics"])
        if entry.get("reconcile_metrics") is not None
        else None,
    )

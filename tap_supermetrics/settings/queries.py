"""The `queries` setting: each entry checked and turned into a QueryDefinition."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tap_supermetrics.core.accounts import ALL_ACCOUNTS_LIST, TEAM_LIST_PREFIX, account_field
from tap_supermetrics.core.clock import today_utc
from tap_supermetrics.core.errors import ConfigError, Problems
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.plan.planner import Reread
from tap_supermetrics.plan.refresh import Tier, parse_tiers
from tap_supermetrics.settings.config_schema import CURRENT_SUFFIX, PASS_THROUGH_PARAMETERS
from tap_supermetrics.settings.dates import date_range, parse_date, parse_day
from tap_supermetrics.settings.identifiers import (
    check_column_collisions,
    check_ds_id,
    check_stream_name,
)
from tap_supermetrics.settings.query_settings import parse_rereads, query_overrides, refresh_tiers

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


def query_definitions(config: dict[str, Any], skip: Collection[int] = ()) -> list[QueryDefinition]:
    """Check the `queries` setting and turn each entry into a QueryDefinition.

    Args:
        config: The settings.
        skip: Entries (by position) not to check: their values are of the wrong type,
            which the JSON Schema check reported already.

    Raises:
        ConfigMistakesError: every mistake of every entry, one line each.
    """
    entries = config.get("queries")
    if not entries:
        msg = "queries must list at least one query"
        raise ConfigError(msg)
    problems = Problems()
    definitions: list[QueryDefinition] = []
    seen: dict[str, str] = {}  # lower-cased name → name: tables ignore case
    for number, entry in enumerate(entries):
        if number in skip:
            continue
        where = f"queries[{number}]"
        name = entry.get("name")
        named = Problems()
        with named.collect():
            _check_name(name, where, seen)
        problems.add(*named.lines)
        if isinstance(name, str):
            seen.setdefault(name.lower(), name)
        with problems.collect():  # a refused name is not shown again in the entry's lines
            definitions.append(_definition(entry, where if named else f"{where} ({name})", config))
    for lowered, name in seen.items():
        base = lowered.removesuffix(CURRENT_SUFFIX)
        if lowered.endswith(CURRENT_SUFFIX) and base in seen:
            problems.add(
                f"stream name {name!r} is taken by the current relation of stream "
                f"{seen[base]!r} (docs/current-relations.md)"
            )
    if config.get("refresh") is not None:  # checked even where every query sets its own
        with problems.collect():
            parse_tiers(config["refresh"], "refresh")
    problems.raise_if_any()
    if config.get("reread") is None:
        return definitions
    return _with_rereads(config, definitions)


def _with_rereads(
    config: Mapping[str, Any], definitions: list[QueryDefinition]
) -> list[QueryDefinition]:
    """The definitions with the `reread` entries of each stream, checked."""
    today = today_utc()
    ranges = {}
    for definition in definitions:
        days = date_range(definition.effective(config), today)
        ranges[definition.name] = (days.start, days.end)
    rereads = parse_rereads(config.get("reread"), ranges)
    named = {definition.name: definition for definition in definitions}
    problems = Problems()
    for number, entry in enumerate(config["reread"]):
        with problems.collect():
            _check_reread_accounts(entry, f"reread[{number}]", named)
    problems.raise_if_any()
    return [replace(d, rereads=rereads.get(d.name, ())) for d in definitions]


def _check_reread_accounts(
    entry: Mapping[str, Any], where: str, named: Mapping[str, QueryDefinition]
) -> None:
    """A re-read names only accounts its stream holds, and none of a summed stream's.

    Accounts that the API resolves (`list.all_accounts`, filters) are checked once listed,
    before any data query (`read/reads.py`).
    """
    accounts = entry.get("accounts")
    definition = named.get(str(entry.get("stream")))
    if not accounts or definition is None:
        return
    stream = definition.name
    if definition.account_field is None:
        msg = (
            f"{where}: stream {stream!r} has no account field, so its rows are sums over its "
            "accounts: a re-read of it cannot name accounts; leave accounts out"
        )
        raise ConfigError(msg)
    listed = _listed_accounts(definition.ds_accounts)
    if listed is None:
        return
    if any(item.startswith(TEAM_LIST_PREFIX) for item in listed):
        if all(item.startswith(TEAM_LIST_PREFIX) for item in listed):
            msg = (
                f"{where}: stream {stream!r} reads the team list "
                f"{', '.join(listed)}, whose accounts only Supermetrics knows, as one unit: "
                "a re-read of it cannot name accounts; leave accounts out"
            )
            raise ConfigError(msg)
        return  # some accounts may be the list's: only Supermetrics can tell
    unknown = [account for account in accounts if account not in listed]
    if unknown:
        msg = (
            f"{where}: account(s) {', '.join(map(str, unknown))} are not among stream "
            f"{stream!r}'s ds_accounts"
        )
        raise ConfigError(msg)


def _listed_accounts(ds_accounts: object) -> list[str] | None:
    """The accounts a `ds_accounts` value names (None: the API resolves them)."""
    if isinstance(ds_accounts, str) and ds_accounts != ALL_ACCOUNTS_LIST:
        if ds_accounts.startswith(TEAM_LIST_PREFIX):
            return [ds_accounts]
        return [part.strip() for part in ds_accounts.split(",") if part.strip()]
    if isinstance(ds_accounts, list) and ALL_ACCOUNTS_LIST not in ds_accounts:
        return [str(item).strip() for item in ds_accounts]
    return None


def _check_name(name: object, where: str, seen: Mapping[str, str]) -> None:
    """Refuse a missing, unsafe, reserved or repeated stream name."""
    if name is None or name == "":
        msg = f"{where}: name is required"
        raise ConfigError(msg)
    check_stream_name(name, where)
    lowered = str(name).lower()
    if lowered in RESERVED_STREAMS:
        msg = (
            f"{where}: stream name {name!r} is reserved for the tap's own stream "
            f"{lowered!r} ({', '.join(sorted(RESERVED_STREAMS))} are reserved, ignoring case)"
        )
        raise ConfigError(msg)
    if lowered in seen:
        msg = (
            f"{where}: stream name {name!r} is used twice (as {seen[lowered]!r}; names are "
            "compared ignoring case)"
        )
        raise ConfigError(msg)


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
    """The query's own settings, its dates checked, and against the top-level ones."""
    overrides = query_overrides(entry, where)
    problems = Problems()
    own = {}
    for name in ("start_date", "end_date"):
        if name in overrides:
            with problems.collect():
                own[name] = parse_day(overrides[name], f"{where}: {name}")
    problems.raise_if_any()
    if not own:
        return overrides  # the top-level dates are checked with the other settings
    try:
        top = [parse_date(dict(config), name) for name in ("start_date", "end_date")]
    except ConfigError:
        return overrides  # reported with the top-level settings
    start, end = own.get("start_date", top[0]), own.get("end_date", top[1])
    if start is not None and end is not None and end < start:
        msg = f"{where}: end_date {end} is before start_date {start}"
        raise ConfigError(msg)
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
    """One entry's definition; every mistake in it is reported, one line each.

    Raises:
        ConfigMistakesError: the entry's mistakes.
    """
    problems = Problems()
    with problems.collect():
        if not entry.get("ds_id"):
            msg = f"{where}: ds_id is required"
            raise ConfigError(msg)
        check_ds_id(entry["ds_id"], where)
    fields = tuple(entry.get("fields") or ())
    with problems.collect():
        _check_fields(fields, where)
    with problems.collect():
        _check_account_filter(entry.get("ds_accounts"), where)
    date_field = entry.get("date_field")
    with problems.collect():
        date_field = _date_field(entry, fields, where)
    chosen_account_field = None
    with problems.collect():
        chosen_account_field = account_field(fields, entry.get("account_field"), where)
        if chosen_account_field is not None and chosen_account_field not in fields:
            msg = f"{where}: account_field {chosen_account_field!r} is not among the fields"
            raise ConfigError(msg)
        if chosen_account_field is None:
            _check_summed_accounts(entry.get("ds_accounts"), where, Limits.from_config(config))
    overrides: dict[str, Any] = {}
    with problems.collect():
        overrides = _overrides(entry, where, config)
    primary_keys = entry.get("primary_keys")
    with problems.collect():
        _check_primary_keys(primary_keys, fields, where)
    tiers: tuple[Tier, ...] = ()
    with problems.collect():
        tiers = refresh_tiers(overrides, config, where)
    problems.raise_if_any()
    return QueryDefinition(
        name=str(entry["name"]),
        ds_id=str(entry["ds_id"]),
        fields=fields,
        ds_accounts=entry.get("ds_accounts"),
        date_field=date_field,
        primary_keys=tuple(primary_keys) if primary_keys is not None else None,
        pass_through={
            key: entry[key] for key in PASS_THROUGH_PARAMETERS if entry.get(key) is not None
        },
        account_field=chosen_account_field,
        settings=overrides,
        tiers=tiers,
        reconcile=entry["reconcile"] if "reconcile" in entry else config.get("reconcile", False),
        reconcile_explicit="reconcile" in entry,
        reconcile_metrics=tuple(entry["reconcile_metrics"])
        if entry.get("reconcile_metrics") is not None
        else None,
    )


def _check_fields(fields: tuple[str, ...], where: str) -> None:
    """Refuse no fields, a field listed twice, or two fields that share a column."""
    if not fields:
        msg = f"{where}: fields must name at least one field"
        raise ConfigError(msg)
    duplicates = sorted({f for f in fields if fields.count(f) > 1})
    if duplicates:
        msg = f"{where}: field(s) listed twice: {', '.join(duplicates)}"
        raise ConfigError(msg)
    check_column_collisions(fields, where)


def _date_field(entry: Mapping[str, Any], fields: tuple[str, ...], where: str) -> str | None:
    """The query's date field (`Date` by default when listed), checked."""
    date_field = entry.get("date_field")
    if date_field is not None and date_field not in fields:
        msg = f"{where}: date_field {date_field!r} is not among the fields"
        raise ConfigError(msg)
    if date_field is None and "Date" in fields:
        date_field = "Date"
    if date_field is not None and entry.get("date_range_type"):
        msg = f"{where}: date_range_type only applies to queries without a date field"
        raise ConfigError(msg)
    return str(date_field) if date_field is not None else None

"""The accounts each login holds, `GET /query/accounts`, and expanding `ds_accounts`.

A key reads one login per data source (the catalogue's), holding the catalogue's
accounts plus `extra_accounts` minus `removed_accounts`: tests change these at run
time to see a client pick up an account that appeared upstream, or lose one.
`ds_accounts` of a submitted query may be a list, a comma-separated string, team
lists (`list.all_accounts`, or those of the `team_lists` setting) or a filter object
of regular expressions; the server expands every form to plain account ids, as
Supermetrics does, before the query runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supermetrics_emulator.catalog import DATA_SOURCES, Account, DataSource
from supermetrics_emulator.validation import ApiError, as_list, source_of

ALL_ACCOUNTS = "list.all_accounts"
TEAM_LIST_PREFIX = "list."
_FILTER_KEYS = frozenset({"filter_id", "filter_name"})


@dataclass(frozen=True)
class Logins:
    """The accounts every login holds right now, and the team lists defined for them."""

    extra: Mapping[str, tuple[Account, ...]] = field(default_factory=dict)
    removed: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        extra_accounts: Mapping[str, Sequence[Any]],
        removed_accounts: Mapping[str, Sequence[Any]],
        team_lists: Mapping[str, Sequence[Any]],
    ) -> Logins:
        """Build from the JSON values of the three settings (checked as they are set)."""
        return cls(
            parse_extra_accounts(extra_accounts),
            {ds_id: frozenset(ids) for ds_id, ids in parse_removed(removed_accounts).items()},
            parse_team_lists(team_lists),
        )

    def accounts(self, source: DataSource) -> tuple[Account, ...]:
        """The accounts the data source's login holds, catalogue first, then extras."""
        gone = self.removed.get(source.ds_id, frozenset())
        held: dict[str, Account] = {}
        for account in (*source.accounts, *self.extra.get(source.ds_id, ())):
            if account.account_id not in gone:
                held.setdefault(account.account_id, account)
        return tuple(held.values())

    def account_name(self, source: DataSource, account_id: str) -> str:
        """The account's name, or its id when the login does not hold it."""
        names = {account.account_id: account.account_name for account in self.accounts(source)}
        return names.get(account_id, account_id)

    def expand(self, source: DataSource, value: object) -> list[str]:
        """Turn `ds_accounts` into the account ids it stands for, in order, once each.

        Raises:
            ApiError: 400 when the value is malformed, names an account the login does
                not hold or an unknown team list, or selects no account at all.
        """
        held = self.accounts(source)
        what = f"accounts of {source.ds_id}"
        if isinstance(value, dict):
            chosen = _filtered(held, value)
            if not chosen:
                raise ApiError(400, "ACCOUNTS_MISSING", f"No account matches the filter {value}")
            return chosen
        entries = as_list(value if value is not None else [], "ds_accounts")
        if not entries:
            raise ApiError(400, "ACCOUNTS_MISSING", f"At least one of the {what} is required")
        ids = {account.account_id for account in held}
        chosen = []
        for entry in entries:
            for account_id in self._entry(held, entry):
                if account_id not in ids:
                    raise ApiError(
                        400, "ACCOUNT_NOT_FOUND", f"{account_id!r} is not one of the {what}"
                    )
                chosen.append(account_id)
        return list(dict.fromkeys(chosen))

    def _entry(self, held: Sequence[Account], entry: str) -> Sequence[str]:
        if not entry.startswith(TEAM_LIST_PREFIX):
            return [entry]
        if entry == ALL_ACCOUNTS:
            return [account.account_id for account in held]
        if entry in self.team_lists:
            return self.team_lists[entry]
        raise ApiError(400, "ACCOUNT_LIST_NOT_FOUND", f"No team list {entry!r}")


def _filtered(held: Sequence[Account], spec: dict[Any, Any]) -> list[str]:
    unknown = set(spec) - _FILTER_KEYS
    if unknown:
        msg = f"Unknown account filter keys: {', '.join(sorted(map(str, unknown)))}"
        raise ApiError(400, "PARAMETER_INVALID", msg)
    patterns = {}
    for key, pattern in spec.items():
        if not isinstance(pattern, str):
            raise ApiError(400, "PARAMETER_INVALID", f"{key} must be a regular expression")
        try:
            patterns[key] = re.compile(pattern)
        except re.error as error:
            raise ApiError(
                400, "PARAMETER_INVALID", f"{key} is not a valid regular expression", str(error)
            ) from None
    by_id, by_name = patterns.get("filter_id"), patterns.get("filter_name")
    return [
        account.account_id
        for account in held
        if (by_id is None or by_id.search(account.account_id))
        and (by_name is None or by_name.search(account.account_name))
    ]


def accounts_answer(params: dict[str, Any], logins: Logins, request_id: str) -> dict[str, Any]:
    """Build the `/query/accounts` answer: the data source's login and its accounts.

    Raises:
        ApiError: 400 for a missing or unknown `ds_id`, or a `ds_users` entry that is
            not a login of the data source.
    """
    source = source_of(params)
    wanted = params.get("ds_users", params.get("ds_user"))
    if wanted is not None:
        for user in as_list(wanted, "ds_users"):
            if user != source.ds_user:
                raise ApiError(
                    400, "DS_USER_NOT_FOUND", f"{user!r} is not a login of {source.ds_id}"
                )
    cache_minutes = params.get("cache_minutes", 0)
    now = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
    return {
        "meta": {
            "request_id": request_id,
            "query": {"cache_minutes": cache_minutes if isinstance(cache_minutes, int) else 0},
        },
        "data": [
            {
                "ds_user": source.ds_user,
                "display_name": source.display_name,
                "cache_time": now.isoformat().replace("+00:00", "Z"),
                "accounts": [
                    {
                        "account_id": account.account_id,
                        "account_name": account.account_name,
                        "group_name": account.group_name,
                    }
                    for account in logins.accounts(source)
                ],
            }
        ],
    }


# Settings checks ---------------------------------------------------------------


def _known_source(ds_id: object, what: str) -> DataSource:
    source = DATA_SOURCES.get(ds_id) if isinstance(ds_id, str) else None
    if source is None:
        msg = f"{what}: unknown ds_id {ds_id!r}"
        raise ValueError(msg)
    return source


def _ids(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        msg = f"{what} must be a list of account ids"
        raise ValueError(msg)
    return tuple(value)


def parse_extra_accounts(value: Mapping[str, Sequence[Any]]) -> dict[str, tuple[Account, ...]]:
    """Check `{ds_id: [account id or {"account_id", "account_name"?, "group_name"?}]}`.

    An account given by id alone is named after it (`Account 444-444-4444`).

    Raises:
        ValueError: an unknown data source or a malformed entry.
    """
    parsed = {}
    for ds_id, items in value.items():
        what = f"extra_accounts[{ds_id!r}]"
        _known_source(ds_id, what)
        if not isinstance(items, list):
            msg = f"{what} must be a list"
            raise ValueError(msg)  # noqa: TRY004 - settings errors are ValueErrors
        accounts = []
        for item in items:
            spec = {"account_id": item} if isinstance(item, str) else item
            if (
                not isinstance(spec, dict)
                or not isinstance(spec.get("account_id"), str)
                or not spec["account_id"]
                or not set(spec) <= {"account_id", "account_name", "group_name"}
                or not all(isinstance(text, str) for text in spec.values())
            ):
                msg = f"{what}: {item!r} is not an account id or an account object"
                raise ValueError(msg)
            account_id = spec["account_id"]
            name = spec.get("account_name", f"Account {account_id}")
            accounts.append(Account(account_id, name, spec.get("group_name", "")))
        parsed[ds_id] = tuple(accounts)
    return parsed


def parse_removed(value: Mapping[str, Sequence[Any]]) -> dict[str, tuple[str, ...]]:
    """Check `{ds_id: [account id, ...]}` (accounts the login no longer holds).

    Raises:
        ValueError: an unknown data source or a malformed list.
    """
    return {
        ds_id: _ids(ids, f"removed_accounts[{_known_source(ds_id, 'removed_accounts').ds_id!r}]")
        for ds_id, ids in value.items()
    }


def parse_team_lists(value: Mapping[str, Sequence[Any]]) -> dict[str, tuple[str, ...]]:
    """Check `{"list.<name>": [account id, ...]}`; `list.all_accounts` is built in.

    Raises:
        ValueError: a name without the `list.` prefix, `list.all_accounts`, or a
            malformed list.
    """
    parsed = {}
    for name, ids in value.items():
        if not name.startswith(TEAM_LIST_PREFIX) or name == ALL_ACCOUNTS:
            msg = f"team list name {name!r} must start with 'list.' and not be {ALL_ACCOUNTS!r}"
            raise ValueError(msg)
        parsed[name] = _ids(ids, f"team_lists[{name!r}]")
    return parsed

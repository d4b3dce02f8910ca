"""`ds_accounts` as Supermetrics accepts it, turned into the accounts coverage is kept for.

Supermetrics takes a list of account ids, a comma-separated string, a team list such
as `"list.all_accounts"`, or a filter object `{"filter_id": "<regex>", "filter_name":
"<regex>"}`. The tap keeps coverage per account, so it needs the accounts themselves:
`list.all_accounts` and filters are resolved with `GET /query/accounts` at each run
(an account that appears upstream is then backfilled on its own). Other team lists
are opaque to the API's public endpoints: each is kept as one unit whose accounts
move together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tap_supermetrics.core.errors import ConfigError

ALL_ACCOUNTS_LIST = "list.all_accounts"


TEAM_LIST_PREFIX = "list."


#: Field ids that carry the account's id in common data sources (compared ignoring
#: case). One of them among `fields` is the query's account field unless the query
#: names its own with `account_field`. GA4's `property` holds `properties/<number>`,
#: the property's resource id.
KNOWN_ACCOUNT_FIELDS = frozenset(
    {
        "profileid",
        "profile_id",
        "property",
        "propertyid",
        "property_id",
        "accountid",
        "account_id",
        "adaccountid",
        "ad_account_id",
        "customerid",
        "customer_id",
        "ds_account",
    }
)


#: Field ids that carry the account's *name*, with the id field to use instead (keys
#: compared ignoring case). A name can change, and two accounts can share one: as the
#: account key it would split one account's coverage and rows in two after a rename,
#: and merge two accounts into one. docs/account-ids.md has this table.
ACCOUNT_NAME_FIELDS: dict[str, str] = {
    "profile": "profileID",  # Google Ads: `profile` is "Account", `profileID` "Account ID"
    "profilename": "profileID",
    "profile_name": "profile_id",
    "account": "account_id",  # Campaign Manager 360: `account` is the name
    "accountname": "accountID",
    "account_name": "account_id",
    "adaccountname": "adaccountID",
    "ad_account_name": "ad_account_id",
    "customername": "customerID",
    "customer_name": "customer_id",
    "propertyname": "propertyID",
    "property_name": "property_id",
}


@dataclass(frozen=True)
class Account:
    """One account the login can read, as `/query/accounts` lists it."""

    account_id: str
    account_name: str


#: Lists the login's accounts for a data source (one `/query/accounts` request).
ListAccounts = Callable[[], list[Account]]


def account_keys(ds_accounts: object, list_accounts: ListAccounts) -> tuple[str, ...]:
    """The accounts (or opaque team lists) that `ds_accounts` stands for, in order.

    `list_accounts` is called only when the value needs it, and at most once.
    """
    if isinstance(ds_accounts, dict):
        return tuple(account.account_id for account in matching(ds_accounts, list_accounts()))
    keys: list[str] = []
    listed: list[Account] | None = None
    for entry in _entries(ds_accounts):
        if entry == ALL_ACCOUNTS_LIST:
            listed = listed if listed is not None else list_accounts()
            keys.extend(account.account_id for account in listed)
        else:
            keys.append(entry)
    return tuple(dict.fromkeys(keys))  # without repeats, in order


def _entries(ds_accounts: object) -> list[str]:
    if ds_accounts is None:
        return []
    if isinstance(ds_accounts, str):
        if ds_accounts.startswith(TEAM_LIST_PREFIX):
            return [ds_accounts]
        return [part.strip() for part in ds_accounts.split(",") if part.strip()]
    if isinstance(ds_accounts, list):
        return [str(entry).strip() for entry in ds_accounts if str(entry).strip()]
    return []


def matching(account_filter: dict[str, Any], accounts: Sequence[Account]) -> list[Account]:
    """The accounts whose id matches `filter_id` and whose name matches `filter_name`."""
    patterns = {}
    for key in ("filter_id", "filter_name"):
        if account_filter.get(key) is not None:
            try:
                patterns[key] = re.compile(str(account_filter[key]))
            except re.error as error:
                msg = f"ds_accounts.{key} {account_filter[key]!r} is not a valid regex: {error}"
                raise ConfigError(msg) from None
    by_id, by_name = patterns.get("filter_id"), patterns.get("filter_name")
    return [
        account
        for account in accounts
        if (by_id is None or by_id.search(account.account_id))
        and (by_name is None or by_name.search(account.account_name))
    ]


def request_value(keys: Sequence[str]) -> list[str] | str:
    """How a group of accounts is sent: a team list alone as its string, else a list."""
    if len(keys) == 1 and keys[0].startswith(TEAM_LIST_PREFIX):
        return keys[0]
    return list(keys)


def account_field(fields: Sequence[str], configured: str | None, where: str) -> str | None:
    """The field that carries the account's id in each row, if the query has one.

    Without `configured`, the first known id field among `fields` is taken; failing
    that, a known name field is found only to be refused. A name field listed beside
    an id field is an ordinary column.

    Raises:
        ConfigError: the account field is a known name field; the one line names the
            id field to use instead.
    """
    chosen = configured
    if chosen is None:
        chosen = next((name for name in fields if name.lower() in KNOWN_ACCOUNT_FIELDS), None)
    if chosen is None:
        chosen = next((name for name in fields if name.lower() in ACCOUNT_NAME_FIELDS), None)
    if chosen is not None and chosen.lower() in ACCOUNT_NAME_FIELDS:
        id_field = ACCOUNT_NAME_FIELDS[chosen.lower()]
        msg = (
            f"{where}: account field {chosen!r} holds the account's name, which can change: "
            f"use the id field {id_field!r} instead (add it to fields; docs/account-ids.md)"
        )
        raise ConfigError(msg)
    return chosen

"""The login's accounts per data source, as `GET /query/accounts` lists them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tap_supermetrics.core.accounts import Account, ListAccounts
from tap_supermetrics.core.errors import ResultShapeError

ACCOUNTS_PATH = "/query/accounts"


def parse_account_list(payload: dict[str, Any], describe: str) -> list[Account]:
    """Read `data[].accounts[]` of a `/query/accounts` answer (one entry per login)."""
    data = payload.get("data")
    if not isinstance(data, list):
        msg = f"{describe}: the /query/accounts answer has no 'data' list"
        raise ResultShapeError(msg)
    accounts: dict[str, Account] = {}
    for item in data:
        # The client decodes `data` lazily (rows of results): decode these entries here.
        login = msgspec.json.decode(item) if isinstance(item, msgspec.Raw) else item
        entries = login.get("accounts") if isinstance(login, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("account_id") not in (None, ""):
                account_id = str(entry["account_id"])
                name = str(entry.get("account_name") or "")
                accounts.setdefault(account_id, Account(account_id, name))
    return list(accounts.values())


class AccountDirectory:
    """The login's accounts per data source, asked once per run and remembered."""

    def __init__(self) -> None:
        """Start knowing no accounts."""
        self._known: dict[str, list[Account]] = {}

    def lister(
        self, ds_id: str, ds_users: object, fetch: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> ListAccounts:
        """A ListAccounts for one data source (and login, when the query names one).

        `fetch` sends one `/query/accounts` request with the given parameters.
        """
        params: dict[str, Any] = {"ds_id": ds_id}
        if ds_users:
            params["ds_users"] = ds_users

        def list_accounts() -> list[Account]:
            key = repr(sorted(params.items()))
            if key not in self._known:
                answer = fetch(params)
                self._known[key] = parse_account_list(answer, f"data source {ds_id!r}")
            return self._known[key]

        return list_accounts

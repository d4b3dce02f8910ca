"""Sizing queries up front: accounts in groups, windows short enough to stay under the cap.

A query that reaches `max_rows_per_query` is split and read again (`splitting.py`),
which costs a whole extra read of its rows. So windows are sized before they are sent,
from what earlier runs returned (rows per day per account, in the coverage): a group's
window is as many days as keep its rows under the sizing share of the cap, and accounts
are grouped so that even one day of a group fits. Accounts never read yet count as the
stream's average; a stream never read has no estimate at all, and its first window is
learnt from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tap_supermetrics.core.accounts import TEAM_LIST_PREFIX
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.core.windows import DateWindow


@dataclass(frozen=True)
class RowRates:
    """Rows per day per account, as the last complete read of each returned them."""

    per_account: Mapping[str, float]

    @property
    def average(self) -> float | None:
        """The stream's average rows per account-day, standing in for unread accounts."""
        if not self.per_account:
            return None
        return sum(self.per_account.values()) / len(self.per_account)

    def daily(self, account: str) -> float | None:
        """Rows per day expected of `account` (None: nothing of this stream read yet)."""
        return self.per_account.get(account, self.average)

    def estimate(self, accounts: Sequence[str], window: DateWindow | None) -> int | None:
        """Rows expected of a query for `accounts` over `window` (None: unknown)."""
        if window is None:
            return None
        rates = [self.daily(account) for account in accounts]
        if not rates or any(rate is None for rate in rates):
            return None
        return math.ceil(sum(rate for rate in rates if rate is not None) * window.days)


def account_groups(
    accounts: Sequence[str], rates: RowRates, limits: Limits
) -> list[tuple[str, ...]]:
    """The accounts, in their order, as groups that each go out as one query.

    A group holds at most `max_accounts_per_query` accounts, and one day of it stays
    under the sizing share of `max_rows_per_query` when the rates say so. An opaque team
    list (`list.…` other than all accounts) goes alone: its accounts are the API's to
    expand.
    """
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    load = 0.0
    for account in accounts:
        rate = rates.daily(account) or 0.0
        team_list = account.startswith(TEAM_LIST_PREFIX)
        full = len(current) >= limits.max_accounts_per_query or load + rate > limits.sizing_rows
        if current and (full or team_list):
            groups.append(tuple(current))
            current, load = [], 0.0
        current.append(account)
        load += rate
        if team_list:
            groups.append(tuple(current))
            current, load = [], 0.0
    if current:
        groups.append(tuple(current))
    return groups


def window_length(group: Sequence[str], rates: RowRates, limits: Limits, window_days: int) -> int:
    """Days per window for `group`: `window_days`, or fewer when its rows would not fit."""
    load = sum(rates.daily(account) or 0.0 for account in group)
    if load <= 0:
        return window_days
    return max(1, min(window_days, math.floor(limits.sizing_rows / load)))

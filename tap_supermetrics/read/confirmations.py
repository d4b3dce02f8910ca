"""Accounts the API may have left out: with `exclude_invalid_accounts`, an empty one is asked.

With the query setting `settings.exclude_invalid_accounts`, Supermetrics drops an account
it cannot read and still answers SUCCESS. The window's rows then lack that account, and
taken at its word the tap would record the account's days as loaded: they would never be
read again. So when a window for several accounts returns rows for some of them and none
for others, each empty account is read again on its own for that window, without the
setting (reason `confirm empty account`): an account that fails there is reported like
any failed account and stays unloaded, to be read again next run; one that answers (with
rows or without) is loaded. At most once per account per run: an account confirmed once
is taken at its word in the run's later windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tap_supermetrics.plan.planner import ALL_ACCOUNTS, PlannedQuery

#: The query setting that lets the API leave accounts out.
EXCLUDE_INVALID = "exclude_invalid_accounts"
#: Why an account is read on its own (`query_runs.reason`).
CONFIRM_EMPTY = "confirm empty account"


def excludes_invalid(pass_through: Mapping[str, object]) -> bool:
    """Whether a query's settings let the API leave out accounts it cannot read."""
    settings = pass_through.get("settings")
    return isinstance(settings, Mapping) and bool(settings.get(EXCLUDE_INVALID))


def without_exclusion(settings: Mapping[str, object]) -> dict[str, object]:
    """The query's settings without `exclude_invalid_accounts`: a refusal must show."""
    return {name: value for name, value in settings.items() if name != EXCLUDE_INVALID}


@dataclass
class EmptyAccounts:
    """Which empty accounts of one stream to confirm, once each per run."""

    enabled: bool
    confirmed: set[str] = field(default_factory=set)

    def to_confirm(
        self, accounts: Sequence[str], rows: Mapping[str, int] | None
    ) -> tuple[str, ...]:
        """The accounts of a window that returned no rows while others did, not yet asked."""
        if not self.enabled or rows is None or len(accounts) < 2 or ALL_ACCOUNTS in accounts:  # noqa: PLR2004 - several accounts
            return ()
        if not any(rows.get(account, 0) for account in accounts):
            return ()  # nothing anywhere: a quiet window, not a left-out account
        empty = tuple(
            account
            for account in accounts
            if not rows.get(account, 0) and account not in self.confirmed
        )
        self.confirmed.update(empty)
        return empty

    def expected(self, queries: Sequence[PlannedQuery], last_rows: Mapping[str, int]) -> int:
        """For the plan and the dry run: the accounts whose last read returned no rows.

        Each such account read with others is likely to be confirmed on its own once.
        """
        if not self.enabled:
            return 0
        together = {
            account for query in queries if len(query.accounts) > 1 for account in query.accounts
        }
        return sum(1 for account in together if last_rows.get(account) == 0)

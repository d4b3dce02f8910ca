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

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tap_supermetrics.plan.planner import ALL_ACCOUNTS, PlannedQuery

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.budget import RowBudget
    from tap_supermetrics.plan.sizing import RowRates

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


@dataclass
class Confirmations:
    """One stream's confirmation queries in this run: admitted, submitted, then released."""

    stream: str
    empty: EmptyAccounts
    budget: RowBudget
    logger: logging.Logger
    new_execution: Callable[[PlannedQuery], QueryExecution]
    describe: Callable[[PlannedQuery], str]
    rates: Callable[[], RowRates]
    #: The confirmations of the window being read: the budget holds their rows until then.
    _reading: list[PlannedQuery] = field(default_factory=list)

    def plan(
        self, to_send: Sequence[PlannedQuery], rates_read: Mapping[str, tuple[int, int]]
    ) -> None:
        """Dry run: count and say the confirmations the plan is likely to send.

        `rates_read`: per account, the rows and days of its last complete read.
        """
        usage = self.budget.of(self.stream)
        last_rows = {account: rows for account, (rows, _) in rates_read.items()}
        usage.confirmations = self.empty.expected(to_send, last_rows)
        if usage.confirmations:
            self.logger.info(
                "Dry run: stream %r: plus up to %d %s queries (%s set; accounts whose last "
                "read returned no rows)",
                self.stream,
                usage.confirmations,
                CONFIRM_EMPTY,
                EXCLUDE_INVALID,
            )

    def submit(
        self, account: str, planned: PlannedQuery, execution: QueryExecution
    ) -> tuple[PlannedQuery, QueryExecution] | None:
        """Submit the query that confirms `account` alone for `planned`'s window.

        None: the row budget has no room for it, and the account's days stay missing.
        """
        part = PlannedQuery(planned.window, (account,), CONFIRM_EMPTY)
        if self.budget.admit(self.stream, part, self.rates()) is None:
            self.logger.info(
                "%s: no room in max_rows_per_run to confirm that the API did not leave it out; "
                "its days stay missing",
                self.describe(part),
            )
            return None
        self._reading.append(part)
        self.logger.info(
            "%s: no rows while the window's other accounts have some, with %s set: reading it "
            "alone without the setting, in case the API left it out",
            self.describe(part),
            EXCLUDE_INVALID,
        )
        confirm = self.new_execution(part)
        confirm.extracted_at = execution.extracted_at  # one stamp per window read
        confirm.submit()
        self.budget.of(self.stream).confirmations += 1
        return part, confirm

    def window_done(self) -> None:
        """The window's reading ended: the budget no longer holds its confirmations' rows."""
        for part in self._reading:
            self.budget.release(self.stream, part)
        self._reading.clear()

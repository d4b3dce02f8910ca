"""Accounts of one stream that failed alone in this run: reported, then left out.

An account whose query fails on its own (`splitting.py` isolates it) is reported once
with its window, keeps its coverage (the next run reads it again), and is left out of the
stream's later windows in this run: a query spent on it again would fail again. A window
already submitted with it is reported unread in `query_runs` and sent again without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tap_supermetrics.plan.planner import PlannedQuery
from tap_supermetrics.run.failures import AccountFailure

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.core.errors import QueryFailedError
    from tap_supermetrics.run.sync_run import SyncRun


@dataclass
class FailedAccounts:
    """The accounts of `stream` that failed in this run."""

    stream: str
    run: SyncRun
    logger: logging.Logger
    describe: Callable[[PlannedQuery], str]
    accounts: set[str] = field(default_factory=set)

    def report(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> str:
        """Report `accounts`, failed alone in `planned`'s window; return the error's code."""
        what = str(error).partition(": ")[2] or str(error.info)
        window = str(planned.window or "as configured")
        for account in accounts:
            self.accounts.add(account)
            failure = AccountFailure(self.stream, account, window, what)
            self.run.failures.add(failure)
            self.logger.error("%s; its days stay unloaded, the run goes on", failure)
        return error.info.code or "FAILURE"

    def left_out(self, planned: PlannedQuery, execution: QueryExecution) -> PlannedQuery | None:
        """`planned` without the accounts that failed earlier (None: none is left).

        When it was submitted ahead with them, its run is reported unread.
        """
        still_failed = [a for a in planned.accounts if a in self.accounts]
        self.logger.info(
            "%s: skipping %s, which failed earlier in this run",
            self.describe(planned),
            ", ".join(still_failed),
        )
        rest = tuple(a for a in planned.accounts if a not in self.accounts)
        if execution.schedule_id:  # submitted ahead: say in query_runs why it is unread
            execution.run.error = (
                f"not read: {', '.join(still_failed)} failed earlier in this run; "
                + ("the window was submitted again without them" if rest else "nothing left")
            )
            self.run.runs.append(execution.run)
        return PlannedQuery(planned.window, rest, planned.reason) if rest else None

    def any_in(self, planned: PlannedQuery) -> bool:
        """Whether `planned` reads an account that failed earlier in this run."""
        return any(account in self.accounts for account in planned.accounts)

"""Failures that stop one account but not the run, reported together at its end.

When one account of a query fails (its login lost access, say), the other accounts'
rows are still emitted and their coverage moves; the failing account's coverage does
not. The run must still end non-zero, after every stream has synced, with one line
per stream and account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tap_supermetrics.errors import SupermetricsError
from tap_supermetrics.planner import ALL_ACCOUNTS


class AccountsFailedError(SupermetricsError):
    """One or more accounts failed; the others were synced."""


@dataclass(frozen=True)
class AccountFailure:
    """One account of one stream that failed in this run."""

    stream: str
    account: str
    window: str
    what: str

    def __str__(self) -> str:
        """`stream 'ads', account '222-…', window …: query … ended with FAILURE: CODE: …`."""
        who = "all accounts" if self.account == ALL_ACCOUNTS else f"account {self.account!r}"
        return f"stream {self.stream!r}, {who}, window {self.window}: {self.what}"


@dataclass
class FailureLedger:
    """The account failures of a run, shared by every stream."""

    failures: list[AccountFailure] = field(default_factory=list)

    def add(self, failure: AccountFailure) -> None:
        """Record a failure."""
        self.failures.append(failure)

    def raise_if_any(self, logger: logging.Logger) -> None:
        """Fail the run after one log line per failed stream and account, if any failed."""
        if not self.failures:
            return
        logger.error(
            "%d account failure(s); the other accounts were synced, these accounts' days "
            "stay unloaded until a run reads them:",
            len(self.failures),
        )
        for failure in self.failures:
            logger.error("  %s", failure)
        msg = f"{len(self.failures)} account failure(s), listed above"
        raise AccountsFailedError(msg)

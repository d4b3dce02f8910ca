"""Failures that stop one account or one stream but not the run, reported at its end.

When one account of a query fails (its login lost access, say), the other accounts'
rows are still emitted and their coverage moves; the failing account's coverage does
not. When the licence refuses one window (it does not reach back that far), its days
stay missing and the stream's other windows load. When a whole stream cannot go on
(listing its accounts was refused, its query is refused for its data source), the other
streams still load and save their state. The
run must still end non-zero, after every stream has synced, with one line per failure.
Errors about the key or the licence are not collected here: they stop the run at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tap_supermetrics.core.errors import SupermetricsError
from tap_supermetrics.plan.planner import ALL_ACCOUNTS


class AccountsFailedError(SupermetricsError):
    """One or more accounts or streams failed; the others were synced."""


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


@dataclass(frozen=True)
class StreamFailure:
    """A stream that stopped in this run (its data source's error), the others went on."""

    stream: str
    ds_id: str
    what: str

    def __str__(self) -> str:
        """The error's own line (it names the stream), with the data source if it does not."""
        text = self.what
        if not text.startswith(f"stream {self.stream!r}"):
            text = f"stream {self.stream!r}: {text}"
        if f"data source {self.ds_id!r}" not in text:
            text += f" (data source {self.ds_id!r})"
        return text


@dataclass(frozen=True)
class ReconciliationFailure:
    """A stream whose totals did not reconcile under `reconcile: "strict"`."""

    stream: str
    what: str

    def __str__(self) -> str:
        """The stream's reconciliation summary."""
        return self.what


@dataclass(frozen=True)
class WindowFailure:
    """A window of one stream that the licence refused; the stream's other windows loaded."""

    stream: str
    window: str
    what: str

    def __str__(self) -> str:
        """The error's own line (it names the stream and window), prefixed if it does not."""
        if self.what.startswith(f"stream {self.stream!r}"):
            return self.what
        return f"stream {self.stream!r}, window {self.window}: {self.what}"


Failure = AccountFailure | StreamFailure | WindowFailure | ReconciliationFailure

#: How the end-of-run line counts each kind of failure.
_COUNTED = (
    (AccountFailure, "{} account failure(s)"),
    (WindowFailure, "{} refused window(s)"),
    (StreamFailure, "{} stream failure(s)"),
    (ReconciliationFailure, '{} stream(s) whose totals did not reconcile (reconcile: "strict")'),
)


@dataclass
class FailureLedger:
    """The account and stream failures of a run, shared by every stream."""

    failures: list[Failure] = field(default_factory=list)

    def add(self, failure: Failure) -> None:
        """Record a failure."""
        self.failures.append(failure)

    def raise_if_any(self, logger: logging.Logger) -> None:
        """Fail the run after one log line per failed stream and account, if any failed."""
        if not self.failures:
            return
        counts = []
        for kind, text in _COUNTED:
            count = sum(isinstance(failure, kind) for failure in self.failures)
            if count:
                counts.append(text.format(count))
        summary = ", ".join(counts)
        logger.error(
            "%s; everything else was synced, and what failed stays unloaded until a run reads it:",
            summary,
        )
        for failure in self.failures:
            logger.error("  %s", failure)
        msg = f"{summary}, listed above"
        raise AccountsFailedError(msg)

"""One stream's totals queries: sent with each window, compared once the window is in.

`reconcile.py` says what is compared and how; this is the window's side of it. When a
window is taken, its totals query is submitted next to it (the same pacing and licence
queue, reserved against the row budget, reported in `query_runs` with the reason
`reconciliation`); every part of the window that loads adds its sums; when the whole
window is in, the totals are read and compared for every (day, account) found in the
window's rows or its totals, each comparison becomes a `reconciliation` record, and each
mismatched (day, account) gets a WARNING line (at most 20 a stream) and is read again by
the next run (a team list's account: the list).

A totals query never stops its data: refused at submit, ended FAILURE, timed out, or
expired more often than `max_resubmits` allows (expired totals are submitted again like
a data query), it leaves its window loaded, its rows and coverage saved, and the window
"not reconciled" with the reason; under `reconcile: "strict"` the run then fails at its
end. A window whose totals query the row budget left out is not reconciled either, but
that was planned: it fails nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_supermetrics.check.reconcile import (
    MAX_MISMATCH_LINES,
    STRICT,
    AccountScope,
    Comparison,
    ReconcileSpec,
    WindowSums,
    compare,
    mismatch_line,
    now,
    record,
)
from tap_supermetrics.check.totals import TotalsReader, trouble
from tap_supermetrics.core.errors import RunWideError, SupermetricsError
from tap_supermetrics.plan.planner import RECONCILIATION, PlannedQuery
from tap_supermetrics.run.failures import ReconciliationFailure

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.budget import StreamUsage
    from tap_supermetrics.read.executions import ExecutionFactory
    from tap_supermetrics.read.reads import StreamReads
    from tap_supermetrics.run.sync_run import SyncRun


@dataclass
class WindowCheck:
    """A window being reconciled: its totals query and the sums of its loaded parts."""

    planned: PlannedQuery
    totals: QueryExecution | None
    sums: WindowSums
    accounts: set[str] = field(default_factory=set)
    data_ids: list[str] = field(default_factory=list)


@dataclass
class StreamReconciler:
    """Reconciles the windows of one stream."""

    stream: str
    spec: ReconcileSpec
    schema: dict[str, Any]
    reads: Callable[[], StreamReads]
    executions: Callable[[], ExecutionFactory]
    run: SyncRun
    logger: logging.Logger
    page_size: int
    #: How often expired totals are submitted again (as for data queries).
    max_resubmits: int = 3
    mismatches: int = 0
    compared: int = 0
    #: Windows that loaded with a totals query, and those it gave no totals for.
    windows: int = 0
    unreconciled: int = 0
    _first_trouble: str = ""
    #: WARNING lines written (at most MAX_MISMATCH_LINES), and those left out, by kind.
    _lines: int = 0
    _unlisted: dict[str, int] = field(default_factory=dict)

    @property
    def _totals_reader(self) -> TotalsReader:
        return TotalsReader(self.spec, self.schema, self.page_size, self.max_resubmits, self.logger)

    def totals_query(self, planned: PlannedQuery) -> PlannedQuery:
        """The planned totals query of a window (its own key in the budget)."""
        return PlannedQuery(planned.window, planned.accounts, RECONCILIATION)

    def estimate(self, planned: PlannedQuery) -> int:
        """Rows a totals query returns: one per day and account."""
        days = planned.window.days if planned.window else 1
        return days * len(planned.accounts)

    def plan(self, queries: Sequence[PlannedQuery], usage: StreamUsage, *, dry_run: bool) -> None:
        """Count the stream's totals queries in its usage, and say what they cost."""
        if not queries:
            return
        extra = sum(self.estimate(query) for query in queries)
        usage.totals_planned += len(queries)
        usage.totals_rows += extra
        self.logger.info(
            "%sstream %r: plus %d totals %s (reconciliation), ~%s rows",
            "Dry run: " if dry_run else "",
            self.stream,
            len(queries),
            "query" if len(queries) == 1 else "queries",
            f"{extra:,}",
        )

    def start(
        self, planned: PlannedQuery, submit: Callable[[QueryExecution], None] | None = None
    ) -> WindowCheck | None:
        """Submit the window's totals query; None when the row budget has no room for it."""
        if planned.window is None:
            return None
        totals = self.totals_query(planned)
        budget = self.run.pool.budget
        if not budget.admit_totals(self.stream, totals, self.estimate(planned)):
            self.logger.info(
                "%s: not reconciled: budget (no room in max_rows_per_run for its totals query)",
                self.executions().describe(planned),
            )
            return None
        execution = self.executions().new_execution(totals, fields=tuple(self.spec.fields))
        # A refusal is kept by the execution and raised when the totals are read: the data
        # query goes on, and the window is said not reconciled once it is in. Queued with
        # a data query queued ahead, it goes to the licence's queue with it.
        if submit is None:
            execution.submit()
        else:
            submit(execution)
        return WindowCheck(planned, execution, WindowSums(self.spec))

    def part_loaded(
        self, check: WindowCheck, part: PlannedQuery, execution: QueryExecution
    ) -> None:
        """A part of the window loaded: add the sums of its last complete read."""
        if isinstance(execution.sums, WindowSums):
            check.sums.merge(execution.sums)
        check.accounts.update(part.accounts)
        if execution.schedule_id:
            check.data_ids.append(execution.schedule_id)

    def abandon(self, check: WindowCheck) -> None:
        """The window did not load: its totals query is reported unread."""
        self._unread(check)
        self.run.pool.budget.release(self.stream, self.totals_query(check.planned))

    def _unread(self, check: WindowCheck) -> None:
        """Report a submitted totals query that no comparison will use (a refused one was not)."""
        if check.totals is not None and check.totals.schedule_id:
            check.totals.run.error = "not read: its window did not load"
            self.run.runs.append(check.totals.run)

    def finish(self, check: WindowCheck) -> list[dict[str, Any]]:
        """Read the totals and compare them with what the window loaded."""
        try:
            return self._finish(check)
        finally:
            self.run.pool.budget.release(self.stream, self.totals_query(check.planned))

    def _finish(self, check: WindowCheck) -> list[dict[str, Any]]:
        window, totals = check.planned.window, check.totals
        if window is None or totals is None:
            return []
        if not check.accounts:  # every part of it failed (reported as account failures)
            self._unread(check)
            return []
        self.windows += 1
        try:
            rows = self._totals_reader.read(totals)
        except RunWideError:
            raise
        except SupermetricsError as error:
            totals.run.error = totals.run.error or str(error)
            submitted = totals.schedule_id is not None  # a refusal at submission has none
            if submitted:
                self.run.runs.append(totals.run)
            self._not_reconciled(check, error, submitted=submitted)
            return []
        self.run.runs.append(totals.run)
        self.run.pool.budget.receive(self.stream, len(rows))
        last = min(window.end, self.reads().last_complete_day)
        days = {
            (window.start + dt.timedelta(days=n)).isoformat()
            for n in range((last - window.start).days + 1)
        }
        scope = AccountScope(
            frozenset(check.accounts), frozenset(check.planned.accounts) - check.accounts
        )
        comparisons = compare(self.spec, check.sums, rows, days, scope)
        checked_at = now()
        self._report(comparisons, scope)
        return [
            record(self.stream, c, check.data_ids, totals.schedule_id, checked_at)
            for c in comparisons
        ]

    def _not_reconciled(
        self, check: WindowCheck, error: SupermetricsError, *, submitted: bool
    ) -> None:
        """Say that a loaded window has no totals to compare with, and why."""
        self.unreconciled += 1
        prefix = f"{check.totals.describe}: " if check.totals is not None else ""
        why = str(error).removeprefix(prefix)
        reason = f"its totals query {trouble(error, submitted=submitted)} ({why})"
        self._first_trouble = self._first_trouble or reason
        self._warn(
            "windows",
            f"{self.executions().describe(check.planned)}: not reconciled: {reason}; "
            "the window's rows and coverage are saved",
        )

    def _warn(self, kind: str, text: str) -> None:
        """A WARNING line, unless the stream has had its share: then it is counted."""
        if self._lines < MAX_MISMATCH_LINES:
            self._lines += 1
            self.logger.warning("%s", text)
        else:
            self._unlisted[kind] = self._unlisted.get(kind, 0) + 1

    def _report(self, comparisons: list[Comparison], scope: AccountScope) -> None:
        """WARNING lines for mismatched (day, account), and their re-read next run.

        The re-read is of what coverage is kept under: the account, or its team list.
        """
        by_key: dict[tuple[str, str], list[Comparison]] = {}
        for comparison in comparisons:
            by_key.setdefault((comparison.day, comparison.account), []).append(comparison)
        for key, results in by_key.items():
            self.compared += 1
            wrong = [c for c in results if not c.matched]
            if not wrong:
                continue
            self.mismatches += 1
            units = scope.units_of(key[1])
            day = dt.date.fromisoformat(key[0])
            again = [unit for unit in units if self.reads().loaded_days.mismatched(unit, day)]
            lists = [] if units == (key[1],) else units
            tail = "; the next run reads it again" if again else "; read again already"
            self._warn("pairs", mismatch_line(self.stream, key, wrong, lists) + tail)

    def summary(self) -> None:
        """The stream's summary lines; in strict mode the run fails at its end.

        Strict fails on a mismatch and on a window whose totals query gave no totals,
        not on one the row budget left out (that was planned, and said).
        """
        texts = []
        if self.compared:
            text = (
                f"stream {self.stream!r}: reconciliation: {self.mismatches} of "
                f"{self.compared} (day, account) pairs did not match Supermetrics' totals"
            ) + self._unlisted_note("pairs")
            if self.mismatches:
                texts.append(text)
                self.logger.warning("%s", text)
            else:
                self.logger.info("%s", text)
        if self.unreconciled:
            text = (
                f"stream {self.stream!r}: reconciliation: {self.unreconciled} of "
                f"{self.windows} windows were not reconciled, their rows loaded all the "
                f"same (first: {self._first_trouble})"
            ) + self._unlisted_note("windows")
            texts.append(text)
            self.logger.warning("%s", text)
        if texts and self.spec.mode == STRICT:
            self.run.failures.add(ReconciliationFailure(self.stream, "; ".join(texts)))

    def _unlisted_note(self, kind: str) -> str:
        hidden = self._unlisted.get(kind, 0)
        return f" ({hidden} not listed above)" if hidden else ""

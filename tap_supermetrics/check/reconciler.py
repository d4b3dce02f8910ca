"""One stream's totals queries: sent with each window, compared once the window is in.

`reconcile.py` says what is compared and how; this is the window's side of it. When a
window is taken, its totals query is submitted next to it (the same pacing and licence
queue, reserved against the row budget, reported in `query_runs` with the reason
`reconciliation`); every part of the window that loads adds its sums; when the whole
window is in, the totals are read and compared for every (day, account) the window
loaded, each comparison becomes a `reconciliation` record, and each mismatched (day,
account) gets a WARNING line (at most 20 a stream) and is read again by the next run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

from tap_supermetrics.api.client import STATUS_PATH
from tap_supermetrics.api.pagination import read_page
from tap_supermetrics.check.reconcile import (
    MAX_MISMATCH_LINES,
    STRICT,
    Comparison,
    ReconcileSpec,
    WindowSums,
    compare,
    mismatch_line,
    now,
    record,
)
from tap_supermetrics.core.errors import RunWideError, SupermetricsError
from tap_supermetrics.plan.planner import RECONCILIATION, PlannedQuery
from tap_supermetrics.read.failures import ReconciliationFailure
from tap_supermetrics.schema.conversion import RowConverter

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.budget import StreamUsage
    from tap_supermetrics.read.executions import ExecutionFactory
    from tap_supermetrics.read.reads import StreamReads
    from tap_supermetrics.read.sync_run import SyncRun


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
    mismatches: int = 0
    compared: int = 0
    _lines: int = 0

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
        usage.planned_queries += len(queries)
        usage.planned_rows += extra
        self.logger.info(
            "%sstream %r: plus %d totals %s (reconciliation), ~%s rows",
            "Dry run: " if dry_run else "",
            self.stream,
            len(queries),
            "query" if len(queries) == 1 else "queries",
            f"{extra:,}",
        )

    def start(self, planned: PlannedQuery) -> WindowCheck | None:
        """Submit the window's totals query; None when the row budget has no room for it."""
        if planned.window is None:
            return None
        totals = self.totals_query(planned)
        budget = self.run.pool.budget
        if not budget.admit(self.stream, totals, self.estimate(planned)):
            self.logger.info(
                "%s: no room in max_rows_per_run for its totals query; not reconciled",
                self.executions().describe(planned),
            )
            return None
        execution = self.executions().new_execution(totals, fields=tuple(self.spec.fields))
        execution.submit()
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
        if check.totals is not None:
            check.totals.run.error = "not read: its window did not load"
            self.run.runs.append(check.totals.run)
        self.run.pool.budget.release(self.stream, self.totals_query(check.planned))

    def finish(self, check: WindowCheck) -> list[dict[str, Any]]:
        """Read the totals and compare them with what the window loaded."""
        try:
            return self._finish(check)
        finally:
            self.run.pool.budget.release(self.stream, self.totals_query(check.planned))

    def _finish(self, check: WindowCheck) -> list[dict[str, Any]]:
        window, totals = check.planned.window, check.totals
        if window is None or totals is None or not check.accounts:
            return []
        try:
            rows = self._totals_rows(totals)
        except RunWideError:
            raise
        except SupermetricsError as error:
            self.logger.warning(
                "%s: totals query failed, not reconciled: %s", totals.describe, error
            )
            self.run.runs.append(totals.run)
            return []
        self.run.runs.append(totals.run)
        last = min(window.end, self.reads().last_complete_day)
        days = [
            (window.start + dt.timedelta(days=n)).isoformat()
            for n in range((last - window.start).days + 1)
        ]
        comparisons = compare(self.spec, check.sums, rows, product(days, sorted(check.accounts)))
        checked_at = now()
        self._report(comparisons)
        return [
            record(self.stream, c, check.data_ids, totals.schedule_id, checked_at)
            for c in comparisons
        ]

    def _report(self, comparisons: list[Comparison]) -> None:
        """WARNING lines for mismatched (day, account), and their re-read next run."""
        by_key: dict[tuple[str, str], list[Comparison]] = {}
        for comparison in comparisons:
            by_key.setdefault((comparison.day, comparison.account), []).append(comparison)
        for key, results in by_key.items():
            self.compared += 1
            wrong = [c for c in results if not c.matched]
            if not wrong:
                continue
            self.mismatches += 1
            again = self.reads().mismatched(key[1], dt.date.fromisoformat(key[0]))
            if self._lines < MAX_MISMATCH_LINES:
                self._lines += 1
                tail = "; the next run reads it again" if again else "; read again already"
                self.logger.warning("%s%s", mismatch_line(self.stream, key, wrong), tail)

    def summary(self) -> None:
        """The stream's summary line; in strict mode a mismatch fails the run at its end."""
        if not self.compared:
            return
        shown = min(self.mismatches, MAX_MISMATCH_LINES)
        text = (
            f"stream {self.stream!r}: reconciliation: {self.mismatches} of {self.compared} "
            f"(day, account) pairs did not match Supermetrics' totals"
        )
        if self.mismatches > shown:
            text += f" ({self.mismatches - shown} not listed above)"
        if not self.mismatches:
            self.logger.info("%s", text)
            return
        self.logger.warning("%s", text)
        if self.spec.mode == STRICT:
            self.run.failures.add(ReconciliationFailure(self.stream, text))

    def _totals_rows(self, execution: QueryExecution) -> list[dict[str, Any]]:
        """Every row of the totals query, typed like the stream's columns."""
        answer = execution.wait()
        first = read_page(answer, [])
        columns = list(self.spec.fields)
        if first.field_meta:
            meta_ids = [str(m.get("field_id") or m.get("id") or "") for m in first.field_meta]
            if sorted(meta_ids) == sorted(columns):
                columns = meta_ids
        properties = self.schema.get("properties", {})
        converter = RowConverter(columns, [properties.get(name, {}) for name in columns])
        headers = [[str(m.get("field_name")) for m in first.field_meta or []], list(columns)]
        rows = converter.convert_page_digested(read_page(answer, headers).rows)[0]
        total = execution.run.total_rows
        while first.rows and (total is None or len(rows) < total):
            params = {
                "schedule_id": execution.schedule_id,
                "offset_start": len(rows),
                "offset_end": len(rows) + self.page_size - 1,
            }
            page = read_page(execution.call_api(STATUS_PATH, params), headers)
            if not page.rows:
                break
            rows += converter.convert_page_digested(page.rows)[0]
        execution.run.rows_read = len(rows)
        execution.run.rows_emitted = 0
        # No row carries its stamp: the current relations must not take it as a read.
        execution.run.extracted_at = None
        self.run.pool.budget.receive(self.stream, len(rows))
        return rows

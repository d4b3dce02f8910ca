"""One stream's windows in this run, in order, each failure kept to what it is about.

The path of a window: the plan (`reads.py`) names it; the pool (`scheduler.py`) hands
out its execution, submitted ahead; `splitting.py` reads it, halving it by accounts if
it ends FAILURE; `window_reader.py` pages through its rows, each exactly once; when all
its rows are out, its accounts' coverage moves and STATE is written.

What fails stays where it belongs: an account that fails alone is reported and left
out of the stream's later windows; an error about the stream's data source (its
account list refused, a query refused for it) stops this stream, whose loaded windows
keep their coverage, while the other streams go on; an answer about the key or the
licence stops the run at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tap_supermetrics.core.errors import (
    QueryFailedError,
    RunStopping,
    RunWideError,
    SupermetricsError,
    WindowRefusedError,
)
from tap_supermetrics.plan.planner import PlannedQuery
from tap_supermetrics.read.confirmations import (
    CONFIRM_EMPTY,
    EXCLUDE_INVALID,
    EmptyAccounts,
    excludes_invalid,
)
from tap_supermetrics.read.plan_log import log_plan
from tap_supermetrics.read.splitting import read_isolating_failures
from tap_supermetrics.read.window_checks import ChecksOfWindows, WindowChecks
from tap_supermetrics.read.window_rows import WindowRows
from tap_supermetrics.run.failures import AccountFailure, StreamFailure, WindowFailure
from tap_supermetrics.run.progress import StreamProgress
from tap_supermetrics.run.usage import log_deferred

if TYPE_CHECKING:
    import logging

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.sizing import RowRates
    from tap_supermetrics.read.executions import ExecutionFactory
    from tap_supermetrics.read.reads import StreamReads
    from tap_supermetrics.read.window_reader import WindowReader
    from tap_supermetrics.run.scheduler import WindowedQueryStream
    from tap_supermetrics.run.sync_run import SyncRun


class StreamWindows:
    """The windows one stream reads in this run."""

    def __init__(  # noqa: PLR0913 - the parts a stream's sync is made of
        self,
        stream: WindowedQueryStream,
        *,
        ds_id: str,
        reads: Callable[[], StreamReads],
        executions: Callable[[], ExecutionFactory],
        reader: WindowReader,
        run: SyncRun,
        write_state: Callable[[], None],
        logger: logging.Logger,
        dry_run: bool,
        reconciler: Callable[[], WindowChecks[Any] | None] = lambda: None,
    ) -> None:
        """Read `stream`'s windows; `reads` and `executions` are made when first needed."""
        self.stream = stream
        self.ds_id = ds_id
        self._reads = reads
        self._executions = executions
        self.reader = reader
        self.run = run
        self.write_state = write_state
        self.logger = logger
        self.dry_run = dry_run
        self.checks = ChecksOfWindows(reconciler)
        self.failed_accounts: set[str] = set()
        #: Set when the stream stopped in this run (its data source's error).
        self.failure: SupermetricsError | None = None
        self._plan_logged = False
        self._checks_planned = False
        #: Accounts confirmed on their own in this run, and the confirmations being read.
        self._empty_accounts: EmptyAccounts | None = None
        self._confirming: list[PlannedQuery] = []

    # Planning -----------------------------------------------------------------------

    def planned_queries(self) -> list[PlannedQuery]:
        """The queries this run sends (none in a dry run: it only prints them).

        As the row budget cut them, its deferrals left out (`budget.py`).
        """
        candidates = self.plan_candidates()
        to_send = self.run.pool.budget.planned_for(self.stream.name, candidates)
        if not self._checks_planned:  # the windows the budget lets through, in both runs
            self._checks_planned = True
            self._plan_checks(to_send)
        return [] if self.dry_run else to_send

    def _plan_checks(self, to_send: Sequence[PlannedQuery]) -> None:
        """Count and say what checking the windows may cost: totals, confirmations."""
        usage = self.run.pool.budget.of(self.stream.name)
        self.checks.plan(to_send, usage, dry_run=self.dry_run)
        if self.dry_run and self.failure is None:
            last = {account: rows for account, (rows, _) in self._reads().rates_read.items()}
            usage.confirmations = self.empty_accounts.expected(to_send, last)
            if usage.confirmations:
                self.logger.info(
                    "Dry run: stream %r: plus up to %d %s queries (%s set; accounts whose last "
                    "read returned no rows)",
                    self.stream.name,
                    usage.confirmations,
                    CONFIRM_EMPTY,
                    EXCLUDE_INVALID,
                )

    def plan_candidates(self) -> list[PlannedQuery]:
        """Every query of the plan, logged once (also in a dry run).

        Planning may list the stream's accounts, also while another stream syncs (the
        pool plans ahead): an error about this stream's data source stops this stream
        only, wherever it arises.
        """
        if self.failure is not None:
            return []
        try:
            reads = self._reads()
            queries = reads.plan.queries
        except RunWideError:
            raise
        except SupermetricsError as error:
            self.stream_failed(error)
            return []
        if not self._plan_logged:
            self._plan_logged = True
            log_plan(reads, dry_run=self.dry_run)
            self.run.pool.budget.of(self.stream.name).planned(queries)
        return list(queries)

    @property
    def empty_accounts(self) -> EmptyAccounts:
        """The stream's empty accounts to confirm (`exclude_invalid_accounts`)."""
        if self._empty_accounts is None:
            enabled = excludes_invalid(self._reads().definition.pass_through)
            self._empty_accounts = EmptyAccounts(enabled)
        return self._empty_accounts

    def rates(self) -> RowRates:
        """Rows per day per account, from the reads so far (this run's included)."""
        return self._reads().rates

    def stream_failed(self, error: SupermetricsError) -> None:
        """Stop this stream for the run: report it, forget its queries submitted ahead.

        Windows already loaded keep their coverage; the run goes on with the other
        streams and ends non-zero after all of them (`FailureLedger`).
        """
        self.failure = error
        failure = StreamFailure(self.stream.name, self.ds_id, str(error))
        self.run.failures.add(failure)
        self.logger.error("%s; this stream stops here, the other streams go on", failure)
        for execution in self.run.pool.drop(self.stream):
            execution.run.error = f"not read: the stream stopped ({error})"
            self.run.runs.append(execution.run)
        self.checks.abandon_ahead()

    # Reading ------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of this run's windows, in plan order."""
        self.run.pool.start()
        if self._run_stops():
            return
        queries = self.planned_queries()
        if self.failure is not None or self._run_stops():
            return
        if not queries and not self.dry_run:
            self.logger.info("Stream %r is up to date: no days to read", self.stream.name)
        try:
            yield from self._read_queries(queries)
        except RunStopping:  # for another stream's query: it raises the answer itself
            self._run_stops()
            return
        except RunWideError:
            raise
        except SupermetricsError as error:
            self.stream_failed(error)
        if self.run.pool.stopping is not None:
            return
        self.checks.abandon_ahead()
        log_deferred(self.logger, self.run.pool.budget, self.stream.name, dry_run=self.dry_run)
        self.checks.summary()

    def _read_queries(self, queries: Sequence[PlannedQuery]) -> Iterator[dict[str, Any]]:
        """Read `queries` in order, the next ones queued ahead while one is read."""
        pool = self.run.pool
        progress = StreamProgress(self.stream.name, len(queries), self.logger)
        for planned in queries:
            taken = pool.take(self.stream, planned)
            if self._run_stops():
                return
            if taken is None:  # deferred by the row budget
                continue
            part, execution = taken
            try:
                yield from self._read_refusable(part, execution)
            finally:
                pool.budget.release(self.stream.name, part)
            if self._run_stops():
                return
            rows = pool.budget.of(self.stream.name).rows_received
            progress.window_done(str(part.window or "as configured"), rows, pool.queue.counts())

    def _run_stops(self) -> bool:
        """Whether an answer about the key or the licence stops the run.

        When it came for this stream's query, it is raised here; when it came for another
        stream's, this stream ends where it is (its loaded windows keep their coverage)
        and the error is raised by the stream it is about.
        """
        stopping = self.run.pool.stopping
        if stopping is None:
            return False
        stream, error = stopping
        if stream == self.stream.name:
            raise error
        return True

    def _read_refusable(
        self, planned: PlannedQuery, execution: QueryExecution
    ) -> Iterator[dict[str, Any]]:
        """Read one planned query; a window the licence refuses fails alone.

        `LICENSE_HISTORICAL_RANGE_EXCEEDED` is about the window's days: they stay missing,
        the run reports them at its end (exit code 1), and newer windows still load.
        """
        try:
            yield from self._read_planned(planned, execution)
        except WindowRefusedError as error:
            failure = WindowFailure(self.stream.name, str(planned.window), str(error))
            self.run.failures.add(failure)
            self.logger.error("%s; its days stay missing, the stream goes on", failure)  # noqa: TRY400 - the line is the story

    def queued_ahead(self, planned: PlannedQuery, queue: Callable[[QueryExecution], None]) -> None:
        """`planned` was queued ahead: queue its totals query with it, when it reconciles."""
        self.checks.queued_ahead(planned, queue)

    def _read_planned(
        self, planned: PlannedQuery, execution: QueryExecution
    ) -> Iterator[dict[str, Any]]:
        """Read one planned query, leaving out accounts that already failed in this run."""
        taken = planned
        still_failed = [a for a in planned.accounts if a in self.failed_accounts]
        if still_failed:  # do not spend queries on them again
            self.logger.info(
                "%s: skipping %s, which failed earlier in this run",
                self.describe(planned),
                ", ".join(still_failed),
            )
            rest = tuple(a for a in planned.accounts if a not in self.failed_accounts)
            if execution.schedule_id:  # submitted ahead: say in query_runs why it is unread
                execution.run.error = (
                    f"not read: {', '.join(still_failed)} failed earlier in this run; "
                    + ("the window was submitted again without them" if rest else "nothing left")
                )
                self.run.runs.append(execution.run)
            if not rest:
                return  # a check begun for it is reported unread at the stream's end
            planned = PlannedQuery(planned.window, rest, planned.reason)
            execution = self.new_execution(planned)
        self.checks.begin(taken, planned)
        try:
            yield from read_isolating_failures(self, planned, execution)
        except BaseException:
            self.checks.abandon()
            raise
        finally:
            for part in self._confirming:
                self.run.pool.budget.release(self.stream.name, part)
            self._confirming.clear()
        self.run.reconciliations.extend(self.checks.finish())

    # What splitting.py needs ------------------------------------------------------

    def describe(self, planned: PlannedQuery) -> str:
        """The prefix of every message about `planned`."""
        return self._executions().describe(planned)

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """An execution of `planned`, not yet submitted."""
        return self._executions().new_execution(planned)

    def new_window_rows(self) -> WindowRows:
        """The row memory of one window: it goes with the window into its parts."""
        return WindowRows(self.reader.stream.primary_keys or ())

    def read_window(
        self, execution: QueryExecution, planned: PlannedQuery, rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        """Wait for the execution and yield its records not yet in `rows`."""
        return self.reader.read(execution, rows, self.describe(planned))

    def window_loaded(
        self, planned: PlannedQuery, execution: QueryExecution
    ) -> list[tuple[PlannedQuery, QueryExecution]]:
        """Every row of `planned` was emitted: move its accounts' coverage, emit STATE.

        An account the API may have left out (`confirmations.py`) is not loaded yet: its
        own query for the window is returned, to be read next.
        """
        rows = execution.rows_by_account
        unsure = self.empty_accounts.to_confirm(planned.accounts, rows)
        sure = tuple(account for account in planned.accounts if account not in unsure)
        loaded = dataclasses.replace(planned, accounts=sure) if unsure else planned
        self.checks.part_loaded(loaded, execution)
        if rows is None or len(planned.accounts) == 1:
            rows = dict.fromkeys(planned.accounts[:1], execution.rows_read)
        self._reads().loaded(sure, planned.window, rows)
        self.write_state()
        return [
            part
            for account in unsure
            if (part := self._confirmation(account, planned, execution)) is not None
        ]

    def _confirmation(
        self, account: str, planned: PlannedQuery, execution: QueryExecution
    ) -> tuple[PlannedQuery, QueryExecution] | None:
        """Submit the query that confirms `account` alone for `planned`'s window."""
        part = PlannedQuery(planned.window, (account,), CONFIRM_EMPTY)
        budget = self.run.pool.budget
        if budget.admit(self.stream.name, part, self.rates()) is None:
            self.logger.info(
                "%s: no room in max_rows_per_run to confirm that the API did not leave it out; "
                "its days stay missing",
                self.describe(part),
            )
            return None
        self._confirming.append(part)
        self.logger.info(
            "%s: no rows while the window's other accounts have some, with %s set: reading it "
            "alone without the setting, in case the API left it out",
            self.describe(part),
            EXCLUDE_INVALID,
        )
        confirm = self.new_execution(part)
        confirm.extracted_at = execution.extracted_at  # one stamp per window read
        confirm.submit()
        budget.of(self.stream.name).confirmations += 1
        return part, confirm

    def accounts_failed(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> None:
        """Report accounts that failed alone; their coverage stays where it was."""
        code = error.info.code or "FAILURE"
        what = str(error).partition(": ")[2] or str(error.info)
        window = str(planned.window or "as configured")
        for account in accounts:
            self.failed_accounts.add(account)
            failure = AccountFailure(self.stream.name, account, window, what)
            self.run.failures.add(failure)
            self.logger.error("%s; its days stay unloaded, the run goes on", failure)
        self._reads().failed(accounts, code)
        self.write_state()

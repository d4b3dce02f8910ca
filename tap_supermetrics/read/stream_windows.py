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
from tap_supermetrics.read.confirmations import Confirmations, EmptyAccounts, excludes_invalid
from tap_supermetrics.read.failed_accounts import FailedAccounts
from tap_supermetrics.read.plan_log import log_plan
from tap_supermetrics.read.splitting import read_isolating_failures
from tap_supermetrics.read.window_checks import ChecksOfWindows, WindowChecks
from tap_supermetrics.read.window_rows import WindowRows
from tap_supermetrics.run.failures import StreamFailure, WindowFailure
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
        self.failed_accounts = FailedAccounts(stream.name, run, logger, self.describe)
        #: Set when the stream stopped in this run (its data source's error).
        self.failure: SupermetricsError | None = None
        self._plan_logged = False
        self._checks_planned = False
        self._confirmations: Confirmations | None = None

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
            self.confirmations.plan(to_send, self._reads().rates_read)

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
    def confirmations(self) -> Confirmations:
        """The stream's empty accounts to confirm (`exclude_invalid_accounts`)."""
        if self._confirmations is None:
            enabled = excludes_invalid(self._reads().definition.pass_through)
            self._confirmations = Confirmations(
                self.stream.name,
                EmptyAccounts(enabled),
                self.run.pool.budget,
                self.logger,
                self.new_execution,
                self.describe,
                self.rates,
            )
        return self._confirmations

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
        if self.run.pool.stops(self.stream.name):
            return
        queries = self.planned_queries()
        if self.failure is not None or self.run.pool.stops(self.stream.name):
            return
        if not queries and not self.dry_run:
            self.logger.info("Stream %r is up to date: no days to read", self.stream.name)
        try:
            yield from self._read_queries(queries)
        except RunStopping:  # for another stream's query: it raises the answer itself
            self.run.pool.stops(self.stream.name)
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
            if self.run.pool.stops(self.stream.name):
                return
            if taken is None:  # deferred by the row budget
                continue
            part, execution = taken
            try:
                yield from self._read_refusable(part, execution)
            finally:
                pool.budget.release(self.stream.name, part)
            if self.run.pool.stops(self.stream.name):
                return
            rows = pool.budget.of(self.stream.name).rows_received
            progress.window_done(str(part.window or "as configured"), rows, pool.queue.counts())

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
        if self.failed_accounts.any_in(planned):  # do not spend queries on them again
            rest = self.failed_accounts.left_out(planned, execution)
            if rest is None:
                return  # a check begun for it is reported unread at the stream's end
            planned, execution = rest, self.new_execution(rest)
        self.checks.begin(taken, planned)
        try:
            yield from read_isolating_failures(self, planned, execution)
        except BaseException:
            self.checks.abandon()
            raise
        finally:
            self.confirmations.window_done()
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
        unsure = self.confirmations.empty.to_confirm(planned.accounts, rows)
        sure = tuple(account for account in planned.accounts if account not in unsure)
        loaded = dataclasses.replace(planned, accounts=sure) if unsure else planned
        self.checks.part_loaded(loaded, execution)
        if rows is None or len(planned.accounts) == 1:
            rows = dict.fromkeys(planned.accounts[:1], execution.rows_read)
        self._reads().loaded_days.window(sure, planned.window, rows)
        self.write_state()
        return [
            part
            for account in unsure
            if (part := self.confirmations.submit(account, planned, execution)) is not None
        ]

    def accounts_failed(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> None:
        """Report accounts that failed alone; their coverage stays where it was."""
        code = self.failed_accounts.report(accounts, planned, error)
        self._reads().loaded_days.failed(accounts, code)
        self.write_state()

"""Splitting a window: by accounts when it ended FAILURE, by days when its result was cut.

When a query for several accounts fails, one account's login may have lost access
while the others are fine. The query is split in halves, and the halves of the
halves, until each failing account stands alone: the other accounts' rows are read
and their coverage moves; each failing account is reported and the run goes on.
When every part keeps failing alike down to quarters, the failure is not about an
account (a field the data source refuses, say): it is raised and stops the stream, unless
the licence said it refuses accounts (`LICENSE_ACCOUNT_LIMIT_EXCEEDED`): then the halving
goes on until every refused account stands alone.

Exactly once holds across the parts: the window's row memory goes with its rows into
every part, so rows a first read emitted before its results expired (and its
resubmission failed) are not emitted again by the halves; and the parts carry the
window's lineage stamp, so every row of one window read has one `_sm_extracted_at`.

A result that reached `max_rows_per_query` (ResultCutError) may be cut: its window is
halved by days, and a one-day window by accounts, until every part fits; a part of one
day and one account that still reaches the cap is reported as that account's failure,
naming the limit. The parts share the row memory too, so rows a cut read emitted are not
emitted again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from tap_supermetrics.core.accounts import TEAM_LIST_PREFIX
from tap_supermetrics.core.errors import LicenceAccountsError, QueryFailedError, ResultCutError
from tap_supermetrics.core.windows import DateWindow
from tap_supermetrics.plan.planner import ALL_ACCOUNTS, PlannedQuery

if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.read.window_rows import WindowRows

#: Halvings after which a query that fails in every part is taken as failing as a whole.
LEVELS_BEFORE_GLOBAL = 2

Parts = list[tuple[PlannedQuery, "QueryExecution"]]
Failures = list[tuple[PlannedQuery, "QueryExecution", QueryFailedError]]


class PartReader(Protocol):
    """What the splitting needs of a stream."""

    @property
    def logger(self) -> logging.Logger:
        """Where the splitting says what it does."""
        ...

    def describe(self, planned: PlannedQuery) -> str:
        """The prefix of every message about `planned`."""
        ...

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """An execution of `planned`, not yet submitted."""
        ...

    def new_window_rows(self) -> WindowRows:
        """An empty row memory for one window."""
        ...

    def read_window(
        self, execution: QueryExecution, planned: PlannedQuery, rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        """Wait for the execution and yield its records not yet in `rows`."""
        ...

    def window_loaded(self, planned: PlannedQuery, execution: QueryExecution) -> Parts:
        """Every row of `planned` was emitted (`execution` holds what its read counted).

        Returns the parts to read next for the window: accounts to confirm on their own.
        """
        ...

    def accounts_failed(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> None:
        """`accounts` failed alone: report them, keep their coverage."""
        ...


def read_isolating_failures(
    reader: PartReader, planned: PlannedQuery, execution: QueryExecution
) -> Iterator[dict[str, Any]]:
    """Yield the records of `planned`, split by accounts on FAILURE, by days when cut."""
    parts: Parts = [(planned, execution)]
    rows = reader.new_window_rows()
    level = 0
    while parts:
        failures: Failures = []
        more: Parts = []  # halves of cut parts, and accounts to confirm on their own
        for part, current in parts:
            try:
                yield from reader.read_window(current, part, rows)
            except ResultCutError as error:
                more.extend(_cut_parts(reader, part, current, error))
                continue
            except QueryFailedError as error:
                if error.status != "FAILURE":
                    raise
                failures.append((part, current, error))
                continue
            more.extend(reader.window_loaded(part, current))
        everything_failed = len(failures) == len(parts)
        parts = [*more, *_split(reader, failures, everything_failed=everything_failed, level=level)]
        level += 1


def _cut_parts(
    reader: PartReader, cut: PlannedQuery, execution: QueryExecution, error: ResultCutError
) -> Parts:
    """The halves of a cut window (days first, then accounts), submitted side by side."""
    groups = _halves(cut)
    if not groups:
        msg = (
            f"{reader.describe(cut)}: one day of this account alone returns {error.rows:,} "
            f"rows, which reaches max_rows_per_query={error.cap:,}: narrow the query "
            "(fewer dimensions, or a filter) so that a day fits"
        )
        final = ResultCutError(msg, rows=error.rows, cap=error.cap)
        reader.accounts_failed(cut.accounts, cut, final)
        return []
    reader.logger.warning(
        "%s: %s rows reach max_rows_per_query, so the API may have cut the result; reading "
        "it again in %d parts (rows already emitted are not repeated)",
        reader.describe(cut),
        f"{error.rows:,}",
        len(groups),
    )
    parts: Parts = []
    for window, accounts in groups:
        part = PlannedQuery(window, accounts, cut.reason)
        part_execution = reader.new_execution(part)
        part_execution.extracted_at = execution.extracted_at  # one stamp per window read
        part_execution.submit()
        parts.append((part, part_execution))
    return parts


def _halves(cut: PlannedQuery) -> list[tuple[DateWindow | None, tuple[str, ...]]]:
    """Two windows of half the days, else two halves of the accounts, else nothing."""
    window = cut.window
    if window is not None and window.days > 1:
        middle = window.start + dt.timedelta(days=window.days // 2 - 1)
        return [
            (DateWindow(window.start, middle), cut.accounts),
            (DateWindow(middle + dt.timedelta(days=1), window.end), cut.accounts),
        ]
    accounts = cut.accounts
    splittable = ALL_ACCOUNTS not in accounts and not any(
        account.startswith(TEAM_LIST_PREFIX) for account in accounts
    )
    if len(accounts) > 1 and splittable:
        half = len(accounts) // 2
        return [(window, accounts[:half]), (window, accounts[half:])]
    return []


def _split(
    reader: PartReader,
    failures: Failures,
    *,
    everything_failed: bool,
    level: int,
) -> Parts:
    """The halves of each failed multi-account query, submitted; single accounts reported."""
    codes = {error.info.code for _, _, error in failures}
    about_accounts = all(isinstance(error, LicenceAccountsError) for _, _, error in failures)
    if (
        failures
        and everything_failed
        and level >= LEVELS_BEFORE_GLOBAL
        and len(codes) == 1
        and not about_accounts  # the licence names accounts: find every one of them
    ):
        raise failures[0][2]  # every part fails alike: not about one account
    parts: Parts = []
    for failed, failed_execution, error in failures:
        accounts = failed.accounts
        if len(accounts) == 1 or ALL_ACCOUNTS in accounts:
            reader.accounts_failed(accounts, failed, error)
            continue
        reader.logger.warning(
            "%s: the query failed (%s); splitting it to find the failing account(s)",
            reader.describe(failed),
            error.info,
        )
        half = len(accounts) // 2
        for group in (accounts[:half], accounts[half:]):
            part = PlannedQuery(failed.window, group, failed.reason)
            execution = reader.new_execution(part)
            execution.extracted_at = failed_execution.extracted_at  # one stamp per window read
            execution.submit()  # both halves run side by side
            parts.append((part, execution))
    return parts

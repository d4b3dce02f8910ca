"""Finding the failing accounts of a query that ended FAILURE, by halving it.

When a query for several accounts fails, one account's login may have lost access
while the others are fine. The query is split in halves, and the halves of the
halves, until each failing account stands alone: the other accounts' rows are read
and their coverage moves; each failing account is reported and the run goes on.
When every part keeps failing alike down to quarters, the failure is not about an
account (a field the data source refuses, say): it is raised and stops the stream.

Exactly once holds across the parts: the window's row memory goes with its rows into
every part, so rows a first read emitted before its results expired (and its
resubmission failed) are not emitted again by the halves; and the parts carry the
window's lineage stamp, so every row of one window read has one `_sm_extracted_at`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from tap_supermetrics.errors import QueryFailedError
from tap_supermetrics.planner import ALL_ACCOUNTS, PlannedQuery

if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

    from tap_supermetrics.lifecycle import QueryExecution
    from tap_supermetrics.window_rows import WindowRows

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

    def window_loaded(self, planned: PlannedQuery) -> None:
        """Every row of `planned` was emitted."""
        ...

    def accounts_failed(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> None:
        """`accounts` failed alone: report them, keep their coverage."""
        ...


def read_isolating_failures(
    reader: PartReader, planned: PlannedQuery, execution: QueryExecution
) -> Iterator[dict[str, Any]]:
    """Yield the records of `planned`, splitting it by accounts if it ends FAILURE."""
    parts: Parts = [(planned, execution)]
    rows = reader.new_window_rows()
    level = 0
    while parts:
        failures: Failures = []
        for part, current in parts:
            try:
                yield from reader.read_window(current, part, rows)
            except QueryFailedError as error:
                if error.status != "FAILURE":
                    raise
                failures.append((part, current, error))
                continue
            reader.window_loaded(part)
        parts = _split(reader, failures, everything_failed=len(failures) == len(parts), level=level)
        level += 1


def _split(
    reader: PartReader,
    failures: Failures,
    *,
    everything_failed: bool,
    level: int,
) -> Parts:
    """The halves of each failed multi-account query, submitted; single accounts reported."""
    codes = {error.info.code for _, _, error in failures}
    if failures and everything_failed and level >= LEVELS_BEFORE_GLOBAL and len(codes) == 1:
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

"""Reading a window's totals query: its rows, typed like the stream's, submitted again if lost.

A totals query is read after its window's rows are all out, so its results may have
expired by then (they live an hour after the query ends): like a data query it is then
submitted again, at most `max_resubmits` times, and read from its first row. What
kept it from answering (refused at submit, FAILURE, a timeout, expiry past the bound)
is named in one word for the "not reconciled" lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_supermetrics.api.client import STATUS_PATH
from tap_supermetrics.api.pagination import read_page
from tap_supermetrics.core.errors import (
    QueryTimeoutError,
    ResubmitError,
    ResultsExpiredError,
    SupermetricsError,
)
from tap_supermetrics.schema.conversion import RowConverter

if TYPE_CHECKING:
    import logging

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.check.reconcile import ReconcileSpec


@dataclass(frozen=True)
class TotalsReader:
    """Reads the totals queries of one stream."""

    spec: ReconcileSpec
    schema: dict[str, Any]
    page_size: int
    #: How often expired totals are submitted again (the data queries' setting).
    max_resubmits: int
    logger: logging.Logger

    def read(self, execution: QueryExecution) -> list[dict[str, Any]]:
        """Every row of the totals query; expired results are submitted again, as for data.

        Raises:
            ResubmitError: the results were lost more often than `max_resubmits` allows.
        """
        while True:
            try:
                return self._rows(execution)
            except ResubmitError as lost:
                execution.give_up_if_lost_too_often(lost, self.max_resubmits, execution.describe)
                self.logger.warning(
                    "%s: %s (%s); submitting it again", execution.describe, lost.what, lost
                )
                execution.resubmit()

    def _rows(self, execution: QueryExecution) -> list[dict[str, Any]]:
        """One read of the totals query, from its first row, typed like the stream's columns."""
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
        return rows


def trouble(error: SupermetricsError, *, submitted: bool) -> str:
    """What kept a totals query from answering, in a word for "not reconciled" lines."""
    if not submitted:
        return "refused"
    if isinstance(error, QueryTimeoutError):
        return "timed out"
    if isinstance(error, ResultsExpiredError):
        return "expired"
    return "failed"

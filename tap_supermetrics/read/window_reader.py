"""One window's rows: wait for the query, page through its result, each row exactly once.

A window's trip from SUCCESS to records: the first page comes with the answer that
said SUCCESS; the converter is compiled for the columns that answer names; the other
pages come through the SDK's paging (`request_records`, which calls back into
`page_request` and `records_of` through the stream's hooks), one page prefetched ahead.
Every page is converted and admitted by the window's row memory (`WindowRows`), so a
read after the results expired (or the process exited) emits only rows not emitted
before. A read that ends short of `total_rows` fails: no coverage is saved over it.

A result whose rows reach `row_cap` (`max_rows_per_query`) may have been cut by the API
(whether it refuses or cuts is undocumented): it raises ResultCutError, before paging
when `total_rows` says so, after the last page when it does not, and the window is split
(`splitting.py`). Paging never asks past the cap.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from requests.exceptions import RequestException
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_supermetrics.api.client import STATUS_PATH, payload_of
from tap_supermetrics.api.pagination import Page, ResultPaginator, read_page
from tap_supermetrics.core.errors import (
    DuplicateKeyError,
    ResubmitError,
    ResultCutError,
    ResultShapeError,
    SupermetricsError,
)
from tap_supermetrics.core.limits import API_MAX_ROWS_PER_QUERY
from tap_supermetrics.schema.conversion import RowConverter, ValueConversionError
from tap_supermetrics.schema.field_catalog import type_disagreements
from tap_supermetrics.schema.lineage import LINEAGE_FIELD
from tap_supermetrics.schema.types import FieldSpec

if TYPE_CHECKING:
    import logging

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest

    from tap_supermetrics.api.lifecycle import QueryExecution, QueryRun
    from tap_supermetrics.read.window_rows import WindowRows


class RowTally(Protocol):
    """Something that counts a window's records as they pass (the totals' sums, `check/`)."""

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        """Count one page's records."""
        ...


class PagingStream(Protocol):
    """What the reader needs of its stream: the SDK's paging and the stream's shape."""

    name: str
    page_size: int

    @property
    def primary_keys(self) -> Sequence[str] | None:
        """The key: no two rows of a read may share it."""
        ...

    @property
    def replication_key(self) -> str | None:
        """The date field: rows are checked for repeats one day at a time."""
        ...

    @property
    def logger(self) -> logging.Logger:
        """Where the reader says what it does."""
        ...

    @property
    def effective_schema(self) -> dict[str, Any]:
        """The schema records are typed by."""
        ...

    @property
    def requested_fields(self) -> tuple[str, ...]:
        """The fields the query asks for."""
        ...

    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The SDK's paging loop."""
        ...

    def prefetch(self, http_request: HTTPRequest) -> None:
        """Start sending a request that paging will make next."""
        ...

    def request_for(self, endpoint: str, params: dict[str, Any]) -> HTTPRequest:
        """A request for one endpoint."""
        ...

    def explain(self, error: Exception, describe: str) -> Exception:
        """The error, saying which stream and window it is about."""
        ...


@dataclass
class _Reading:
    """The window being paged: what the SDK's paging hooks need to know."""

    execution: QueryExecution
    converter: RowConverter
    rows: WindowRows
    header_names: list[list[str]]
    offset: int = 0
    #: Rows per account value, when the query reads several accounts.
    per_account: Counter[str] | None = None
    #: What `tally` counts of every row seen (the reconciliation's sums), when set.
    sums: RowTally | None = None


class WindowReader:
    """Reads windows of one stream, one at a time."""

    def __init__(  # noqa: PLR0913 - each is one fact about how to read
        self,
        stream: PagingStream,
        max_resubmits: int,
        runs: list[QueryRun],
        *,
        row_cap: int | None = None,
        account_field: str | None = None,
        on_rows: Callable[[int], None] = lambda _: None,
        tally: Callable[[], RowTally] | None = None,
    ) -> None:
        """Read for `stream`; report every execution in `runs` (the `query_runs` records).

        `row_cap`: a result reaching this many rows is taken as cut (None: the query
        sets its own `max_rows`, a deliberate cut). `account_field` counts rows per
        account; `on_rows` hears of every page's rows (the run's row budget); `tally`
        makes what counts each read's records (set by the stream when it reconciles).
        """
        self.stream = stream
        self.max_resubmits = max_resubmits
        self.runs = runs
        self.row_cap = row_cap
        #: Paging never asks for a row past this offset.
        self.page_limit = row_cap or API_MAX_ROWS_PER_QUERY
        self._count_account = itemgetter(account_field) if account_field else None
        self._on_rows = on_rows
        self.tally = tally
        self.current: _Reading | None = None
        self._pages: weakref.WeakKeyDictionary[requests.Response, Page] = (
            weakref.WeakKeyDictionary()
        )

    def read(
        self, execution: QueryExecution, rows: WindowRows, describe: str
    ) -> Iterator[dict[str, Any]]:
        """Wait for the execution and yield its records not yet in `rows`.

        The query is submitted again when its results expire or its process exits.
        """
        try:
            yield from self._read_resubmitting(execution, rows, describe)
        except SupermetricsError as error:
            if execution.run.status == "SUCCESS":  # not every row was read: not a full read
                execution.run.status = "INCOMPLETE"
                execution.run.error = str(error)
            if execution.schedule_id:  # query_runs reports failed queries too
                self.runs.append(execution.run)
            raise
        self.runs.append(execution.run)

    def _read_resubmitting(
        self, execution: QueryExecution, rows: WindowRows, describe: str
    ) -> Iterator[dict[str, Any]]:
        while True:
            try:
                answer = execution.wait()
                yield from self._emit(execution, answer, rows)
                break
            except ResubmitError as lost:
                execution.give_up_if_lost_too_often(lost, self.max_resubmits, describe)
                self.stream.logger.warning(
                    "%s: %s (%s); submitting the query again and re-reading the window "
                    "from its first row (rows already emitted are not repeated)",
                    describe,
                    lost.what,
                    lost,
                )
                execution.resubmit()
            finally:
                self.current = None

    def _emit(
        self, execution: QueryExecution, answer: dict[str, Any], rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        """Yield the window's records: the first page from `answer`, then the others."""
        first = read_page(answer, [])
        header_names = [
            [str(meta.get("field_name")) for meta in first.field_meta or []],
            list(self.stream.requested_fields),
        ]
        rows.start_read()
        reading = _Reading(
            execution, self._converter(first.field_meta, execution), rows, header_names
        )
        self._check_cut(execution, first.total_rows)
        if self.tally is not None:
            reading.sums = self.tally()
        accounts = execution.params.get("ds_accounts")
        if self._count_account and isinstance(accounts, list) and len(accounts) > 1:
            reading.per_account = Counter()
        more = first.more_after(0) and len(first.rows) < self.page_limit
        if more:
            self.stream.prefetch(self.page_request(execution, len(first.rows)))
        yield from self._records(reading, first.rows)
        if more:
            self.current = reading
            context = {"stream": self.stream.name, "window": execution.describe}
            try:
                yield from self.stream.request_records(context)
            except (FatalAPIError, RetriableAPIError, RequestException) as error:
                raise self.stream.explain(error, execution.describe) from None
        total = execution.run.total_rows
        if total is None:
            self._check_cut(execution, reading.offset)
        if total is not None and reading.offset != total:
            msg = (
                f"{execution.describe}: the API promised {total} rows, "
                f"{reading.offset} arrived; refusing to save a bookmark over them"
            )
            raise ResultShapeError(msg)
        execution.rows_read = reading.offset
        execution.sums = reading.sums
        execution.rows_by_account = (
            dict(reading.per_account) if reading.per_account is not None else None
        )

    def _check_cut(self, execution: QueryExecution, rows: int | None) -> None:
        """Refuse a result that reached the row cap: the API may have cut it."""
        if self.row_cap is None or rows is None or rows < self.row_cap:
            return
        msg = (
            f"{execution.describe}: the result has {rows:,} rows, which reaches "
            f"max_rows_per_query={self.row_cap:,}; the API may have cut it"
        )
        raise ResultCutError(msg, rows=rows, cap=self.row_cap)

    def _records(self, reading: _Reading, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Convert and check one page; no record of a page with a bad row is emitted."""
        try:
            records, digests = reading.converter.convert_page_digested(rows)
        except ValueConversionError as error:
            msg = f"{reading.execution.describe}, row {reading.offset + error.index}: {error}"
            raise ResultShapeError(msg) from None
        emitted, duplicate = reading.rows.admit(records, digests)
        if duplicate is not None:
            msg = (
                f"{reading.execution.describe}, row {reading.offset + duplicate}: "
                f"{reading.rows.describe(records[duplicate])}"
            )
            raise DuplicateKeyError(msg)
        run = reading.execution.run
        run.rows_emitted += len(emitted)
        run.rows_read += len(rows)
        reading.offset += len(rows)
        if reading.per_account is not None and self._count_account is not None:
            reading.per_account.update(map(self._count_account, records))
        if reading.sums is not None:
            reading.sums.add(records)
        self._on_rows(len(rows))
        return emitted

    def _converter(
        self, field_meta: list[dict[str, Any]] | None, execution: QueryExecution
    ) -> RowConverter:
        """Order the conversion by the API's columns, typed by the effective schema."""
        describe = execution.describe
        requested = list(self.stream.requested_fields)
        if field_meta is None:
            columns = requested
        else:
            ordered = sorted(enumerate(field_meta), key=lambda item: _column_of(item[1], item[0]))
            columns = [FieldSpec.from_meta(meta).field_id for _, meta in ordered]
        if sorted(columns) != sorted(requested):
            msg = (
                f"{describe}: the API answered with fields {columns}, but the query asks for "
                f"{requested}. Supermetrics field ids change over time: update `fields`, "
                "then run discovery again"
            )
            raise ResultShapeError(msg)
        properties = self.stream.effective_schema.get("properties", {})
        for message in type_disagreements(properties, field_meta or []):
            self.stream.logger.warning("%s: %s", describe, message)
        schemas = [properties.get(column, {}) for column in columns]
        constants = {LINEAGE_FIELD: execution.extracted_at}
        return RowConverter(
            columns,
            schemas,
            constants,
            list(self.stream.primary_keys or ()),
            day_key=self.stream.replication_key,
        )

    # The SDK's paging hooks, through the stream -----------------------------------

    def new_paginator(self) -> ResultPaginator:
        """A paginator that starts after the rows read so far."""
        offset = self.current.offset if self.current else 0
        return ResultPaginator(offset, self.stream.page_size, self._page_of, self.page_limit)

    def next_page_request(self, first: int) -> HTTPRequest:
        """The request for the page of the window being read that starts at row `first`."""
        return self.page_request(self._reading().execution, first)

    def page_request(self, execution: QueryExecution, first: int) -> HTTPRequest:
        """The `/query/status` request for the page of `execution` starting at `first`."""
        params = {
            "schedule_id": execution.schedule_id,
            "offset_start": first,
            "offset_end": min(first + self.stream.page_size, self.page_limit) - 1,
        }
        return self.stream.request_for(STATUS_PATH, params)

    def records_of(self, response: requests.Response) -> list[dict[str, Any]]:
        """One page's records, the next page already on its way."""
        reading = self._reading()
        status = str(payload_of(response)["meta"].get("status_code") or "SUCCESS")
        if status.upper() != "SUCCESS":
            msg = f"{reading.execution.describe}: a result page came with status {status!r}"
            raise ResultShapeError(msg)
        page = self._page_of(response)
        if page.more_after(reading.offset) and reading.offset + len(page.rows) < self.page_limit:
            first = reading.offset + len(page.rows)
            self.stream.prefetch(self.page_request(reading.execution, first))
        return self._records(reading, page.rows)

    def _page_of(self, response: requests.Response) -> Page:
        page = self._pages.get(response)
        if page is None:
            header_names = self.current.header_names if self.current else []
            page = read_page(payload_of(response), header_names)
            self._pages[response] = page
        return page

    def _reading(self) -> _Reading:
        if self.current is None:
            msg = "a result page was requested outside a window read"
            raise ResultShapeError(msg)
        return self.current


def _column_of(meta: dict[str, Any], position: int) -> int:
    column = meta.get("data_column")
    return column if isinstance(column, int) else position

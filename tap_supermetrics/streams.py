"""The query streams: one per configured query, read window by window.

A record's trip: `get_records` plans the date windows, takes each window's query
execution from the pool (submitted ahead), waits for SUCCESS, converts the first
page's rows, lets the SDK page through the rest (`request_records` with the
`ResultPaginator`), and saves the bookmark once the window's rows are all out.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Generator, Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from requests.exceptions import RequestException
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.singerlib import Metadata, MetadataMapping, RecordMessage
from typing_extensions import override

from tap_supermetrics.accounts import ACCOUNT_NAME_FIELDS, ACCOUNTS_PATH
from tap_supermetrics.client import STATUS_PATH, SupermetricsStream, payload_of
from tap_supermetrics.config import date_range
from tap_supermetrics.errors import (
    DuplicateKeyError,
    QueryFailedError,
    ResubmitError,
    ResultShapeError,
    RunWideError,
    SupermetricsError,
)
from tap_supermetrics.failures import AccountFailure, StreamFailure
from tap_supermetrics.field_catalog import type_disagreements
from tap_supermetrics.fields import FieldSpec, RowConverter, ValueConversionError, record_schema
from tap_supermetrics.lifecycle import PollTiming, QueryExecution, QueryRun
from tap_supermetrics.lineage import LINEAGE_FIELD, with_lineage
from tap_supermetrics.pagination import Page, ResultPaginator, read_page
from tap_supermetrics.planner import PlannedQuery
from tap_supermetrics.reads import StreamReads, today_utc
from tap_supermetrics.splitting import read_isolating_failures
from tap_supermetrics.window_rows import WindowRows

if TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_supermetrics.config import QueryDefinition
    from tap_supermetrics.sync_run import SyncRun


def default_primary_keys(
    fields: Sequence[FieldSpec], date_field: str | None, account_field: str | None = None
) -> list[str]:
    """The date field plus every dimension: what makes a Supermetrics row unique.

    Beside an account id field, the account's name (`profile` next to `profileID`) adds
    nothing to uniqueness and would make a renamed account's re-read days new rows.
    """
    keys = [date_field] if date_field else []
    keys += [
        spec.field_id
        for spec in fields
        if spec.field_type == "dim"
        and spec.field_id not in keys
        and not (account_field and spec.field_id.lower() in ACCOUNT_NAME_FIELDS)
    ]
    return keys


class _Reading:
    """What paging needs to know about the window being read."""

    def __init__(
        self,
        execution: QueryExecution,
        converter: RowConverter,
        rows: WindowRows,
        header_names: list[list[str]],
        offset: int,
    ) -> None:
        self.execution = execution
        self.converter = converter
        self.rows = rows
        self.header_names = header_names
        self.offset = offset


class QueryStream(SupermetricsStream):
    """One configured Supermetrics query."""

    is_sorted = False
    check_sorted = False

    def __init__(
        self,
        tap: Tap,
        definition: QueryDefinition,
        fields: list[FieldSpec],
        run: SyncRun,
    ) -> None:
        """Build the stream from its query definition and the fields' API metadata."""
        schema = with_lineage(record_schema(fields))
        super().__init__(tap=tap, name=definition.name, schema=schema)
        self.definition = definition
        self.metric_ids = frozenset(spec.field_id for spec in fields if spec.field_type != "dim")
        self.replication_key = definition.date_field
        self.primary_keys = list(
            definition.primary_keys
            or default_primary_keys(fields, definition.date_field, definition.account_field)
        )
        self.timing = PollTiming.from_config(dict(self.config))
        self.page_size = int(self.config.get("page_size", 25_000))
        self._run = run
        self._state_writer = tap.state_writer
        self._plan_logged = False
        self._failed_accounts: set[str] = set()
        #: Set when the stream stopped in this run (its data source's error).
        self.failure: SupermetricsError | None = None
        self._pages: weakref.WeakKeyDictionary[requests.Response, Page] = (
            weakref.WeakKeyDictionary()
        )
        self._reading: _Reading | None = None
        run.pool.register(self)

    # Planning and state -------------------------------------------------------

    @cached_property
    def reads(self) -> StreamReads:
        """This run's plan and coverage, read from the stream's bookmark."""
        describe = f"stream {self.name!r}, data source {self.definition.ds_id!r}, account list"
        today = today_utc()
        return StreamReads(
            definition=self.definition,
            configured=date_range(dict(self.config), today),
            settings=dict(self.config),
            bookmark=self.get_context_state(None),
            list_accounts=self._run.accounts.lister(
                self.definition.ds_id,
                self.definition.pass_through.get("ds_users")
                or self.definition.pass_through.get("ds_user"),
                lambda params: self.call_api(ACCOUNTS_PATH, params, None, describe),
            ),
            logger=self.logger,
            today=today,
            requested_fields=self.requested_fields,
            metrics=self.metric_ids,
        )

    @cached_property
    def requested_fields(self) -> tuple[str, ...]:
        """The configured fields the catalog selects: only these are asked of Supermetrics.

        A property deselected in the catalog (`meltano select`, `selected: false`) costs
        nothing upstream and is absent from the records. The date field, the key, the
        account field and the lineage column are `inclusion: automatic` (`metadata`).
        """
        mask = self.mask
        return tuple(
            name for name in self.definition.fields if mask.get(("properties", name), True)
        )

    @property
    @override
    def metadata(self) -> MetadataMapping:
        """The SDK's metadata (or the input catalog's), the columns a row needs automatic.

        Made `inclusion: automatic` here, so that no catalog can deselect them.
        """
        mapping = super().metadata
        for name in self.automatic_fields:
            entry = mapping.get(("properties", name))
            if entry is not None:
                entry.inclusion = Metadata.InclusionType.AUTOMATIC
        return mapping

    @property
    def automatic_fields(self) -> tuple[str, ...]:
        """The date field, the key's columns, the account field and the lineage column."""
        names = [self.definition.date_field, *self.primary_keys, self.definition.account_field]
        return tuple(dict.fromkeys(name for name in [*names, LINEAGE_FIELD] if name))

    def planned_queries(self) -> list[PlannedQuery]:
        """The queries this run sends (none in a dry run: it only prints them).

        Planning may list the stream's accounts, also while another stream syncs (the
        pool plans ahead): an error about this stream's data source stops this stream
        only, wherever it arises.
        """
        if self.failure is not None:
            return []
        dry_run = bool(self.config.get("dry_run"))
        try:
            queries = self.reads.plan.queries
        except RunWideError:
            raise
        except SupermetricsError as error:
            self.stream_failed(error)
            return []
        if not self._plan_logged:
            self._plan_logged = True
            self.reads.log_plan(dry_run=dry_run)
        return [] if dry_run else list(queries)

    def stream_failed(self, error: SupermetricsError) -> None:
        """Stop this stream for the run: report it, forget its queries submitted ahead.

        Windows already loaded keep their coverage; the run goes on with the other
        streams and ends non-zero after all of them (`FailureLedger`).
        """
        self.failure = error
        failure = StreamFailure(self.name, self.definition.ds_id, str(error))
        self._run.failures.add(failure)
        self.logger.error("%s; this stream stops here, the other streams go on", failure)
        for execution in self._run.pool.drop(self):
            execution.run.error = f"not read: the stream stopped ({error})"
            self._run.runs.append(execution.run)

    def _write_state(self) -> None:
        """Emit the tap's STATE now: coverage moves once per fully emitted window.

        The SDK would only promote a bookmark at the end of an unsorted stream, and to
        the largest value seen; per-record tracking is off (`_increment_stream_state`)
        and coverage is written by `StreamReads` instead.
        """
        self._state_writer.write_state(self.tap_state)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Do nothing per record: coverage moves per window (`StreamReads.loaded`)."""

    # Query executions ---------------------------------------------------------

    def describe(self, planned: PlannedQuery) -> str:
        """`stream 'x', window 2024-01-01..2024-01-31`: the prefix of every message."""
        text = f"stream {self.name!r}, window {planned.window or 'as configured'}"
        if self.reads.is_subset(planned):
            text += f", accounts {', '.join(planned.accounts)}"
        return text

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """An execution of this stream's query for one planned query, not yet submitted."""
        params = self.definition.parameters()
        params["fields"] = list(self.requested_fields)
        accounts = self.reads.accounts_param(planned.accounts)
        params.pop("ds_accounts", None)
        if accounts:
            params["ds_accounts"] = accounts
        window = planned.window
        if window is not None:
            params["start_date"] = window.start.isoformat()
            params["end_date"] = window.end.isoformat()
        context = {"stream": self.name, "window": str(window)}
        describe = self.describe(planned)
        run = QueryRun(
            stream=self.name,
            ds_id=self.definition.ds_id,
            start_date=params.get("start_date"),
            end_date=params.get("end_date"),
            accounts=None if accounts is None else _as_list(accounts, self.reads.resolved),
            reason=planned.reason,
            date_field=self.definition.date_field,
            account_field=self.definition.account_field,
        )
        return QueryExecution(
            call_api=lambda endpoint, body: self.call_api(endpoint, body, context, describe),
            params=params,
            timing=self.timing,
            run=run,
            describe=describe,
            page_size=self.page_size,
            logger=self.logger,
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        pool = self._run.pool
        pool.start()
        queries = self.planned_queries()
        if self.failure is not None:
            return
        if not queries and not self.config.get("dry_run"):
            self.logger.info("Stream %r is up to date: no days to read", self.name)
        try:
            for index, planned in enumerate(queries):
                execution = pool.take(self, planned)
                if index + 1 < len(queries):
                    pool.submit_ahead(self, queries[index + 1])
                yield from self._read_planned(planned, execution)
        except RunWideError:
            raise
        except SupermetricsError as error:
            self.stream_failed(error)

    def _read_planned(
        self, planned: PlannedQuery, execution: QueryExecution
    ) -> Iterator[dict[str, Any]]:
        """Read one planned query, leaving out accounts that already failed in this run."""
        still_failed = [a for a in planned.accounts if a in self._failed_accounts]
        if still_failed:  # do not spend queries on them again
            self.logger.info(
                "%s: skipping %s, which failed earlier in this run",
                self.describe(planned),
                ", ".join(still_failed),
            )
            rest = tuple(a for a in planned.accounts if a not in self._failed_accounts)
            if execution.schedule_id:  # submitted ahead: say in query_runs why it is unread
                execution.run.error = (
                    f"not read: {', '.join(still_failed)} failed earlier in this run; "
                    + ("the window was submitted again without them" if rest else "nothing left")
                )
                self._run.runs.append(execution.run)
            if not rest:
                return
            planned = PlannedQuery(planned.window, rest, planned.reason)
            execution = self.new_execution(planned)
        yield from read_isolating_failures(self, planned, execution)

    def new_window_rows(self) -> WindowRows:
        """The row memory of one window: it goes with the window into its parts."""
        return WindowRows(self.primary_keys)

    def window_loaded(self, planned: PlannedQuery) -> None:
        """Every row of `planned` was emitted: move its accounts' coverage, emit STATE."""
        self.reads.loaded(planned.accounts, planned.window)
        self._write_state()

    def accounts_failed(
        self, accounts: Sequence[str], planned: PlannedQuery, error: QueryFailedError
    ) -> None:
        """Report accounts that failed alone; their coverage stays where it was."""
        code = error.info.code or "FAILURE"
        what = str(error).partition(": ")[2] or str(error.info)
        window = str(planned.window or "as configured")
        for account in accounts:
            self._failed_accounts.add(account)
            failure = AccountFailure(self.name, account, window, what)
            self._run.failures.add(failure)
            self.logger.error("%s; its days stay unloaded, the run goes on", failure)
        self.reads.failed(accounts, code)
        self._write_state()

    def read_window(
        self, execution: QueryExecution, planned: PlannedQuery, rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        """Wait for the execution and yield its records not yet in `rows`.

        The query is submitted again when its results expire or its process exits.
        """
        try:
            yield from self._read_resubmitting(execution, planned, rows)
        except SupermetricsError as error:
            if execution.run.status == "SUCCESS":  # not every row was read: not a full read
                execution.run.status = "INCOMPLETE"
                execution.run.error = str(error)
            if execution.schedule_id:  # query_runs reports failed queries too
                self._run.runs.append(execution.run)
            raise
        self._run.runs.append(execution.run)

    def _read_resubmitting(
        self, execution: QueryExecution, planned: PlannedQuery, rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        limit = int(self.config.get("max_resubmits", 3))
        while True:
            try:
                answer = execution.wait()
                yield from self._emit(execution, answer, rows)
                break
            except ResubmitError as lost:
                what = lost.what
                if execution.run.attempts > limit:
                    execution.run.error = str(lost)
                    msg = (
                        f"{self.describe(planned)}: {what} {execution.run.attempts} "
                        f"times (max_resubmits={limit}); last: {lost}"
                    )
                    raise type(lost)(msg) from None
                self.logger.warning(
                    "%s: %s (%s); submitting the query again and re-reading the window "
                    "from its first row (rows already emitted are not repeated)",
                    self.describe(planned),
                    what,
                    lost,
                )
                execution.resubmit()
            finally:
                self._reading = None

    def _emit(
        self, execution: QueryExecution, answer: dict[str, Any], rows: WindowRows
    ) -> Iterator[dict[str, Any]]:
        """Yield the window's records: the first page from `answer`, then the others."""
        first = read_page(answer, [])
        converter = self._converter(first.field_meta, execution)
        header_names = [
            [str(meta.get("field_name")) for meta in first.field_meta or []],
            list(self.definition.fields),
        ]
        rows.start_read()
        reading = _Reading(execution, converter, rows, header_names, 0)
        more = first.more_after(0)
        if more:
            self.prefetch(self._page_request(execution, len(first.rows)))
        yield from self._records(reading, first.rows)
        if more:
            self._reading = reading
            context = {"stream": self.name, "window": execution.describe}
            try:
                yield from self.request_records(context)
            except (FatalAPIError, RetriableAPIError, RequestException) as error:
                raise self.explain(error, execution.describe) from None
        total = execution.run.total_rows
        if total is not None and reading.offset != total:
            msg = (
                f"{execution.describe}: the API promised {total} rows, "
                f"{reading.offset} arrived; refusing to save a bookmark over them"
            )
            raise ResultShapeError(msg)

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
        reading.execution.run.rows_emitted += len(emitted)
        reading.offset += len(rows)
        return emitted

    def _converter(
        self, field_meta: list[dict[str, Any]] | None, execution: QueryExecution
    ) -> RowConverter:
        """Order the conversion by the API's columns, typed by the effective schema."""
        describe = execution.describe
        configured = list(self.requested_fields)
        if field_meta is None:
            columns = configured
        else:
            specs = sorted(
                enumerate(field_meta),
                key=lambda item: _column_of(item[1], item[0]),
            )
            columns = [FieldSpec.from_meta(meta).field_id for _, meta in specs]
        if sorted(columns) != sorted(configured):
            msg = (
                f"{describe}: the API answered with fields {columns}, but the query asks for "
                f"{configured}. Supermetrics field ids change over time: update `fields`, "
                "then run discovery again"
            )
            raise ResultShapeError(msg)
        properties = self.effective_schema.get("properties", {})
        for message in type_disagreements(properties, field_meta or []):
            self.logger.warning("%s: %s", describe, message)
        schemas = [properties.get(column, {}) for column in columns]
        constants = {LINEAGE_FIELD: execution.extracted_at}
        return RowConverter(
            columns, schemas, constants, self.primary_keys, day_key=self.replication_key
        )

    # Paging through the SDK ---------------------------------------------------

    @override
    def get_new_paginator(self) -> ResultPaginator:
        offset = self._reading.offset if self._reading else 0
        return ResultPaginator(offset, self.page_size, self._page_of)

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        assert self._reading is not None  # noqa: S101 - set by _emit before paging
        return self._page_request(self._reading.execution, int(page.next_page_token or 0))

    def _page_request(self, execution: QueryExecution, first: int) -> HTTPRequest:
        params = {
            "schedule_id": execution.schedule_id,
            "offset_start": first,
            "offset_end": first + self.page_size - 1,
        }
        return self.request_for(STATUS_PATH, params)

    def _page_of(self, response: requests.Response) -> Page:
        page = self._pages.get(response)
        if page is None:
            header_names = self._reading.header_names if self._reading else []
            page = read_page(payload_of(response), header_names)
            self._pages[response] = page
        return page

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        assert self._reading is not None  # noqa: S101 - set by _emit before paging
        status = str(payload_of(response)["meta"].get("status_code") or "SUCCESS")
        if status.upper() != "SUCCESS":
            msg = f"{self._reading.execution.describe}: a result page came with status {status!r}"
            raise ResultShapeError(msg)
        page = self._page_of(response)
        reading = self._reading
        if page.more_after(reading.offset):
            self.prefetch(self._page_request(reading.execution, reading.offset + len(page.rows)))
        yield from self._records(reading, page.rows)

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """Skip the per-record walk that removes deselected properties when none is.

        SDK-private hook, overridden here only: the SDK copies and walks every record
        to drop deselected properties, the largest single cost per record. When the
        catalog selects every property there is nothing to drop, so the records go
        straight to the stream maps; otherwise the SDK's own path runs.
        """
        if not self._all_properties_selected:
            yield from super()._generate_record_messages(record)
            return
        extracted = dt.datetime.now(tz=dt.UTC)
        version = self._stream_version
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=version,
                    time_extracted=extracted,
                )

    @cached_property
    def _all_properties_selected(self) -> bool:
        mask = self.mask
        return all(
            mask[("properties", name)] for name in self.effective_schema.get("properties", {})
        )

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: query streams have no child streams (and this runs for every record)."""
        return ()


def _as_list(accounts: list[str] | str | dict[str, str], resolved: Sequence[str]) -> list[str]:
    """The accounts a request reads, for `query_runs`."""
    if isinstance(accounts, list):
        return accounts
    if isinstance(accounts, str):
        return [accounts]
    return list(resolved)


def _column_of(meta: dict[str, Any], position: int) -> int:
    column = meta.get("data_column")
    return column if isinstance(column, int) else position

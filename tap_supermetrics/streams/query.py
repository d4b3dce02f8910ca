"""The query streams: one per configured query, the SDK's side of it only.

`QueryStream` is the adapter between the SDK and a window's path: its schema, key,
catalog selection and state for the SDK; its records from `StreamWindows`
(`stream_windows.py`: plan → execution → pages → rows → coverage); the SDK's paging
hooks handed to the `WindowReader` (`window_reader.py`) that reads the current window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk.singerlib import Metadata, MetadataMapping
from typing_extensions import override

from tap_supermetrics.api.account_lists import ACCOUNTS_PATH
from tap_supermetrics.api.lifecycle import PollTiming
from tap_supermetrics.check.reconcile import WindowSums, reconcile_spec
from tap_supermetrics.check.reconciler import StreamReconciler
from tap_supermetrics.core.accounts import ACCOUNT_NAME_FIELDS, TEAM_LIST_PREFIX
from tap_supermetrics.core.clock import today_utc
from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.read.executions import ExecutionFactory
from tap_supermetrics.read.reads import StreamReads
from tap_supermetrics.read.stream_windows import StreamWindows
from tap_supermetrics.read.window_reader import WindowReader
from tap_supermetrics.schema.lineage import LINEAGE_FIELD, with_lineage
from tap_supermetrics.schema.types import FieldSpec, record_schema
from tap_supermetrics.settings.dates import date_range
from tap_supermetrics.streams.sdk_hooks import HookedStream

if TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import HTTPRequest, PageContext

    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.api.pagination import ResultPaginator
    from tap_supermetrics.plan.planner import PlannedQuery
    from tap_supermetrics.plan.sizing import RowRates
    from tap_supermetrics.run.sync_run import SyncRun
    from tap_supermetrics.settings.queries import QueryDefinition


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


#: Least seconds between two STATE messages written after windows (streams' ends always).
STATE_SECONDS = 5.0


class QueryStream(HookedStream):
    """One configured Supermetrics query."""

    is_sorted = False
    check_sorted = False

    def __init__(  # noqa: PLR0913 - what discovery knows of the stream
        self,
        tap: Tap,
        definition: QueryDefinition,
        fields: list[FieldSpec],
        run: SyncRun,
        reconcile_fields: list[FieldSpec] | None = None,
        *,
        catalog_fields: frozenset[str] | None = None,
        account_id_fields: Sequence[str] = (),
    ) -> None:
        """Build the stream from its query definition and the fields' API metadata.

        `reconcile_fields`: the fields as the API types them, when the stream reconciles
        (an input catalog loses the data types that say what can be summed).
        `catalog_fields`: the properties the input catalog declares for the stream
        (None without one): only configured fields among them are read.
        `account_id_fields`: the data source's fields that carry an account's id, named
        when rows are sums over several accounts.
        """
        schema = with_lineage(record_schema(fields))
        super().__init__(tap=tap, name=definition.name, schema=schema)
        self.definition = definition
        self.catalog_fields = catalog_fields
        self.account_id_fields = tuple(account_id_fields)
        self.fields = reconcile_fields or fields
        self.metric_ids = frozenset(spec.field_id for spec in fields if spec.field_type != "dim")
        self.replication_key = definition.date_field
        self.primary_keys = list(
            definition.primary_keys
            or default_primary_keys(fields, definition.date_field, definition.account_field)
        )
        self.page_size = int(self.config.get("page_size", 25_000))
        self._run = run
        self._state_writer = tap.state_writer
        self.reader = WindowReader(
            self,
            int(self.config.get("max_resubmits", 3)),
            run.runs,
            row_cap=None
            if definition.pass_through.get("max_rows") is not None
            else Limits.from_config(self.config).max_rows_per_query,
            account_field=definition.account_field,
            on_rows=lambda rows: run.pool.budget.receive(self.name, rows),
        )
        self.windows = StreamWindows(
            self,
            ds_id=definition.ds_id,
            reads=lambda: self.reads,
            executions=lambda: self.executions,
            reader=self.reader,
            run=run,
            write_state=self._write_state,
            logger=self.logger,
            dry_run=bool(self.config.get("dry_run")),
            reconciler=lambda: self.reconciler,
        )
        run.pool.register(self)

    # Plan, state and selection ------------------------------------------------------

    @cached_property
    def reads(self) -> StreamReads:
        """This run's plan and coverage, read from the stream's bookmark."""
        describe = f"stream {self.name!r}, data source {self.definition.ds_id!r}, account list"
        today = today_utc()
        reads = StreamReads(
            definition=self.definition,
            configured=date_range(self.definition.effective(self.config), today),
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
        self._warn_if_summed(reads)
        return reads

    def _warn_if_summed(self, reads: StreamReads) -> None:
        """One WARNING when rows are sums over several accounts (no account field).

        Supermetrics then answers one row per day and dimensions for all the accounts
        together, and coverage keeps them as one (account `*`): what was meant is usually
        each account's own rows, which an account id field among `fields` gives.
        """
        if not reads.summed or not self.definition.ds_accounts:
            return
        accounts = reads.resolved
        if len(accounts) < 2 and not any(key.startswith(TEAM_LIST_PREFIX) for key in accounts):  # noqa: PLR2004
            return
        named = " or ".join(repr(name) for name in self.account_id_fields) or "an account id field"
        self.logger.warning(
            "Stream %r reads %s with no account field among its fields, so each row is a sum "
            "over them and coverage keeps them as one (account '*'): add %s to fields to "
            "read each account's own rows (docs/queries.md#the-account-field)",
            self.name,
            f"{len(accounts)} accounts" if len(accounts) > 1 else f"team list {accounts[0]!r}",
            named,
        )

    @cached_property
    def executions(self) -> ExecutionFactory:
        """Makes this stream's query executions."""
        return ExecutionFactory(
            stream=self.name,
            definition=self.definition,
            reads=self.reads,
            requested_fields=self.requested_fields,
            call_api=self.call_api,
            timing=PollTiming.from_config(dict(self.config)),
            gate=self._run.pool.queue,
            page_size=self.page_size,
            logger=self.logger,
        )

    @cached_property
    def reconciler(self) -> StreamReconciler | None:
        """This stream's totals queries, when it reconciles (after the catalog's selection)."""
        try:
            spec, _ = reconcile_spec(self.definition, self.fields, self.requested_fields)
        except ConfigError as error:  # the catalog deselected what the query names
            self.logger.warning("%s; not reconciled", error)
            return None
        if spec is None:
            return None
        self.reader.tally = lambda: WindowSums(spec)
        return StreamReconciler(
            stream=self.name,
            spec=spec,
            schema=self.schema,
            reads=lambda: self.reads,
            executions=lambda: self.executions,
            run=self._run,
            logger=self.logger,
            page_size=self.page_size,
            max_resubmits=self.reader.max_resubmits,
        )

    def _write_state(self) -> None:
        """Emit the tap's STATE after a window whose rows are all out, a few seconds apart.

        At agency scale a STATE message is large (every account's coverage) and windows
        end a second apart: one written less than `STATE_SECONDS` ago is enough, and the
        state that window moved goes out with the next one, or at the stream's end (the
        SDK writes a stream's state when it ends, `mark_state_pending`). A run killed in
        between reads those windows again: rows are upserted by key, none is lost.
        """
        now = time.monotonic()
        last = self._run.state_written
        if last is not None and now - last < STATE_SECONDS:
            self.mark_state_pending()
            return
        self._state_writer.write_state(self.tap_state)
        self._run.state_written = now

    @cached_property
    def requested_fields(self) -> tuple[str, ...]:
        """The configured fields the catalog selects: only these are asked of Supermetrics.

        A property deselected in the catalog (`meltano select`, `selected: false`) costs
        nothing upstream and is absent from the records; so is a configured field that an
        input catalog does not declare (discovered before it was added): its SCHEMA
        lacks it (`catalog_drift.py`). The date field, the key, the account field and
        the lineage column are `inclusion: automatic` (`metadata`).
        """
        mask = self.mask
        declared = self.catalog_fields
        return tuple(
            name
            for name in self.definition.fields
            if (declared is None or name in declared) and mask.get(("properties", name), True)
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

    # What the query pool asks of a stream -------------------------------------------

    def planned_queries(self) -> list[PlannedQuery]:
        """The queries this run sends, in order."""
        return self.windows.planned_queries()

    def plan_candidates(self) -> list[PlannedQuery]:
        """Every query of the plan, before the row budget."""
        return self.windows.plan_candidates()

    def rates(self) -> RowRates:
        """Rows per day per account, as read so far."""
        return self.windows.rates()

    def new_execution(self, planned: PlannedQuery) -> QueryExecution:
        """An execution of this stream's query for one planned query, not yet submitted."""
        return self.windows.new_execution(planned)

    def queued_ahead(self, planned: PlannedQuery, queue: Callable[[QueryExecution], None]) -> None:
        """`planned` was queued ahead: its totals query goes with it."""
        self.windows.queued_ahead(planned, queue)

    # Records and the SDK's paging -----------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        _ = self.reconciler  # the reader sums what it reconciles from the first window on
        return self.windows.records()

    @override
    def get_new_paginator(self) -> ResultPaginator:
        return self.reader.new_paginator()

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        return self.reader.next_page_request(int(page.next_page_token or 0))

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        return self.reader.records_of(response)

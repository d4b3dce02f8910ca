"""From a planned query to a query execution: the request's parameters and its report.

A planned query (a window for some accounts, `planner.py`) becomes one Supermetrics
query: the stream's parameters, the fields the catalog selects, the accounts as
`ds_accounts` takes them, the window's dates. Its `QueryRun` is the `query_runs` record
that follows the execution through submit, poll and paging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_supermetrics.api.lifecycle import Gate, PollTiming, QueryExecution, QueryRun
from tap_supermetrics.plan.planner import RECONCILIATION
from tap_supermetrics.read.confirmations import CONFIRM_EMPTY, without_exclusion

if TYPE_CHECKING:
    import logging

    from singer_sdk.helpers.types import Context

    from tap_supermetrics.plan.planner import PlannedQuery
    from tap_supermetrics.read.reads import StreamReads
    from tap_supermetrics.settings.queries import QueryDefinition

#: Sends one request: endpoint, parameters, log context, message prefix → decoded body.
CallApi = Callable[[str, dict[str, Any], "Context | None", str], dict[str, Any]]


@dataclass
class ExecutionFactory:
    """Makes the executions of one stream's planned queries."""

    stream: str
    definition: QueryDefinition
    reads: StreamReads
    requested_fields: tuple[str, ...]
    call_api: CallApi
    timing: PollTiming
    page_size: int
    logger: logging.Logger
    #: The licence's queue every execution's submissions go through (None: none).
    gate: Gate | None = None

    def describe(self, planned: PlannedQuery) -> str:
        """`stream 'x', window 2024-01-01..2024-01-31`: the prefix of every message."""
        text = f"stream {self.stream!r}, window {planned.window or 'as configured'}"
        if self.reads.is_subset(planned):
            text += f", accounts {', '.join(planned.accounts)}"
        if planned.reason == RECONCILIATION:
            text += ", totals query"
        return text

    def new_execution(
        self, planned: PlannedQuery, fields: tuple[str, ...] | None = None
    ) -> QueryExecution:
        """An execution of the stream's query for one planned query, not yet submitted.

        `fields` replaces the query's fields (a totals query asks for fewer).
        """
        params = self.definition.parameters()
        params["fields"] = list(fields or self.requested_fields)
        if planned.reason == CONFIRM_EMPTY and isinstance(params.get("settings"), dict):
            params["settings"] = without_exclusion(params["settings"])
        accounts = self.reads.accounts_param(planned.accounts)
        params.pop("ds_accounts", None)
        if accounts:
            params["ds_accounts"] = accounts
        window = planned.window
        if window is not None:
            params["start_date"] = window.start.isoformat()
            params["end_date"] = window.end.isoformat()
        context = {"stream": self.stream, "window": str(window)}
        describe = self.describe(planned)
        run = QueryRun(
            stream=self.stream,
            ds_id=self.definition.ds_id,
            start_date=params.get("start_date"),
            end_date=params.get("end_date"),
            accounts=None if accounts is None else _as_list(accounts, self.reads.resolved),
            reason=planned.reason,
            date_field=self.definition.date_field,
            account_field=self.definition.account_field,
        )
        call_api = self.call_api
        return QueryExecution(
            call_api=lambda endpoint, body: call_api(endpoint, body, context, describe),
            params=params,
            timing=self.timing,
            run=run,
            describe=describe,
            page_size=self.page_size,
            logger=self.logger,
            gate=self.gate,
        )


def _as_list(accounts: list[str] | str | dict[str, str], resolved: Sequence[str]) -> list[str]:
    """The accounts a request reads, for `query_runs`."""
    if isinstance(accounts, list):
        return accounts
    if isinstance(accounts, str):
        return [accounts]
    return list(resolved)

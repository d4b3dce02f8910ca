"""The emulator's state and its answers: settings, queries, faults and request statistics.

The HTTP handler (server.py) parses requests and writes answers; everything a
request can change or read lives here, behind one lock where threads share it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import threading
import time
from collections import Counter, deque
from typing import Any
from urllib.parse import urlencode

from supermetrics_emulator.accounts import Logins
from supermetrics_emulator.faults import FaultBook, FaultRule
from supermetrics_emulator.licence import Licence
from supermetrics_emulator.queries import WAITING, Query, QueryStore
from supermetrics_emulator.ratelimit import RateMeter, Verdict
from supermetrics_emulator.rows import ResultPlan, Revision
from supermetrics_emulator.settings import EmulatorSettings
from supermetrics_emulator.upstream import Upstream
from supermetrics_emulator.validation import QueryLimits, QuerySpec, parse_query, row_parameter


class Emulator:
    """The emulator's state: settings, queries, faults and request statistics."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        """Start empty, with the given or default settings."""
        self.initial = dataclasses.replace(settings or EmulatorSettings())
        self.settings = dataclasses.replace(self.initial)
        self.faults = FaultBook()
        self.licence = Licence()
        self.store = QueryStore(
            max_running=lambda: self.settings.max_running,
            schedule_seconds=lambda: self.settings.schedule_seconds,
        )
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.reset_stats()

    def reset_stats(self) -> None:
        """Forget request counters, the request log, the busiest second and rows returned.

        The licence's counts stay: they are the licence's state, not statistics, and
        only `reset` forgets them.
        """
        with self._lock:
            self.rows_returned = 0
            self.requests: Counter[str] = Counter()
            self.status_polls: Counter[str] = Counter()
            self.request_log: deque[dict[str, Any]] = deque(maxlen=10_000)
            self._meter = RateMeter()

    def reset(self) -> None:
        """Back to the state at start: initial settings, no queries, faults or stats."""
        self.settings = dataclasses.replace(self.initial)
        self.store.clear()
        self.faults.clear()
        self.licence.clear()
        self.reset_stats()

    def next_request_id(self) -> str:
        """Return a unique request id for `meta.request_id`."""
        return f"req_{next(self._request_ids):08d}"

    def note_request(
        self, endpoint: str, params: dict[str, Any], raw_path: str, method: str = "GET"
    ) -> Verdict:
        """Count and log an API request; say whether it is over the rate limit."""
        safe = {key: value for key, value in params.items() if key != "api_key"}
        now = time.time()
        with self._lock:
            self.requests[endpoint] += 1
            if endpoint == "status" and "schedule_id" in params:
                self.status_polls[str(params["schedule_id"])] += 1
            self.request_log.append(
                {
                    "endpoint": endpoint,
                    "method": method,
                    "params": safe,
                    "path": raw_path,
                    "time": now,
                }
            )
            return self._meter.note(now, self.settings.rate_limit_per_second)

    def stats(self) -> dict[str, Any]:
        """Return counters, recent requests, the busiest second, queries, faults, licence."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "status_polls": dict(self.status_polls),
                "request_log": list(self.request_log),
                "peak_requests_per_second": self._meter.peak,
                "rows_returned": self.rows_returned,
                "queries": self.store.summaries(),
                "faults": self.faults.describe(),
                "licence": self.licence.describe(),
            }

    def logins(self) -> Logins:
        """The accounts each login holds under the current settings."""
        settings = self.settings
        return Logins.from_settings(
            settings.extra_accounts, settings.removed_accounts, settings.team_lists
        )

    def limits(self) -> QueryLimits:
        """The API's hard limits on one query under the current settings."""
        return QueryLimits(
            max_accounts=self.settings.max_accounts_per_query,
            row_parameter_bound=self.settings.row_parameter_bound,
        )

    # The API -----------------------------------------------------------------

    def plan(self, params: dict[str, Any]) -> ResultPlan:
        """Lay out the result a query submitted now would have, with no fault applied.

        Tests compute expected rows with this, without HTTP: it is the same code the
        server runs for a submitted query.

        Raises:
            ApiError: the query is invalid (the 400 the API would answer).
        """
        return self._plan(parse_query(params, logins=self.logins(), limits=self.limits()))

    def _plan(
        self,
        spec: QuerySpec,
        *,
        excluded: frozenset[str] = frozenset(),
        duplicate_row: int | None = None,
    ) -> ResultPlan:
        settings = self.settings
        held = self.logins().accounts(spec.source)
        return ResultPlan(
            spec.source,
            spec.field_ids,
            spec.start,
            spec.end,
            [account for account in spec.accounts if account not in excluded],
            revision=Revision(settings.revision, dt.date.fromisoformat(settings.revision_from)),
            max_rows=spec.max_rows,
            max_result_rows=settings.max_result_rows,
            duplicate_row=duplicate_row,
            upstream=Upstream.from_settings(settings.renames, settings.dropped_rows),
            account_names={account.account_id: account.account_name for account in held},
        )

    def submit(self, params: dict[str, Any]) -> Query:
        """Create a query from submitted parameters, with any query faults applied.

        The query captures the settings in force now (accounts, upstream changes,
        revision, the cap on its rows): changes made later apply to later queries only.
        The licence sees only valid queries, and counts those it admits.

        Raises:
            ApiError: the query is invalid (400), or the licence refuses it (403, 429).
        """
        self.licence.check_active(self.settings)
        spec = parse_query(params, logins=self.logins(), limits=self.limits())
        self.licence.admit(self.settings, spec)
        fired = self.faults.take_query(params, spec.accounts)
        duplicate = next((r.row for r in fired if r.action == "duplicate_row"), None)
        denied = [r for r in fired if r.action == "query_failure" and r.account is not None]
        skip_denied = spec.settings.get("exclude_invalid_accounts") is True
        excluded = frozenset(r.account for r in denied if r.account) if skip_denied else frozenset()
        query = Query(
            schedule_id=str(params.get("schedule_id") or self.store.new_id()),
            params={key: value for key, value in params.items() if key != "api_key"},
            plan=self._plan(spec, excluded=excluded, duplicate_row=duplicate),
            submitted_at=self.store.now(),
            run_seconds=self.settings.run_seconds,
            result_ttl=self.settings.result_ttl,
            accounts=len(spec.accounts),
        )
        query.extra["excluded_accounts"] = sorted(excluded)
        for rule in fired:
            if rule.account is not None and rule.account in excluded:
                continue
            _apply_query_fault(query, rule, self.logins(), spec)
        self.store.add(query)
        return query

    def wait_for(self, query: Query, seconds: float) -> Query | None:
        """Hold the request until the query finishes or `seconds` pass (`sync_timeout`)."""
        deadline = time.monotonic() + min(max(seconds, 0.0), self.settings.max_sync_timeout)
        current = self.store.get(query.schedule_id)
        while current is not None and current.status in (*WAITING, "RUNNING"):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
            current = self.store.get(query.schedule_id)
        return current

    def answer(self, query: Query, params: dict[str, Any], base_url: str) -> tuple[int, Any]:
        """Build the documented answer for a query's current state (and rows, once done)."""
        now = self.store.now()
        meta: dict[str, Any] = {
            "request_id": self.next_request_id(),
            "schedule_id": query.schedule_id,
            "status_code": query.extra.get("status_override", query.status),
            "progress": query.progress(now),
            "workflow": self.store.workflow(),
        }
        if query.status in (*WAITING, "RUNNING"):
            pending: list[Any] | None = None if self.settings.pending_data_null else []
            return self.settings.async_status_code, {"meta": meta, "data": pending}
        if query.status != "SUCCESS":
            error = query.error or {"code": query.status, "message": f"Query {query.status}"}
            return 200, {"meta": meta, "error": error, "data": []}
        return 200, self._page(query, params, meta, base_url)

    def _page(
        self, query: Query, params: dict[str, Any], meta: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        plan = query.plan
        total = plan.total_rows
        bound = self.settings.row_parameter_bound
        first = row_parameter(params, "offset_start", 0, bound)
        limit = self.settings.max_page_size
        last = row_parameter(params, "offset_end", first + limit - 1, bound)
        last = min(last, first + limit - 1, total - 1)
        rows = list(plan.rows(first, last)) if first <= last else []
        self._count_rows(len(rows))
        if self.settings.numbers_as_strings:
            rows = [[_as_text(cell) for cell in row] for row in rows]
        settings = query.params.get("settings") or {}
        header = self.settings.header_row and not settings.get("no_headers")
        data: list[list[Any]] = [[f.field_name for f in plan.fields]] if header else []
        data.extend(rows)
        paginate: dict[str, str] = {}
        size = last - first + 1 if first <= last else limit
        if first + len(rows) < total:
            paginate["next"] = status_url(base_url, query.schedule_id, last + 1, last + size)
        if first > 0:
            previous = max(0, first - size)
            paginate["prev"] = status_url(base_url, query.schedule_id, previous, first - 1)
        meta["query"] = {
            "fields": [
                {
                    "id": f.field_id,
                    "field_id": f.field_id,
                    "field_name": f.field_name,
                    "field_type": f.field_type,
                    "data_type": f.data_type,
                    "data_column": column,
                    "visible": True,
                    "field_split": "",
                }
                for column, f in enumerate(plan.fields)
            ]
        }
        meta["result"] = {
            "total_rows": total,
            "total_columns": len(plan.fields),
            "run_seconds": query.run_seconds,
            "data_sampled": False,
            "cache_used": False,
            "cache_time": None,
        }
        meta["paginate"] = paginate
        if not self._reports_total(plan):
            del meta["result"]["total_rows"]
        self.store.page_served(query)
        return {"meta": meta, "data": data}

    def _reports_total(self, plan: ResultPlan) -> bool:
        """Whether `meta.result.total_rows` is sent: a cut result may leave it out."""
        cut_hidden = plan.cut and self.settings.cut_total_rows == "absent"
        return self.settings.report_total_rows and not cut_hidden

    def _count_rows(self, count: int) -> None:
        """Count data rows returned: the stats' total and the licence's month."""
        with self._lock:
            self.rows_returned += count
        self.licence.note_rows(count)


def _apply_query_fault(query: Query, rule: FaultRule, logins: Logins, spec: QuerySpec) -> None:
    if rule.action == "query_failure" and rule.account is not None:
        name = logins.account_name(spec.source, rule.account)
        message = rule.message or f"Access to account {rule.account} ({name}) was denied"
        if rule.account not in message:
            message = f"{message} (account {rule.account})"
        query.outcome = "FAILURE"
        query.error = {
            "code": rule.code or "ACCOUNT_ACCESS_DENIED",
            "message": message,
            "description": f"The data source refused account {rule.account}; other accounts "
            "can still be read. Injected by the emulator",
        }
    elif rule.action == "query_failure":
        query.outcome = "FAILURE"
        query.error = {
            "code": rule.code or "QUERY_FAILED",
            "message": rule.message or "The data source returned an error",
            "description": "Injected by the emulator",
        }
    elif rule.action == "query_stopped":
        query.outcome = "STOPPED"
        query.error = {"code": rule.code or "QUERY_STOPPED", "message": "The query was aborted"}
    elif rule.action == "never_finish":
        query.outcome = "NEVER"
    elif rule.action == "unknown_status":
        query.outcome = "NEVER"
        query.extra["status_override"] = rule.code or "PAUSED"
    elif rule.action == "expire_early":
        query.expire_after_pages = rule.after_pages
        if rule.after_seconds is not None:
            query.result_ttl = rule.after_seconds


def _as_text(cell: object) -> object:
    return str(cell) if isinstance(cell, (int, float)) and not isinstance(cell, bool) else cell


def status_url(base_url: str, schedule_id: str, first: int, last: int) -> str:
    """The `/query/status` URL of one page, as `meta.paginate` gives it."""
    spec = {"schedule_id": schedule_id, "offset_start": first, "offset_end": last}
    return f"{base_url}/query/status?{urlencode({'json': json.dumps(spec)})}"

"""The query lifecycle and the licence queue, simulated lazily from the clock.

No thread ticks in the background: every lookup replays the events (queue entry,
start, finish) that happened since the last one, in time order. The outcome is the
same whether a client polls every millisecond or once an hour, which keeps tests
deterministic.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supermetrics_emulator.rows import ResultPlan

WAITING = ("SCHEDULED", "QUEUED")
FINISHED = ("SUCCESS", "FAILURE", "STOPPED")


@dataclass
class Query:
    """One submitted query and where it is in its life."""

    schedule_id: str
    params: dict[str, Any]
    plan: ResultPlan
    submitted_at: float
    run_seconds: float
    result_ttl: float
    outcome: str = "SUCCESS"  # SUCCESS, FAILURE, STOPPED or NEVER (runs for ever)
    error: dict[str, str] | None = None
    expire_after_pages: int | None = None
    status: str = "SCHEDULED"
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    pages_served: int = 0
    expired: bool = False
    accounts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def progress(self, now: float) -> dict[str, int]:
        """Sub-queries done and in total; the total grows once the query runs."""
        if self.status in WAITING:
            return {"queries_ready": 0, "queries_total": 1}
        total = max(1, self.accounts)
        if self.status == "RUNNING" and self.started_at is not None:
            share = (now - self.started_at) / self.run_seconds if self.run_seconds else 1.0
            return {"queries_ready": min(total - 1, int(share * total)), "queries_total": total}
        return {"queries_ready": total, "queries_total": total}


class QueryStore:
    """All queries of one emulator, and the licence queue they share."""

    def __init__(
        self,
        *,
        max_running: Callable[[], int],
        schedule_seconds: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read limits through callables so that a settings change applies at once."""
        self._queries: dict[str, Query] = {}
        self._lock = threading.RLock()
        self._clock = clock
        self._max_running = max_running
        self._schedule_seconds = schedule_seconds
        self._sim_time = 0.0
        self._ids = itertools.count(1)

    def now(self) -> float:
        """Return the store's clock."""
        return self._clock()

    def new_id(self) -> str:
        """Return a fresh schedule id in the style of the API's generated ones."""
        return f"sm_{next(self._ids):06d}_{int(time.time() * 1000) % 10**9:09d}"

    def add(self, query: Query) -> None:
        """Register a newly submitted query."""
        with self._lock:
            self._queries[query.schedule_id] = query
            self._advance(self.now())

    def get(self, schedule_id: str) -> Query | None:
        """Return the query as of now, or None when it is unknown or expired."""
        with self._lock:
            now = self.now()
            self._advance(now)
            query = self._queries.get(schedule_id)
            if query is None:
                return None
            finished_at = query.finished_at if query.status in FINISHED else None
            if finished_at is not None and now >= finished_at + query.result_ttl:
                query.expired = True
            if query.expired:
                del self._queries[schedule_id]
                return None
            return query

    def page_served(self, query: Query) -> None:
        """Count a served page; a query set to expire after N pages expires here."""
        with self._lock:
            query.pages_served += 1
            if query.expire_after_pages is not None:
                query.expired = query.pages_served >= query.expire_after_pages

    def workflow(self) -> dict[str, int]:
        """Return the licence queue counters."""
        with self._lock:
            self._advance(self.now())
            waiting = sum(1 for q in self._queries.values() if q.status in WAITING)
            running = sum(1 for q in self._queries.values() if q.status == "RUNNING")
        return {"tasks_scheduled": waiting, "tasks_running": running}

    def summaries(self) -> list[dict[str, Any]]:
        """Describe every known query, for the stats endpoint."""
        with self._lock:
            self._advance(self.now())
            return [
                {
                    "schedule_id": q.schedule_id,
                    "status": q.status,
                    "ds_id": q.params.get("ds_id"),
                    "start_date": q.params.get("start_date"),
                    "end_date": q.params.get("end_date"),
                    "fields": q.params.get("fields"),
                    "accounts": list(q.plan.accounts),
                    "excluded_accounts": q.extra.get("excluded_accounts", []),
                    "total_rows": q.plan.total_rows,
                    "natural_rows": q.plan.natural_rows,
                    "cut": q.plan.cut,
                    "submitted_at": q.submitted_at,
                    "started_at": q.started_at,
                    "finished_at": q.finished_at,
                    "pages_served": q.pages_served,
                }
                for q in self._queries.values()
            ]

    def clear(self) -> None:
        """Forget every query."""
        with self._lock:
            self._queries.clear()

    def _advance(self, now: float) -> None:
        """Replay queue and run events up to `now`, oldest first."""
        for query in self._queries.values():
            if query.status == "SCHEDULED":
                ready_at = query.submitted_at + self._schedule_seconds()
                if ready_at <= now:
                    query.status, query.queued_at = "QUEUED", ready_at
        while True:
            running = [q for q in self._queries.values() if q.status == "RUNNING"]
            finishing = [q for q in running if q.outcome != "NEVER"]
            next_finish = min(finishing, key=_finish_time, default=None)
            queued = [q for q in self._queries.values() if q.status == "QUEUED"]
            next_start = min(queued, key=lambda q: q.queued_at or 0.0, default=None)
            can_start = next_start is not None and len(running) < self._max_running()
            finish_at = _finish_time(next_finish) if next_finish else float("inf")
            start_at = (
                max(next_start.queued_at or 0.0, self._sim_time)
                if can_start and next_start
                else float("inf")
            )
            if min(finish_at, start_at) > now:
                return
            if next_finish is not None and finish_at <= start_at:
                self._sim_time = finish_at
                next_finish.finished_at = finish_at
                next_finish.status = next_finish.outcome
            elif next_start is not None:
                self._sim_time = start_at
                next_start.started_at, next_start.status = start_at, "RUNNING"


def _finish_time(query: Query) -> float:
    return (query.started_at or 0.0) + query.run_seconds

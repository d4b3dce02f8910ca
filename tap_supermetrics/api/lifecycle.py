"""One query's life: submit, poll with a growing interval, finish or fail clearly.

Pending statuses keep polling until `query_timeout`; SUCCESS hands back the first page;
what any other status means is `answers.py`'s to say.
Polls ask for the first page (`offset_start`/`offset_end`), so the poll that sees
SUCCESS already carries the first rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tap_supermetrics.api.answers import (
    PENDING,
    log_progress,
    note,
    raise_if_ended,
    status_of,
    succeeded,
    utc_now,
)
from tap_supermetrics.api.client import STATUS_PATH, SUBMIT_PATH
from tap_supermetrics.core.errors import (
    QueryFailedError,
    QueryTimeoutError,
    ResubmitError,
    RunWideError,
    SupermetricsError,
)

GROWTH = 1.5
#: Longest a held-open lookup is asked to wait (seconds); the waits double up to it.
LONGEST_HOLD = 60.0

CallApi = Callable[[str, dict[str, Any]], dict[str, Any]]


class Gate(Protocol):
    """What keeps the licence's queue (`run/licence_queue.py`): a slot per query at once."""

    def enter(self, execution: QueryExecution) -> None:
        """Return when `execution` may be submitted (a slot is free, or already its own)."""
        ...

    def claim(self, execution: QueryExecution) -> None:
        """`execution` is waited for by the sync from now on (nobody else polls it)."""
        ...

    def leave(self, execution: QueryExecution) -> None:
        """`execution` finished or is not waited for any more: its slot is free."""
        ...

    def expected_remaining(self, execution: QueryExecution) -> float | None:
        """Seconds until `execution` is expected to end, as this run's queries took."""
        ...

    #: Whether the API holds lookups open: learnt once for the whole run.
    lookups_held: bool


@dataclass(frozen=True)
class PollTiming:
    """How often to poll, and for how long."""

    first_interval: float = 0.25
    max_interval: float = 5.0
    query_timeout: float = 14_400.0
    sync_timeout: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PollTiming:
        """Read the poll settings."""
        return cls(
            first_interval=float(config.get("poll_interval", 0.25)),
            max_interval=float(config.get("max_poll_interval", 5.0)),
            query_timeout=float(config.get("query_timeout", 14_400)),
            sync_timeout=int(config.get("sync_timeout", 0)),
        )


@dataclass
class QueryRun:
    """What happened to one submitted query: the `query_runs` record."""

    stream: str
    ds_id: str
    start_date: str | None
    end_date: str | None
    accounts: list[str] | None = None
    reason: str | None = None
    date_field: str | None = None
    account_field: str | None = None
    schedule_id: str | None = None
    request_id: str | None = None
    status: str | None = None
    total_rows: int | None = None
    run_seconds: float | None = None
    data_sampled: bool | None = None
    cache_used: bool | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    #: The `_sm_extracted_at` its rows carry (one stamp per window read, see lineage.py):
    #: with `accounts` and the days, the current relations learn what it answered.
    extracted_at: str | None = None
    attempts: int = 0
    status_polls: int = 0
    rows_emitted: int = 0
    #: Rows paged through, in every read of this query (the licence counts them).
    rows_read: int = 0
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """Return the record for the `query_runs` stream."""
        return dict(self.__dict__)


@dataclass
class QueryExecution:
    """Runs one query to SUCCESS; `describe` prefixes every message (stream and window)."""

    call_api: CallApi
    params: dict[str, Any]
    timing: PollTiming
    run: QueryRun
    describe: str
    page_size: int
    logger: logging.Logger
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _answer: dict[str, Any] | None = field(default=None, init=False)
    _submitted_clock: float = field(default=0.0, init=False)
    _lookups_held: bool = field(default=True, init=False)
    #: A refusal of the submission, raised when the query is waited for.
    _refusal: SupermetricsError | None = field(default=None, init=False)
    #: The licence's queue: every submission takes a slot of it (None: no queue).
    gate: Gate | None = field(default=None, repr=False)
    #: When the first execution of this query succeeded: the window's lineage stamp.
    extracted_at: str | None = field(default=None, init=False)
    #: Rows of the last complete read, and per account when it read several.
    rows_read: int = field(default=0, init=False)
    rows_by_account: dict[str, int] | None = field(default=None, init=False)
    #: The last complete read's metric sums per (day, account), when reconciling.
    sums: Any = field(default=None, init=False)

    @property
    def schedule_id(self) -> str | None:
        """The id the API gave this query."""
        return self.run.schedule_id

    def submit(self, *, gated: bool = True) -> None:
        """Send the query; with `sync_timeout` the answer may already be SUCCESS.

        It first takes a slot of the licence's queue (`gate`), unless the queue submits
        it itself (`gated` False). A refusal about this query alone (its data source,
        accounts or days) is kept and raised by `wait`, where its reader handles it: a
        query submitted ahead for another stream must not fail the stream being read. An
        answer about the key or the whole licence is raised at once.
        """
        if self.gate is not None and gated:
            self.gate.enter(self)
        self.run.attempts += 1
        self.run.submitted_at = utc_now()
        self._submitted_clock = self.clock()
        self._refusal = None
        params = {
            **self.params,
            "sync_timeout": self.timing.sync_timeout,
            "offset_start": 0,
            "offset_end": self.page_size - 1,
        }
        try:
            answer = self.call_api(SUBMIT_PATH, params)
        except RunWideError:
            raise
        except SupermetricsError as refusal:
            self.run.status = "REFUSED"
            self.run.error = str(refusal)
            self._refusal = refusal
            return
        note(self.run, answer)
        schedule_id = answer["meta"].get("schedule_id")
        if not schedule_id and status_of(answer) in PENDING:
            msg = f"{self.describe}: the API accepted the query but gave no schedule_id"
            raise QueryFailedError(msg)
        self.run.schedule_id = str(schedule_id) if schedule_id else None
        self._answer = answer
        self.logger.info(
            "%s: submitted (schedule_id %s, attempt %d)",
            self.describe,
            self.run.schedule_id,
            self.run.attempts,
        )

    @property
    def status(self) -> str:
        """The query's status as last seen (`REFUSED` when its submission was refused)."""
        if self._refusal is not None:
            return "REFUSED"
        return status_of(self._answer) if self._answer is not None else ""

    def check(self) -> str:
        """Poll once, keep the answer for `wait`, and return the status (never raises it)."""
        answer = self.poll()
        self._answer = answer
        return status_of(answer)

    def wait(self) -> dict[str, Any]:
        """Poll until SUCCESS and return that answer (it holds the first page).

        The licence's queue is told that the sync waits for this query, and that its
        slot is free once the wait ends, whatever the outcome.
        """
        if self.gate is None:
            return self._wait_for_result()
        self.gate.claim(self)
        try:
            return self._wait_for_result()
        finally:
            self.gate.leave(self)

    def _wait_for_result(self) -> dict[str, Any]:
        if self._answer is None and self._refusal is None:
            self.submit()
        if self._refusal is not None:
            raise self._refusal
        assert self._answer is not None  # noqa: S101 - submit() sets it
        answer = self._answer
        interval = self.timing.first_interval
        hold = 1.0
        #: This run's queries have been timed: the first wait lasts until this one should end.
        first_pause = self._expected_remaining()
        deadline = self._submitted_clock + self.timing.query_timeout
        # The submit's answer may be long stale (submitted ahead while other queries
        # were read): the query is judged on an answer given in this wait.
        polled = False
        while True:
            status = status_of(answer)
            if status == "SUCCESS":
                if self.extracted_at is None:
                    self.extracted_at = utc_now("microseconds")
                succeeded(self.run, answer, self.describe, self.logger, self.extracted_at)
                return answer
            raise_if_ended(self.run, self.describe, status, answer)
            log_progress(self.logger, self.describe, status, answer["meta"])
            remaining = deadline - self.clock()
            if remaining <= 0 and not polled:
                polled = True
                answer = self.poll()
                continue
            if remaining <= 0:
                msg = (
                    f"{self.describe}: query {self.run.schedule_id} was still {status} after "
                    f"query_timeout={self.timing.query_timeout:g}s; raise query_timeout or "
                    "narrow the query (window_days, fields)"
                )
                self.run.status = "TIMEOUT"
                raise QueryTimeoutError(msg)
            if first_pause > interval:
                self._wait(min(first_pause, remaining), min(float(int(first_pause)), remaining))
            else:
                self._wait(min(interval, remaining), min(hold, remaining))
                interval = min(interval * GROWTH, self.timing.max_interval)
                hold = min(hold * 2, LONGEST_HOLD)
            first_pause = 0.0
            answer = self.poll()
            polled = True

    def _expected_remaining(self) -> float:
        """Seconds until this query should end, as this run's queries took (0: unknown)."""
        if self.gate is None or self._answer is None or status_of(self._answer) not in PENDING:
            return 0.0
        return self.gate.expected_remaining(self) or 0.0

    def _wait(self, pause: float, hold: float) -> None:
        """Wait between two status polls: in a held-open lookup if the API offers one.

        A lookup of the query by `schedule_id` with `sync_timeout` (the documented
        submit endpoint) returns as soon as the query ends, so SUCCESS is seen at once
        while the waits, and so the polls, grow geometrically. Whether the API holds
        lookups open is unconfirmed: an answer that comes back early without the query
        being done, or an error, switches this query to plain sleeping.
        """
        if self.gate is not None and not self.gate.lookups_held:
            self._lookups_held = False
        if self._lookups_held and hold >= 1:
            started = self.clock()
            params = {
                "schedule_id": self.run.schedule_id,
                "sync_timeout": int(hold),
                "offset_start": 0,
                "offset_end": 0,
            }
            try:
                status = status_of(self.call_api(SUBMIT_PATH, params))
            except RunWideError:
                raise
            except SupermetricsError as error:  # expiry too: the status poll is the judge
                self.logger.info("%s: lookups are not held open (%s)", self.describe, error)
                self._lookups_held = False
            else:
                waited = self.clock() - started
                if status not in PENDING or waited >= int(hold) / 2:
                    return
                self._lookups_held = False  # answered at once: not held, for the whole run
                if self.gate is not None:
                    self.gate.lookups_held = False
                pause = max(0.0, pause - waited)
        self.sleep(pause)

    def poll(self) -> dict[str, Any]:
        """Ask for the query's status (and its first page, once done)."""
        self.run.status_polls += 1
        params = {
            "schedule_id": self.run.schedule_id,
            "offset_start": 0,
            "offset_end": self.page_size - 1,
        }
        answer = self.call_api(STATUS_PATH, params)
        note(self.run, answer)
        return answer

    def resubmit(self) -> None:
        """Submit again after the results expired (the caller bounds how often)."""
        self._answer = None
        self.submit()

    def give_up_if_lost_too_often(
        self, lost: ResubmitError, max_resubmits: int, describe: str
    ) -> None:
        """Raise `lost`, counted, once the results were lost more than `max_resubmits` times."""
        if self.run.attempts > max_resubmits:
            self.run.error = str(lost)
            msg = (
                f"{describe}: {lost.what} {self.run.attempts} times "
                f"(max_resubmits={max_resubmits}); last: {lost}"
            )
            raise type(lost)(msg) from None

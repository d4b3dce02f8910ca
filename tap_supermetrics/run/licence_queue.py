"""The licence's queue, kept full: up to `max_concurrent_queries` queries at Supermetrics.

Supermetrics runs a licence's queries a few at a time and queues the rest FIFO, and each
takes minutes. The SDK syncs streams one after another and a stream reads its windows one
after another, so the tap keeps the licence busy itself: the queries it will read soon
wait here in rank order (`scheduler.py` decides which, and how far ahead) and go out as
soon as one of the `slots` frees up. A query holds a slot from its submission until it is
known to have finished, whatever the outcome: a finished result waits to be read without
holding one.

A keeper thread submits the waiting queries and polls the ones nobody waits for yet:
short status polls, first when this run's queries have been seen to take, then further
apart; every request goes through the run's pacer (`max_requests_per_second`,
`X-RateLimit-Remaining`). The query the sync waits for is polled by the sync itself
(`QueryExecution.wait`, in held-open lookups) and takes the next free slot before any
other. While an answer shows one of the tap's queries QUEUED at Supermetrics, the keeper
submits none: the licence runs fewer at once than `slots`, and another would only wait
in its queue (and its result might expire unread).

An answer about the key or the whole licence met by the keeper stops it; it is kept in
`stopping` with the stream the query was for, and raised by that stream's sync.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tap_supermetrics.api.answers import PENDING
from tap_supermetrics.core.errors import RunStopping, RunWideError, SupermetricsError

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import PollTiming, QueryExecution

#: Rank of a query the sync waits for: before every other.
URGENT: tuple[object, ...] = ()
#: How much longer than `max_poll_interval` an idle query may go unpolled.
IDLE_BACKOFF = 4.0


@dataclass
class Ticket:
    """One query's place in the queue."""

    execution: QueryExecution
    stream: str
    rank: tuple[object, ...]
    #: waiting (not submitted), running (holds a slot), done (finished or given up).
    state: str = "waiting"
    #: The sync waits for it: the keeper leaves its polling to the sync.
    claimed: bool = False
    #: The keeper is sending a request for it right now.
    busy: bool = False
    #: When the keeper polls it next, and how long since its submission.
    next_poll: float = 0.0
    submitted: float = 0.0
    last_status: str = ""
    order: int = 0


@dataclass
class QueueFigures:
    """What the queue did, for the progress lines and the run's summary."""

    submitted: int = 0
    idle_polls: int = 0
    most_running: int = 0
    durations: list[float] = field(default_factory=list)


class LicenceQueue:
    """Up to `slots` queries at Supermetrics at once; the rest wait in rank order."""

    def __init__(
        self,
        slots: int,
        *,
        first_interval: float = 0.25,
        max_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Allow `slots` queries at once; idle polls start at `first_interval`."""
        self.slots = slots
        self.first_interval = first_interval
        self.max_interval = max_interval
        self._clock = clock
        self._lock = threading.Condition()
        self._tickets: dict[int, Ticket] = {}  # by id(execution)
        self._urgent_waiting = 0
        #: The executions the sync waits for (they may have no ticket yet).
        self._waited: set[int] = set()
        self._orders = 0
        self._keeper: threading.Thread | None = None
        self._closed = False
        self.stopping: tuple[str, RunWideError] | None = None
        self.figures = QueueFigures()
        #: Whether the API holds lookups open (unconfirmed): learnt by the first wait.
        self.lookups_held = True

    def configure(self, slots: int, timing: PollTiming) -> None:
        """Take the run's settings: its slots and how often to poll."""
        self.slots = slots
        self.first_interval = timing.first_interval
        self.max_interval = timing.max_interval

    # What the sync asks -------------------------------------------------------------

    def add(self, execution: QueryExecution, stream: str, rank: tuple[object, ...]) -> None:
        """Queue `execution` to be submitted when a slot frees up, in rank order."""
        with self._lock:
            if id(execution) in self._tickets:
                return
            self._orders += 1
            self._tickets[id(execution)] = Ticket(execution, stream, rank, order=self._orders)
            self._start_keeper()
            self._lock.notify_all()

    def holds(self, execution: QueryExecution) -> bool:
        """Whether the queue knows `execution` (waiting, running or done)."""
        with self._lock:
            return id(execution) in self._tickets

    def enter(self, execution: QueryExecution) -> None:
        """Take a slot for a submission by the sync itself: before any waiting query.

        Blocks while every slot is taken. When the run stops meanwhile (an answer about
        the key or the licence met by the keeper), raises RunStopping.
        """
        with self._lock:
            old = self._tickets.pop(id(execution), None)
            self._urgent_waiting += 1
            try:
                while self._running() >= self.slots and self.stopping is None:
                    self._lock.wait()
            finally:
                self._urgent_waiting -= 1
            if self.stopping is not None:
                raise RunStopping(self.stopping[0])
            self._orders += 1
            stream = old.stream if old is not None else ""
            ticket = Ticket(execution, stream, URGENT, order=self._orders)
            ticket.claimed = id(execution) in self._waited
            self._tickets[id(execution)] = ticket
            self._run(ticket)
            self._start_keeper()

    def claim(self, execution: QueryExecution) -> None:
        """The sync waits for `execution` now: the keeper leaves it alone from here on."""
        with self._lock:
            self._waited.add(id(execution))
            ticket = self._tickets.get(id(execution))
            if ticket is None:
                return
            while ticket.busy:  # a request of the keeper's for it is on its way
                self._lock.wait()
            ticket.claimed = True
            if ticket.state == "waiting":  # not submitted yet: the sync submits it (enter)
                del self._tickets[id(execution)]

    def leave(self, execution: QueryExecution) -> None:
        """`execution` finished, or will not be waited for any more: its slot is free."""
        with self._lock:
            self._waited.discard(id(execution))
            ticket = self._tickets.pop(id(execution), None)
            if ticket is not None and ticket.state == "running":
                self._timed(ticket)
            self._lock.notify_all()

    def expected_remaining(self, execution: QueryExecution) -> float | None:
        """Seconds until `execution` is expected to end, as this run's queries took."""
        with self._lock:
            ticket = self._tickets.get(id(execution))
            if ticket is None or ticket.state != "running" or not self.figures.durations:
                return None
            typical = statistics.median(self.figures.durations)
            return max(0.0, typical - (self._clock() - ticket.submitted))

    def drop(self, stream: str) -> list[QueryExecution]:
        """Forget `stream`'s queries; return those submitted, so they can be reported."""
        with self._lock:
            mine = [t for t in self._tickets.values() if t.stream == stream and not t.claimed]
            for ticket in mine:
                del self._tickets[id(ticket.execution)]
            self._lock.notify_all()
        return [t.execution for t in mine if t.state != "waiting"]

    def counts(self) -> tuple[int, int]:
        """Queries running at Supermetrics (holding a slot), and waiting here or there."""
        with self._lock:
            running = self._running()
            queued = sum(1 for t in self._tickets.values() if t.state == "waiting")
            queued += sum(1 for t in self._tickets.values() if t.last_status == "QUEUED")
        return running, queued

    def close(self) -> None:
        """Stop the keeper (the run is over)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # The keeper -----------------------------------------------------------------------

    def _start_keeper(self) -> None:
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="licence-queue", daemon=True)
            self._keeper.start()

    def _keep(self) -> None:
        """Submit waiting queries while slots are free; poll the idle running ones."""
        while True:
            with self._lock:
                if self._closed or self.stopping is not None:
                    return
                ticket, action = self._next_action()
                if ticket is None:
                    self._lock.wait(timeout=action)
                    continue
                if action == 0.0:  # a submission: it takes its slot before the request
                    self._run(ticket)
                ticket.busy = True
            try:
                if action == 0.0:
                    ticket.execution.submit(gated=False)
                    self._polled(ticket, ticket.execution.status)
                else:
                    self._polled(ticket, ticket.execution.check())
            except RunWideError as error:
                with self._lock:
                    ticket.busy = False
                    self.stopping = self.stopping or (ticket.stream, error)
                    self._lock.notify_all()
                return
            except SupermetricsError:  # the sync meets it again when it waits for the query
                self._polled(ticket, "ERROR")

    def _next_action(self) -> tuple[Ticket | None, float]:
        """The next ticket to submit (action 0) or poll (action 1); else how long to sleep."""
        now = self._clock()
        free = self.slots - self._running() - self._urgent_waiting
        waiting = [t for t in self._tickets.values() if t.state == "waiting" and not t.claimed]
        if free > 0 and waiting and not self._queued_at_supermetrics():
            return min(waiting, key=lambda t: (t.rank, t.order)), 0.0
        idle = [t for t in self._tickets.values() if t.state == "running" and not t.claimed]
        if not self.figures.durations and self._sync_polls():
            # Nothing timed yet, and the sync polls the query it waits for: when that one
            # ends, the others are polled as it took; until then, only now and then.
            idle = [t for t in idle if now - t.submitted >= self.max_interval * IDLE_BACKOFF]
        due = [t for t in idle if t.next_poll <= now]
        if due:
            return min(due, key=lambda t: t.next_poll), 1.0
        sleep = min((t.next_poll - now for t in idle), default=None)
        return None, 1.0 if sleep is None else max(0.01, min(sleep, 1.0))

    def _polled(self, ticket: Ticket, status: str) -> None:
        """Note a submission's or poll's answer; a finished query frees its slot."""
        with self._lock:
            ticket.busy = False
            self._lock.notify_all()
            self.figures.idle_polls += 1
            if id(ticket.execution) not in self._tickets or ticket.claimed:
                return
            ticket.last_status = status
            if status not in PENDING:
                ticket.state = "done"
                self._timed(ticket)
            else:
                ticket.next_poll = self._clock() + self._interval(ticket)
            self._lock.notify_all()

    def _interval(self, ticket: Ticket) -> float:
        """How long until an idle query is polled again.

        When queries of this run have been timed, the first poll comes when the typical
        one would end; after that, and before anything was timed, the waits grow from
        `first_interval` by half, up to a few times `max_poll_interval`.
        """
        age = self._clock() - ticket.submitted
        typical = statistics.median(self.figures.durations) if self.figures.durations else 0.0
        if age < typical:
            return typical - age
        overdue = age - typical
        return min(max(self.first_interval, overdue / 2), self.max_interval * IDLE_BACKOFF)

    def _run(self, ticket: Ticket) -> None:
        ticket.state = "running"
        ticket.submitted = self._clock()
        ticket.next_poll = ticket.submitted + self._interval(ticket)
        self.figures.submitted += 1
        self.figures.most_running = max(self.figures.most_running, self._running())

    def _timed(self, ticket: Ticket) -> None:
        """Learn how long a query took: from the answer's `run_seconds` when it says.

        Seen from here a query ends when a poll first sees it ended, up to a poll
        interval late; the API's own `run_seconds` is not, as long as the tap's queries
        do not wait in the licence's queue (then the time seen here is the better).
        """
        seen = self._clock() - ticket.submitted
        run_seconds = ticket.execution.run.run_seconds
        if run_seconds is not None and 0 < run_seconds < seen:
            seen = run_seconds
        self.figures.durations.append(seen)

    def _sync_polls(self) -> bool:
        """Whether the sync is polling a query it waits for."""
        return any(t.claimed and t.state == "running" for t in self._tickets.values())

    def _running(self) -> int:
        return sum(1 for t in self._tickets.values() if t.state == "running")

    def _queued_at_supermetrics(self) -> bool:
        return any(t.last_status in {"QUEUED", "SCHEDULED"} for t in self._tickets.values())

"""One request budget for the whole run, so that the tap slows itself before a 429 does.

Supermetrics documents about 20 requests per second per licence. Every request of a
run (submits, status polls, pages, prefetched pages, discovery) waits its turn here:
turns are spaced evenly at `max_requests_per_second`. When an answer carries
`X-RateLimit-Remaining`, a budget nearly spent holds every request back until the
limiter's window has passed, instead of spending the last ones and meeting a 429.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

#: Seconds a nearly spent `X-RateLimit-Remaining` holds requests back: the documented
#: limit is per second.
HOLD_SECONDS = 1.0
#: Share of `X-RateLimit-Limit` below which the remaining budget counts as nearly spent.
LOW_SHARE = 0.1


class RequestPacer:
    """Spaces requests evenly; thread-safe (pages are prefetched from a second thread)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Allow at most `per_second` requests a second (0 or less: no pacing)."""
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_turn = 0.0
        self.waited = 0.0

    def wait_turn(self) -> None:
        """Return when this request may be sent."""
        with self._lock:
            now = self._clock()
            turn = max(now, self._next_turn)
            self._next_turn = turn + self.interval
        delay = turn - now
        if delay > 0:
            self.waited += delay
            self._sleep(delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the API's own budget from an answer's headers, when it sends one."""
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        if remaining is None:
            return
        limit = _number(headers.get("X-RateLimit-Limit"))
        low = max(1.0, (limit or 0.0) * LOW_SHARE)
        if remaining <= low:
            with self._lock:
                self._next_turn = max(self._next_turn, self._clock() + HOLD_SECONDS)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


_PACERS: weakref.WeakKeyDictionary[Any, RequestPacer] = weakref.WeakKeyDictionary()


def pacer_for(tap: object, per_second: float) -> RequestPacer:
    """The run's one pacer: every stream (and discovery client) of `tap` shares it."""
    pacer = _PACERS.get(tap)
    if pacer is None:
        pacer = RequestPacer(per_second)
        _PACERS[tap] = pacer
    return pacer

"""Requests per wall-clock second: the rate limit, its headers, and the busiest second.

Supermetrics documents about 20 requests per second per licence, and answers with
`X-RateLimit-Limit` / `X-RateLimit-Remaining`. The meter counts API requests in the
current wall-clock second, refuses those over the configured limit, and remembers
the busiest second so that tests and benchmarks can check a client's pace.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """What the meter says about one request: refuse it or not, and the headers to send."""

    over: bool
    headers: dict[str, str] = field(default_factory=dict)


class RateMeter:
    """Counts requests per wall-clock second; not thread-safe (the emulator locks)."""

    def __init__(self) -> None:
        """Start with nothing counted."""
        self._second = -1
        self._count = 0
        self.peak = 0

    def note(self, now: float, limit: int) -> Verdict:
        """Count one request made at `now` (epoch seconds) against `limit` (0 = none)."""
        second = int(now)
        if second != self._second:
            self._second, self._count = second, 0
        self._count += 1
        self.peak = max(self.peak, self._count)
        if not limit:
            return Verdict(over=False)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - self._count)),
        }
        return Verdict(over=self._count > limit, headers=headers)

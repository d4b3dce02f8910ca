"""The checks of a stream's windows (reconciliation), kept beside the reading.

A window's check begins when its query is queued ahead (its totals query goes to the
licence's queue with it) or, failing that, when the window is taken; every part of the
window that loads is reported to it; once the whole window is in, the check gives its
records; a window that does not load abandons it. The check itself is `check/`'s, behind
the `WindowChecks` protocol, so reading never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryExecution
    from tap_supermetrics.plan.budget import StreamUsage
    from tap_supermetrics.plan.planner import PlannedQuery

CheckT = TypeVar("CheckT")


class WindowChecks(Protocol[CheckT]):
    """What checks a stream's windows as they load (reconciliation, `check/`).

    `start` begins the check of a planned window (None: not checked); each part that
    loads is reported to it; `finish` gives the check's records once the window is in,
    `abandon` drops it when the window does not load.
    """

    def plan(self, queries: Sequence[PlannedQuery], usage: StreamUsage, *, dry_run: bool) -> None:
        """Count and describe the checks the plan will cost."""
        ...

    def start(
        self, planned: PlannedQuery, submit: Callable[[QueryExecution], None] | None = None
    ) -> CheckT | None:
        """Begin checking `planned`; its queries go to `submit` (default: submitted now)."""
        ...

    def part_loaded(self, check: CheckT, part: PlannedQuery, execution: QueryExecution) -> None:
        """A part of the checked window loaded."""
        ...

    def abandon(self, check: CheckT) -> None:
        """The window did not load."""
        ...

    def finish(self, check: CheckT) -> list[dict[str, Any]]:
        """The window loaded: the check's records."""
        ...

    def summary(self) -> None:
        """The stream's windows are done."""
        ...


class ChecksOfWindows:
    """One stream's window checks: begun ahead or when taken, each finished once."""

    def __init__(self, checks: Callable[[], WindowChecks[Any] | None]) -> None:
        """Check with what `checks` gives (made when first needed; None: no checks)."""
        self._checks = checks
        #: Checks begun when their window was queued ahead (None: not checked).
        self._ahead: dict[PlannedQuery, Any] = {}
        #: The check of the window being read.
        self.current: Any = None

    def plan(self, to_send: Sequence[PlannedQuery], usage: StreamUsage, *, dry_run: bool) -> None:
        """Count the checks of the windows the run sends."""
        checks = self._checks()
        if checks is not None and to_send:
            checks.plan(to_send, usage, dry_run=dry_run)

    def queued_ahead(self, planned: PlannedQuery, queue: Callable[[QueryExecution], None]) -> None:
        """Begin `planned`'s check with its query queued ahead: its queries go with it."""
        checks = self._checks()
        if checks is not None and planned not in self._ahead:
            self._ahead[planned] = checks.start(planned, queue)

    def begin(self, taken: PlannedQuery, read: PlannedQuery) -> None:
        """The window `taken` is read now, as `read` (fewer accounts when some failed)."""
        began = taken in self._ahead
        ahead = self._ahead.pop(taken, None)
        checks = self._checks()
        if checks is None:
            return
        if read == taken and began:
            self.current = ahead
            return
        if ahead is not None:
            checks.abandon(ahead)  # it checked accounts that are not read
        self.current = checks.start(read)

    def part_loaded(self, part: PlannedQuery, execution: QueryExecution) -> None:
        """A part of the window being read loaded."""
        checks = self._checks()
        if checks is not None and self.current is not None:
            checks.part_loaded(self.current, part, execution)

    def finish(self) -> list[dict[str, Any]]:
        """The window being read is in: its check's records."""
        checks, current = self._checks(), self.current
        self.current = None
        if checks is None or current is None:
            return []
        return checks.finish(current)

    def abandon(self) -> None:
        """The window being read did not load."""
        checks, current = self._checks(), self.current
        self.current = None
        if checks is not None and current is not None:
            checks.abandon(current)

    def abandon_ahead(self) -> None:
        """Report the checks begun for windows that no read will use."""
        checks = self._checks()
        for check in self._ahead.values():
            if checks is not None and check is not None:
                checks.abandon(check)
        self._ahead.clear()

    def summary(self) -> None:
        """The stream's windows are done: the checks' summary."""
        checks = self._checks()
        if checks is not None:
            checks.summary()

"""What a stream has loaded in this run: windows into its coverage, coverage into STATE.

The other half of a stream's reads (`reads.py` plans them): after every window whose
rows were all emitted, its days are recorded for its accounts and the coverage is
written back into the stream's bookmark, so a STATE sent now says only what is loaded.
It also keeps what a window settles beyond its days: refresh tiers and re-reads whose
days are now all read, the last day loaded while it was still yesterday (`unsettled`),
(day, account) pairs whose totals did not reconcile, and accounts that failed.

Days after yesterday (UTC) are not complete: they may be read, but are never recorded as
loaded, so the next run reads them again whatever the lookback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.core.windows import DateWindow
from tap_supermetrics.plan.coverage import DaySet, bookmark_day
from tap_supermetrics.plan.planner import MISMATCH_PREFIX, StreamPlan


@dataclass
class LoadedDays:
    """Records one stream's finished windows, failures and mismatches as they happen."""

    plan: StreamPlan
    #: What coverage is kept for: each account, or all of them as one.
    keys: tuple[str, ...]
    #: The configured days that can be read now.
    wanted: DaySet
    #: The stream's state, written back in place.
    bookmark: MutableMapping[str, Any]
    date_field: str | None
    start_date: dt.date
    #: The last day whose rows can be complete: later days are never recorded loaded.
    last_complete_day: dt.date
    #: The as-of day refresh tiers count in.
    as_of: dt.date
    #: Under a row budget a due tier may be read in parts over several runs.
    budgeted: bool
    #: Days re-read in this run because their totals did not reconcile last time.
    mismatch_rereads: Mapping[str, DaySet]
    #: The days each account loaded in this run (refresh tiers and re-reads are done
    #: once theirs are all in).
    _read_now: dict[str, DaySet] = field(default_factory=dict, init=False)

    def window(
        self,
        accounts: Iterable[str],
        window: DateWindow | None,
        rows: Mapping[str, int] | None = None,
    ) -> None:
        """Record that all rows of `window` were emitted for `accounts` (`rows` of each)."""
        if window is None or self.date_field is None:
            return
        accounts = tuple(accounts)
        coverage = self.plan.coverage
        if rows is not None:
            for account in accounts:
                coverage.rows_read[account] = (rows.get(account, 0), window.days)
        for account in accounts:  # read again: a mismatch is re-read once
            if account in coverage.mismatched:
                coverage.mismatched[account] -= DaySet.of(window.start, window.end)
        complete = DaySet.of(window.start, min(window.end, self.last_complete_day))
        if complete:
            coverage.add(accounts, complete)
        else:
            for account in accounts:  # read this run: no longer failed, nothing complete yet
                coverage.failed.pop(account, None)
        for account in accounts:
            self._read_now[account] = self._read_now.get(account, DaySet()) | complete
        self._note_unsettled(accounts, complete)
        self._note_refreshes(accounts)
        self._write_back()

    def mismatched(self, account: str, day: dt.date) -> bool:
        """Record a (day, account) whose totals did not reconcile; False: not again.

        The next run reads it again, once: a day this run re-read for a mismatch is
        not queued a second time (its rows are what Supermetrics returned, twice).
        """
        if day in self.mismatch_rereads.get(account, DaySet()):
            return False
        mismatched = self.plan.coverage.mismatched
        mismatched[account] = mismatched.get(account, DaySet()) | DaySet.of(day, day)
        self._write_back()
        return True

    def failed(self, accounts: Iterable[str], code: str) -> None:
        """Record accounts that failed: their coverage stays, the next run reads them."""
        if self.date_field is None:
            return
        for account in accounts:
            self.plan.coverage.failed[account] = code
        self._write_back()

    def _note_unsettled(self, accounts: Iterable[str], complete: DaySet) -> None:
        """Yesterday loaded is unsettled until read again once final; a final read settles it.

        The last complete day may still have been running in the account's time zone
        (and its currency conversion used a rate not yet the closing one): it is read
        again by the first run after it, and then no more, so a past `end_date` whose days
        are all final reads nothing.
        """
        unsettled = self.plan.coverage.unsettled
        for account in accounts:
            day = unsettled.get(account)
            if day is not None and day in complete and day < self.last_complete_day:
                del unsettled[account]
            if self.last_complete_day in complete:
                unsettled[account] = self.last_complete_day

    def _note_refreshes(self, accounts: Iterable[str]) -> None:
        """Record the refresh tiers and re-reads whose days are now all read in this run."""
        coverage = self.plan.coverage
        for account in accounts:
            read = self._read_now[account]
            progress = coverage.refreshing.setdefault(account, {})
            for tier, span in self.plan.due.get(account, ()):
                so_far = (progress.get(tier.key, DaySet()) | read) & span
                if span - so_far:
                    if self.budgeted:  # the budget cut it: keep what was read for next runs
                        progress[tier.key] = so_far
                    continue
                coverage.refreshed.setdefault(account, {})[tier.key] = self.as_of.isoformat()
                progress.pop(tier.key, None)
        for item in self.plan.rereads:
            if item.digest in coverage.rereads or item.digest.startswith(MISMATCH_PREFIX):
                continue
            wanted = item.days & self.wanted
            done = all(
                not (wanted - self._read_now.get(account, DaySet()))
                for account in self.keys
                if item.covers(account)
            )
            if done:
                coverage.rereads.append(item.digest)

    def _write_back(self) -> None:
        self.bookmark["replication_key"] = self.date_field
        self.bookmark["coverage"] = self.plan.coverage.to_json()
        day = bookmark_day(self.plan.coverage, self.keys, self.start_date)
        if day is None:
            self.bookmark.pop("replication_key_value", None)
        else:
            self.bookmark["replication_key_value"] = day

"""What a stream has loaded: per account, the days whose rows were all emitted.

This is the stream's incremental state. It lives in the stream's Singer bookmark as
plain JSON (readable with `meltano state get`):

    {"replication_key": "Date", "replication_key_value": "2024-01-31",
     "coverage": {"fingerprint": {"ds_id": "…", "fields": "…"},
                  "accounts": {"111-111-1111": [["2024-01-01", "2024-01-31"]]},
                  "failed": {"222-222-2222": "ACCOUNT_ACCESS_DENIED"}}}

Ranges, not days, keep it small. `fingerprint` holds a short digest of every query
parameter that shapes the rows, so a changed query is noticed and read again.
`refreshed_by` says, per account, the as-of day each refresh tier last ran, in the shared
form of `shared_values.py` (`{"all": {"30/7": "2024-01-28"}, "except": {}}`; `refreshed`,
the map per account that releases before it wrote, is still read); `rereads` the
requested re-reads already done (short digests); `rows_read` the rows and days of each
account's last complete read (`{"111-111-1111": [37500, 30]}`: 1,250 rows a day), which
size its next windows and estimate their cost (`sizing.py`); whole numbers, because a
Singer target reads state numbers as Decimal and cannot write a fraction back.
`unsettled` (shared form too) holds, per account, the last day loaded while it was
yesterday (UTC) or later, read again once when it is final; `refreshing`, per account and
tier, the days a row budget let a due tier read so far. All of these are keys next to
the others, which earlier releases ignore.
`replication_key_value` is kept for people and older releases: the last day up to
which every configured account is loaded without a gap from `start_date`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tap_supermetrics.plan.shared_values import shared, unshared

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class DayRange:
    """An inclusive range of days."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        """`2024-01-01..2024-01-31`."""
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


class DaySet:
    """A set of days kept as sorted, disjoint, non-adjacent ranges."""

    __slots__ = ("ranges",)

    def __init__(self, ranges: Iterable[DayRange] = ()) -> None:
        """Normalise `ranges`: sort them and merge overlapping or touching ones."""
        merged: list[DayRange] = []
        for item in sorted(ranges):
            if merged and item.start <= merged[-1].end + ONE_DAY:
                if item.end > merged[-1].end:
                    merged[-1] = DayRange(merged[-1].start, item.end)
            else:
                merged.append(item)
        self.ranges: tuple[DayRange, ...] = tuple(merged)

    @classmethod
    def of(cls, start: dt.date, end: dt.date) -> DaySet:
        """The days start..end (empty when end < start)."""
        return cls([DayRange(start, end)] if start <= end else [])

    def __bool__(self) -> bool:
        """Whether any day is in the set."""
        return bool(self.ranges)

    def __eq__(self, other: object) -> bool:
        """Equal when they hold the same days."""
        return isinstance(other, DaySet) and self.ranges == other.ranges

    def __hash__(self) -> int:
        """Hash by the days held, so that equal plans can be grouped."""
        return hash(self.ranges)

    def __iter__(self) -> Iterator[DayRange]:
        """The ranges, in order."""
        return iter(self.ranges)

    def __repr__(self) -> str:
        """`DaySet(2024-01-01..2024-01-31, …)`."""
        return f"DaySet({', '.join(map(str, self.ranges))})"

    def __contains__(self, day: object) -> bool:
        """Whether a day is in the set."""
        return isinstance(day, dt.date) and any(r.start <= day <= r.end for r in self.ranges)

    def __or__(self, other: DaySet) -> DaySet:
        """The days in either set."""
        return DaySet([*self.ranges, *other.ranges])

    def __and__(self, other: DaySet) -> DaySet:
        """The days in both sets."""
        result: list[DayRange] = []
        for mine in self.ranges:
            for theirs in other.ranges:
                start, end = max(mine.start, theirs.start), min(mine.end, theirs.end)
                if start <= end:
                    result.append(DayRange(start, end))
        return DaySet(result)

    def __sub__(self, other: DaySet) -> DaySet:
        """The days in this set and not in `other`."""
        result: list[DayRange] = []
        for mine in self.ranges:
            pieces = [mine]
            for theirs in other.ranges:
                next_pieces: list[DayRange] = []
                for piece in pieces:
                    if theirs.end < piece.start or theirs.start > piece.end:
                        next_pieces.append(piece)
                        continue
                    if theirs.start > piece.start:
                        next_pieces.append(DayRange(piece.start, theirs.start - ONE_DAY))
                    if theirs.end < piece.end:
                        next_pieces.append(DayRange(theirs.end + ONE_DAY, piece.end))
                pieces = next_pieces
            result.extend(pieces)
        return DaySet(result)

    @property
    def first(self) -> dt.date | None:
        """The earliest day, if any."""
        return self.ranges[0].start if self.ranges else None

    @property
    def last(self) -> dt.date | None:
        """The latest day, if any."""
        return self.ranges[-1].end if self.ranges else None

    def covered_through(self, start: dt.date) -> dt.date | None:
        """The last day of the gap-free run of days that begins at `start`, if any."""
        for item in self.ranges:
            if item.start <= start <= item.end:
                return item.end
        return None

    def to_json(self) -> list[list[str]]:
        """`[["2024-01-01", "2024-01-31"], …]`."""
        return [[item.start.isoformat(), item.end.isoformat()] for item in self.ranges]

    @classmethod
    def from_json(cls, value: object) -> DaySet:
        """Read `to_json`'s form; anything malformed raises ValueError."""
        if not isinstance(value, list):
            msg = f"day ranges must be a list, got {type(value).__name__}"
            raise TypeError(msg)
        ranges = []
        for item in value:
            if not (isinstance(item, list) and len(item) == 2):  # noqa: PLR2004 - a pair
                msg = f"a day range must be [first, last], got {item!r}"
                raise ValueError(msg)
            start, end = (dt.date.fromisoformat(str(day)[:10]) for day in item)
            if end < start:
                msg = f"a day range ends before it starts: {item!r}"
                raise ValueError(msg)
            ranges.append(DayRange(start, end))
        return cls(ranges)


@dataclass
class Coverage:
    """One stream's coverage: fingerprint, days loaded per account, failed accounts."""

    fingerprint: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, DaySet] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    #: Whether the stream had any state at all (a first run has none).
    known: bool = False
    #: Per account, per refresh tier (`30/7`), the as-of day it last ran.
    refreshed: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Digests of the requested re-reads already done.
    rereads: list[str] = field(default_factory=list)
    #: Per account, the rows and days of its last complete read.
    rows_read: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Per account, days whose totals did not reconcile: the next run reads them again.
    mismatched: dict[str, DaySet] = field(default_factory=dict)
    #: Per account, the last day loaded while it was yesterday (UTC) or later: it may
    #: still have been running in the account's time zone, so it is read again once.
    unsettled: dict[str, dt.date] = field(default_factory=dict)
    #: Per account, per refresh tier, the days read toward the tier's next completion
    #: when a row budget let only part of it be read in one run.
    refreshing: dict[str, dict[str, DaySet]] = field(default_factory=dict)

    @property
    def rows_per_day(self) -> dict[str, float]:
        """Per account, the rows per day its last complete read returned."""
        return {account: rows / days for account, (rows, days) in self.rows_read.items()}

    def loaded(self, account: str) -> DaySet:
        """The days loaded for `account` (empty for an account never read)."""
        return self.accounts.get(account, DaySet())

    def add(self, accounts: Iterable[str], days: DaySet) -> None:
        """Record that every row of `days` was emitted for `accounts`."""
        for account in accounts:
            self.accounts[account] = self.loaded(account) | days
            self.failed.pop(account, None)

    def to_json(self) -> dict[str, Any]:
        """The `coverage` object of the bookmark."""
        return {
            "fingerprint": dict(sorted(self.fingerprint.items())),
            "accounts": {
                account: days.to_json() for account, days in sorted(self.accounts.items())
            },
            "failed": dict(sorted(self.failed.items())),
            "refreshed_by": shared(
                {account: tiers for account, tiers in self.refreshed.items() if tiers},
                self.accounts,
                lambda tiers: dict(sorted(tiers.items())),
            ),
            "rereads": sorted(self.rereads),
            "rows_read": {
                account: [rows, days] for account, (rows, days) in sorted(self.rows_read.items())
            },
            "mismatched": {
                account: days.to_json() for account, days in sorted(self.mismatched.items()) if days
            },
            "unsettled": shared(self.unsettled, self.accounts, dt.date.isoformat),
            "refreshing": {
                account: {tier: days.to_json() for tier, days in sorted(tiers.items()) if days}
                for account, tiers in sorted(self.refreshing.items())
                if any(tiers.values())
            },
        }


def read_coverage(
    bookmark: Mapping[str, Any],
    *,
    replication_key: str | None,
    start_date: dt.date,
    accounts: Iterable[str],
    fingerprint: Mapping[str, str],
) -> Coverage:
    """Read a stream's bookmark into a Coverage.

    A bookmark written by the first release (only `replication_key_value`) reads as
    "every account configured now was loaded from `start_date` to that day", with
    today's fingerprint: that release read exactly that.
    """
    stored = bookmark.get("coverage")
    if isinstance(stored, dict):
        loaded = {
            str(account): DaySet.from_json(days)
            for account, days in (stored.get("accounts") or {}).items()
        }
        return Coverage(
            fingerprint={str(k): str(v) for k, v in (stored.get("fingerprint") or {}).items()},
            accounts=loaded,
            failed={str(k): str(v) for k, v in (stored.get("failed") or {}).items()},
            known=True,
            refreshed=_refreshed(stored, loaded),
            rereads=[str(item) for item in stored.get("rereads") or []],
            rows_read=_rows_read(stored.get("rows_read")),
            mismatched={
                str(account): DaySet.from_json(days)
                for account, days in (stored.get("mismatched") or {}).items()
            },
            unsettled=_unsettled(stored, loaded),
            refreshing={
                str(account): {str(tier): DaySet.from_json(days) for tier, days in tiers.items()}
                for account, tiers in (stored.get("refreshing") or {}).items()
                if isinstance(tiers, dict)
            },
        )
    value = bookmark.get("replication_key_value")
    if value in (None, "") or bookmark.get("replication_key") != replication_key:
        return Coverage()
    last = dt.date.fromisoformat(str(value)[:10])
    days = DaySet.of(start_date, last)
    return Coverage(
        fingerprint=dict(fingerprint),
        accounts=dict.fromkeys(accounts, days),
        known=True,
        unsettled=dict.fromkeys(accounts, last),
    )


def _refreshed(
    stored: Mapping[str, Any], loaded: Mapping[str, DaySet]
) -> dict[str, dict[str, str]]:
    """`refreshed_by` (the shared form), or `refreshed` as releases before it wrote it."""
    if "refreshed_by" in stored:
        return unshared(
            stored["refreshed_by"],
            loaded,
            lambda tiers: {str(k): str(v) for k, v in dict(tiers).items()},
        )
    return {
        str(account): {str(k): str(v) for k, v in tiers.items()}
        for account, tiers in (stored.get("refreshed") or {}).items()
        if isinstance(tiers, dict)
    }


def _unsettled(stored: Mapping[str, Any], loaded: Mapping[str, DaySet]) -> dict[str, dt.date]:
    """`unsettled` as stored (the shared form, or a plain map per account).

    A state written before the key existed reads each account's last loaded day as
    unsettled: it is read again once, as that release did on every run.
    """
    value = stored.get("unsettled")
    if isinstance(value, dict) and "except" in value:
        return unshared(value, loaded, lambda day: dt.date.fromisoformat(str(day)[:10]))
    if isinstance(value, dict):
        return {
            str(account): dt.date.fromisoformat(str(day)[:10]) for account, day in value.items()
        }
    last_days = {account: days.last for account, days in loaded.items()}
    return {account: day for account, day in last_days.items() if day is not None}


def _rows_read(value: object) -> dict[str, tuple[int, int]]:
    """`rows_read` as stored; an entry that is not [rows, days] is dropped (re-learned)."""
    if not isinstance(value, dict):
        return {}
    read: dict[str, tuple[int, int]] = {}
    for account, entry in value.items():
        if isinstance(entry, list) and len(entry) == 2:  # noqa: PLR2004 - a pair
            rows, days = (int(item) if isinstance(item, (int, Decimal)) else -1 for item in entry)
            if rows >= 0 and days > 0:
                read[str(account)] = (rows, days)
    return read


def bookmark_day(coverage: Coverage, accounts: Iterable[str], start_date: dt.date) -> str | None:
    """The day through which every account in `accounts` is loaded from `start_date`."""
    through = [coverage.loaded(account).covered_through(start_date) for account in accounts]
    if not through or None in through:
        return None
    return min(day for day in through if day is not None).isoformat()

"""The licence: what Supermetrics' fair-usage policy and order form let one licence do.

A real licence refuses a query with a documented error once it is over its terms: rows
returned this month (403 `LICENSE_ROW_LIMIT_EXCEEDED`), queries today (429
`LICENSE_DAILY_QUERY_LIMIT_EXCEEDED`, a daily quota that no retry within the run
lifts), how far back a query reaches (403 `LICENSE_HISTORICAL_RANGE_EXCEEDED`), how
many distinct accounts it reads (403 `LICENSE_ACCOUNT_LIMIT_EXCEEDED`), or because it
expired or was suspended (403 `LICENSE_EXPIRED` / `LICENSE_QUERIES_SUSPENDED`). The
terms are settings (0 = off); this module keeps the counts, which only
`POST /_emulator/reset` forgets. Only new submits are refused: a query already
submitted can still be paged, as the terms meter queries, not reads.

Days and months are UTC calendar ones, on the real clock: the emulator has no clock
setting, so a test that needs days to pass moves the tap's "today" instead.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable

from supermetrics_emulator.settings import EmulatorSettings
from supermetrics_emulator.validation import ApiError, QuerySpec


def _utc_now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


class Licence:
    """Counts of what the licence has done, and the checks a new submit has to pass."""

    def __init__(self, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        """Start with nothing counted; `clock` gives the current UTC time."""
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: Counter[str] = Counter()  # by month, "YYYY-MM"
        self._queries: Counter[dt.date] = Counter()  # by day
        self._accounts: set[tuple[str, str]] = set()  # (ds_id, account id)

    def clear(self) -> None:
        """Forget every count (`POST /_emulator/reset`)."""
        with self._lock:
            self._rows.clear()
            self._queries.clear()
            self._accounts.clear()

    def check_active(self, settings: EmulatorSettings) -> None:
        """Refuse every submit while the licence is expired or suspended.

        Checked before the query itself: a licence that cannot run queries says so
        whatever the query asks.

        Raises:
            ApiError: 403 `LICENSE_EXPIRED` or `LICENSE_QUERIES_SUSPENDED`.
        """
        if settings.licence_state == "expired":
            raise ApiError(
                403, "LICENSE_EXPIRED", "The licence has expired", "Renew it to run queries."
            )
        if settings.licence_state == "suspended":
            raise ApiError(
                403,
                "LICENSE_QUERIES_SUSPENDED",
                "Queries are suspended for this licence",
                "No query runs until the suspension is lifted.",
            )

    def admit(self, settings: EmulatorSettings, spec: QuerySpec) -> None:
        """Check a valid new query against the licence's terms, then count it.

        Checked in this order: queries today, history, rows this month, accounts. The
        check and the count happen under one lock, so that two submits at once cannot
        both take the last query or account the licence allows.

        Raises:
            ApiError: the documented 429 or 403 of the first term the query breaks.
        """
        now = self._clock()
        today = now.date()
        accounts = {(spec.source.ds_id, account) for account in spec.accounts}
        with self._lock:
            _check_daily(settings.licence_daily_queries, self._queries[today])
            _check_history(settings.licence_history_days, spec.start, today)
            _check_rows(settings.licence_rows_per_month, self._rows[_month(now)])
            _check_accounts(settings.licence_max_accounts, self._accounts, accounts)
            self._queries[today] += 1
            self._accounts |= accounts

    def note_rows(self, count: int) -> None:
        """Count data rows returned in a page (the header row is not a result row)."""
        with self._lock:
            self._rows[_month(self._clock())] += count

    def describe(self) -> dict[str, int]:
        """The counts for `/_emulator/stats`: this month's rows, today's queries, accounts."""
        now = self._clock()
        with self._lock:
            return {
                "rows_this_month": self._rows[_month(now)],
                "queries_today": self._queries[now.date()],
                "accounts_seen": len(self._accounts),
            }


def _month(moment: dt.datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def _check_daily(limit: int, used: int) -> None:
    if limit and used >= limit:
        raise ApiError(
            429,
            "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED",
            f"Daily query limit of {limit:,} queries exceeded",
            "The count starts again at 00:00 UTC: retrying sooner does not help.",
        )


def _check_history(days: int, start: dt.date, today: dt.date) -> None:
    reach = (today - start).days
    if days and reach > days:
        raise ApiError(
            403,
            "LICENSE_HISTORICAL_RANGE_EXCEEDED",
            f"Historical range of {days:,} days exceeded: start_date {start} is {reach:,} days ago",
            f"The licence reads data from at most {days:,} days before today (UTC).",
        )


def _check_rows(limit: int, used: int) -> None:
    if limit and used >= limit:
        raise ApiError(
            403,
            "LICENSE_ROW_LIMIT_EXCEEDED",
            f"Monthly row limit of {limit:,} rows exceeded",
            f"{used:,} rows were returned this month (UTC); the count starts again on the "
            "1st. Queries already submitted can still be read.",
        )


def _check_accounts(limit: int, seen: set[tuple[str, str]], wanted: set[tuple[str, str]]) -> None:
    after = len(seen | wanted)
    if limit and after > limit:
        raise ApiError(
            403,
            "LICENSE_ACCOUNT_LIMIT_EXCEEDED",
            f"Licence account limit of {limit:,} accounts exceeded: this query would make "
            f"it {after:,}",
            f"The licence has read {len(seen):,} distinct accounts so far.",
        )

"""Fitting a query to the rows a run has left: fewer days first, then fewer accounts.

With `max_rows_per_run`, a query whose estimate is larger than what the budget has left
is not deferred whole: a window larger than the budget would then never be read, run
after run. It is cut to the days that fit: the oldest first for new days (coverage grows
on from the last loaded day), the newest first for refreshes and backfill (backfill
grows back from the newest day, as the budget ranks it). When not even one day of all
its accounts fits, it is cut to the accounts whose day fits. What does not fit is
deferred to later runs. When not even one day of one account fits (of the whole query,
when its rows are summed over its accounts or it reads an opaque team list), nothing of
it can be read: `Fit.unit` says how many rows the budget must leave for it.

Pure: the rows come from the rates earlier reads returned (`sizing.RowRates`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

from tap_supermetrics.core.accounts import TEAM_LIST_PREFIX
from tap_supermetrics.core.windows import DateWindow
from tap_supermetrics.plan.planner import ALL_ACCOUNTS, PlannedQuery
from tap_supermetrics.plan.sizing import RowRates

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Fit:
    """What of a query is read now, what is left to later runs."""

    #: The part read now (the query itself when it fits; None: nothing fits).
    now: PlannedQuery | None
    #: The parts deferred to later runs.
    later: tuple[PlannedQuery, ...] = ()
    #: When nothing fits: the rows of the smallest part that could be read on its own.
    unit: int | None = None


def fit(planned: PlannedQuery, left: int, rates: RowRates, room: int | None = None) -> Fit:
    """Cut `planned` to what `left` rows allow, by days, then by accounts.

    `room` is the most rows the query's class could have in a run (the budget less what
    is ranked before it): a day of all its accounts that fits there is not cut by
    accounts just because little is left now (its accounts would drift apart and need
    more queries ever after); it waits for the next run. A query without an estimate
    (its stream was never read) or without a window is returned whole: there is nothing
    to cut it by.
    """
    estimate = rates.estimate(planned.accounts, planned.window)
    window = planned.window
    if estimate is None or window is None or estimate <= left:
        return Fit(planned)
    per_day = sum(rates.daily(account) or 0.0 for account in planned.accounts)
    days = _days_within(per_day, left, window.days)
    newest_first = planned.backfill or planned.refresh
    if days:
        now, rest = _cut(window, days, newest_first=newest_first)
        return Fit(
            _part(planned, now, planned.accounts, per_day),
            (_part(planned, rest, planned.accounts, per_day),),
        )
    day = _cut(window, 1, newest_first=newest_first)[0]
    whole_day = math.ceil(per_day)
    if not _splittable(planned.accounts) or (room is not None and whole_day <= room):
        return Fit(None, (planned,), whole_day)
    chosen: list[str] = []
    load = 0.0
    for account in planned.accounts:
        rate = rates.daily(account) or 0.0
        if math.ceil(load + rate) <= left:
            chosen.append(account)
            load += rate
    if not chosen:
        cheapest = min(rates.daily(account) or 0.0 for account in planned.accounts)
        return Fit(None, (planned,), math.ceil(cheapest))
    others = tuple(account for account in planned.accounts if account not in chosen)
    later = [_part(planned, day, others, per_day - load)]
    if window.days > 1:
        later.append(_part(planned, _cut(window, 1, newest_first=newest_first)[1], None, per_day))
    return Fit(_part(planned, day, tuple(chosen), load), tuple(later))


def _days_within(per_day: float, left: int, most: int) -> int:
    """The most days (up to `most`) whose rows stay within `left`."""
    if per_day <= 0:
        return most
    days = min(most, math.floor(left / per_day))
    while days > 0 and math.ceil(per_day * days) > left:
        days -= 1
    return max(days, 0)


def _cut(window: DateWindow, days: int, *, newest_first: bool) -> tuple[DateWindow, DateWindow]:
    """`days` days of `window` (its newest or its oldest), and the rest of it."""
    if newest_first:
        start = window.end - dt.timedelta(days=days - 1)
        return DateWindow(start, window.end), DateWindow(window.start, start - ONE_DAY)
    end = window.start + dt.timedelta(days=days - 1)
    return DateWindow(window.start, end), DateWindow(end + ONE_DAY, window.end)


def _part(
    planned: PlannedQuery, window: DateWindow, accounts: tuple[str, ...] | None, per_day: float
) -> PlannedQuery:
    """A part of `planned`: its own days (and accounts), and its own estimate."""
    return dataclasses.replace(
        planned,
        window=window,
        accounts=planned.accounts if accounts is None else accounts,
        estimate=math.ceil(per_day * window.days),
    )


def _splittable(accounts: tuple[str, ...]) -> bool:
    """Whether the accounts can go out apart (not summed, not an opaque team list)."""
    return len(accounts) > 1 and not any(
        account == ALL_ACCOUNTS or account.startswith(TEAM_LIST_PREFIX) for account in accounts
    )

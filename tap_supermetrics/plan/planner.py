"""What to read this run: config + coverage + as-of day → the Supermetrics queries.

Pure: no HTTP, no SDK. For every account, the days wanted (`start_date`..`end_date`)
minus the days loaded, plus the last loaded day while it is unsettled (it was loaded
while it was yesterday or later, and is read again once it is final), plus the days of
each refresh tier
that is due (`refresh.py`; `lookback_days` is one tier read every as-of day), plus
requested re-reads not yet done, split into windows of `window_days`. Accounts with the
same days to read share one query, so a steady daily run sends one query per window
whatever the number of accounts, while an added account (or one that failed last time)
is read on its own from where it stands. A changed query (dimensions, an added metric,
filter, …) starts the stream over from `start_date`; a removed (or deselected) metric
does not: the other columns' rows are unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.core.limits import Limits
from tap_supermetrics.core.windows import DateWindow, split
from tap_supermetrics.plan.coverage import Coverage, DaySet
from tap_supermetrics.plan.refresh import Tier, lookback
from tap_supermetrics.plan.sizing import RowRates, account_groups, window_length

#: Planning without settings: the API's own limits and no budget.
NO_LIMITS = Limits()

#: The account key of a query whose rows do not carry an account dimension: its rows
#: are sums over all its accounts, so they are loaded (and re-read) as one.
ALL_ACCOUNTS = "*"

#: Query parameters that shape the rows (dates and accounts are planned separately;
#: `fields` is split into the dimensions and one entry per metric).
SHAPING_PARAMETERS = (
    "ds_id",
    "filter",
    "ds_segments",
    "settings",
    "ds_user",
    "ds_users",
    "order_rows",
    "order_columns",
    "max_rows",
)

FIRST_RUN = "first run"
NEW_ACCOUNT = "new account"
QUERY_CHANGED = "query changed"
EARLIER_START = "earlier start_date"
NEW_DAYS = "new days"
RESUME = "resume after failure"
GAP = "missing days"
LOOKBACK = "lookback"
LAST_LOADED_DAY = "last loaded day"
REREAD = "requested re-read"
#: A window's totals query (`check/`), and a day re-read because its totals did not match.
RECONCILIATION = "reconciliation"
MISMATCH = "reconciliation mismatch"


@dataclass(frozen=True)
class Reread:
    """A re-read asked for in the settings: these days of these accounts, once."""

    days: DaySet
    #: None: every account of the stream.
    accounts: tuple[str, ...] | None
    #: Names the request in the state once it is done.
    digest: str
    #: Why its days are read (a mismatch of totals has its own reason).
    reason: str = "requested re-read"

    def covers(self, account: str) -> bool:
        """Whether the re-read is about `account`."""
        # Rows summed over the accounts (`*`) hold every account's values.
        return self.accounts is None or account in self.accounts or account == ALL_ACCOUNTS


@dataclass(frozen=True)
class PlannedQuery:
    """One Supermetrics query to send: a date window for a group of accounts."""

    window: DateWindow | None
    accounts: tuple[str, ...]
    reason: str
    #: Rows expected, from earlier reads (None: nothing of the stream read yet).
    estimate: int | None = None
    #: Days never loaded before the accounts' last loaded day (or any day of an account
    #: never loaded): with a row budget they come after every stream's new days.
    backfill: bool = False
    #: Days loaded already, read again (refresh tiers, the unsettled day, re-reads): with
    #: a row budget they come after every stream's new days, before any backfill.
    refresh: bool = False

    def describe(self) -> str:
        """`2024-01-01..2024-01-31, 2 accounts (new account)` for logs and the dry run."""
        window = str(self.window) if self.window else "as configured"
        if self.accounts == (ALL_ACCOUNTS,) or not self.accounts:
            who = "all accounts"
        elif len(self.accounts) <= 3:  # noqa: PLR2004 - short lists are named
            who = ", ".join(self.accounts)
        else:
            who = f"{len(self.accounts)} accounts"
        return f"{window} for {who} ({self.reason})"


@dataclass(frozen=True)
class StreamPlan:
    """A stream's queries for this run, and the coverage they start from."""

    queries: tuple[PlannedQuery, ...]
    coverage: Coverage
    #: Set when the query changed since the coverage was written: says what changed.
    changed: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Per account, the refresh tiers this run reads, with their days.
    due: dict[str, tuple[tuple[Tier, DaySet], ...]] = field(default_factory=dict)
    #: The requested re-reads this run reads.
    rereads: tuple[Reread, ...] = ()


#: Fingerprint entries of single metrics are named `metric:<field id>`.
METRIC_PREFIX = "metric:"
#: The entry of earlier releases: all fields as one digest.
LEGACY_FIELDS = "fields"


def fingerprint(
    params: Mapping[str, Any],
    summed_accounts: Sequence[str] | None,
    metrics: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """A short digest of each parameter that shapes the rows, by name.

    Field order does not change the rows, so the dimensions are compared as a set,
    and each metric of `metrics` has an entry of its own: a metric that goes away
    changes no other column, one that comes is missing from every loaded day. For a
    query whose rows are summed over its accounts the account list shapes the rows too.
    """
    parts: dict[str, Any] = {
        name: params[name] for name in SHAPING_PARAMETERS if params.get(name) is not None
    }
    fields = list(params.get("fields") or [])
    parts["dimensions"] = sorted(name for name in fields if name not in metrics)
    if summed_accounts is not None:
        parts["accounts"] = sorted(summed_accounts)
    digests = {name: _digest(value) for name, value in parts.items()}
    digests.update({METRIC_PREFIX + name: _digest(name) for name in fields if name in metrics})
    return digests


def upgrade_fingerprint(
    stored: Mapping[str, str], current: Mapping[str, str], fields: Sequence[str]
) -> dict[str, str]:
    """Read a fingerprint of an earlier release (all fields as one digest) in today's form.

    When the stored digest is that of today's fields, the query did not change: today's
    field entries stand in for it. Otherwise it stays as it was and reads as changed.
    """
    if LEGACY_FIELDS not in stored or stored[LEGACY_FIELDS] != _digest(sorted(fields)):
        return dict(stored)
    upgraded = {name: value for name, value in stored.items() if name != LEGACY_FIELDS}
    upgraded.update(
        {
            name: value
            for name, value in current.items()
            if name == "dimensions" or name.startswith(METRIC_PREFIX)
        }
    )
    return upgraded


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def changed_parts(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The shaping parameters whose digest differs (added or removed too), by name.

    A metric that went away is no change: the rows of the other columns stay as read.
    """
    return sorted(
        name
        for name in set(old) | set(new)
        if old.get(name) != new.get(name)
        and not (name.startswith(METRIC_PREFIX) and name not in new)
    )


def _parameter_of(part: str) -> str:
    """The query parameter a fingerprint entry stands for (`fields` for their parts)."""
    return LEGACY_FIELDS if part == "dimensions" or part.startswith(METRIC_PREFIX) else part


def plan_stream(  # noqa: PLR0913 - each input is one independent fact
    *,
    wanted: DaySet,
    accounts: Sequence[str],
    coverage: Coverage,
    current_fingerprint: Mapping[str, str],
    window_days: int,
    lookback_days: int | None = None,
    tiers: Sequence[Tier] | None = None,
    as_of: dt.date | None = None,
    rereads: Sequence[Reread] = (),
    limits: Limits = NO_LIMITS,
    budgeted: bool = False,
) -> StreamPlan:
    """Plan a date-incremental stream's reads.

    `tiers` (or the `lookback_days` shorthand) say which loaded days to read again;
    `as_of` is the query's as-of day (default: the last day wanted). Windows are sized
    within `limits` from the coverage's rows per day (`sizing.py`). `budgeted` (a row
    budget is set) plans backfill apart from new days and refreshes, newest first.
    """
    tiers = tuple(tiers) if tiers is not None else lookback(lookback_days or 0)
    as_of = as_of or wanted.last or dt.date.min
    changed = None
    if coverage.known and changed_parts(coverage.fingerprint, current_fingerprint):
        parts = changed_parts(coverage.fingerprint, current_fingerprint)
        named = dict.fromkeys(_parameter_of(part) for part in parts)
        changed = f"the query's {', '.join(named)} changed since the last run"
        coverage = Coverage(failed=dict(coverage.failed), known=True)
    coverage.fingerprint = dict(current_fingerprint)
    pending = tuple(item for item in rereads if item.digest not in coverage.rereads)
    groups: dict[tuple[DaySet, str], list[str]] = {}
    reasons: dict[tuple[DaySet, str], set[str]] = {}
    due: dict[str, tuple[tuple[Tier, DaySet], ...]] = {}
    for account in accounts:
        days, why, due[account] = _account_reads(account, wanted, coverage, tiers, as_of)
        for item in pending:
            extra = item.days & wanted if item.covers(account) else DaySet()
            if extra - days:
                why.add(item.reason)
            days |= extra
        if changed and days:
            why = {QUERY_CHANGED}
        for kind, part_days in _classes(account, days, coverage, changed, budgeted=budgeted):
            if part_days:
                groups.setdefault((part_days, kind), []).append(account)
                reasons.setdefault((part_days, kind), set()).update(why)
    rates = RowRates(coverage.rows_per_day)
    queries = [
        PlannedQuery(
            window,
            group,
            _reason(reasons[key], key[1]),
            estimate,
            backfill=key[1] == BACKFILL,
            refresh=key[1] == REFRESH,
        )
        for key, members in groups.items()
        for group in account_groups(members, rates, limits)
        for window, estimate in _windows(key[0], group, rates, limits, window_days)
    ]
    queries.sort(key=_budgeted_order if budgeted else _date_order)
    return StreamPlan(tuple(queries), coverage, changed, due=due, rereads=pending)


def _windows(
    days: DaySet, group: Sequence[str], rates: RowRates, limits: Limits, window_days: int
) -> list[tuple[DateWindow, int | None]]:
    """The group's windows over `days`, sized to fit, each with its estimated rows."""
    length = window_length(group, rates, limits, window_days)
    return [
        (window, rates.estimate(group, window))
        for item in days
        for window in split(item.start, item.end, length)
    ]


def _backfill_days(account: str, days: DaySet, coverage: Coverage, *, changed: bool) -> DaySet:
    """The days of `days` that are backfill: never loaded, and older than the newest loaded.

    An account never loaded (or a query that changed) has only backfill: its newest days
    come first under a budget anyway, because backfill is read newest first.
    """
    loaded = DaySet() if changed else coverage.loaded(account)
    if loaded.last is None:
        return days
    return (days - loaded) & DaySet.of(dt.date.min, loaded.last)


#: The classes of days a budgeted plan keeps apart, in the order a row budget serves them.
ALL_DAYS, NEW, REFRESH, BACKFILL = "all", "new", "refresh", "backfill"
#: Reasons that belong to backfill, and to new days (the others are refreshes).
_BACKFILL_REASONS = frozenset({FIRST_RUN, NEW_ACCOUNT, QUERY_CHANGED, EARLIER_START, RESUME, GAP})
_NEW_REASONS = frozenset({NEW_DAYS})
#: Re-reads whose digest is not kept in `rereads` once done (their days are, elsewhere).
MISMATCH_PREFIX = "mismatch:"


def _classes(
    account: str, days: DaySet, coverage: Coverage, changed: str | None, *, budgeted: bool
) -> list[tuple[str, DaySet]]:
    """An account's days by class.

    With a row budget, new days, refreshes and backfill are separate queries, so that
    one never waits for (or is deferred with) another.
    """
    if not budgeted:
        return [(ALL_DAYS, days)]
    old = _backfill_days(account, days, coverage, changed=changed is not None)
    again = DaySet() if changed else days & coverage.loaded(account)
    return [(NEW, days - old - again), (REFRESH, again), (BACKFILL, old)]


def _reason(reasons: set[str], kind: str) -> str:
    """Why a group's days are read; a budgeted class keeps only the reasons that are its own."""
    own = {
        NEW: reasons & _NEW_REASONS,
        BACKFILL: reasons & _BACKFILL_REASONS,
        REFRESH: reasons - _NEW_REASONS - _BACKFILL_REASONS,
    }.get(kind, reasons)
    return ", ".join(sorted(own or reasons))


def _date_order(query: PlannedQuery) -> dt.date:
    return query.window.start if query.window else dt.date.min


def _budgeted_order(query: PlannedQuery) -> tuple[int, int]:
    """New days first, then refreshes (oldest first), then backfill newest first."""
    rank = 2 if query.backfill else 1 if query.refresh else 0
    if query.window is None:
        return (rank, 0)
    if query.backfill:
        return (rank, -query.window.end.toordinal())
    return (rank, query.window.start.toordinal())


def _account_reads(
    account: str, wanted: DaySet, coverage: Coverage, tiers: Sequence[Tier], as_of: dt.date
) -> tuple[DaySet, set[str], tuple[tuple[Tier, DaySet], ...]]:
    """The days to read for one account, why, and the refresh tiers among them."""
    if not coverage.known:
        return wanted, {FIRST_RUN}, ()
    loaded = coverage.loaded(account) & wanted
    if not loaded:
        reason = RESUME if account in coverage.failed else NEW_ACCOUNT
        if account in coverage.accounts and account not in coverage.failed:
            reason = GAP
        return wanted, {reason}, ()
    missing = wanted - loaded
    reasons = _missing_reasons(account, missing, loaded, coverage)
    last = loaded.last
    assert last is not None  # noqa: S101 - loaded is not empty
    unsettled = coverage.unsettled.get(account)
    again = DaySet.of(unsettled, unsettled) & wanted if unsettled else DaySet()
    days = missing | again
    refreshed = coverage.refreshed.setdefault(account, {})
    progress = coverage.refreshing.get(account, {})
    due: list[tuple[Tier, DaySet]] = []
    for tier in tiers:
        # A tier never run for this account counts as run at its last loaded day.
        last_ran = dt.date.fromisoformat(refreshed.setdefault(tier.key, last.isoformat()))
        if tier.is_due(last_ran, as_of):
            span = DaySet.of(*tier.span(last)) & wanted
            todo = span - progress.get(tier.key, DaySet())
            if todo - days:
                reasons.add(tier.reason)
            days |= todo
            due.append((tier, span))
    if again and not (missing or due):
        reasons.add(LAST_LOADED_DAY)
    return days, reasons, tuple(due)


def _missing_reasons(account: str, missing: DaySet, loaded: DaySet, coverage: Coverage) -> set[str]:
    """Why the days an account lacks are missing."""
    reasons: set[str] = set()
    for item in missing:
        if account in coverage.failed:
            reasons.add(RESUME)
        elif loaded.first is not None and item.end < loaded.first:
            reasons.add(EARLIER_START)
        elif loaded.last is not None and item.start > loaded.last:
            reasons.add(NEW_DAYS)
        else:
            reasons.add(GAP)
    return reasons


def plan_full_table(
    window: DateWindow | None, accounts: Sequence[str], limits: Limits = NO_LIMITS
) -> StreamPlan:
    """A stream without a date field reads everything, every run (in account groups)."""
    groups = account_groups(accounts, RowRates({}), limits)
    return StreamPlan(
        tuple(PlannedQuery(window, group, "full table") for group in groups), Coverage()
    )

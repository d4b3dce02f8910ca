"""One stream's reads for this run: its plan, and the coverage it moves as windows finish.

The glue between the pure planner and a stream: it resolves the accounts (a
`/query/accounts` request for `list.all_accounts` and filters), reads the coverage out
of the stream's bookmark, asks `planner.py` what to read, logs why, and writes the
coverage back into the bookmark after every window whose rows were all emitted
(`loaded_days.py`).

Two edges it owns:
- Days after yesterday (UTC) are not complete (or have not happened): they may be read
  when `end_date` asks for them, but are never recorded as loaded, so the next run reads
  them again whatever the lookback. Days after tomorrow (UTC) exist nowhere yet, not
  even for accounts east of UTC: they are not read at all.
- An account list that resolves to nothing (an empty team, a filter that matches no
  account yet) reads nothing and keeps the stream's coverage: when accounts come back,
  only their missing days plus the lookback are read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, MutableMapping
from functools import cached_property
from typing import Any

from tap_supermetrics.core.accounts import ListAccounts, account_keys, request_value
from tap_supermetrics.core.errors import SupermetricsError
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.core.windows import DateWindow
from tap_supermetrics.plan.coverage import ONE_DAY, DaySet, read_coverage
from tap_supermetrics.plan.planner import (
    ALL_ACCOUNTS,
    MISMATCH,
    MISMATCH_PREFIX,
    PlannedQuery,
    Reread,
    StreamPlan,
    fingerprint,
    plan_full_table,
    plan_stream,
    upgrade_fingerprint,
)
from tap_supermetrics.plan.sizing import RowRates
from tap_supermetrics.read.loaded_days import LoadedDays
from tap_supermetrics.settings.dates import DateRange
from tap_supermetrics.settings.queries import QueryDefinition


class AccountLimitError(SupermetricsError):
    """A query summed over more accounts than one query may take: it cannot be split."""


class RereadAccountError(SupermetricsError):
    """A `reread` names an account the stream's account list does not hold."""


class StreamReads:
    """What one stream reads this run, and what it has loaded so far."""

    def __init__(  # noqa: PLR0913 - the facts a plan is made of
        self,
        *,
        definition: QueryDefinition,
        configured: DateRange,
        settings: dict[str, Any],
        bookmark: MutableMapping[str, Any],
        list_accounts: ListAccounts,
        logger: logging.Logger,
        today: dt.date,
        requested_fields: tuple[str, ...],
        metrics: frozenset[str],
    ) -> None:
        """Plan from `bookmark` (the stream's state, written back in place) as of `today`.

        `requested_fields` are the fields the queries ask for (the catalog may have
        deselected some); `metrics` says which of them are metrics.
        """
        self.definition = definition
        self.requested_fields = requested_fields
        self.metrics = metrics
        self.configured = configured
        #: The last day whose rows can be complete: later days are never recorded loaded.
        self.last_complete_day = today - ONE_DAY
        #: The last day that exists somewhere (UTC+14): later days are not read.
        self.last_readable_day = today + ONE_DAY
        self.window_days = int(definition.effective(settings).get("window_days", 30))
        self.limits = Limits.from_config(settings)
        #: The as-of day refresh tiers count in: the earlier of end_date and yesterday.
        self.as_of = min(configured.end, self.last_complete_day)
        self.bookmark = bookmark
        self._list_accounts = list_accounts
        self.logger = logger
        self.mismatch_rereads: dict[str, DaySet] = {}

    @cached_property
    def resolved(self) -> tuple[str, ...]:
        """The configured accounts (team lists and filters resolved where possible)."""
        return account_keys(self.definition.ds_accounts, self._list_accounts)

    @property
    def resolves_to_nothing(self) -> bool:
        """Whether the configured account list names accounts but none exists now."""
        return bool(self.definition.ds_accounts) and not self.resolved

    @property
    def wanted(self) -> DaySet:
        """The configured days that can be read now (none after tomorrow, UTC)."""
        return DaySet.of(self.configured.start, min(self.configured.end, self.last_readable_day))

    @property
    def summed(self) -> bool:
        """Whether rows are sums over the accounts (no account dimension among fields)."""
        return self.definition.account_field is None

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """What coverage is kept for: each account, or all of them as one."""
        if self.summed or not self.resolved:
            return (ALL_ACCOUNTS,)
        return self.resolved

    @property
    def rates_read(self) -> dict[str, tuple[int, int]]:
        """Per account, the rows and days of its last complete read."""
        return self.plan.coverage.rows_read

    @property
    def rates(self) -> RowRates:
        """Rows per day per account, as the last complete reads returned them."""
        return RowRates(self.plan.coverage.rows_per_day)

    def _refuse_unsplittable(self) -> None:
        """A query summed over its accounts cannot go out in groups: refuse it above the limit."""
        countable = [key for key in self.resolved if not key.startswith("list.")]
        limit = self.limits.max_accounts_per_query
        if self.summed and len(countable) > limit:
            msg = (
                f"stream {self.definition.name!r}: ds_accounts stands for {len(countable)} "
                f"accounts, more than max_accounts_per_query={limit}, and the query has no "
                "account field, so its rows are sums over all accounts and cannot be read in "
                "groups: add the account field (e.g. profileID) to fields"
            )
            raise AccountLimitError(msg)

    def _refuse_unknown_reread_accounts(self) -> None:
        """A `reread` naming an account the stream does not hold is a mistake to say.

        Explicit account lists are checked with the settings; lists the API resolves
        (`list.all_accounts`, filters) are checked here, right after listing them, before
        any data query: the stream stops, the others go on.
        """
        held = set(self.keys)
        for item in self.definition.rereads:
            unknown = [account for account in item.accounts or () if account not in held]
            if unknown:
                msg = (
                    f"stream {self.definition.name!r}: reread names account(s) "
                    f"{', '.join(unknown)}, which ds_accounts "
                    f"{json.dumps(self.definition.ds_accounts)} does not hold now (it holds "
                    f"{len(held)}: {', '.join(sorted(held)[:5])}{', …' if len(held) > 5 else ''})"  # noqa: PLR2004 - five named
                )
                raise RereadAccountError(msg)

    @cached_property
    def plan(self) -> StreamPlan:
        """This run's queries, computed once."""
        definition = self.definition
        self._refuse_unsplittable()
        if not self.summed and self.resolved:
            self._refuse_unknown_reread_accounts()
        if definition.pass_through.get("date_range_type"):
            return plan_full_table(None, self.keys, self.limits)
        if definition.date_field is None:
            window = DateWindow(self.configured.start, self.configured.end)
            return plan_full_table(window, self.keys, self.limits)
        shaping = {k: v for k, v in definition.parameters().items() if k != "ds_accounts"}
        shaping["fields"] = list(self.requested_fields)
        current = fingerprint(shaping, self.resolved if self.summed else None, self.metrics)
        coverage = read_coverage(
            self.bookmark,
            replication_key=definition.date_field,
            start_date=self.configured.start,
            accounts=self.keys,
            fingerprint=current,
        )
        coverage.fingerprint = upgrade_fingerprint(
            coverage.fingerprint, current, self.requested_fields
        )
        if self.resolves_to_nothing:
            self.logger.warning(
                "Stream %r: ds_accounts %s lists no account now; nothing is read for this "
                "stream and its coverage is kept until accounts appear",
                definition.name,
                json.dumps(definition.ds_accounts),
            )
            return StreamPlan((), coverage)
        mismatches = tuple(
            Reread(days, (account,), f"{MISMATCH_PREFIX}{account}", MISMATCH)
            for account, days in coverage.mismatched.items()
            if days
        )
        #: Days re-read in this run because their totals did not reconcile last time.
        self.mismatch_rereads = {
            account: item.days for item in mismatches for account in item.accounts or ()
        }
        plan = plan_stream(
            wanted=self.wanted,
            accounts=self.keys,
            coverage=coverage,
            current_fingerprint=current,
            window_days=self.window_days,
            tiers=definition.tiers,
            as_of=self.as_of,
            rereads=(*definition.rereads, *mismatches),
            limits=self.limits,
            budgeted=self.limits.max_rows_per_run is not None,
        )
        if plan.changed:
            self.logger.warning(
                "Stream %r: %s: reading every account again from start_date %s",
                definition.name,
                plan.changed,
                self.configured.start,
            )
        return plan

    def accounts_param(self, accounts: Iterable[str]) -> list[str] | str | dict[str, str] | None:
        """The `ds_accounts` value that reads exactly `accounts`."""
        keys = tuple(accounts)
        if keys == (ALL_ACCOUNTS,):
            return request_value(self.resolved) if self.resolved else self.definition.ds_accounts
        return request_value(keys)

    def is_subset(self, planned: PlannedQuery) -> bool:
        """Whether a query reads only some of the stream's accounts."""
        return set(planned.accounts) != set(self.keys)

    @cached_property
    def loaded_days(self) -> LoadedDays:
        """Where this run's finished windows, failures and mismatches are recorded."""
        return LoadedDays(
            plan=self.plan,
            keys=self.keys,
            wanted=self.wanted,
            bookmark=self.bookmark,
            date_field=self.definition.date_field,
            start_date=self.configured.start,
            last_complete_day=self.last_complete_day,
            as_of=self.as_of,
            budgeted=self.limits.max_rows_per_run is not None,
            mismatch_rereads=self.mismatch_rereads,
        )

"""The emulator's rows, recomputed from docs/emulator-arithmetic.md alone.

Tests that took their expected rows from the emulator's own planner would agree with
a bug in it. This module imports nothing from the emulator (tests/emulator/test_oracle.py holds
it to that): the arithmetic is written out again from the page, and the catalogue's
facts (fields, value lists, data types, accounts) are typed in by hand below.
`rows` answers like a query's result, in the same order and with the same JSON
values as the tap's records carry them before typing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

P = 4_294_967_291  # the largest prime below 2**32
G = 2_654_435_761
_MOD64 = 2**64
_FNV_START = 1_469_598_103_934_665_603  # not FNV's offset basis: see the page
_FNV_PRIME = 1_099_511_628_211

INT, FLOAT, CURRENCY = "int", "float", "currency"

# The catalogue, typed in by hand ------------------------------------------------------

CAMPAIGNS = (
    "Brand #0",
    "Été — Soldes ☀ #1",
    "Generic #2",
    "日本語キャンペーン #3",
    "Retargeting #4",
    "#5",
    "Brand #6",
    "Été — Soldes ☀ #7",
    "Generic #8",
    "日本語キャンペーン #9",
    "Retargeting #10",
    "#11",
)
CAMPAIGN_START_TIMES = (
    "2023-01-10T00:30:00Z",
    "2023-02-11T01:30:00Z",
    "2023-03-12T02:30:00Z",
    "2023-04-13T03:30:00Z",
    "2023-05-14T04:30:00Z",
    "2023-06-15T05:30:00Z",
    "2023-07-16T06:30:00Z",
    "2023-08-17T07:30:00Z",
    "2023-09-18T08:30:00Z",
    "2023-01-19T09:30:00Z",
    "2023-02-10T00:30:00Z",
    "2023-03-11T01:30:00Z",
)
CAMPAIGN_IS_ACTIVE = (False, True, True) * 4


@dataclass(frozen=True)
class Source:
    """One data source: its accounts, dimensions (with their values) and metrics.

    `parents` maps an attribute to the dimension whose position it reads; an
    attribute of the account field reports the account's name. `weighted` lists the
    weighted dimensions. `metrics` holds what a query can ask for, each with its data
    type; `hidden` the drawn metrics no query can ask for; `parts` the metrics that are
    sums of others; `ratios` the ratio metrics as (numerator, denominator, f).
    """

    ds_id: str
    account_field: str
    account_seed_name: str
    accounts: Mapping[str, str]
    values: Mapping[str, Sequence[object]]
    parents: Mapping[str, str]
    weighted: Sequence[str]
    metrics: Mapping[str, str]
    hidden: Mapping[str, str]
    parts: Mapping[str, Sequence[str]]
    ratios: Mapping[str, tuple[str, str, int]]


SOURCES = {
    "AW": Source(
        ds_id="AW",
        account_field="profileID",
        account_seed_name="profile",
        accounts={
            "111-111-1111": "Acme Shoes FI",
            "222-222-2222": "Acme Shoes SE",
            "333-333-3333": "Nordic Outdoor Oy",
        },
        values={
            "CampaignName": CAMPAIGNS,
            "CampaignStartTime": CAMPAIGN_START_TIMES,
            "CampaignIsActive": CAMPAIGN_IS_ACTIVE,
            "Device": ("Desktop", "Mobile", "Tablet"),
            "Keyword": tuple(
                f"kw {i:04d} {'naïve café' if i % 7 == 0 else 'shoes'}" for i in range(1000)
            ),
            "YearMonth": tuple(f"2024-{month:02d}" for month in range(1, 13)),
        },
        parents={
            "profile": "profileID",
            "CampaignStartTime": "CampaignName",
            "CampaignIsActive": "CampaignName",
        },
        weighted=("CampaignName", "Device", "Keyword", "YearMonth"),
        metrics={
            "Impressions": INT,
            "Clicks": INT,
            "VideoViews": INT,
            "Conversions": FLOAT,
            "CTR": "percent",
            "ConversionRate": "percent",
            "Cost": CURRENCY,
            "AverageCpc": CURRENCY,
        },
        hidden={"UnclickedImpressions": INT},
        parts={"Impressions": ("Clicks", "UnclickedImpressions")},
        ratios={
            "CTR": ("Clicks", "Impressions", 10_000),
            "ConversionRate": ("Conversions", "Clicks", 100),
            "AverageCpc": ("Cost", "Clicks", 1),
        },
    ),
    "GAWA": Source(
        ds_id="GAWA",
        account_field="property",
        account_seed_name="property",
        accounts={
            "properties/1001": "acme-shoes.fi (GA4)",
            "properties/1002": "nordic-outdoor.com (GA4)",
        },
        values={
            "Country": ("Finland", "Côte d'Ivoire", "日本", "United States", "", "Ελλάδα"),
            "DeviceCategory": ("desktop", "mobile"),
            "PagePath": tuple(f"/p/{i:04d}{'/ü' if i % 11 == 0 else ''}" for i in range(1000)),
        },
        parents={},
        weighted=("Country", "DeviceCategory", "PagePath"),
        metrics={
            "Sessions": INT,
            "Users": INT,
            "EngagementDuration": FLOAT,
            "Conversions": FLOAT,
            "BounceRate": "percent",
            "Revenue": CURRENCY,
        },
        hidden={"BouncedSessions": INT, "EngagedSessions": INT},
        parts={"Sessions": ("BouncedSessions", "EngagedSessions")},
        ratios={"BounceRate": ("BouncedSessions", "Sessions", 10_000)},
    ),
}

# The arithmetic -------------------------------------------------------------------------


@cache
def seed(label: str) -> int:
    """A label's seed: FNV-1a-style hash, splitmix64 finaliser, mod P."""
    acc = _FNV_START
    for byte in label.encode():
        acc = (acc ^ byte) * _FNV_PRIME % _MOD64
    x = (acc + 0x9E3779B97F4A7C15) % _MOD64
    x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 % _MOD64
    x = (x ^ x >> 27) * 0x94D049BB133111EB % _MOD64
    return (x ^ x >> 31) % P


def amount(data_type: str, key: int, metric: str, rev: int) -> int | None:
    """A drawn metric's amount for one (day, account): its base plus the revision."""
    r = key * (1 + seed(f"metric:{metric}") % (P - 1)) % P
    if data_type == INT:
        return 1 + r % 10_000 + rev
    if data_type == CURRENCY:
        return r % 100_000 + 150 * rev
    # FLOAT: null when floor(r / 1,000,000) mod 11 == 0.
    return None if r // 1_000_000 % 11 == 0 else r % 100_000 + 100 * rev


def weight(ds_id: str, dimension: str, value: object, metric: str) -> int:
    """w(d, v, m): 1 to 5."""
    multiplier = 1 + seed(f"metric:{metric}") % (P - 1)
    return 1 + seed(f"{ds_id}:{dimension}:{value}") * multiplier % P % 5


@cache
def weight_sum(ds_id: str, dimension: str, metric: str) -> int:
    """W(d, m): the weights of every value of the dimension's list."""
    values = SOURCES[ds_id].values[dimension]
    return sum(weight(ds_id, dimension, value, metric) for value in values)


def ratio(numerator: int | None, denominator: int | None, f: int) -> float | None:
    """Hundredths rounded half up, then divided by 100; null without a positive denominator."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return (2 * f * numerator + denominator) // (2 * denominator) / 100


def same(left: object, right: object) -> bool:
    """JSON equality: the same type and value (`true` is not `1`)."""
    return type(left) is type(right) and left == right


def renamed(renames: Iterable[Mapping[str, Any]], field: str, value: object) -> object:
    """What `value` of `field` reports after the renames, applied in order."""
    for change in renames:
        if change["field"] == field and same(change["from"], value):
            value = change["to"]
    return value


@dataclass(frozen=True)
class Query:
    """What a query asks for, and the upstream facts it was submitted under."""

    source: Source
    fields: Sequence[str]
    start: str
    end: str
    accounts: Sequence[str]
    names: Mapping[str, str]
    renames: Sequence[Mapping[str, Any]]

    @property
    def dated(self) -> bool:
        """Whether the query asks for `Date` (one date position per day)."""
        return "Date" in self.fields

    def days(self) -> list[str]:
        """The date axis: each day from start to end, or one `<start>..<end>` position."""
        if not self.dated:
            return [f"{self.start}..{self.end}"]
        first, last = dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)
        return [(first + dt.timedelta(n)).isoformat() for n in range((last - first).days + 1)]


class Result:
    """The axes of one query's result, and every row's values from its positions."""

    def __init__(self, query: Query) -> None:
        """Date axis first, then one axis per dimension in the order first asked for."""
        self.query = query
        self.source = source = query.source
        self.axes: dict[str, Sequence[object]] = {"Date": query.days()}
        for name in query.fields:
            axis = self.axis_of(name)
            if name != "Date" and name not in source.metrics and axis not in self.axes:
                accounts = axis == source.account_field
                self.axes[axis] = query.accounts if accounts else source.values[axis]
        self.summed = source.account_field not in self.axes

    def axis_of(self, field: str) -> str:
        """The axis a field reads its position from: its parent's, or its own."""
        return self.source.parents.get(field, field)

    def positions(self) -> Iterator[dict[str, int]]:
        """Each row's position on every axis, the last axis fastest; no account, no rows."""
        sizes = [range(len(labels)) for labels in self.axes.values()]
        for numbers in itertools.product(*sizes) if self.query.accounts else ():
            yield dict(zip(self.axes, numbers, strict=True))

    def value(self, field: str, at: Mapping[str, int]) -> object:
        """A dimension's value at the row's positions `at`, before renames."""
        position = at[self.axis_of(field)]
        if field in ("Date", self.source.account_field):
            return self.axes[field][position]
        if self.axis_of(field) == self.source.account_field:
            account = self.query.accounts[position]
            return self.query.names.get(account, f"Account {account}")
        return self.source.values[field][position]

    def reported(self, field: str, at: Mapping[str, int]) -> object:
        """A dimension's value at the row, as the column reports it (renames applied)."""
        return renamed(self.query.renames, field, self.value(field, at))

    def applies(self, match: Mapping[str, object]) -> bool:
        """Whether a drop rule applies: every field it names has its axis here."""
        return all(
            self.query.dated if name == "Date" else self.axis_of(name) in self.axes
            for name in match
        )

    def dropped(self, match: Mapping[str, object], at: Mapping[str, int]) -> bool:
        """Whether the row holds every value of the rule, before or after renames."""
        return all(
            same(wanted, self.value(name, at)) or same(wanted, self.reported(name, at))
            for name, wanted in match.items()
        )

    def accounts_of(self, at: Mapping[str, int]) -> Sequence[str]:
        """The accounts the row stands for: its own, or all of the query's when summed."""
        if self.summed:
            return self.query.accounts
        return [self.query.accounts[at[self.source.account_field]]]

    def drawn(self, metric: str, at: Mapping[str, int], rev: int) -> int | None:
        """X(row, m) of a drawn metric, straight from the formula."""
        source = self.source
        data_type = source.metrics.get(metric) or source.hidden[metric]
        day = self.axes["Date"][at["Date"]]
        spread = 1
        for dimension in source.weighted:
            if dimension in self.axes:
                value = self.axes[dimension][at[dimension]]
                spread *= weight(source.ds_id, dimension, value, metric)
            else:
                spread *= weight_sum(source.ds_id, dimension, metric)
        amounts = []
        for account in self.accounts_of(at):
            label = f"{source.ds_id}:{source.account_seed_name}:{account}"
            key = (seed(f"day:{day}") + seed(label)) * G % P
            amounts.append(amount(data_type, key, metric, rev))
        present = [value for value in amounts if value is not None]
        return sum(present) * spread if present else None

    def additive(self, metric: str, at: Mapping[str, int], rev: int) -> int | None:
        """X(row, m): a drawn metric's, or the sum of its parts'."""
        parts = self.source.parts.get(metric)
        if parts is None:
            return self.drawn(metric, at, rev)
        found = [self.drawn(part, at, rev) for part in parts]
        return sum(value for value in found if value is not None)

    def metric(self, name: str, at: Mapping[str, int], rev: int) -> object:
        """One metric cell: an additive amount as reported, or a ratio of two."""
        if name in self.source.ratios:
            numerator, denominator, f = self.source.ratios[name]
            return ratio(self.additive(numerator, at, rev), self.additive(denominator, at, rev), f)
        value = self.additive(name, at, rev)
        if value is None or self.source.metrics[name] == INT:
            return value
        return value / 100

    def record(self, at: Mapping[str, int], rev: int) -> dict[str, Any]:
        """The row at these positions, its columns in the order asked for."""
        return {
            name: self.metric(name, at, rev)
            if name in self.source.metrics
            else self.reported(name, at)
            for name in self.query.fields
        }


def rows(
    ds_id: str,
    fields: Sequence[str],
    start: str,
    end: str,
    accounts: Sequence[str],
    *,
    revision: int = 0,
    revision_from: str = "0001-01-01",
    renames: Iterable[Mapping[str, Any]] = (),
    dropped_rows: Iterable[Mapping[str, Any]] = (),
    max_rows: int | None = None,
    account_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The rows a query with these fields, dates and accounts answers, as dicts.

    The keyword arguments are the emulator's settings of the same names (the JSON
    values given to `emulator.configure`); `account_names` names accounts beyond the
    catalogue's (an unnamed one is `Account <id>`, as `extra_accounts` names a bare id).
    """
    source = SOURCES[ds_id]
    query = Query(
        source,
        fields,
        start,
        end,
        list(dict.fromkeys(accounts)),
        {**source.accounts, **(account_names or {})},
        [change for change in renames if change["ds_id"] == ds_id],
    )
    result = Result(query)
    rules = [rule["match"] for rule in dropped_rows if rule["ds_id"] == ds_id]
    rules = [match for match in rules if result.applies(match)]
    revised = dt.date.fromisoformat(revision_from)
    found = []
    for at in result.positions():
        if any(result.dropped(match, at) for match in rules):
            continue
        day = result.axes["Date"][at["Date"]] if query.dated else start
        rev = revision if dt.date.fromisoformat(str(day)) >= revised else 0
        found.append(result.record(at, rev))
    return found if max_rows is None else found[:max_rows]

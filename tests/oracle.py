"""The emulator's rows, recomputed from docs/emulator-arithmetic.md alone.

Tests that took their expected rows from the emulator's own planner would agree with
a bug in it. This module imports nothing from the emulator (tests/test_oracle.py holds
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

INT, FLOAT, PERCENT, CURRENCY = "int", "float", "percent", "currency"

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
    attribute of the account field reports the account's name.
    """

    ds_id: str
    account_field: str
    account_seed_name: str
    accounts: Mapping[str, str]
    values: Mapping[str, Sequence[object]]
    parents: Mapping[str, str]
    metrics: Mapping[str, str]


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
        metrics={
            "Impressions": INT,
            "Clicks": INT,
            "VideoViews": INT,
            "Conversions": FLOAT,
            "CTR": PERCENT,
            "ConversionRate": PERCENT,
            "Cost": CURRENCY,
            "AverageCpc": CURRENCY,
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
        metrics={
            "Sessions": INT,
            "Users": INT,
            "EngagementDuration": FLOAT,
            "Conversions": FLOAT,
            "BounceRate": PERCENT,
            "Revenue": CURRENCY,
        },
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


def cell(data_type: str, bases: Sequence[int], rev: int) -> object:
    """One metric cell from each account's base value `key x M mod P`."""
    if data_type == INT:
        return sum(b % 10_000 + rev for b in bases)
    if data_type == PERCENT:
        return sum(b % 10_000 for b in bases) / (100 * len(bases))
    if data_type == CURRENCY:
        return sum(b % 10_000_000 + 150 * rev for b in bases) / 100
    # FLOAT: an account whose base has floor(b / 1,000,000) mod 11 == 0 has a null.
    cents = [b % 1_000_000 + 100 * rev for b in bases if b // 1_000_000 % 11 != 0]
    return sum(cents) / 100 if cents else None


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

    def keys(self, at: Mapping[str, int]) -> list[int]:
        """The row key of each account the row stands for (all of them when summed)."""
        ds_id, source = self.source.ds_id, self.source
        total = seed(f"day:{self.axes['Date'][at['Date']]}")
        for axis, labels in self.axes.items():
            if axis not in ("Date", source.account_field):
                total += seed(f"{ds_id}:{axis}:{labels[at[axis]]}")
        accounts = self.query.accounts
        if not self.summed:
            accounts = [accounts[at[source.account_field]]]
        return [
            (total + seed(f"{ds_id}:{source.account_seed_name}:{account}")) * G % P
            for account in accounts
        ]

    def record(self, at: Mapping[str, int], rev: int) -> dict[str, Any]:
        """The row at these positions, its columns in the order asked for."""
        keys = self.keys(at)
        record: dict[str, Any] = {}
        for name in self.query.fields:
            data_type = self.source.metrics.get(name)
            if data_type is None:
                record[name] = self.reported(name, at)
            else:
                multiplier = 1 + seed(f"metric:{name}") % (P - 1)
                record[name] = cell(data_type, [key * multiplier % P for key in keys], rev)
        return record


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

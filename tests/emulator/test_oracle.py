"""The test oracle (tests/oracle.py) against values worked out by hand, and against the emulator.

The main tests take their expected rows from the oracle, so it must be right on its own:
the first tests pin it to numbers typed in by hand (the arithmetic is in the comments,
per docs/emulator-arithmetic.md); then it is held to the emulator's planner over many
random queries, the one place where the two independent implementations meet. The last
test checks the property both must have (docs/emulator-arithmetic.md "What holds"):
over HTTP, a totals query's additive metrics are the sums of any more detailed query's
rows, its ratios the ratios of those sums, and a `dropped_rows` rule of one campaign on
one day leaves exactly that gap.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.constants import ROOT
from tests.emulator.test_emulator import call

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"

# tests/schema/test_handwritten_rows.py's table, typed in again.
HANDWRITTEN = [
    {"Date": "2024-01-01", "Device": "Desktop", "Clicks": 11490751296, "Cost": 15859298385.0},
    {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 28726878240, "Cost": 9515579031.0},
    {"Date": "2024-01-01", "Device": "Tablet", "Clicks": 17236126944, "Cost": 6343719354.0},
    {"Date": "2024-01-02", "Device": "Desktop", "Clicks": 39882102912, "Cost": 16459522663.5},
    {"Date": "2024-01-02", "Device": "Mobile", "Clicks": 99705257280, "Cost": 9875713598.1},
    {"Date": "2024-01-02", "Device": "Tablet", "Clicks": 59823154368, "Cost": 6583809065.4},
]
TWO_DAYS = ("2024-01-01", "2024-01-02")


def test_one_account_gives_the_rows_written_by_hand() -> None:
    fields = ["Date", "Device", "Clicks", "Cost"]

    assert oracle.rows("AW", fields, *TWO_DAYS, [A]) == HANDWRITTEN
    assert oracle.rows("AW", fields, *TWO_DAYS, [A], max_rows=2) == HANDWRITTEN[:2]


# 2024-01-01, Desktop, summed over A and B. Seeds: day:2024-01-01 1,548,913,436;
# AW:profile:111-111-1111 594,351,740; AW:profile:222-222-2222 3,373,022,620. Keys
# ((day + account) x G mod P): A 4,182,464,834, B 3,716,160,710. Per metric, r = key x M
# mod P (M = 1 + metric seed mod (P - 1)) and the amount of each account:
#   Clicks (M 3,533,384,055)          r A 599,431,386   B 3,794,390,613: 1 + r mod 10,000 =
#                                       1,387 and 614
#   UnclickedImpressions (249,612,297) r A 2,677,196,121 B 563,686,582: 6,122 and 6,583
#   Cost (895,263,784)                r A 4,202,581,090 B 3,933,584,664: r mod 100,000 =
#                                       81,090 and 84,664 cents
#   Conversions (1,104,459,886)       r A 867,709,102   B 2,021,561,846: millions 867 and
#                                       2,021, mod 11 = 9 and 8, both present: 9,102 and
#                                       61,846 hundredths
# Weights (w of Desktop; W of CampaignName, Keyword, YearMonth, the dimensions left out):
#   Clicks 2; 36, 3,028, 38: 2 x 4,142,304 = 8,284,608
#   UnclickedImpressions 3; 37, 2,899, 36: 3 x 3,861,468 = 11,584,404
#   Cost 5; 35, 2,941, 38: 5 x 3,911,530 = 19,557,650
#   Conversions 2; 38, 3,029, 36: 2 x 4,143,672 = 8,287,344
# Cells:
#   Clicks      (1,387 + 614) x 8,284,608 = 16,577,500,608
#   Impressions Clicks + (6,122 + 6,583) x 11,584,404 = 16,577,500,608 + 147,179,852,820
#               = 163,757,353,428
#   CTR         (2 x 10,000 x 16,577,500,608 + 163,757,353,428) div (2 x 163,757,353,428)
#               = 1,012 hundredths: 10.12
#   Cost        (81,090 + 84,664) x 19,557,650 = 3,241,758,718,100 cents: 32,417,587,181.0
#   Conversions (9,102 + 61,846) x 8,287,344 = 587,970,482,112 hundredths: 5,879,704,821.12
SUMMED_FIELDS = ["Date", "Device", "Clicks", "CTR", "Cost", "Conversions"]
SUMMED_DESKTOP = {
    "Date": "2024-01-01",
    "Device": "Desktop",
    "Clicks": 16577500608,
    "CTR": 10.12,
    "Cost": 32417587181.0,
    "Conversions": 5879704821.12,
}


def test_a_row_without_the_account_field_sums_its_accounts_as_worked_by_hand() -> None:
    (summed, *_) = oracle.rows("AW", SUMMED_FIELDS, *TWO_DAYS, [A, B])
    by_account = ["Date", "Device", "profileID", *SUMMED_FIELDS[2:]]  # account fastest
    (per_a, per_b, *_) = oracle.rows("AW", by_account, *TWO_DAYS, [A, B])
    (total,) = oracle.rows("AW", ["Date", "Impressions"], "2024-01-01", "2024-01-01", [A, B])

    assert summed == SUMMED_DESKTOP
    # Per account: A 1,387 x 8,284,608 clicks, 81,090 x 19,557,650 cents; B likewise. The
    # accounts' CTRs (13.94 and 6.25) are not averaged: the sum's is recomputed.
    assert (per_a["Clicks"], per_a["CTR"], per_a["Cost"]) == (11490751296, 13.94, 15859298385.0)
    assert (per_b["Clicks"], per_b["CTR"], per_b["Cost"]) == (5086749312, 6.25, 16558288796.0)
    assert (per_a["profileID"], per_b["profileID"]) == (A, B)
    # A query of the date alone is the day's total: every weighted dimension left out.
    # W of Device is 10 for Clicks, 9 for UnclickedImpressions.
    assert total["Impressions"] == 2001 * 10 * 4142304 + 12705 * 9 * 3861468


def test_a_revision_shifts_each_accounts_amounts_and_ratios_are_recomputed() -> None:
    # From 2024-01-01 on, revision 2 per account: Clicks (2,001 + 2 x 2) x 8,284,608,
    # Cost (165,754 + 2 x 2 x 150) cents x 19,557,650, Conversions (70,948 + 2 x 2 x 100)
    # hundredths x 8,287,344; Impressions move too (both parts + 2 per account), and CTR
    # is recomputed from them.
    knobs = {"revision": 2, "revision_from": "2024-01-01"}

    (summed, *_) = oracle.rows("AW", SUMMED_FIELDS, *TWO_DAYS, [A, B], **knobs)

    impressions = 2005 * 8284608 + 12709 * 11584404
    assert summed == SUMMED_DESKTOP | {
        "Clicks": 16610639040,
        "CTR": (20_000 * 16610639040 + impressions) // (2 * impressions) / 100,
        "Cost": 32534933081.0,
        "Conversions": 5912854197.12,
    }
    assert summed["CTR"] == 10.14
    later = oracle.rows(
        "AW", SUMMED_FIELDS, *TWO_DAYS, [A, B], revision=2, revision_from="2024-01-02"
    )
    assert later[0] == SUMMED_DESKTOP


def test_a_null_float_of_one_account_counts_as_nothing_in_the_sum() -> None:
    # 2024-01-07: day seed 1,558,717,370. Keys: A 1,704,776,593, B 1,238,472,469.
    # Conversions r: A 3,912,066,117 (3,912 mod 11 = 7: present, 66,117 hundredths),
    # B 770,951,570 (770 mod 11 = 0: null). Mobile: w 3, and W 38 x 3,029 x 36 for the
    # dimensions left out: 66,117 x 3 x 4,143,672 = 821,901,484,872 hundredths.
    fields = ["Date", "Device", "Conversions"]
    day = ("2024-01-07", "2024-01-07")

    per_account = oracle.rows("AW", ["profileID", *fields], *day, [A, B])
    summed = oracle.rows("AW", fields, *day, [A, B])

    assert [row["Conversions"] for row in per_account if row["Device"] == "Mobile"] == [
        8219014848.72,
        None,
    ]
    assert summed[1] == {"Date": "2024-01-07", "Device": "Mobile", "Conversions": 8219014848.72}


def test_a_renamed_value_keeps_its_metrics_and_renames_chain_within_their_field() -> None:
    renames = [
        {"ds_id": "AW", "field": "Device", "from": "Desktop", "to": "Computer"},
        {"ds_id": "AW", "field": "Device", "from": "Computer", "to": "PC"},
        {"ds_id": "AW", "field": "CampaignName", "from": "Mobile", "to": "elsewhere"},
    ]

    found = oracle.rows("AW", ["Date", "Device", "Clicks", "Cost"], *TWO_DAYS, [A], renames=renames)

    assert found[0] == HANDWRITTEN[0] | {"Device": "PC"}
    assert found[1:3] == HANDWRITTEN[1:3]


def test_dropped_rows_are_gone_and_the_others_keep_their_order() -> None:
    fields = ["Date", "Device", "Clicks", "Cost"]
    gone = {"ds_id": "AW", "match": {"Date": "2024-01-01", "Device": "Mobile"}}
    renamed = [{"ds_id": "AW", "field": "Device", "from": "Tablet", "to": "Pad"}]
    by_new_name = {"ds_id": "AW", "match": {"Device": "Pad"}}

    assert oracle.rows("AW", fields, *TWO_DAYS, [A], dropped_rows=[gone]) == [
        HANDWRITTEN[0],
        *HANDWRITTEN[2:],
    ]
    found = oracle.rows("AW", fields, *TWO_DAYS, [A], renames=renamed, dropped_rows=[by_new_name])
    assert found == [row for row in HANDWRITTEN if row["Device"] != "Tablet"]


def test_a_drop_rule_naming_a_field_the_query_lacks_drops_nothing() -> None:
    # The summed row still counts B: the rule needs the account's axis, which is not there.
    gone = {"ds_id": "AW", "match": {"profileID": B, "Device": "Desktop"}}

    summed = oracle.rows("AW", SUMMED_FIELDS, *TWO_DAYS, [A, B], dropped_rows=[gone])
    per_account = oracle.rows(
        "AW", ["Date", "Device", "profileID", "Clicks"], *TWO_DAYS, [A, B], dropped_rows=[gone]
    )

    assert summed[0] == SUMMED_DESKTOP
    assert [(row["profileID"], row["Clicks"]) for row in per_account[:2]] == [
        (A, 11490751296),
        (A, 28726878240),
    ]
    assert len(per_account) == 2 * 3 * 2 - 2  # B's Desktop rows, on both days


def test_profile_reports_the_account_name_and_splits_rows_by_account() -> None:
    found = oracle.rows("AW", ["Date", "Device", "profile", "Clicks"], *TWO_DAYS, [A, B, "444"])

    assert [row["profile"] for row in found[:3]] == [
        "Acme Shoes FI",
        "Acme Shoes SE",
        "Account 444",
    ]
    assert [row["Clicks"] for row in found[:2]] == [11490751296, 5086749312]


def test_the_oracle_imports_nothing_from_the_emulator_or_the_tap() -> None:
    code = (
        "import sys, tests.oracle; "
        "print(sorted(m for m in sys.modules if m == 'tests.conftest' or m.split('.')[0] in "
        "('supermetrics_emulator', 'tap_supermetrics', 'singer_sdk')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert shown.stdout.strip() == "[]"


# The cross-check: the only test here that asks the emulator --------------------------

DIMENSIONS = {
    "AW": [
        "Date",
        "profileID",
        "profile",
        "CampaignName",
        "CampaignStartTime",
        "CampaignIsActive",
        "Device",
        "Keyword",
        "YearMonth",
    ],
    "GAWA": ["Date", "property", "Country", "DeviceCategory", "PagePath"],
}
LONG = {"Keyword", "PagePath"}  # 1,000 values: asked for alone, for one day and account
EXTRA = {"444-444-4444": "Four Oy"}  # an extra account with a name
NAMELESS = "555-555-5555"  # and one given by id alone
TO = ["Renamed", "Again", True]
ACCOUNTS = {
    "AW": [A, B, C, *EXTRA, NAMELESS],
    "GAWA": ["properties/1001", "properties/1002"],
}


@dataclass(frozen=True)
class Case:
    """One random query, with the emulator's knobs it is read under."""

    ds_id: str
    fields: list[str]
    start: str
    end: str
    accounts: list[str]
    max_rows: int | None
    knobs: dict[str, Any]  # revision, revision_from, renames, dropped_rows

    def oracle_rows(self, **changed: Any) -> list[dict[str, Any]]:
        return oracle.rows(
            self.ds_id,
            self.fields,
            self.start,
            self.end,
            self.accounts,
            max_rows=self.max_rows,
            account_names=EXTRA,
            **self.knobs | changed,
        )

    def planner_rows(self) -> list[dict[str, Any]]:
        """The same query's rows from the emulator's own planner, under the same knobs."""
        from supermetrics_emulator.emulator import Emulator  # noqa: PLC0415 - this test only

        emulator = Emulator()
        extra = [{"account_id": key, "account_name": name} for key, name in EXTRA.items()]
        emulator.settings.update({"extra_accounts": {"AW": [*extra, NAMELESS]}, **self.knobs})
        plan = emulator.plan(
            {
                "ds_id": self.ds_id,
                "fields": self.fields,
                "start_date": self.start,
                "end_date": self.end,
                "ds_accounts": self.accounts,
                "max_rows": self.max_rows,
            }
        )
        served = plan.rows(0, plan.total_rows - 1)
        return [dict(zip(self.fields, row, strict=True)) for row in served]

    @property
    def summed(self) -> bool:
        account_field = oracle.SOURCES[self.ds_id].account_field
        return len(self.accounts) > 1 and not {account_field, "profile"} & set(self.fields)


def random_case(rng: random.Random) -> Case:
    """A random query with random upstream changes."""
    ds_id = rng.choice(["AW", "GAWA"])
    source = oracle.SOURCES[ds_id]
    fields = rng.sample(DIMENSIONS[ds_id], rng.randrange(4))
    long = bool(LONG & set(fields))
    if long:
        fields = [name for name in fields if name in LONG or name == "Date"]
    fields += rng.sample(list(source.metrics), rng.randrange(1, 4))
    rng.shuffle(fields)
    start = dt.date(2024, 1, 1) + dt.timedelta(rng.randrange(60))
    end = start + dt.timedelta(0 if long else rng.randrange(4))
    held = ACCOUNTS[ds_id]
    accounts = rng.sample(held, 1 if long else rng.randrange(1, len(held) + 1))
    values = {
        **source.values,
        "Date": [(start + dt.timedelta(n)).isoformat() for n in range(4)],
        source.account_field: accounts,
    }
    if ds_id == "AW":
        values["profile"] = [*EXTRA.values(), "Acme Shoes SE", f"Account {NAMELESS}"]

    def some_value(name: str) -> object:  # now and then one no row holds, or of another type
        return rng.choice([*values[name], "Renamed", 1])

    renamable = [name for name in values if name != "Date"]
    renames = [
        {"ds_id": ds_id, "field": name, "from": some_value(name), "to": rng.choice(TO)}
        for name in rng.sample(renamable, rng.randrange(3))
    ]
    matchable = [name for name in values if name in fields] or list(values)  # mostly held
    dropped = [
        {
            "ds_id": ds_id,
            "match": {name: some_value(name) for name in rng.sample(names, min(2, len(names)))},
        }
        for names in rng.choices([matchable, matchable, list(values)], k=rng.randrange(3))
    ]
    knobs = {
        "revision": rng.choice([0, 1, 3]),
        "revision_from": (start + dt.timedelta(rng.randrange(-1, 4))).isoformat(),
        "renames": renames,
        "dropped_rows": dropped,
    }
    max_rows = rng.choice([None, None, rng.randrange(20)])
    return Case(ds_id, fields, start.isoformat(), end.isoformat(), accounts, max_rows, knobs)


def test_the_oracle_and_the_emulators_planner_agree_on_random_queries() -> None:
    rng = random.Random(20)  # noqa: S311 - reproducible test data, not secrets
    met = {"summed": 0, "renamed": 0, "dropped": 0}
    for _ in range(300):
        case = random_case(rng)

        expected = case.oracle_rows()

        # Compared as JSON: true is not 1, 1.0 is not 1, and the order counts.
        assert json.dumps(expected) == json.dumps(case.planner_rows()), case
        met["summed"] += case.summed
        met["renamed"] += any(
            row[change["field"]] == change["to"]
            for change in case.knobs["renames"]
            for row in expected
            if change["field"] in row
        )
        met["dropped"] += len(expected) < len(case.oracle_rows(dropped_rows=[]))
    assert min(met.values()) >= 20, met  # every kind of case came up often


# Totals that reconcile: over HTTP, and by the oracle ---------------------------------

SPLITS = {
    "AW": [
        "CampaignName",
        "CampaignIsActive",
        "CampaignStartTime",
        "Device",
        "Keyword",
        "YearMonth",
    ],
    "GAWA": ["Country", "DeviceCategory", "PagePath"],
}
GAP_DAY = "2024-01-05"
GAP = {"ds_id": "AW", "match": {"Date": GAP_DAY, "CampaignName": "Generic #2"}}
CAMPAIGN_AXIS = {"CampaignName", "CampaignIsActive", "CampaignStartTime"}
Key = tuple[str | None, str | None]
Sums = dict[Key, dict[str, int | None]]


@dataclass(frozen=True)
class Split:
    """A detailed query and its totals query: same days, accounts and settings."""

    ds_id: str
    dated: bool
    dimensions: list[str]
    by_account: bool
    start: str
    end: str
    accounts: list[str]
    knobs: dict[str, Any]  # revision, revision_from, dropped_rows

    @property
    def source(self) -> oracle.Source:
        return oracle.SOURCES[self.ds_id]

    @property
    def additive(self) -> list[str]:
        return [name for name in self.source.metrics if name not in self.source.ratios]

    @property
    def fields(self) -> list[str]:
        account = [self.source.account_field] if self.by_account else []
        return [*(["Date"] if self.dated else []), *account, *self.dimensions, *self.source.metrics]

    @property
    def totals_fields(self) -> list[str]:
        date = ["Date"] if self.dated else []
        return [*date, self.source.account_field, *self.source.metrics]

    def served(self, emulator: EmulatorServer, fields: list[str]) -> list[dict[str, Any]]:
        """The query's rows as the emulator answers them over HTTP."""
        query = {
            "ds_id": self.ds_id,
            "fields": fields,
            "start_date": self.start,
            "end_date": self.end,
            "ds_accounts": self.accounts,
            "sync_timeout": 30,
        }
        body = call(emulator, "data/json", query).json()
        assert body["meta"]["status_code"] == "SUCCESS", body
        rows = body["data"][1:]  # after the header row
        assert len(rows) == body["meta"]["result"]["total_rows"]
        return [dict(zip(fields, row, strict=True)) for row in rows]

    def expected(self, fields: list[str], **changed: Any) -> list[dict[str, Any]]:
        knobs = self.knobs | changed
        return oracle.rows(self.ds_id, fields, self.start, self.end, self.accounts, **knobs)

    def key(self, row: dict[str, Any]) -> Key:
        """(day, account) of a row: None where the query does not split by it."""
        account = row[self.source.account_field] if self.by_account else None
        return row.get("Date"), account

    def sums(self, rows: list[dict[str, Any]]) -> Sums:
        """Each additive metric summed per key, in integer units (null: nothing)."""
        groups: dict[Key, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(self.key(row), []).append(row)
        return {
            key: {name: total([units(row[name]) for row in group]) for name in self.additive}
            for key, group in groups.items()
        }

    @property
    def gapped(self) -> bool:
        """Whether the drop rule applies to the detailed query and its day is read."""
        return (
            GAP in self.knobs["dropped_rows"]
            and self.ds_id == "AW"
            and self.dated
            and bool(CAMPAIGN_AXIS & set(self.dimensions))
            and self.start <= GAP_DAY <= self.end
        )

    def gap(self) -> Sums:
        """The dropped campaign's amounts per key, from a query that keeps them."""
        if not self.gapped:
            return {}
        fields = ["Date", self.source.account_field, "CampaignName", *self.additive]
        kept = oracle.rows(
            self.ds_id,
            fields,
            GAP_DAY,
            GAP_DAY,
            self.accounts,
            revision=self.knobs["revision"],
            revision_from=self.knobs["revision_from"],
        )
        return self.sums([row for row in kept if row["CampaignName"] == "Generic #2"])


def units(value: object) -> int | None:
    """A cell as an exact integer: counts as they are, money and fractions in hundredths."""
    if value is None or isinstance(value, int):
        return value
    assert isinstance(value, float)
    return round(value * 100)


def total(values: list[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def random_split(rng: random.Random) -> Split:
    ds_id = rng.choice(["AW", "AW", "GAWA"])
    held = list(oracle.SOURCES[ds_id].accounts)
    accounts = rng.sample(held, rng.randrange(1, len(held) + 1))
    first = dt.date(2024, 1, 2) + dt.timedelta(rng.randrange(5))
    days = rng.randrange(1, 4)
    dated = rng.random() < 0.8
    by_account = rng.random() < 0.5
    while True:
        dimensions = rng.sample(SPLITS[ds_id], rng.randrange(4))
        size = len(accounts) * (days if dated else 1)
        for axis in {oracle.SOURCES[ds_id].parents.get(name, name) for name in dimensions}:
            size *= len(oracle.SOURCES[ds_id].values[axis])
        if size <= 12_000:
            break
    revised = first + dt.timedelta(rng.randrange(-1, days + 1))
    knobs = {
        "revision": rng.choice([0, 3]),
        "revision_from": revised.isoformat(),
        "dropped_rows": [GAP] if rng.random() < 0.7 else [],
    }
    end = first + dt.timedelta(days - 1)
    return Split(
        ds_id, dated, dimensions, by_account, first.isoformat(), end.isoformat(), accounts, knobs
    )


def assert_ratios_are_recomputed(row: dict[str, Any], source: oracle.Source) -> None:
    """Each ratio the row can show both parts of is the ratio of its own amounts."""
    for name, (numerator, denominator, f) in source.ratios.items():
        if numerator in row:
            expected = oracle.ratio(units(row[numerator]), units(row[denominator]), f)
            assert row[name] == expected, (name, row)


def test_totals_are_the_sums_of_any_split_and_a_dropped_campaign_day_is_the_only_gap(
    emulator: EmulatorServer,
) -> None:
    rng = random.Random(23)  # noqa: S311 - reproducible test data, not secrets
    met = {"gap": 0, "summed": 0, "by account": 0, "undated": 0, "revised": 0, "ratios": 0}
    for _ in range(60):
        split = random_split(rng)
        emulator.configure(**split.knobs)

        detailed = split.served(emulator, split.fields)
        totals = split.served(emulator, split.totals_fields)

        # Both the emulator and the oracle answer so: the same rows, to the JSON bit.
        assert json.dumps(detailed) == json.dumps(split.expected(split.fields)), split
        assert json.dumps(totals) == json.dumps(split.expected(split.totals_fields)), split
        in_totals, in_detail, gap = split.sums(totals), split.sums(detailed), split.gap()
        assert set(gap) == gap_keys(split), split
        assert set(in_detail) == set(in_totals), split
        for key, amounts in in_totals.items():
            missing = gap.get(key, {})
            expected = {
                name: value if value is None else value - (missing.get(name) or 0)
                for name, value in amounts.items()
            }
            assert in_detail[key] == expected, (split, key)
            if key in gap:
                assert in_detail[key] != amounts  # the gap shows, in every metric
        for row in [*detailed, *totals]:
            assert_ratios_are_recomputed(row, split.source)
        if split.by_account:
            met["ratios"] += check_ratios_of_sums(split, detailed, totals, gap)
        met["gap"] += split.gapped
        met["summed"] += not split.by_account and len(split.accounts) > 1
        met["by account"] += split.by_account
        met["undated"] += not split.dated
        met["revised"] += (
            split.knobs["revision"] > 0 and split.start >= split.knobs["revision_from"]
        )
    assert min(met.values()) >= 5, met  # every kind of case came up


def gap_keys(split: Split) -> set[Key]:
    """Where the split rows must fall short of the totals: the dropped day, if read."""
    if not split.gapped:
        return set()
    if split.by_account:
        return {(GAP_DAY, account) for account in split.accounts}
    return {(GAP_DAY, None)}


def check_ratios_of_sums(
    split: Split, detailed: list[dict[str, Any]], totals: list[dict[str, Any]], gap: Sums
) -> int:
    """A totals row's ratios are those of the detailed rows' sums; return how many seen."""
    seen = 0
    groups: dict[Key, list[dict[str, Any]]] = {}
    for row in detailed:
        groups.setdefault(split.key(row), []).append(row)
    for row in totals:
        key = split.key(row)
        if key in gap:
            continue
        parts = groups[key]
        for name, (numerator, denominator, f) in split.source.ratios.items():
            below = total([units(part[denominator]) for part in parts])
            if numerator in row:
                above = total([units(part[numerator]) for part in parts])
                assert row[name] == oracle.ratio(above, below, f), (split, name, row)
            else:  # a hidden numerator: the denominator-weighted mean of rounded rates
                mean = sum(part[name] * part[denominator] for part in parts) / (below or 1)
                assert abs(row[name] - mean) <= 0.01, (split, name, row, mean)
            seen += 1
    return seen

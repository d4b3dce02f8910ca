"""The test oracle (tests/oracle.py) against values worked out by hand, and against the emulator.

The main tests take their expected rows from the oracle, so it must be right on its own:
the first tests pin it to numbers typed in by hand (the arithmetic is in the comments,
per docs/emulator-arithmetic.md); the last holds it to the emulator's planner over many
random queries, the one place where the two independent implementations meet.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tests import oracle
from tests.constants import ROOT

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"

# tests/test_handwritten_rows.py's table, typed in again.
HANDWRITTEN = [
    {"Date": "2024-01-01", "Device": "Desktop", "Clicks": 1608, "Cost": 48822.17},
    {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 7699, "Cost": 51531.78},
    {"Date": "2024-01-01", "Device": "Tablet", "Clicks": 9293, "Cost": 99953.58},
    {"Date": "2024-01-02", "Device": "Desktop", "Clicks": 7744, "Cost": 4525.77},
    {"Date": "2024-01-02", "Device": "Mobile", "Clicks": 1126, "Cost": 7235.38},
    {"Date": "2024-01-02", "Device": "Tablet", "Clicks": 5429, "Cost": 5984.27},
]
TWO_DAYS = ("2024-01-01", "2024-01-02")


def test_one_account_gives_the_rows_written_by_hand() -> None:
    fields = ["Date", "Device", "Clicks", "Cost"]

    assert oracle.rows("AW", fields, *TWO_DAYS, [A]) == HANDWRITTEN
    assert oracle.rows("AW", fields, *TWO_DAYS, [A], max_rows=2) == HANDWRITTEN[:2]


# 2024-01-01, Desktop, summed over A and B. Seeds: day:2024-01-01 1,548,913,436;
# AW:Device:Desktop 2,943,464,099; AW:profile:111-111-1111 594,351,740;
# AW:profile:222-222-2222 3,373,022,620. Keys ((sum) x G mod P): A 495,115,368 (sum
# 5,086,729,275), B 28,811,244 (sum 7,865,400,155). Multipliers (1 + metric seed):
# Clicks 3,533,384,055, CTR 2,413,378,827, Cost 895,263,784, Conversions 1,104,459,886.
# Bases (key x M mod P), A then B:
#   Clicks      3,917,301,608  2,817,293,544  -> 1,608 + 3,544 = 5,152
#   CTR         2,989,880,540  1,004,421,144  -> (540 + 1,144) / 200 = 8.42
#   Cost        1,304,882,217  1,035,885,791  -> (4,882,217 + 5,885,791) / 100 = 107,680.08
#   Conversions 3,501,666,979    360,552,432  -> 3,501 mod 11 = 3 and 360 mod 11 = 8: both
#                                                present, (666,979 + 552,432) / 100 = 12,194.11
SUMMED_FIELDS = ["Date", "Device", "Clicks", "CTR", "Cost", "Conversions"]
SUMMED_DESKTOP = {
    "Date": "2024-01-01",
    "Device": "Desktop",
    "Clicks": 5152,
    "CTR": 8.42,
    "Cost": 107680.08,
    "Conversions": 12194.11,
}


def test_a_row_without_the_account_field_sums_its_accounts_as_worked_by_hand() -> None:
    (summed, *_) = oracle.rows("AW", SUMMED_FIELDS, *TWO_DAYS, [A, B])
    by_account = ["Date", "Device", "profileID", *SUMMED_FIELDS[2:]]  # account fastest
    (per_a, per_b, *_) = oracle.rows("AW", by_account, *TWO_DAYS, [A, B])

    assert summed == SUMMED_DESKTOP
    assert (per_a["Clicks"], per_a["CTR"], per_a["Cost"]) == (1608, 5.4, 48822.17)
    assert (per_b["Clicks"], per_b["CTR"], per_b["Cost"]) == (3544, 11.44, 58857.91)
    assert (per_a["profileID"], per_b["profileID"]) == (A, B)


def test_a_revision_shifts_counts_money_and_floats_per_account_but_not_percentages() -> None:
    # From 2024-01-01 on, revision 2 per account: Clicks + 2 x 2, Cost + 2 x 2 x 150 cents,
    # Conversions + 2 x 2 x 100 cents; CTR stays the mean of the accounts' percentages.
    knobs = {"revision": 2, "revision_from": "2024-01-01"}

    (summed, *_) = oracle.rows("AW", SUMMED_FIELDS, *TWO_DAYS, [A, B], **knobs)

    assert summed == SUMMED_DESKTOP | {"Clicks": 5156, "Cost": 107686.08, "Conversions": 12198.11}
    later = oracle.rows(
        "AW", SUMMED_FIELDS, *TWO_DAYS, [A, B], revision=2, revision_from="2024-01-02"
    )
    assert later[0] == SUMMED_DESKTOP


def test_a_null_float_of_one_account_counts_as_nothing_in_the_sum() -> None:
    # 2024-01-04, Mobile: seeds 288,310,967 + 34,025,689 = 322,336,656. Keys: A
    # (322,336,656 + 594,351,740) x G mod P = 2,862,927,412; B 2,396,623,288. Conversions
    # bases: A 2,575,183,158 (2,575 mod 11 = 1: 1,831.58), B 3,729,035,902 (3,729 mod 11 = 0:
    # null). The sum is A's alone.
    fields = ["Date", "Device", "Conversions"]
    day = ("2024-01-04", "2024-01-04")

    per_account = oracle.rows("AW", ["profileID", *fields], *day, [A, B])
    summed = oracle.rows("AW", fields, *day, [A, B])

    assert [row["Conversions"] for row in per_account if row["Device"] == "Mobile"] == [
        1831.58,
        None,
    ]
    assert summed[1] == {"Date": "2024-01-04", "Device": "Mobile", "Conversions": 1831.58}


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
    assert [(row["profileID"], row["Clicks"]) for row in per_account[:2]] == [(A, 1608), (A, 7699)]
    assert len(per_account) == 2 * 3 * 2 - 2  # B's Desktop rows, on both days


def test_profile_reports_the_account_name_and_splits_rows_by_account() -> None:
    found = oracle.rows("AW", ["Date", "Device", "profile", "Clicks"], *TWO_DAYS, [A, B, "444"])

    assert [row["profile"] for row in found[:3]] == [
        "Acme Shoes FI",
        "Acme Shoes SE",
        "Account 444",
    ]
    assert [row["Clicks"] for row in found[:2]] == [1608, 3544]


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

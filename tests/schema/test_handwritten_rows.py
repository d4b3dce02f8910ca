"""The tap's records against rows written out by hand, not computed by the emulator's code.

`ROWS` was typed in from one look at what the emulator serves for this query (a
`/query/data/json` request with `sync_timeout`) and cross-checked by redoing the
emulator's arithmetic by hand, outside its code. `test_rows_follow_from_the_arithmetic`
redoes it, written out in this file and importing nothing from the emulator:

- A label's seed: an FNV-1a-style 64-bit hash of its UTF-8 bytes (start from
  OFFSET = 1,469,598,103,934,665,603; for each byte, acc = (acc XOR byte) x PRIME mod 2**64
  with PRIME = 1,099,511,628,211), then the splitmix64 finaliser (mod 2**64 throughout:
  x += 0x9E3779B97F4A7C15; x = (x XOR x >> 30) x 0xBF58476D1CE4E5B9;
  x = (x XOR x >> 27) x 0x94D049BB133111EB; x = x XOR x >> 31), then mod P = 4,294,967,291.
  PRIME is FNV's 64-bit prime, but OFFSET is not FNV's standard offset basis
  (14,695,981,039,346,656,037: the emulator's constant lacks its last digit), so a stock
  FNV-1a 64 library gives other numbers.
- Labels: `day:2024-01-01`, `AW:Device:Desktop`, `metric:Clicks`, and the account's
  `AW:profile:111-111-1111` (data source, the data source's account seed name, account
  id; Google Ads keeps `profile` there from before its account field became `profileID`,
  so values did not move): a query without the account field sums over its accounts,
  here one.
- Per (day, account): key = (day seed + account seed) x 2,654,435,761 mod P, and per
  metric r = key x M mod P with M = 1 + metric seed mod (P - 1). Clicks' amount is
  1 + r mod 10,000; Cost's is r mod 100,000 cents.
- Per dimension value and metric a weight, w = 1 + (value seed x M mod P) mod 5, and
  per dimension W = the sum of w over its whole value list. A row's value is the amount
  x w of its Device x W of every dimension it leaves out (CampaignName, Keyword,
  YearMonth), which is what makes rows split further add up to it.
- Rows come by date, then device in the catalog's order.

Worked through for the first row: Clicks r = 599,431,386, amount 1,387; w(Desktop) = 2;
W = 36 (CampaignName), 3,028 (Keyword), 38 (YearMonth): 1,387 x 2 x 36 x 3,028 x 38 =
11,490,751,296. Cost r = 4,202,581,090, amount 81,090 cents; w(Desktop) = 5; W = 35,
2,941, 38: 81,090 x 5 x 3,911,530 = 1,585,929,838,500 cents = 15,859,298,385.00.

The other tests compare with rows from the emulator's own generator, which would agree
with a tap that mangled values the same way the generator does. These cannot. If the
emulator's data changes on purpose, type the rows in again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import base_config, run_tap

FIELDS = ["Date", "Device", "Clicks", "Cost"]
ROWS: list[dict[str, Any]] = [
    {"Date": "2024-01-01", "Device": "Desktop", "Clicks": 11490751296, "Cost": 15859298385.0},
    {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 28726878240, "Cost": 9515579031.0},
    {"Date": "2024-01-01", "Device": "Tablet", "Clicks": 17236126944, "Cost": 6343719354.0},
    {"Date": "2024-01-02", "Device": "Desktop", "Clicks": 39882102912, "Cost": 16459522663.5},
    {"Date": "2024-01-02", "Device": "Mobile", "Clicks": 99705257280, "Cost": 9875713598.1},
    {"Date": "2024-01-02", "Device": "Tablet", "Clicks": 59823154368, "Cost": 6583809065.4},
]


def clicks_config(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    query = {"name": "clicks", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": FIELDS}
    settings = {"start_date": "2024-01-01", "end_date": "2024-01-02", **overrides}
    return base_config(emulator, tmp_path, queries=[query], **settings)


def query_fields(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configured fields of each record; anything else must be a lineage column."""
    for record in records:
        assert all(key in FIELDS or key.startswith("_sm_") for key in record), record
    return [{field: record[field] for field in FIELDS} for record in records]


@pytest.mark.parametrize(
    "emulator_settings",
    [{}, {"numbers_as_strings": True, "header_row": False}],
    ids=["numbers", "numbers-as-strings-no-header"],
)
def test_a_two_day_sync_emits_exactly_the_rows_written_by_hand(
    emulator: EmulatorServer, tmp_path: Path, emulator_settings: dict[str, Any]
) -> None:
    emulator.configure(**emulator_settings)

    run = run_tap(tmp_path, clicks_config(emulator, tmp_path))

    assert run.returncode == 0, run.stderr
    records = run.records("clicks")
    assert query_fields(records) == ROWS
    assert [type(r["Clicks"]) for r in records] == [int] * 6
    assert [type(r["Cost"]) for r in records] == [float] * 6
    assert run.schemas()["clicks"]["key_properties"] == ["Date", "Device"]
    (query_run,) = run.records("query_runs")
    assert (query_run["total_rows"], query_run["rows_emitted"]) == (6, 6)
    assert run.bookmark("clicks") == "2024-01-02"


def test_pages_of_two_rows_and_one_day_windows_give_the_same_rows(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, clicks_config(emulator, tmp_path, page_size=2, window_days=1))

    assert run.returncode == 0, run.stderr
    assert query_fields(run.records("clicks")) == ROWS
    windows = [
        (r["start_date"], r["end_date"], r["rows_emitted"]) for r in run.records("query_runs")
    ]
    assert windows == [("2024-01-01", "2024-01-01", 3), ("2024-01-02", "2024-01-02", 3)]


def test_a_day_read_again_on_its_own_has_the_same_values(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, clicks_config(emulator, tmp_path, start_date="2024-01-02"))

    assert run.returncode == 0, run.stderr
    assert query_fields(run.records("clicks")) == ROWS[3:]


# The arithmetic of the module docstring, typed in again: no emulator code is imported.
_MOD64 = 2**64
OFFSET = 1_469_598_103_934_665_603
PRIME = 1_099_511_628_211
P = 4_294_967_291
ACCOUNT_LABEL = "AW:profile:111-111-1111"


def seed(label: str) -> int:
    acc = OFFSET
    for byte in label.encode():
        acc = (acc ^ byte) * PRIME % _MOD64
    x = (acc + 0x9E3779B97F4A7C15) % _MOD64
    x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 % _MOD64
    x = (x ^ x >> 27) * 0x94D049BB133111EB % _MOD64
    return (x ^ x >> 31) % P


#: The dimensions a Date x Device query leaves out, with their whole value lists.
LEFT_OUT = {
    "CampaignName": [
        f"{stem} #{i}".strip()
        for i, stem in enumerate(
            ["Brand", "Été — Soldes ☀", "Generic", "日本語キャンペーン", "Retargeting", ""] * 2
        )
    ],
    "Keyword": [f"kw {i:04d} {'naïve café' if i % 7 == 0 else 'shoes'}" for i in range(1000)],
    "YearMonth": [f"2024-{month:02d}" for month in range(1, 13)],
}


def by_hand(day: str, device: str) -> dict[str, Any]:
    key = (seed(f"day:{day}") + seed(ACCOUNT_LABEL)) * 2_654_435_761 % P

    def share(metric: str, value_label: str) -> int:
        multiplier = 1 + seed(f"metric:{metric}") % (P - 1)
        return 1 + seed(value_label) * multiplier % P % 5

    def value(metric: str, amount_of: Callable[[int], int]) -> int:
        r = key * (1 + seed(f"metric:{metric}") % (P - 1)) % P
        result = amount_of(r) * share(metric, f"AW:Device:{device}")
        for dimension, values in LEFT_OUT.items():
            result *= sum(share(metric, f"AW:{dimension}:{v}") for v in values)
        return result

    return {
        "Date": day,
        "Device": device,
        "Clicks": value("Clicks", lambda r: 1 + r % 10_000),
        "Cost": value("Cost", lambda r: r % 100_000) / 100,
    }


def test_rows_follow_from_the_arithmetic() -> None:
    assert by_hand("2024-01-01", "Desktop") == ROWS[0]  # the docstring's worked example
    assert [by_hand(row["Date"], row["Device"]) for row in ROWS] == ROWS

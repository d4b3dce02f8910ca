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
- A row's key is (day seed + device seed + account seed) x 2,654,435,761 mod P. With
  M = 1 + metric seed mod (P - 1): Clicks is key x M mod P mod 10,000, and Cost is
  (key x M mod P mod 10,000,000) / 100.
- Rows come by date, then device in the catalog's order.

Worked through for the first row: Clicks 1,608 and Cost 48,822.17.

The other tests compare with rows from the emulator's own generator, which would agree
with a tap that mangled values the same way the generator does. These cannot. If the
emulator's data changes on purpose, type the rows in again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import base_config, run_tap

FIELDS = ["Date", "Device", "Clicks", "Cost"]
ROWS: list[dict[str, Any]] = [
    {"Date": "2024-01-01", "Device": "Desktop", "Clicks": 1608, "Cost": 48822.17},
    {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 7699, "Cost": 51531.78},
    {"Date": "2024-01-01", "Device": "Tablet", "Clicks": 9293, "Cost": 99953.58},
    {"Date": "2024-01-02", "Device": "Desktop", "Clicks": 7744, "Cost": 4525.77},
    {"Date": "2024-01-02", "Device": "Mobile", "Clicks": 1126, "Cost": 7235.38},
    {"Date": "2024-01-02", "Device": "Tablet", "Clicks": 5429, "Cost": 5984.27},
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


def by_hand(day: str, device: str) -> dict[str, Any]:
    key = (seed(f"day:{day}") + seed(f"AW:Device:{device}") + seed(ACCOUNT_LABEL)) * 2_654_435_761
    key %= P

    def base(metric: str) -> int:
        return key * (1 + seed(f"metric:{metric}") % (P - 1)) % P

    return {
        "Date": day,
        "Device": device,
        "Clicks": base("Clicks") % 10_000,
        "Cost": base("Cost") % 10_000_000 / 100,
    }


def test_rows_follow_from_the_arithmetic() -> None:
    assert by_hand("2024-01-01", "Desktop") == ROWS[0]  # the docstring's worked example
    assert [by_hand(row["Date"], row["Device"]) for row in ROWS] == ROWS

"""The tap's records against rows written out by hand, not computed by the emulator's code.

`ROWS` was typed in from one look at what the emulator serves for this query (a
`/query/data/json` request with `sync_timeout`) and cross-checked by redoing the
emulator's documented arithmetic by hand, outside its code: seeds are FNV-1a 64 of a
label through the splitmix64 finaliser, mod P = 4,294,967,291 (labels `day:2024-01-01`,
`AW:Device:Desktop`, `AW:profile:111-111-1111`, `metric:Clicks`); a row's key is
(day seed + device seed + account seed) x 2,654,435,761 mod P; Clicks is
key x M mod P mod 10,000 and Cost is (key x M mod P mod 10,000,000) / 100, with
M = 1 + metric seed mod (P - 1). Rows come by date, then device in the catalog's order.

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

"""Each row exactly once within a run, even when a window is read again after expiry."""

from __future__ import annotations

import json
import subprocess

import pytest

from tap_supermetrics.window_rows import WindowRows
from tests.conftest import ROOT, expected_rows
from tests.pipeline import MELTANO, Pipeline

FIELDS = ["Date", "CampaignName", "Device", "Clicks", "Cost"]
KEYS = ["Date", "CampaignName", "Device"]


def raw(records: list[dict]) -> list[bytes]:
    return [json.dumps(list(record.values())).encode() for record in records]


def page(*rows: tuple[str, str, int]) -> list[dict]:
    return [{"Date": d, "CampaignName": c, "Device": "Mobile", "Clicks": n} for d, c, n in rows]


def test_a_second_read_emits_only_new_and_changed_rows() -> None:
    window = WindowRows(KEYS)
    window.start_read()
    first = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 2))
    assert window.admit(first, raw(first)) == (first, None)

    window.start_read()  # results expired: the window is read again
    again = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 3), ("2024-01-02", "A", 4))
    emitted, duplicate = window.admit(again, raw(again))

    assert duplicate is None
    assert emitted == again[1:]  # B changed, 01-02 is new; A is identical: not again


def test_a_key_twice_in_one_read_is_a_duplicate_even_after_a_resubmission() -> None:
    window = WindowRows(KEYS)
    window.start_read()
    rows = page(("2024-01-01", "A", 1), ("2024-01-01", "A", 2))
    assert window.admit(rows, raw(rows))[1] == 1

    window = WindowRows(KEYS)
    window.start_read()
    window.admit(rows[:1], raw(rows[:1]))
    window.start_read()
    assert window.admit(rows, raw(rows))[1] == 1  # seen again in this read, then repeated


def test_twelve_bytes_a_row() -> None:
    window = WindowRows(["Date", "CampaignName"])
    window.start_read()
    for start in range(0, 200_000, 25_000):
        rows = [
            {"Date": "2024-01-01", "CampaignName": f"c{n}"} for n in range(start, start + 25_000)
        ]
        window.admit(rows, raw(rows))
    assert window._digests.nbytes / 200_000 < 13


@pytest.mark.e2e
def test_an_append_only_target_gets_each_row_once_after_an_expiry_mid_paging(
    pipeline: Pipeline,
) -> None:
    subprocess.run(
        [str(MELTANO), "install", "target-jsonl"], check=True, cwd=ROOT, capture_output=True
    )
    emulator, output = pipeline.emulator, pipeline.workdir / "jsonl"
    emulator.add_fault(action="expire_early", after_pages=3)
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": FIELDS}
    env = pipeline.env(queries=[query], end_date="2024-01-05", window_days=30, page_size=20)
    env["TARGET_JSONL_DESTINATION_PATH"] = str(output)
    output.mkdir()

    result = subprocess.run(
        [str(MELTANO), "run", "tap-supermetrics", "target-jsonl"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "results expired" in result.stderr
    loaded = [json.loads(line) for line in (output / "ads.jsonl").read_text().splitlines()]
    for record in loaded:
        record.pop("_sm_extracted_at")
    expected = expected_rows(emulator, "AW", FIELDS, "2024-01-01", "2024-01-05", ["111-111-1111"])
    assert loaded == expected  # each row once, in order: none twice after the second read
    assert len(expected) == 5 * 12 * 3


def test_every_row_is_found_again_across_bucket_splits() -> None:
    window = WindowRows(["Date", "CampaignName"])
    rows = [{"Date": "2024-01-01", "CampaignName": f"c{n}", "Clicks": n} for n in range(20_000)]
    window.start_read()
    assert window.admit(rows, raw(rows)) == (rows, None)  # grows through many bucket splits

    window.start_read()
    changed = [{**row, "Clicks": -1} if n % 1000 == 0 else row for n, row in enumerate(rows)]
    emitted, duplicate = window.admit(changed, raw(changed))

    assert duplicate is None
    assert emitted == changed[::1000]  # every identical row found, only the changed ones out

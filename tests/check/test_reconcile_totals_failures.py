"""A totals query never stops its data, over HTTP to the emulator (issue 29, case 4).

The emulator's `without_field` faults hit only queries without `CampaignName`: the
totals queries of a stream split by campaign, never its data queries. Whether the
totals query is refused at submit, ends FAILURE, expires for good or never finishes,
every window still loads and saves its coverage, and is reported "not reconciled"
with the reason; expired totals are submitted again like a data query; `strict`
fails the run at its end, after every stream, but not when the row budget left a
window's totals query out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.check.test_reconcile import (
    FIELDS,
    A,
    B,
    ads,
    assert_compared,
    settings,
    verdicts,
    week,
)
from tests.conftest import TapRun, expected_rows, run_tap

TOTALS_ONLY = {"ds_id": "AW", "without_field": "CampaignName", "times": 0}
FAULTS: dict[str, dict[str, Any]] = {
    "refused": {"action": "http_error", "endpoint": "submit", "status": 400, "code": "FIELDS_X"},
    "failed": {"action": "query_failure", "code": "DATA_SOURCE_ERROR"},
    "expired": {"action": "expire_early", "after_seconds": 0},
    "timed out": {"action": "never_finish"},
}
#: Two windows (2024-01-01..04 and 05..07), one resubmit, a short query_timeout.
SHAPE = {"window_days": 4, "max_resubmits": 1, "query_timeout": 1}
GA = {
    "name": "ga",
    "ds_id": "GAWA",
    "ds_accounts": ["properties/1001"],
    "fields": ["Date", "property", "Sessions"],
}


def not_reconciled(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "not reconciled" in line]


def assert_loaded(emulator: EmulatorServer, run: TapRun) -> None:
    """Every row of the week is out, and coverage (the bookmark) went to its end."""
    expected = expected_rows(emulator, "AW", FIELDS, "2024-01-01", "2024-01-07", [A, B])
    assert len(run.records("ads")) == len(expected)
    assert run.bookmark("ads") == "2024-01-07"


@pytest.mark.parametrize("case", FAULTS)
def test_a_totals_query_that_gives_no_totals_leaves_its_windows_loaded_and_not_reconciled(
    emulator: EmulatorServer, tmp_path: Path, case: str
) -> None:
    emulator.add_fault(**FAULTS[case], **TOTALS_ONLY)
    run = run_tap(tmp_path, settings(emulator, tmp_path, **SHAPE))

    assert run.returncode == 0, run.stderr[-3000:]
    assert_loaded(emulator, run)
    assert run.records("reconciliation") == []
    windows = [line for line in not_reconciled(run) if "rows and coverage are saved" in line]
    assert len(windows) == 2, not_reconciled(run)
    assert all(f"its totals query {case}" in line for line in windows), windows
    summary = [line for line in run.stderr.splitlines() if "windows were not reconciled" in line]
    assert len(summary) == 1
    assert "2 of 2 windows" in summary[0]
    data = [r for r in run.records("query_runs") if r["reason"] != "reconciliation"]
    assert len(data) == 2
    assert all(r["status"] == "SUCCESS" for r in data)


def test_expired_totals_are_submitted_again_and_reconcile(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="expire_early", after_seconds=0, without_field="CampaignName")
    run = run_tap(tmp_path, settings(emulator, tmp_path))

    assert run.returncode == 0, run.stderr[-3000:]
    assert_compared(run, week(A, B))
    assert all(verdicts(run).values())
    assert not not_reconciled(run)
    totals = [r for r in run.records("query_runs") if r["reason"] == "reconciliation"]
    assert [(r["attempts"], r["status"]) for r in totals] == [(2, "SUCCESS")]
    assert any("totals query: results expired" in line for line in run.stderr.splitlines())


@pytest.mark.parametrize("case", FAULTS)
def test_strict_fails_the_run_at_its_end_when_a_totals_query_gives_no_totals(
    emulator: EmulatorServer, tmp_path: Path, case: str
) -> None:
    emulator.add_fault(**FAULTS[case], **TOTALS_ONLY)
    config = settings(emulator, tmp_path, ads(reconcile="strict"), GA, **SHAPE)
    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert_loaded(emulator, run)
    assert run.records("ga"), "the other stream still loads"
    assert run.bookmark("ga") == "2024-01-07"
    errors = run.error_lines()
    assert any('did not reconcile (reconcile: "strict")' in line for line in errors), errors
    assert any("stream 'ads'" in line and "2 of 2 windows" in line for line in errors), errors


def test_strict_does_not_fail_the_run_for_totals_the_row_budget_left_out(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # The first window's data query has no estimate yet and goes; its totals query
    # (14 rows) does not fit in a budget of 1.
    config = settings(emulator, tmp_path, ads(reconcile="strict"))
    run = run_tap(tmp_path, {**config, "max_rows_per_run": 1})

    assert run.returncode == 0, run.stderr[-3000:]
    assert "no room in max_rows_per_run for its totals query" in run.stderr
    assert run.records("ads")
    assert run.records("reconciliation") == []

"""Totals that reconcile, over HTTP to the emulator (issue 23).

The emulator's totals are the sums of its detailed rows, and a `dropped_rows` rule that
names a campaign drops that campaign's rows from answers split by campaign only: the
totals keep them. So exactly that day and its account must be flagged, and every other
(day, account, metric) matched, through a split window and an expired one too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import TapRun, base_config, run_tap

A, B = "111-111-1111", "222-222-2222"
FIELDS = ["Date", "profileID", "CampaignName", "Device", "Impressions", "Clicks", "Cost", "CTR"]
FIELDS += ["AverageCpc", "Conversions"]
DROP = {"ds_id": "AW", "match": {"Date": "2024-01-05", "CampaignName": "Generic #2"}}


def ads(**changes: Any) -> dict[str, Any]:
    return {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": FIELDS, **changes}


def settings(emulator: EmulatorServer, tmp_path: Path, *queries: Any, **overrides: Any) -> Any:
    defaults: dict[str, Any] = {"end_date": "2024-01-07", "window_days": 7, "lookback_days": 0}
    return base_config(
        emulator, tmp_path, queries=list(queries or [ads(reconcile=True)]), **defaults | overrides
    )


def verdicts(run: TapRun) -> dict[tuple[str, str, str], bool]:
    return {
        (r["date"], r["account"], r["metric"]): r["matched"] for r in run.records("reconciliation")
    }


def week(*accounts: str) -> set[tuple[str, str]]:
    """Every (day, account) of 2024-01-01..07."""
    return {(f"2024-01-0{day}", account) for day in range(1, 8) for account in accounts}


def assert_compared(run: TapRun, pairs: set[tuple[str, str]]) -> None:
    """Exactly `pairs` were compared; no record has no value on either side."""
    records = run.records("reconciliation")
    assert {(r["date"], r["account"]) for r in records} == pairs
    assert all(r["loaded"] is not None or r["source"] is not None for r in records)


def mismatch_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "totals do not reconcile" in line]


def test_a_campaign_missing_from_split_answers_is_flagged_on_exactly_its_day_and_account(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(dropped_rows=[DROP])
    run = run_tap(tmp_path, settings(emulator, tmp_path))

    assert run.returncode == 0, run.stderr[-3000:]
    results = verdicts(run)
    metrics = {"Impressions", "Clicks", "Cost", "Conversions"}  # CTR and AverageCpc: ratios
    assert {metric for _, _, metric in results} == metrics
    assert_compared(run, week(A, B))
    wrong = {key for key, matched in results.items() if not matched}
    assert {(day, account) for day, account, _ in wrong} == {("2024-01-05", A), ("2024-01-05", B)}
    lines = mismatch_lines(run)
    assert len(lines) == 2
    assert all("2024-01-05" in line and "Clicks loaded" in line for line in lines)
    summary = [line for line in run.stderr.splitlines() if "(day, account) pairs did not" in line]
    assert len(summary) == 1
    assert "2 of 14" in summary[0]
    record = next(r for r in run.records("reconciliation") if r["date"] == "2024-01-05")
    assert record["difference"] == record["loaded"] - record["source"]
    assert record["data_schedule_ids"]
    assert record["totals_schedule_id"]
    totals = [r for r in run.records("query_runs") if r["reason"] == "reconciliation"]
    assert len(totals) == 1
    assert totals[0]["stream"] == "ads"


def test_the_mismatched_day_is_read_again_by_the_next_run_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(dropped_rows=[DROP])
    first = run_tap(tmp_path, settings(emulator, tmp_path))
    assert first.returncode == 0

    dry = run_tap(tmp_path, settings(emulator, tmp_path, dry_run=True), state=first.states()[-1])
    assert "reconciliation mismatch" in dry.stderr
    second = run_tap(tmp_path, settings(emulator, tmp_path), state=first.states()[-1])
    third = run_tap(tmp_path, settings(emulator, tmp_path), state=second.states()[-1])

    reasons = [r["reason"] for r in second.records("query_runs")]
    assert any("reconciliation mismatch" in reason for reason in reasons), reasons
    data = [r for r in second.records("query_runs") if r["reason"] != "reconciliation"]
    # The mismatched day only (the last loaded day was final when it was loaded).
    assert sorted((r["start_date"], r["end_date"]) for r in data) == [
        ("2024-01-05", "2024-01-05"),
    ]
    # Still not matching: reported again, not queued again.
    assert all(line.endswith("read again already") for line in mismatch_lines(second))
    assert len(mismatch_lines(second)) == 2
    assert not any("mismatch" in (r["reason"] or "") for r in third.records("query_runs"))


def test_strict_ends_the_run_non_zero_after_every_stream(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(dropped_rows=[DROP])
    ga = {
        "name": "ga",
        "ds_id": "GAWA",
        "ds_accounts": ["properties/1001"],
        "fields": ["Date", "property", "Sessions"],
    }
    run = run_tap(tmp_path, settings(emulator, tmp_path, ads(reconcile="strict"), ga))

    assert run.returncode == 1
    assert run.records("ga"), "the other stream still loads"
    assert 'did not reconcile (reconcile: "strict")' in run.stderr


def test_a_split_and_an_expired_window_reconcile(emulator: EmulatorServer, tmp_path: Path) -> None:
    # The API cuts results at 500 rows (the window is split by days), and the first
    # results expire after two pages (the window is read again, emitting no row twice).
    emulator.configure(max_result_rows=500)
    emulator.add_fault(action="expire_early", after_pages=2)
    run = run_tap(tmp_path, settings(emulator, tmp_path, max_rows_per_query=500, page_size=50))

    assert run.returncode == 0, run.stderr[-3000:]
    assert "may have cut" in run.stderr
    results = verdicts(run)
    assert results
    assert all(results.values()), [k for k, v in results.items() if not v][:5]
    assert_compared(run, week(A, B))
    data_ids = {len(r["data_schedule_ids"]) for r in run.records("reconciliation")}
    assert max(data_ids) > 1  # a split window's parts are all named


def test_a_query_without_an_account_field_reconciles_per_day(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = {
        "name": "totals",
        "ds_id": "AW",
        "ds_accounts": [A, B],
        "fields": ["Date", "Device", "Clicks", "Cost"],
        "reconcile": True,
    }
    run = run_tap(tmp_path, settings(emulator, tmp_path, query))

    assert run.returncode == 0, run.stderr[-3000:]
    results = verdicts(run)
    assert {account for _, account, _ in results} == {"*"}
    assert all(results.values())


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"filter": "Clicks > 5"}, "its filter"),
        ({"max_rows": 10}, "its max_rows"),
        ({"fields": ["Date", "profileID", "CTR"]}, "no comparable metric"),
        ({"reconcile_metrics": ["CTR"]}, "not comparable metrics"),
    ],
)
def test_a_query_that_asks_to_reconcile_but_cannot_is_refused_before_any_data_query(
    emulator: EmulatorServer, tmp_path: Path, changes: dict[str, Any], why: str
) -> None:
    run = run_tap(tmp_path, settings(emulator, tmp_path, ads(reconcile=True, **changes)))

    assert run.returncode == 1
    assert why in run.stderr
    submits = [e for e in emulator.stats()["request_log"] if e["endpoint"] == "submit"]
    assert submits == []


def test_the_top_level_default_skips_what_cannot_be_reconciled_with_one_info_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, ads(), ads(name="filtered", filter="Clicks > 5"))
    run = run_tap(tmp_path, {**config, "reconcile": True})

    assert run.returncode == 0, run.stderr[-3000:]
    skipped = [line for line in run.stderr.splitlines() if "is not reconciled" in line]
    assert len(skipped) == 1
    assert "'filtered'" in skipped[0]
    assert {r["stream"] for r in run.records("reconciliation")} == {"ads"}


def test_reconcile_metrics_narrows_and_the_cost_is_in_the_open(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, ads(reconcile=True, reconcile_metrics=["Clicks"]))
    run = run_tap(tmp_path, {**config, "max_rows_per_run": 100_000})

    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["metric"] for r in run.records("reconciliation")} == {"Clicks"}
    totals = [r for r in run.records("query_runs") if r["reason"] == "reconciliation"]
    assert [r["rows_read"] for r in totals] == [14]  # 7 days x 2 accounts
    line = next(line for line in run.stderr.splitlines() if "tap_supermetrics_usage" in line)
    usage = json.loads(line[line.index("{") :])
    data = sum(r["rows_read"] for r in run.records("query_runs"))
    assert usage["rows_received"] == data  # the totals rows count against the budget


def test_a_windows_totals_query_goes_ahead_with_its_data_query(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, settings(emulator, tmp_path, window_days=2, page_size=20))

    assert run.returncode == 0, run.stderr[-3000:]
    stats = emulator.stats()
    data_window_1 = next(
        q["schedule_id"]
        for q in stats["queries"]
        if q["start_date"] == "2024-01-01" and "CampaignName" in q["fields"]
    )
    log = stats["request_log"]
    totals_window_2 = next(
        index
        for index, entry in enumerate(log)
        if entry["endpoint"] == "submit"
        and entry["params"].get("start_date") == "2024-01-03"
        and "CampaignName" not in entry["params"].get("fields", ["CampaignName"])
    )
    pages_of_window_1 = [
        index
        for index, entry in enumerate(log)
        if entry["endpoint"] == "status" and entry["params"].get("schedule_id") == data_window_1
    ]
    # Window 2's totals query went out with window 2's data query, submitted ahead while
    # window 1 was still being paged: not after it.
    assert any(index > totals_window_2 for index in pages_of_window_1)
    assert all(verdicts(run).values())

"""Reconciliation compares real accounts, over HTTP to the emulator (issue 29, case 2).

A query of an opaque team list (`list.team_a`) keeps its coverage under the list's
name, but its rows and its totals carry the accounts' own ids: each account found on
either side is compared, never the list's name. A side without rows counts as zero;
a (day, account) with no rows on either side is nothing to compare and yields no
record at all, never a "matched" one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.check.test_reconcile import (
    DROP,
    FIELDS,
    A,
    B,
    assert_compared,
    mismatch_lines,
    settings,
    verdicts,
    week,
)
from tests.conftest import run_tap

TEAM = "list.team_a"
METRICS = {"Impressions", "Clicks", "Cost", "Conversions"}  # CTR and AverageCpc: ratios


def team(**changes: Any) -> dict[str, Any]:
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": TEAM, "fields": FIELDS}
    return {**query, "reconcile": True, **changes}


def test_a_team_list_is_compared_per_account_it_holds_and_re_read_as_the_list(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(team_lists={TEAM: [A, B]}, dropped_rows=[DROP])
    first = run_tap(tmp_path, settings(emulator, tmp_path, team()))

    assert first.returncode == 0, first.stderr[-3000:]
    results = verdicts(first)
    assert {account for _, account, _ in results} == {A, B}
    assert {metric for _, _, metric in results} == METRICS
    assert_compared(first, week(A, B))
    wrong = {(day, account) for (day, account, _), matched in results.items() if not matched}
    assert wrong == {("2024-01-05", A), ("2024-01-05", B)}
    lines = mismatch_lines(first)
    assert len(lines) == 2
    assert all(TEAM in line for line in lines)
    assert {A, B} == {account for account in (A, B) for line in lines if repr(account) in line}

    # The list is the unit its coverage is kept for: the next run reads that day of it
    # (the last loaded day was final when loaded: it is not read again).
    state = first.states()[-1]
    assert set(state["bookmarks"]["ads"]["coverage"]["mismatched"]) == {TEAM}
    second = run_tap(tmp_path, settings(emulator, tmp_path, team()), state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    data = [r for r in second.records("query_runs") if r["reason"] != "reconciliation"]
    assert sorted((r["start_date"], r["end_date"], r["accounts"]) for r in data) == [
        ("2024-01-05", "2024-01-05", [TEAM]),
    ]


def test_an_account_of_the_list_missing_from_the_rows_is_compared_against_zero(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # B's rows are gone from answers split by device; the totals (no Device) keep them.
    devices = ("Desktop", "Mobile", "Tablet")
    gone = [{"ds_id": "AW", "match": {"profileID": B, "Device": device}} for device in devices]
    emulator.configure(team_lists={TEAM: [A, B]}, dropped_rows=gone)
    run = run_tap(tmp_path, settings(emulator, tmp_path, team()))

    assert run.returncode == 0, run.stderr[-3000:]
    assert {row["profileID"] for row in run.records("ads")} == {A}
    checks = run.records("reconciliation")
    of_b = [r for r in checks if r["account"] == B]
    # Every (day, metric) Supermetrics has a value for; none is null on both sides.
    assert 0 < len(of_b) <= 7 * len(METRICS)
    assert {r["date"] for r in of_b} == {f"2024-01-0{day}" for day in range(1, 8)}
    assert all(r["loaded"] is None and r["source"] is not None for r in of_b)
    assert all(r["difference"] == -r["source"] for r in of_b)
    # Zero against nothing is within the tolerance; anything more is a mismatch.
    assert all(r["matched"] == (r["source"] == 0) for r in of_b)
    assert all(r["matched"] for r in checks if r["account"] == A)
    assert len(mismatch_lines(run)) == 7


@pytest.mark.parametrize("ds_accounts", [[A, B], TEAM], ids=["accounts", "team-list"])
def test_a_day_without_rows_on_either_side_yields_no_record(
    emulator: EmulatorServer, tmp_path: Path, ds_accounts: object
) -> None:
    # The rule holds only Date and the account: both the data and the totals lose B's day.
    empty_day = {"ds_id": "AW", "match": {"Date": "2024-01-03", "profileID": B}}
    emulator.configure(team_lists={TEAM: [A, B]}, dropped_rows=[empty_day])
    run = run_tap(tmp_path, settings(emulator, tmp_path, team(ds_accounts=ds_accounts)))

    assert run.returncode == 0, run.stderr[-3000:]
    assert_compared(run, week(A, B) - {("2024-01-03", B)})
    assert all(verdicts(run).values())
    summary = [line for line in run.stderr.splitlines() if "(day, account) pairs" in line]
    assert len(summary) == 1
    assert "0 of 13" in summary[0]

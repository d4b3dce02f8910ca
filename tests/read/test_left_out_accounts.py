"""Accounts the API leaves out with `exclude_invalid_accounts` are not recorded as loaded.

With the setting, Supermetrics drops an account it cannot read and still answers
SUCCESS. An account with no rows in a window where the others have rows is read again
alone, without the setting (reason `confirm empty account`), once per account per run: a
refused one is a failed account (unloaded, read again next run), a quiet one is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
FIELDS = ["Date", "profileID", "Device", "Clicks"]
QUERY = {
    "name": "ads",
    "ds_id": "AW",
    "ds_accounts": [A, B, C],
    "fields": FIELDS,
    "settings": {"exclude_invalid_accounts": True},
}


def config(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    defaults = {"queries": [QUERY], "window_days": 5, "lookback_days": 0}
    return base_config(emulator, tmp_path, **defaults | overrides)


def confirmations(run: TapRun) -> list[tuple[str, str, str]]:
    return [
        (r["accounts"][0], r["start_date"], r["status"])
        for r in run.records("query_runs")
        if r["reason"] == "confirm empty account"
    ]


def sent_settings(emulator: EmulatorServer) -> list[Any]:
    log = emulator.stats()["request_log"]
    return [e["params"].get("settings") for e in log if e["endpoint"] == "submit"]


def test_a_left_out_account_is_confirmed_alone_fails_there_and_stays_unloaded(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="query_failure", account=B, times=0)  # B's access is gone
    emulator.configure(dropped_rows=[{"ds_id": "AW", "match": {"profileID": C}}])  # C: quiet

    run = run_tap(tmp_path, config(emulator, tmp_path))

    assert run.returncode == 1
    # Window 1: B and C answered no rows; each is read alone once. B fails there (and is
    # left out of window 2); C simply had no activity and is not asked again.
    assert confirmations(run) == [(B, "2024-01-01", "FAILURE"), (C, "2024-01-01", "SUCCESS")]
    assert {"exclude_invalid_accounts": True} in sent_settings(emulator)
    assert {} in sent_settings(emulator) or None in sent_settings(emulator)
    coverage = run.states()[-1]["bookmarks"]["ads"]["coverage"]
    assert coverage["accounts"] == {
        A: [["2024-01-01", "2024-01-10"]],
        C: [["2024-01-01", "2024-01-10"]],
    }
    assert coverage["failed"] == {B: "ACCOUNT_ACCESS_DENIED"}
    assert [
        line for line in run.stderr.splitlines() if f"account {B!r}" in line and "ERROR" in line
    ]
    rows = [{k: v for k, v in r.items() if k[:3] != "_sm"} for r in run.records("ads")]
    assert rows == oracle.rows("AW", FIELDS, "2024-01-01", "2024-01-05", [A]) + oracle.rows(
        "AW", FIELDS, "2024-01-06", "2024-01-10", [A]
    )

    # Access is back: the next run reads B (and only B) from where it stands.
    emulator.emulator.faults.clear()
    again = run_tap(tmp_path, config(emulator, tmp_path), state=run.states()[-1])
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r["profileID"] for r in again.records("ads")} == {B}
    assert again.states()[-1]["bookmarks"]["ads"]["coverage"]["failed"] == {}


def test_without_the_setting_no_account_is_confirmed(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(dropped_rows=[{"ds_id": "AW", "match": {"profileID": C}}])
    query = {key: value for key, value in QUERY.items() if key != "settings"}

    run = run_tap(tmp_path, config(emulator, tmp_path, queries=[query]))

    assert run.returncode == 0
    assert confirmations(run) == []


def test_the_dry_run_counts_the_confirmations_a_run_is_likely_to_send(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(dropped_rows=[{"ds_id": "AW", "match": {"profileID": C}}])
    first = run_tap(tmp_path, config(emulator, tmp_path))
    assert confirmations(first) == [(C, "2024-01-01", "SUCCESS")]

    dry = run_tap(
        tmp_path,
        config(emulator, tmp_path, end_date="2024-01-12", dry_run=True),
        state=first.states()[-1],
    )

    assert "plus up to 1 confirm empty account queries" in dry.stderr
    assert "plus up to 1 to confirm empty accounts" in dry.stderr

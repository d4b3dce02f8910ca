"""Totals queries have a budget line of their own (issue 29, case 5).

A totals query that does not fit `max_rows_per_run` is skipped and its window said "not
reconciled: budget"; it is never booked as a deferred data query, so the usage line and
the `coverage` stream count only data queries as deferred, and a dry run counts what the
real run sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests.conftest import TapRun, base_config, run_tap

A = "111-111-1111"
FIELDS = ["Date", "profileID", "CampaignName", "Device", "Clicks", "Cost"]  # 36 rows a day


def settings(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS}
    defaults = {"queries": [{**query, "reconcile": True}], "end_date": "2024-01-10"}
    return base_config(emulator, tmp_path, **{"lookback_days": 0, **defaults, **overrides})


def usage(run: TapRun) -> dict[str, Any]:
    line = next(line for line in run.stderr.splitlines() if "tap_supermetrics_usage" in line)
    report: dict[str, Any] = json.loads(line[line.index("{") :])
    return report


def test_totals_the_budget_cannot_take_are_skipped_never_deferred(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    first = run_tap(tmp_path, settings(emulator, tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    # The next day: its new day (36 rows) and the lookback's day (36 rows) fill the budget;
    # each window's totals query (1 row a day) finds no room.
    next_day = settings(emulator, tmp_path, end_date="2024-01-11", max_rows_per_run=72)

    dry = run_tap(tmp_path, {**next_day, "dry_run": True}, state=first.states()[-1])
    run = run_tap(tmp_path, next_day, state=first.states()[-1])

    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["Date"] for r in run.records("ads")} == {"2024-01-10", "2024-01-11"}
    skipped = [line for line in run.stderr.splitlines() if "not reconciled: budget" in line]
    assert len(skipped) == 2
    report = usage(run)["streams"]["ads"]
    assert report["deferred_queries"] == 0  # only data queries are ever deferred
    assert report["totals_skipped"] == 2
    assert run.records("reconciliation") == []
    coverage = {r["account"]: r for r in run.records("coverage")}
    assert (coverage[A]["deferred"], coverage[A]["deferred_days"]) == ("", 0)
    # The dry run counts what the real run planned and sent.
    planned = usage(dry)["streams"]["ads"]
    for count in ("planned_queries", "totals_queries", "deferred_queries"):
        assert planned[count] == report[count], count
    total = next(line for line in dry.stderr.splitlines() if "queries in all" in line)
    assert "2 queries in all and 2 totals queries" in total

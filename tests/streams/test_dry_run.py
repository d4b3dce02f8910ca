"""A dry run leaves the warehouse alone (issue 30, 9).

It prints the plan, the total and the usage line, submits nothing, and no stream (the
fixed ones included) emits SCHEMA or RECORD: a loader would otherwise create the schema
and tables of a run that was only to be planned. tests/e2e/test_first_week.py runs it
through Meltano into target-postgres.
"""

from __future__ import annotations

import json
from pathlib import Path

from supermetrics_emulator import EmulatorServer
from tests.conftest import base_config, run_tap, submissions


def test_a_dry_run_emits_no_schema_and_no_record_and_still_tells_its_plan(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, reconcile=True)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr
    state = first.states()[-1]
    submitted_before = submissions(emulator)

    dry = run_tap(tmp_path, {**config, "end_date": "2024-01-12", "dry_run": True}, state=state)

    assert dry.returncode == 0, dry.stderr
    assert {message["type"] for message in dry.messages} <= {"STATE"}
    bookmarks = [message["value"]["bookmarks"] for message in dry.messages]
    assert all(bookmark["ads"] == state["bookmarks"]["ads"] for bookmark in bookmarks)
    assert submissions(emulator) == submitted_before
    lines = [line.split("| ")[-1] for line in dry.stderr.splitlines()]
    assert any(
        line.startswith("Dry run: stream 'ads' plans 1 query, ~")
        and line.endswith("(as of 2024-01-12; lookback 3 days)")
        for line in lines
    ), lines
    assert any(line.startswith("Dry run: stream 'ads': plus 1 totals query") for line in lines)
    assert any(line.startswith("Dry run: ") and " in all" in line for line in lines), lines
    assert not any(" 1 queries" in line for line in lines)
    (usage,) = [json.loads(line) for line in lines if line.startswith('{"') and "dry_run" in line]
    assert usage["dry_run"] is True

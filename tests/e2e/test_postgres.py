"""End to end: emulator → `meltano run tap-supermetrics target-postgres` → real PostgreSQL.

These start everything they need: a PostgreSQL server in a temp directory on a free
loopback port, Meltano (from .venv-meltano, see scripts/bootstrap) running this
repository's meltano.yml, and the emulator. Meltano's state lives in a per-test
SQLite system database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests import oracle
from tests.pipeline import FIELDS, Pipeline

pytestmark = pytest.mark.e2e


def warehouse_rows(start: str, end: str, **knobs: Any) -> list[tuple[Any, ...]]:
    """The rows (tests/oracle.py, under the emulator's `knobs`) as PostgreSQL returns them."""
    rows = [
        (
            dt.date.fromisoformat(row["Date"]),
            row["CampaignName"],
            row["Device"],
            row["Impressions"],
            row["Clicks"],
            Decimal(str(row["Cost"])),
            None if row["Conversions"] is None else Decimal(str(row["Conversions"])),
        )
        for row in oracle.rows("AW", FIELDS, start, end, ["111-111-1111"], **knobs)
    ]
    return sorted(rows, key=lambda row: row[:3])


def test_first_run_loads_exactly_the_emulator_rows(pipeline: Pipeline) -> None:
    result = pipeline.run()

    assert result.returncode == 0, result.stderr[-3000:]
    assert pipeline.rows() == warehouse_rows("2024-01-01", "2024-01-20")
    assert pipeline.bookmark() == "2024-01-20"
    runs = pipeline.rows("query_runs")
    assert len(runs) == 3  # three 7-day windows


def test_lookback_run_rereads_corrections_without_duplicates(pipeline: Pipeline) -> None:
    assert pipeline.run().returncode == 0
    before = {row[:3]: row for row in pipeline.rows()}
    correction = {"revision": 1, "revision_from": "2024-01-18"}
    pipeline.emulator.configure(**correction)

    second = pipeline.run(end_date="2024-01-25")

    assert second.returncode == 0, second.stderr[-3000:]
    after = pipeline.rows()
    assert after == warehouse_rows("2024-01-01", "2024-01-25", **correction)
    assert len({row[:3] for row in after}) == len(after)
    corrected = [key for key, row in before.items() if {r[:3]: r for r in after}[key] != row]
    assert corrected
    assert {key[0].isoformat() for key in corrected} == {"2024-01-18", "2024-01-19", "2024-01-20"}
    assert pipeline.bookmark() == "2024-01-25"
    submitted = [q for q in pipeline.emulator.stats()["queries"] if q["start_date"] >= "2024-01-17"]
    assert min(q["start_date"] for q in submitted) == "2024-01-17"  # bookmark - lookback_days

    third = pipeline.run(end_date="2024-01-22")  # an older end date: re-read, never rewind

    assert third.returncode == 0, third.stderr[-3000:]
    assert pipeline.bookmark() == "2024-01-25"


def test_run_killed_in_a_late_window_resumes_without_loss_or_doubles(pipeline: Pipeline) -> None:
    pipeline.emulator.add_fault(
        action="query_failure", start_date="2024-01-15", code="DS_BROKEN", message="late failure"
    )

    killed = pipeline.run()

    assert killed.returncode != 0
    assert "DS_BROKEN" in killed.stderr
    assert pipeline.bookmark() == "2024-01-14"  # windows 1 and 2 landed, window 3 did not
    assert pipeline.rows() == warehouse_rows("2024-01-01", "2024-01-14")

    resumed = pipeline.run()

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert pipeline.rows() == warehouse_rows("2024-01-01", "2024-01-20")
    assert pipeline.bookmark() == "2024-01-20"
    resumed_starts = sorted(
        q["start_date"] for q in pipeline.emulator.stats()["queries"] if q["status"] == "SUCCESS"
    )
    assert "2024-01-11" in resumed_starts  # resumed at bookmark - lookback, not at start_date

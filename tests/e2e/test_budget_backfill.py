"""Issue 29: a backfill larger than the row budget completes over daily runs.

Through Meltano and target-postgres: ten daily runs, each a day later, with `start_date`
60 days before the loaded range and `max_rows_per_run` a third of a 30-day window. Every
run loads its new day, the rest of the budget goes to backfill (windows cut to fit, newest
first), the backfill completes within about 8 runs, every row lands exactly once, and the
`coverage` table shows no missing day.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
import pytest

from tests import oracle
from tests.pipeline import Pipeline, as_stored

pytestmark = pytest.mark.e2e

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
FIELDS = ["Date", "profileID", "Device", "Clicks", "Cost"]  # 3 rows per account-day: 9 a day
QUERY = {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B, C], "fields": FIELDS}
BUDGET = 90  # a third of a 30-day window (270 rows)
FIRST_DAY = dt.date(2024, 1, 1)
LOADED_FROM = dt.date(2024, 3, 1)  # 60 days after start_date


def usage(stderr: str) -> dict[str, Any]:
    line = next(line for line in stderr.splitlines() if '"event": "tap_supermetrics_usage"' in line)
    report: dict[str, Any] = json.loads(line[line.index("{") :])
    return report


def wanted(last: dt.date) -> list[tuple[Any, ...]]:
    rows = [
        tuple(as_stored(name, row[name]) for name in FIELDS)
        for account in (A, B, C)
        for row in oracle.rows("AW", FIELDS, FIRST_DAY.isoformat(), last.isoformat(), [account])
    ]
    return sorted(rows, key=repr)


def test_ten_daily_runs_complete_a_backfill_three_times_the_budget(pipeline: Pipeline) -> None:
    settings: dict[str, Any] = {
        "queries": [QUERY],
        "window_days": 30,
        "lookback_days": 0,
    }
    first = pipeline.run(**settings, start_date=LOADED_FROM.isoformat(), end_date="2024-03-10")
    assert first.returncode == 0, first.stderr[-3000:]

    received, complete_after = [], None
    for number in range(1, 11):
        end = dt.date(2024, 3, 10) + dt.timedelta(days=number)
        done = pipeline.run(
            **settings,
            start_date=FIRST_DAY.isoformat(),
            end_date=end.isoformat(),
            max_rows_per_run=BUDGET,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        report = usage(done.stderr)
        received.append(report["rows_received"])
        accounts = pipeline.bookmarks()["ads"]["coverage"]["accounts"]
        # The new day loads every run, whatever the backfill left.
        assert all(days[-1][1] == end.isoformat() for days in accounts.values()), accounts
        if complete_after is None and report["deferred_queries"] == 0:
            complete_after = number

    print(f"backfill complete after run {complete_after}; rows per run: {received}")  # noqa: T201
    assert complete_after is not None, received
    assert complete_after <= 8, received
    assert all(rows <= BUDGET for rows in received), received
    last = dt.date(2024, 3, 20)
    assert pipeline.table("ads", FIELDS) == wanted(last)  # each row once, every day there
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        coverage = connection.execute(
            "select account, loaded, missing_days, deferred_days "  # noqa: S608
            f'from "{pipeline.schema}"."coverage" where stream = %s order by 1',
            ("ads",),
        ).fetchall()
    everything = f"{FIRST_DAY}..{last}"
    assert coverage == [(A, everything, 0, 0), (B, everything, 0, 0), (C, everything, 0, 0)]

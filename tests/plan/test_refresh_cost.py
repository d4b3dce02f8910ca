"""The refresh cost benchmark (bench/refresh_cost.py) counts what the tap's planner reads.

Small numbers, counted by hand in the comments, so a change to the planner, the tier
bookkeeping or the counting that moves the figures of docs/refresh.md fails here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bench import refresh_cost
from bench.refresh_cost import Estate, daily_runs

ESTATE = Estate(accounts=3, rows_per_day=2)  # 6 rows a day over all accounts
START = dt.date(2024, 1, 1)
BACKFILL_THROUGH = dt.date(2024, 1, 10)


def runs(
    settings: dict[str, object], window_days: int = 30
) -> tuple[refresh_cost.Run, list[refresh_cost.Run]]:
    return daily_runs(
        settings,
        ESTATE,
        start=START,
        backfill_through=BACKFILL_THROUGH,
        runs=10,
        window_days=window_days,
    )


def test_a_lookback_reads_its_days_the_last_loaded_day_and_the_new_day_every_run() -> None:
    backfill, daily = runs({"lookback_days": 4})

    # Backfill: 2024-01-01..10, 10 days x 6 rows, one query.
    assert (backfill.as_of, backfill.rows, backfill.queries) == (BACKFILL_THROUGH, 60, 1)
    # Every run: the 4 days before the last loaded day, that day and the new day: 6 days
    # x 6 rows = 36 rows; 10 runs: 360 rows.
    assert [run.as_of for run in daily] == [dt.date(2024, 1, 11 + n) for n in range(10)]
    assert [run.rows for run in daily] == [36] * 10
    assert sum(run.rows for run in daily) == 360
    assert [run.queries for run in daily] == [1] * 10
    assert daily[0].reasons == ("lookback, new days",)


def test_a_long_tier_adds_its_days_only_every_k_as_of_days() -> None:
    _, daily = runs({"refresh": [{"days": 1, "every": 1}, {"days": 4, "every": 3}]})

    # The short tier: the day before the last loaded day, that day, the new day: 3 days
    # x 6 = 18 rows. The long tier counts as run on 2024-01-10 (the backfill's last
    # day): due as of 01-13, 01-16 and 01-19 (runs 3, 6, 9), then 6 days x 6 = 36 rows.
    # Total: 7 x 18 + 3 x 36 = 126 + 108 = 234 rows (a lookback of 4: 360).
    assert [run.rows for run in daily] == [18, 18, 36, 18, 18, 36, 18, 18, 36, 18]
    assert sum(run.rows for run in daily) == 234
    assert daily[2].reasons == ("new days, refresh 1 days every 1, refresh 4 days every 3",)


def test_queries_are_counted_per_window() -> None:
    _, lookback = runs({"lookback_days": 4}, window_days=4)
    _, tiers = runs({"refresh": [{"days": 1, "every": 1}, {"days": 4, "every": 3}]}, 4)

    # 6 days in windows of 4: 2 queries; 3 days: 1.
    assert sum(run.queries for run in lookback) == 20
    assert [run.queries for run in tiers] == [1, 1, 2, 1, 1, 2, 1, 1, 2, 1]
    assert sum(run.rows for run in tiers) == 234  # windows do not change the rows


def test_the_report_prints_the_totals_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert refresh_cost.main(["--accounts", "2", "--rows-per-day", "1", "--runs", "7"]) == 0

    lines = capsys.readouterr().out.splitlines()
    # lookback_days 30: 7 runs x 32 days x 2 accounts = 448 rows. Tiers 3/1 + 30/7:
    # 6 runs x 5 days + 1 run (as of the 7th day) x 32 days = 62 days x 2 = 124 rows.
    totals = next(line for line in lines if line.startswith("rows read in the runs"))
    assert totals.split()[-2:] == ["448", "124"]
    assert lines[-1] == "ratio lookback_days: 30 / refresh 3/1 + 30/7: 3.61"

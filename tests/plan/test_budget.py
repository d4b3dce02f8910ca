"""The run's row budget (`max_rows_per_run`) over HTTP to the emulator (issue 22).

A backfill larger than the budget is spread over runs: each run receives at most the
budget plus one query per stream that had no estimate yet, new days come first, backfill
newest first, what is left stays a gap (shown in the `coverage` stream and in one INFO
line per stream), and after enough runs the table is exact.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.plan.coverage import read_coverage
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
ADS_FIELDS = ["Date", "profileID", "Device", "Clicks", "Cost"]  # 3 rows per account-day
GA_FIELDS = ["Date", "property", "DeviceCategory", "Sessions"]  # 2 rows per day
ADS = {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B, C], "fields": ADS_FIELDS}
GA = {"name": "ga", "ds_id": "GAWA", "ds_accounts": ["properties/1001"], "fields": GA_FIELDS}
BUDGET = 150


def settings(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "queries": [ADS, GA],
        "start_date": "2024-01-01",
        "end_date": "2024-02-29",
        "window_days": 7,
        "lookback_days": 0,
        "max_rows_per_run": BUDGET,
    }
    return base_config(emulator, tmp_path, **defaults | overrides)


def usage(run: TapRun) -> dict[str, Any]:
    """The run's structured usage line."""
    lines = [
        line for line in run.stderr.splitlines() if '"event": "tap_supermetrics_usage"' in line
    ]
    assert len(lines) == 1, run.stderr[-2000:]
    report: dict[str, Any] = json.loads(lines[0][lines[0].index("{") :])
    return report


def runs_of(run: TapRun, stream: str) -> list[dict[str, Any]]:
    return [r for r in run.records("query_runs") if r["stream"] == stream]


def table(records: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows a target holds after upserting `records` in order (last one wins)."""
    rows = {
        tuple(r[k] for k in key): {k: v for k, v in r.items() if k[:3] != "_sm"} for r in records
    }
    return [rows[k] for k in sorted(rows)]


def expected(ds_id: str, fields: list[str], accounts: list[str], key: tuple[str, ...]) -> list[Any]:
    rows = [
        row
        for account in accounts
        for row in oracle.rows(ds_id, fields, "2024-01-01", "2024-02-29", [account])
    ]
    return sorted(rows, key=lambda row: tuple(row[k] for k in key))


def test_a_backfill_over_budget_lands_over_several_runs_newest_first_each_within_budget(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # 60 days: ads 540 rows, ga 120 rows; 150 rows a run.
    state: dict[str, Any] | None = None
    ads: list[dict[str, Any]] = []
    ga: list[dict[str, Any]] = []
    first_loaded: list[str] = []
    for number in range(8):
        run = run_tap(tmp_path, settings(emulator, tmp_path), state=state)
        assert run.returncode == 0, run.stderr[-3000:]
        report = usage(run)
        # Within budget, plus at most one query per stream that had no estimate yet.
        unestimated = (
            sum(r["rows_read"] for stream in ("ads", "ga") for r in runs_of(run, stream)[:1])
            if number == 0
            else 0
        )
        assert report["rows_received"] <= BUDGET + unestimated, report
        assert report["rows_received"] == sum(r["rows_read"] for r in run.records("query_runs"))
        # No day read twice in one run.
        for stream in ("ads", "ga"):
            windows = sorted((r["start_date"], r["end_date"]) for r in runs_of(run, stream))
            assert all(a[1] < b[0] for a, b in itertools.pairwise(windows)), windows
        ads += run.records("ads")
        ga += run.records("ga")
        state = run.states()[-1]
        coverage = state["bookmarks"]["ads"]["coverage"]["accounts"]
        first_loaded.append(min(days[0][0] for days in coverage.values()))
        if report["deferred_queries"] == 0:
            break
        deferred = [
            line for line in run.stderr.splitlines() if "deferred by max_rows_per_run" in line
        ]
        assert deferred, "one INFO line per stream that deferred queries"
        assert all("the next runs read them" in line for line in deferred)
    else:
        raise AssertionError("the backfill never finished")

    assert number >= 3
    # Backfill newest first: every run reaches further back, from the last day.
    assert first_loaded == sorted(first_loaded, reverse=True)
    assert coverage == {account: [["2024-01-01", "2024-02-29"]] for account in (A, B, C)}
    key = ("Date", "profileID", "Device")
    assert table(ads, key) == expected("AW", ADS_FIELDS, [A, B, C], key)
    ga_key = ("Date", "property", "DeviceCategory")
    assert table(ga, ga_key) == expected("GAWA", GA_FIELDS, ["properties/1001"], ga_key)


def test_new_days_come_before_any_streams_backfill(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Both streams hold 2024-02-16..02-29; now start_date moves back to January (backfill)
    # and 7 new days arrive: the budget holds the new days of both streams, not the backfill.
    first = run_tap(
        tmp_path, settings(emulator, tmp_path, start_date="2024-02-16", max_rows_per_run=10_000)
    )
    assert first.returncode == 0, first.stderr[-2000:]

    config = settings(emulator, tmp_path, end_date="2024-03-07", max_rows_per_run=100)
    run = run_tap(tmp_path, config, state=first.states()[-1])

    assert run.returncode == 0, run.stderr[-3000:]
    for stream in ("ads", "ga"):
        reasons = [r["reason"] for r in runs_of(run, stream)]
        new = [i for i, reason in enumerate(reasons) if "new days" in reason]
        backfill = [i for i, reason in enumerate(reasons) if "earlier start_date" in reason]
        assert new, reasons
        assert max(new) < min(backfill, default=len(reasons)), reasons
        coverage = run.states()[-1]["bookmarks"][stream]["coverage"]["accounts"]
        assert all(days[-1][1] == "2024-03-07" for days in coverage.values()), coverage
    # New days: ads 7 days x 9 rows = 63, ga 7 x 2 = 14 (the last loaded day was final when
    # loaded: not read again); what the budget has left goes to backfill, cut to fit.
    new_rows = sum(r["rows_read"] for r in run.records("query_runs") if "new days" in r["reason"])
    assert new_rows == 63 + 14
    assert new_rows < usage(run)["rows_received"] <= 100
    assert usage(run)["deferred_queries"] > 0


def test_the_dry_run_prints_estimates_and_the_total_against_the_budget(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    first = run_tap(tmp_path, settings(emulator, tmp_path))
    assert first.returncode == 0

    dry = run_tap(
        tmp_path, {**settings(emulator, tmp_path), "dry_run": True}, state=first.states()[-1]
    )

    assert dry.returncode == 0
    assert [m for m in dry.messages if m["type"] == "RECORD"] == []
    text = dry.stderr
    assert "Dry run: stream 'ads' plans" in text
    assert "rows estimated" in text
    assert "~63 rows" in text  # a 7-day window of 3 accounts at 3 rows a day
    total = [line for line in text.splitlines() if "queries in all" in line]
    assert len(total) == 1
    assert "against max_rows_per_run=150" in total[0]
    assert "would be deferred" in total[0]
    report = usage(dry)
    assert report["dry_run"] is True
    assert report["rows_received"] == 0
    assert report["streams"]["ads"]["estimated_rows"] > 0


def test_the_coverage_stream_shows_loaded_missing_and_deferred_days(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, settings(emulator, tmp_path))

    assert run.returncode == 0
    records = {(r["stream"], r["account"]): r for r in run.records("coverage")}
    assert set(records) == {("ads", A), ("ads", B), ("ads", C), ("ga", "properties/1001")}
    ads = records[("ads", A)]
    loaded = run.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"][A]
    assert ads["loaded"] == ", ".join(f"{first}..{last}" for first, last in loaded)
    assert ads["missing"] == f"2024-01-01..{_day_before(loaded[0][0])}"
    assert ads["deferred"] == ads["missing"]  # everything missing was deferred by the budget
    assert ads["loaded_days"] + ads["missing_days"] == 60
    assert (ads["failed"], ads["failed_days"]) == ("", 0)
    assert ads["rows_per_day"] == 3.0
    assert ads["as_of"] == "2024-02-29"


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def test_the_usage_line_reports_each_stream_without_a_budget_too(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, end_date="2024-01-07")
    del config["max_rows_per_run"]
    run = run_tap(tmp_path, config)

    assert run.returncode == 0
    report = usage(run)
    assert report["max_rows_per_run"] is None
    assert report["streams"]["ads"] == {
        "queries": 1,
        "rows_received": 63,
        "planned_queries": 1,
        "estimated_rows": 0,
        "unestimated_queries": 1,
        "deferred_queries": 0,
        "deferred_rows": 0,
        "totals_queries": 0,
        "totals_skipped": 0,
        "confirmations": 0,
        "failed_accounts": [],
    }
    assert report["rows_received"] == 63 + 14


# Issue 29, case 1: a budget smaller than a window never stalls --------------------------


def ads_only(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return settings(emulator, tmp_path, queries=[ADS], **overrides)


def loaded_range(run: TapRun, account: str = A) -> list[list[str]]:
    days: list[list[str]] = run.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"][account]
    return days


def test_a_window_larger_than_the_budget_is_read_in_parts_run_after_run(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # History: 9 rows a day (3 accounts x 3). Then start_date moves back 50 days with 30-day
    # windows (~270 rows each) and a budget of 100: each run reads 11 days, newest first.
    first = run_tap(tmp_path, ads_only(emulator, tmp_path, start_date="2024-02-20"))
    state = first.states()[-1]
    config = ads_only(emulator, tmp_path, window_days=30, max_rows_per_run=100)
    records: list[dict[str, Any]] = first.records("ads")
    starts = []
    for _ in range(6):
        run = run_tap(tmp_path, config, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        assert 0 < usage(run)["rows_received"] <= 100
        records += run.records("ads")
        state = run.states()[-1]
        starts.append(loaded_range(run)[0][0])
        if starts[-1] == "2024-01-01":
            break
    assert starts == ["2024-02-09", "2024-01-29", "2024-01-18", "2024-01-07", "2024-01-01"]
    key = ("Date", "profileID", "Device")
    assert table(records, key) == expected("AW", ADS_FIELDS, [A, B, C], key)


def test_new_days_load_every_day_while_a_long_due_tier_is_read_in_parts(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # A 30-day tier every 7 days (~279 rows) and one new day (9 rows) with 100 rows a run:
    # the new day always loads, the tier is read newest first over a few runs, then counts
    # as run; the days of a run never repeat within it.
    start = {"start_date": "2024-01-01", "window_days": 90}
    tiers = {"refresh": [{"days": 30, "every": 7}], "max_rows_per_run": 100}
    first = run_tap(tmp_path, ads_only(emulator, tmp_path, end_date="2024-02-10", **start))
    state = first.states()[-1]
    refreshed = []
    for day in range(11, 23):
        end = f"2024-02-{day}"
        config = ads_only(emulator, tmp_path, end_date=end, **start | tiers)
        del config["lookback_days"]
        run = run_tap(tmp_path, config, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        assert usage(run)["rows_received"] <= 100
        assert loaded_range(run)[-1][1] == end  # the new day, every run
        state = run.states()[-1]
        coverage = read_coverage(
            state["bookmarks"]["ads"],
            replication_key="Date",
            start_date=dt.date(2024, 1, 1),
            accounts=[],
            fingerprint={},
        )
        refreshed.append(coverage.refreshed[A]["30/7"])
    # Due on 02-17 (7 as-of days after 02-10); read in parts, it counts as run once whole.
    assert refreshed[:6] == ["2024-02-10"] * 6
    assert "2024-02-10" not in refreshed[-3:]
    tier_rows = [
        r for r in run.records("query_runs") if "refresh 30 days every 7" in (r["reason"] or "")
    ]
    assert not tier_rows or all(r["start_date"] <= r["end_date"] for r in tier_rows)


def test_a_catch_up_after_a_pause_moves_every_run(emulator: EmulatorServer, tmp_path: Path) -> None:
    first = run_tap(tmp_path, ads_only(emulator, tmp_path, end_date="2024-01-10"))
    config = ads_only(
        emulator, tmp_path, end_date="2024-02-09", window_days=30, max_rows_per_run=100
    )

    second = run_tap(tmp_path, config, state=first.states()[-1])
    third = run_tap(tmp_path, config, state=second.states()[-1])

    # 30 new days (270 rows) after a pause: the oldest 11 each run (99 rows), in order.
    assert loaded_range(second) == [["2024-01-01", "2024-01-21"]]
    assert loaded_range(third) == [["2024-01-01", "2024-02-01"]]
    assert usage(second)["rows_received"] == usage(third)["rows_received"] == 99


def test_a_budget_below_one_day_of_one_account_says_how_much_is_needed(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    first = run_tap(tmp_path, ads_only(emulator, tmp_path, start_date="2024-02-20"))

    run = run_tap(
        tmp_path,
        ads_only(emulator, tmp_path, max_rows_per_run=2),
        state=first.states()[-1],
    )

    assert run.returncode == 0
    assert run.records("ads") == []
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    stalled = [line for line in warnings if "max_rows_per_run=2 leaves 2 rows" in line]
    assert len(stalled) == 1, run.stderr[-3000:]
    assert "set max_rows_per_run to at least 3" in stalled[0]
    assert "the next runs read them" not in run.stderr

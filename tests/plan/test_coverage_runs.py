"""Incremental state that follows config edits, run after run, over HTTP to the emulator.

Each test runs the tap command several times, carrying the last STATE from one run to
the next as Meltano does, and checks the records of each run against exactly the
accounts and days that run should have read, and the number of queries it submitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap, submissions

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
FIELDS = ["Date", "profileID", "Device", "Clicks", "Cost"]


def config(emulator: EmulatorServer, tmp_path: Path, **query: Any) -> dict[str, Any]:
    entry = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS, **query}
    return base_config(emulator, tmp_path, queries=[entry], window_days=30, lookback_days=3)


class Runs:
    """Runs the tap again and again with the state of the previous run."""

    def __init__(self, emulator: EmulatorServer, tmp_path: Path) -> None:
        self.emulator = emulator
        self.tmp_path = tmp_path
        self.state: dict[str, Any] | None = None

    def run(self, settings: dict[str, Any], *, ok: bool = True) -> TapRun:
        self.emulator.emulator.reset_stats()
        run = run_tap(self.tmp_path, settings, state=self.state)
        assert (run.returncode == 0) == ok, run.stderr[-3000:]
        if run.states():
            self.state = run.states()[-1]
        return run

    def coverage(self) -> dict[str, Any]:
        assert self.state is not None
        return self.state["bookmarks"]["ads"]["coverage"]["accounts"]


def rows(
    start: str, end: str, accounts: list[str], fields: list[str] = FIELDS
) -> list[dict[str, Any]]:
    """The rows of these days and accounts (tests/oracle.py), one account after another."""
    return [row for account in accounts for row in oracle.rows("AW", fields, start, end, [account])]


def key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["Date"], record["profileID"], record["Device"])


def same_rows(records: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    return sorted(records, key=key) == sorted(expected, key=key)


def test_an_added_account_is_backfilled_alone_while_the_others_continue(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    first = runs.run(config(emulator, tmp_path) | {"end_date": "2024-01-31"})
    assert same_rows(first.records("ads"), rows("2024-01-01", "2024-01-31", [A]))
    assert submissions(emulator) == 2  # windows of 30 days

    second = runs.run(config(emulator, tmp_path, ds_accounts=[A, B]) | {"end_date": "2024-02-05"})

    expected = rows("2024-01-28", "2024-02-05", [A]) + rows("2024-01-01", "2024-02-05", [B])
    assert same_rows(second.records("ads"), expected)
    assert submissions(emulator) == 3  # B: two windows; A: one lookback window
    assert runs.coverage() == {
        A: [["2024-01-01", "2024-02-05"]],
        B: [["2024-01-01", "2024-02-05"]],
    }
    assert runs.state is not None
    assert runs.state["bookmarks"]["ads"]["replication_key_value"] == "2024-02-05"

    third = runs.run(config(emulator, tmp_path, ds_accounts=[A, B]) | {"end_date": "2024-02-06"})
    assert same_rows(third.records("ads"), rows("2024-02-02", "2024-02-06", [A, B]))
    assert submissions(emulator) == 1  # steady state: one query for all accounts

    fourth = runs.run(config(emulator, tmp_path, ds_accounts=[B]) | {"end_date": "2024-02-07"})
    assert same_rows(fourth.records("ads"), rows("2024-02-03", "2024-02-07", [B]))
    assert runs.coverage()[A] == [["2024-01-01", "2024-02-06"]]  # removed: kept, not read


def test_a_changed_field_list_reads_the_stream_again_and_says_why(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    settings = config(emulator, tmp_path) | {"end_date": "2024-01-20"}
    runs.run(settings)
    fields = [*FIELDS, "Impressions"]
    wider = config(emulator, tmp_path, fields=fields) | {"end_date": "2024-01-21"}

    again = runs.run(wider)

    assert same_rows(again.records("ads"), rows("2024-01-01", "2024-01-21", [A], fields))
    assert submissions(emulator) == 1
    reasons = [line for line in again.stderr.splitlines() if "fields changed" in line]
    assert len(reasons) == 1
    assert "reading every account again from start_date 2024-01-01" in reasons[0]


def test_an_earlier_start_date_reads_only_the_new_early_days_plus_lookback(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    runs.run(config(emulator, tmp_path) | {"start_date": "2024-01-10", "end_date": "2024-01-20"})

    earlier = runs.run(config(emulator, tmp_path) | {"end_date": "2024-01-20"})

    # The same as-of day: the lookback tier is not due again, and the last loaded day was
    # loaded final (long before yesterday), so only the new early days are read.
    expected = rows("2024-01-01", "2024-01-09", [A])
    assert same_rows(earlier.records("ads"), expected)
    assert submissions(emulator) == 1
    assert runs.coverage() == {A: [["2024-01-01", "2024-01-20"]]}


def test_one_failing_account_does_not_block_the_others_and_is_read_once_fixed(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    settings = config(emulator, tmp_path, ds_accounts=[A, B, C]) | {"end_date": "2024-01-10"}
    emulator.add_fault(action="query_failure", account=B, times=0)

    failed = runs.run(settings, ok=False)

    assert same_rows(failed.records("ads"), rows("2024-01-01", "2024-01-10", [A, C]))
    assert runs.coverage() == {A: [["2024-01-01", "2024-01-10"]], C: [["2024-01-01", "2024-01-10"]]}
    assert runs.state is not None
    assert B in runs.state["bookmarks"]["ads"]["coverage"]["failed"]
    summary = [line for line in failed.stderr.splitlines() if "|   stream 'ads'" in line]
    assert len(summary) == 1
    assert f"account '{B}', window 2024-01-01..2024-01-10" in summary[0]
    assert "request_id req_" in summary[0]
    assert "1 account failure(s)" in failed.stderr
    assert failed.records("query_runs")  # the other streams' output still went out
    # the whole query, then halves ([A], [B, C]), then [B] and [C]
    assert submissions(emulator) == 5

    emulator.emulator.faults.clear()
    fixed = runs.run(settings | {"end_date": "2024-01-11"})

    expected = rows("2024-01-01", "2024-01-11", [B]) + rows("2024-01-07", "2024-01-11", [A, C])
    assert same_rows(fixed.records("ads"), expected)
    assert runs.state is not None
    assert runs.state["bookmarks"]["ads"]["coverage"]["failed"] == {}


def test_a_failure_of_every_part_is_not_blamed_on_accounts_and_stops_the_run(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    accounts = [A, B, C, "444-444-4444"]
    emulator.configure(extra_accounts={"AW": ["444-444-4444"]})
    emulator.add_fault(action="query_failure", code="FIELD_NOT_SUPPORTED", times=0)

    failed = runs.run(config(emulator, tmp_path, ds_accounts=accounts), ok=False)

    assert failed.records("ads") == []
    assert "FIELD_NOT_SUPPORTED" in failed.stderr
    assert submissions(emulator) == 7  # 1 + 2 halves + 4 quarters, then it gives up


def test_accounts_listed_upstream_are_resolved_each_run_and_a_new_one_is_backfilled(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    settings = config(emulator, tmp_path, ds_accounts="list.all_accounts") | {
        "end_date": "2024-01-10"
    }
    first = runs.run(settings)
    assert same_rows(first.records("ads"), rows("2024-01-01", "2024-01-10", [A, B, C]))
    assert submissions(emulator) == 1

    emulator.configure(extra_accounts={"AW": ["444-444-4444"]})
    second = runs.run(settings | {"end_date": "2024-01-11"})

    expected = rows("2024-01-07", "2024-01-11", [A, B, C]) + rows(
        "2024-01-01", "2024-01-11", ["444-444-4444"]
    )
    assert same_rows(second.records("ads"), expected)
    assert submissions(emulator) == 2
    log = emulator.stats()["request_log"]
    assert [entry["endpoint"] for entry in log].count("accounts") == 1


def test_a_filter_object_selects_accounts_by_name(emulator: EmulatorServer, tmp_path: Path) -> None:
    runs = Runs(emulator, tmp_path)
    settings = config(emulator, tmp_path, ds_accounts={"filter_id": "^(111|333)"}) | {
        "end_date": "2024-01-05"
    }

    run = runs.run(settings)

    assert same_rows(run.records("ads"), rows("2024-01-01", "2024-01-05", [A, C]))
    assert sorted(runs.coverage()) == [A, C]


def test_dry_run_prints_the_plan_and_submits_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    runs.run(config(emulator, tmp_path) | {"end_date": "2024-01-31"})
    before = runs.state

    dry = runs.run(
        config(emulator, tmp_path, ds_accounts=[A, B]) | {"end_date": "2024-02-05", "dry_run": True}
    )

    assert dry.records("ads") == []
    assert submissions(emulator) == 0
    assert runs.state == before
    plan = [line for line in dry.stderr.splitlines() if "Dry run: " in line]
    assert "stream 'ads' plans 3 queries" in plan[0]
    assert f"2024-01-01..2024-01-30 for {B} (new account)" in plan[1]
    assert f"2024-01-28..2024-02-05 for {A} (lookback, new days)" in plan[2]
    assert f"2024-01-31..2024-02-05 for {B} (new account)" in plan[3]


def test_a_query_without_an_account_dimension_is_read_again_when_its_accounts_change(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = Runs(emulator, tmp_path)
    fields = ["Date", "Device", "Clicks"]
    runs.run(config(emulator, tmp_path, fields=fields) | {"end_date": "2024-01-10"})

    summed = runs.run(
        config(emulator, tmp_path, fields=fields, ds_accounts=[A, B]) | {"end_date": "2024-01-10"}
    )

    expected = oracle.rows("AW", fields, "2024-01-01", "2024-01-10", [A, B])
    assert sorted(summed.records("ads"), key=str) == sorted(expected, key=str)
    assert "the query's accounts changed" in summed.stderr

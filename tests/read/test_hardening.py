"""The edges a long-running estate meets, over HTTP to the emulator (issue 19).

Each test runs the tap command as a user would and checks what they see: records,
STATE, exit codes, log lines, and the queries the emulator received.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap, submissions

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
ACCOUNT = "profileID"
FIELDS = ["Date", ACCOUNT, "Device", "Clicks", "Cost", "Conversions"]
GA_FIELDS = ["Date", "Country", "DeviceCategory", "Sessions", "BounceRate", "Revenue"]
GA = {"name": "ga", "ds_id": "GAWA", "ds_accounts": "properties/1001", "fields": GA_FIELDS}


def spans(accounts: list[str], first: str, last: str) -> dict[str, list[list[str]]]:
    """A coverage's `accounts` entry: each account loaded from `first` to `last`."""
    return {account: [[first, last]] for account in accounts}


def ads(**query: Any) -> dict[str, Any]:
    return {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B, C], "fields": FIELDS, **query}


def settings(
    emulator: EmulatorServer, tmp_path: Path, *queries: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"window_days": 30, "lookback_days": 3, "end_date": "2024-01-10"}
    return base_config(emulator, tmp_path, queries=list(queries or [ads()]), **defaults | overrides)


def rows(
    start: str, end: str, accounts: list[str], fields: list[str] = FIELDS
) -> list[dict[str, Any]]:
    """The rows of these days and accounts (tests/oracle.py), one account after another."""
    return [row for account in accounts for row in oracle.rows("AW", fields, start, end, [account])]


def key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["Date"], record[ACCOUNT], record["Device"])


def same_rows(records: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    return sorted(records, key=key) == sorted(expected, key=key)


def coverage(run: TapRun, stream: str = "ads") -> dict[str, Any]:
    return run.states()[-1]["bookmarks"][stream].get("coverage", {})


def submitted(emulator: EmulatorServer) -> list[dict[str, Any]]:
    log = emulator.stats()["request_log"]
    return [e["params"] for e in log if e["endpoint"] == "submit" and "ds_id" in e["params"]]


def lines(run: TapRun, text: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if text in line]


# 1. A future end_date ---------------------------------------------------------------


def test_days_after_yesterday_are_read_but_never_recorded_as_loaded(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    today = dt.datetime.now(tz=dt.UTC).date()
    day = dt.timedelta(days=1)
    start, yesterday, tomorrow = today - 6 * day, today - day, today + day
    config = settings(
        emulator, tmp_path, ads(ds_accounts=[A]), start_date=str(start), end_date="2030-12-31"
    )

    first = run_tap(tmp_path, config)

    assert first.returncode == 0, first.stderr[-2000:]
    assert same_rows(first.records("ads"), rows(str(start), str(tomorrow), [A]))
    assert coverage(first)["accounts"] == {A: [[str(start), str(yesterday)]]}
    assert [(q["start_date"], q["end_date"]) for q in submitted(emulator)] == [
        (str(start), str(tomorrow))  # days that have not happened anywhere are not asked for
    ]
    assert lines(first, f"are not complete yet (after {yesterday}")

    emulator.emulator.reset_stats()
    dry = run_tap(tmp_path, config | {"dry_run": True}, state=first.states()[-1])
    assert lines(dry, "Dry run: stream 'ads': days ")
    assert lines(dry, "read but not recorded as loaded, so the next run reads them again")
    assert submissions(emulator) == 0

    config["lookback_days"] = 0  # the unfinished days are read again whatever the lookback
    second = run_tap(tmp_path, config, state=first.states()[-1])

    assert second.returncode == 0, second.stderr[-2000:]
    assert same_rows(second.records("ads"), rows(str(yesterday), str(tomorrow), [A]))
    assert coverage(second)["accounts"] == {A: [[str(start), str(yesterday)]]}


# 2. An account list that resolves to nothing ------------------------------------------


@pytest.mark.parametrize(
    "ds_accounts", ["list.all_accounts", {"filter_id": "-"}], ids=["team-list", "filter"]
)
def test_an_empty_account_list_reads_nothing_keeps_coverage_and_resumes_where_it_was(
    emulator: EmulatorServer, tmp_path: Path, ds_accounts: object
) -> None:
    config = settings(emulator, tmp_path, ads(ds_accounts=ds_accounts))
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-2000:]
    loaded = coverage(first)
    assert loaded["accounts"] == spans([A, B, C], "2024-01-01", "2024-01-10")

    emulator.configure(removed_accounts={"AW": [A, B, C]})
    emulator.emulator.reset_stats()
    empty = run_tap(tmp_path, config | {"end_date": "2024-01-12"}, state=first.states()[-1])

    assert empty.returncode == 0, empty.stderr[-2000:]
    assert empty.records("ads") == []
    assert submissions(emulator) == 0
    warnings = lines(empty, "lists no account now")
    assert len(warnings) == 1
    assert "WARNING" in warnings[0]
    assert "'ads'" in warnings[0]
    assert "list.all_accounts" in warnings[0] or "filter_id" in warnings[0]
    assert coverage(empty) == loaded

    emulator.configure(removed_accounts={})
    emulator.emulator.reset_stats()
    back = run_tap(tmp_path, config | {"end_date": "2024-01-12"}, state=empty.states()[-1])

    assert back.returncode == 0, back.stderr[-2000:]
    assert same_rows(back.records("ads"), rows("2024-01-07", "2024-01-12", [A, B, C]))
    assert submissions(emulator) == 1  # one query for the three accounts, from the lookback


# 3. Errors while listing one stream's accounts, and run-wide answers -----------------


@pytest.mark.parametrize("ads_first", [True, False], ids=["ads-first", "ads-planned-ahead"])
def test_a_refused_account_list_stops_only_its_stream(
    emulator: EmulatorServer, tmp_path: Path, *, ads_first: bool
) -> None:
    failing = ads(ds_accounts="list.all_accounts")
    queries = [failing, GA] if ads_first else [GA, failing]
    config = settings(emulator, tmp_path, *queries)
    emulator.add_fault(
        action="http_error", endpoint="accounts", ds_id="AW", status=403, code="LOGIN_REVOKED"
    )

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.records("ads") == []
    ga = oracle.rows("GAWA", GA_FIELDS, "2024-01-01", "2024-01-10", ["properties/1001"])
    assert run.records("ga") == ga
    assert coverage(run, "ga")["accounts"] == {"*": [["2024-01-01", "2024-01-10"]]}  # summed
    summary = lines(run, "|   stream 'ads'")
    assert len(summary) == 1
    for part in ("data source 'AW'", "HTTP 403", "LOGIN_REVOKED", "request_id req_"):
        assert part in summary[0]
    assert "1 stream failure(s)" in run.stderr


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (403, "ACCESS_DENIED_IP", "Supermetrics rejected the API key (HTTP 403"),
        (401, "API_KEY_INVALID", "Supermetrics rejected the API key (HTTP 401"),
        (403, "LICENSE_EXPIRED", "the Supermetrics licence refused the request"),
        (429, "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED", "the Supermetrics licence refused"),
    ],
)
def test_key_and_licence_answers_stop_the_run_at_once_in_one_line(
    emulator: EmulatorServer, tmp_path: Path, status: int, code: str, says: str
) -> None:
    config = settings(emulator, tmp_path, ads(ds_accounts="list.all_accounts"), GA)
    emulator.add_fault(action="http_error", endpoint="accounts", status=status, code=code)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert lines(run, says)
    assert run.records("ga") == []  # the run stopped at once
    assert submissions(emulator) == 0


def test_a_licence_code_inside_a_failure_stops_the_run_without_splitting(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path)
    emulator.add_fault(action="query_failure", code="LICENSE_ROW_LIMIT_EXCEEDED", times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert lines(run, "LICENSE_ROW_LIMIT_EXCEEDED")
    assert lines(run, "Supermetrics licence refused")
    assert submissions(emulator) == 1  # no halving by accounts


# 5. Expiry, then a resubmission that fails for one account ---------------------------


def test_rows_stay_exactly_once_across_expiry_resubmission_and_account_splitting(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, page_size=20)
    emulator.add_fault(action="expire_early", after_pages=2, times=1)
    # The first query reads fine; its resubmission and every later query with B fail.
    emulator.add_fault(action="query_failure", account=B, skip=1, times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    records = run.records("ads")
    counts = Counter(map(key, records))
    assert [k for k, n in counts.items() if n > 1] == []
    expected = rows("2024-01-01", "2024-01-10", [A, C])
    assert same_rows([r for r in records if r[ACCOUNT] != B], expected)
    assert coverage(run)["accounts"] == spans([A, C], "2024-01-01", "2024-01-10")
    assert B in coverage(run)["failed"]
    stamps = {r["_sm_extracted_at"] for r in run.records("ads", lineage=True)}
    assert len(stamps) == 1  # one window read, one lineage stamp, whatever its parts


# 9. No query wasted silently ---------------------------------------------------------


def test_a_window_submitted_ahead_and_dropped_shows_in_query_runs_with_its_reason(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, ads(ds_accounts=[A, B]), window_days=5)
    emulator.add_fault(action="query_failure", account=B, times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert same_rows(run.records("ads"), rows("2024-01-01", "2024-01-10", [A]))
    runs = run.records("query_runs")
    dropped = [r for r in runs if (r["error"] or "").startswith("not read:")]
    assert len(dropped) == 1
    assert dropped[0]["accounts"] == [A, B]
    assert dropped[0]["start_date"] == "2024-01-06"
    assert f"{B} failed earlier in this run" in dropped[0]["error"]
    assert len(runs) == submissions(emulator)  # every submitted query is reported


# 10. PROCESS_EXITED ------------------------------------------------------------------


def test_process_exited_is_submitted_again(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = settings(emulator, tmp_path)
    emulator.add_fault(action="unknown_status", code="PROCESS_EXITED", times=1)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-2000:]
    assert same_rows(run.records("ads"), rows("2024-01-01", "2024-01-10", [A, B, C]))
    assert submissions(emulator) == 2
    assert lines(run, "status PROCESS_EXITED")


def test_process_exited_past_max_resubmits_fails_naming_the_status(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, max_resubmits=1)
    emulator.add_fault(action="unknown_status", code="PROCESS_EXITED", times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert lines(run, "status PROCESS_EXITED 2 times (max_resubmits=1)")
    assert run.records("ads") == []
    assert submissions(emulator) == 2


# 7. Catalog selection ----------------------------------------------------------------


def deselect(catalog: dict[str, Any], stream: str, *names: str) -> dict[str, Any]:
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != stream:
            continue
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
            elif item["breadcrumb"][-1] in names:
                item["metadata"]["selected"] = False
    return catalog


def test_a_deselected_metric_is_not_asked_for_and_keeps_coverage(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path)
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    inclusion = {
        item["breadcrumb"][-1]: item["metadata"].get("inclusion")
        for entry in catalog["streams"]
        if entry["tap_stream_id"] == "ads"
        for item in entry["metadata"]
        if item["breadcrumb"]
    }
    for name in ("Date", ACCOUNT, "Device", "_sm_extracted_at"):
        assert inclusion[name] == "automatic", name
    assert inclusion["Conversions"] == "available"

    first = run_tap(tmp_path, config)
    assert first.returncode == 0
    emulator.emulator.reset_stats()
    # Deselecting a metric (and trying to deselect the key): only the metric goes.
    narrowed = deselect(catalog, "ads", "Conversions", "Device")
    second = run_tap(
        tmp_path, config | {"end_date": "2024-01-11"}, state=first.states()[-1], catalog=narrowed
    )

    assert second.returncode == 0, second.stderr[-2000:]
    fields = [q["fields"] for q in submitted(emulator)]
    assert fields == [[f for f in FIELDS if f != "Conversions"]]
    narrow = [f for f in FIELDS if f != "Conversions"]
    expected = rows("2024-01-07", "2024-01-11", [A, B, C], narrow)
    assert same_rows(second.records("ads"), expected)  # lookback only: coverage kept
    assert not lines(second, "changed since the last run")

    emulator.emulator.reset_stats()
    third = run_tap(tmp_path, config | {"end_date": "2024-01-11"}, state=second.states()[-1])

    assert third.returncode == 0
    assert lines(third, "changed since the last run")  # a metric came back: read it all
    assert same_rows(third.records("ads"), rows("2024-01-01", "2024-01-11", [A, B, C]))


def test_a_reread_naming_an_account_the_list_does_not_hold_stops_only_its_stream(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = settings(emulator, tmp_path, ads(ds_accounts="list.all_accounts"), GA)
    config["reread"] = [
        {
            "stream": "ads",
            "accounts": ["999-999-9999"],
            "start_date": "2024-01-02",
            "end_date": "2024-01-03",
        }
    ]

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    refused = lines(run, "reread names account(s) 999-999-9999")
    assert refused
    assert "list.all_accounts" in refused[0]
    assert run.records("ads") == []
    assert run.records("ga") == oracle.rows(
        "GAWA", GA_FIELDS, "2024-01-01", "2024-01-10", ["properties/1001"]
    )
    log = emulator.stats()["request_log"]
    assert [e for e in log if e["endpoint"] == "submit" and e["params"].get("ds_id") == "AW"] == []

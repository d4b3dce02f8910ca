"""The API's hard limits, over HTTP to the emulator (issue 22).

A result that reaches `max_rows_per_query` may have been cut by the API: it is never
loaded as a complete window but split (days first, then accounts) and read again, each
row once. Account lists go out in groups of `max_accounts_per_query`. Windows are sized
from the rows per day earlier runs returned. Bad values and unsplittable queries are
refused before any request, and licence refusals say what to do.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap, submissions

A, B = "111-111-1111", "222-222-2222"
FIELDS = ["Date", "profileID", "CampaignName", "Device", "Clicks", "Cost"]
KEY = ("Date", "profileID", "CampaignName", "Device")
GA = ["Date", "property", "DeviceCategory", "Sessions"]


def config(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": FIELDS}
    defaults: dict[str, Any] = {
        "queries": [query],
        "window_days": 30,
        "lookback_days": 0,
        "end_date": "2024-01-10",
        "page_size": 50,
    }
    return base_config(emulator, tmp_path, **defaults | overrides)


def keyed(records: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(record[name] for name in KEY) for record in records)


def expected(start: str, end: str, accounts: list[str], fields: list[str] = FIELDS) -> list[Any]:
    rows = [row for account in accounts for row in oracle.rows("AW", fields, start, end, [account])]
    return sorted(rows, key=lambda row: tuple(row[name] for name in KEY))


def loaded(run: TapRun, stream: str = "ads") -> list[dict[str, Any]]:
    records = [{k: v for k, v in r.items() if not k.startswith("_sm")} for r in run.records(stream)]
    return sorted(records, key=lambda row: tuple(row[name] for name in KEY))


def query_runs(run: TapRun, stream: str = "ads") -> list[dict[str, Any]]:
    return [r for r in run.records("query_runs") if r["stream"] == stream]


# 1. max_rows_per_query: a cut result is split and read again ----------------------------


@pytest.mark.parametrize("cut_total_rows", ["cap", "absent"])
def test_a_cut_result_is_split_by_days_and_loaded_exactly_once(
    emulator: EmulatorServer, tmp_path: Path, cut_total_rows: str
) -> None:
    # 10 days x 2 accounts x 36 rows = 720 rows; the API cuts every result at 200.
    emulator.configure(max_result_rows=200, cut_total_rows=cut_total_rows)
    run = run_tap(tmp_path, config(emulator, tmp_path, max_rows_per_query=200))

    assert run.returncode == 0, run.stderr
    assert loaded(run) == expected("2024-01-01", "2024-01-10", [A, B])
    assert max(keyed(run.records("ads")).values()) == 1  # no row twice, cut reads included
    assert "reach max_rows_per_query, so the API may have cut the result" in run.stderr
    succeeded = [r for r in query_runs(run) if r["status"] == "SUCCESS"]
    assert all(r["total_rows"] is None or r["total_rows"] < 200 for r in succeeded[-4:])
    coverage = run.states()[-1]["bookmarks"]["ads"]["coverage"]
    assert coverage["accounts"] == {
        A: [["2024-01-01", "2024-01-10"]],
        B: [["2024-01-01", "2024-01-10"]],
    }
    assert {a: rows / days for a, (rows, days) in coverage["rows_read"].items()} == {A: 36, B: 36}
    # Paging never asked for a row past the cap.
    pages = [e["params"] for e in emulator.stats()["request_log"] if e["endpoint"] == "status"]
    assert all(int(p.get("offset_end", 0)) < 200 for p in pages)


def test_a_day_of_one_account_over_the_cap_fails_naming_the_limit_and_the_rest_loads(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(max_result_rows=30)
    ga = {
        "name": "ga",
        "ds_id": "GAWA",
        "ds_accounts": "properties/1001",
        "fields": ["Date", "property", "DeviceCategory", "Sessions"],
    }
    ads = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS}
    run = run_tap(
        tmp_path,
        config(emulator, tmp_path, queries=[ads, ga], end_date="2024-01-02", max_rows_per_query=30),
    )

    assert run.returncode == 1
    assert (
        "one day of this account alone returns 30 rows, which reaches max_rows_per_query=30"
        in run.stderr
    )
    assert "narrow the query" in run.stderr
    assert len(run.records("ga")) == 4  # 2 days x 2 device categories: the other stream loads
    assert "accounts" not in run.states()[-1]["bookmarks"]["ads"].get("coverage", {}) or (
        run.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"] == {}
    )


def test_a_querys_own_max_rows_is_a_deliberate_cut_and_never_split(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS, "max_rows": 50}
    run = run_tap(tmp_path, config(emulator, tmp_path, queries=[query], max_rows_per_query=50))

    assert run.returncode == 0, run.stderr
    assert len(run.records("ads")) == 50
    assert submissions(emulator) == 1
    assert "may have cut" not in run.stderr


def test_windows_are_sized_from_the_rows_earlier_runs_returned(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(max_result_rows=200)
    first = run_tap(tmp_path, config(emulator, tmp_path, max_rows_per_query=200))
    assert first.returncode == 0, first.stderr
    emulator.reset_stats() if hasattr(emulator, "reset_stats") else None
    before = submissions(emulator)

    # 10 new days: 72 rows a day for both accounts, so windows of 2 days (144 < 80 % of 200).
    second = run_tap(
        tmp_path,
        config(emulator, tmp_path, max_rows_per_query=200, end_date="2024-01-20"),
        state=first.states()[-1],
    )

    assert second.returncode == 0, second.stderr
    assert "may have cut" not in second.stderr
    windows = [(r["start_date"], r["end_date"]) for r in query_runs(second)]
    assert windows == [
        ("2024-01-10", "2024-01-11"),
        ("2024-01-12", "2024-01-13"),
        ("2024-01-14", "2024-01-15"),
        ("2024-01-16", "2024-01-17"),
        ("2024-01-18", "2024-01-19"),
        ("2024-01-20", "2024-01-20"),
    ]
    assert submissions(emulator) - before == len(windows)
    assert "~144 rows" in second.stderr  # each planned query carries its estimate


# 2. max_accounts_per_query: groups, and what cannot be grouped -----------------------------


def many_accounts(count: int) -> list[str]:
    return [f"9{number:03d}" for number in range(count)]


def test_a_long_account_list_goes_out_in_groups_of_the_limit(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    extra = many_accounts(250)
    emulator.configure(extra_accounts={"AW": extra})  # the emulator refuses over 100 a query
    fields = ["Date", "profileID", "Clicks"]
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": "list.all_accounts", "fields": fields}
    run = run_tap(tmp_path, config(emulator, tmp_path, queries=[query], end_date="2024-01-03"))

    assert run.returncode == 0, run.stderr
    sizes = [len(r["accounts"]) for r in query_runs(run)]
    assert sizes == [100, 100, 53]
    accounts = [A, B, "333-333-3333", *extra]
    names = {account: f"Account {account}" for account in extra}
    want = [
        row
        for account in accounts
        for row in oracle.rows(
            "AW", fields, "2024-01-01", "2024-01-03", [account], account_names=names
        )
    ]
    got = [{k: v for k, v in r.items() if not k.startswith("_sm")} for r in run.records("ads")]
    order = lambda row: (row["Date"], row["profileID"])  # noqa: E731
    assert sorted(got, key=order) == sorted(want, key=order)


def test_a_summed_query_over_too_many_listed_accounts_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = {
        "name": "totals",
        "ds_id": "AW",
        "ds_accounts": many_accounts(101),
        "fields": ["Date", "Clicks"],
    }
    run = run_tap(tmp_path, config(emulator, tmp_path, queries=[query]))

    assert run.returncode == 1
    assert "more than max_accounts_per_query=100" in run.stderr
    assert "add the account field" in run.stderr
    assert emulator.stats()["request_log"] == []


def test_a_summed_query_over_a_resolved_list_too_long_stops_its_stream_only(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(extra_accounts={"AW": many_accounts(120)})
    totals = {
        "name": "totals",
        "ds_id": "AW",
        "ds_accounts": "list.all_accounts",
        "fields": ["Date", "Clicks"],
    }
    ads = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS}
    run = run_tap(
        tmp_path, config(emulator, tmp_path, queries=[totals, ads], end_date="2024-01-02")
    )

    assert run.returncode == 1
    assert "ds_accounts stands for 123 accounts, more than max_accounts_per_query=100" in run.stderr
    assert loaded(run) == expected("2024-01-01", "2024-01-02", [A])
    assert all(r["stream"] == "ads" for r in run.records("query_runs"))


# 3. Bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("max_rows_per_query", 1_000_001, "max_rows_per_query must be at most 1,000,000"),
        ("max_rows_per_query", 0, "max_rows_per_query must be a positive whole number"),
        ("max_accounts_per_query", 101, "max_accounts_per_query must be at most 100"),
        ("max_accounts_per_query", 0, "max_accounts_per_query must be a positive whole number"),
        ("max_rows_per_run", 0, "max_rows_per_run must be a positive whole number"),
        ("max_rows_per_run", -5, "max_rows_per_run must be a positive whole number"),
    ],
)
def test_bad_limits_are_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, setting: str, value: int, message: str
) -> None:
    run = run_tap(tmp_path, config(emulator, tmp_path, **{setting: value}))

    assert run.returncode != 0
    assert message in run.stderr
    assert emulator.stats()["request_log"] == []


# 4. Licence refusals say what to do --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "code", "remedy"),
    [
        ({"licence_state": "expired"}, "LICENSE_EXPIRED", "renew it"),
        ({"licence_state": "suspended"}, "LICENSE_QUERIES_SUSPENDED", "check the licence"),
        ({"licence_rows_per_month": 1}, "LICENSE_ROW_LIMIT_EXCEEDED", "max_rows_per_run"),
        ({"licence_daily_queries": 1}, "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED", "fewer queries"),
    ],
)
def test_each_licence_wide_refusal_stops_the_run_in_one_line_naming_the_remedy(
    emulator: EmulatorServer, tmp_path: Path, settings: dict[str, Any], code: str, remedy: str
) -> None:
    emulator.configure(**settings)
    run = run_tap(tmp_path, config(emulator, tmp_path, window_days=2))

    assert run.returncode == 1
    refusals = [line for line in run.stderr.splitlines() if code in line]
    assert len(refusals) == 1, run.stderr
    assert remedy in refusals[0]
    assert "Traceback" not in run.stderr


def test_a_window_beyond_the_licences_history_fails_alone(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    today = dt.datetime.now(tz=dt.UTC).date()
    emulator.configure(licence_history_days=20)
    ga = {"name": "ga", "ds_id": "GAWA", "ds_accounts": ["properties/1001"], "fields": GA}
    settings = config(
        emulator,
        tmp_path,
        queries=[config(emulator, tmp_path)["queries"][0], ga],
        start_date=(today - dt.timedelta(days=30)).isoformat(),
        end_date=(today - dt.timedelta(days=2)).isoformat(),
        window_days=5,
    )

    run = run_tap(tmp_path, settings)

    assert run.returncode == 1
    # Windows starting 30 and 25 days ago reach past the licence's 20 days: refused, alone.
    refused = [line for line in run.stderr.splitlines() if "its days stay missing" in line]
    assert len(refused) == 4, run.stderr[-3000:]  # two windows of each stream
    assert all("LICENSE_HISTORICAL_RANGE_EXCEEDED" in line for line in refused)
    assert all("move start_date" in line for line in refused), refused
    summary = [line for line in run.stderr.splitlines() if "4 refused window(s)" in line]
    assert summary, run.stderr[-2000:]
    assert "stream failure" not in run.stderr
    state = run.states()[-1]["bookmarks"]
    first_loaded = (today - dt.timedelta(days=20)).isoformat()
    last = (today - dt.timedelta(days=2)).isoformat()
    for stream in ("ads", "ga"):
        accounts = state[stream]["coverage"]["accounts"]
        assert all(days == [[first_loaded, last]] for days in accounts.values()), accounts
    assert {r["Date"] for r in run.records("ga")} >= {first_loaded, last}


def test_accounts_the_licence_refuses_are_found_and_reported_the_others_load(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(licence_max_accounts=1)

    run = run_tap(tmp_path, config(emulator, tmp_path, window_days=4))

    assert run.returncode == 1
    assert loaded(run) == expected("2024-01-01", "2024-01-10", [A])
    failures = [line for line in run.stderr.splitlines() if "1 account failure(s)" in line]
    assert failures, run.stderr[-2000:]
    listed = [line for line in run.stderr.splitlines() if f"account {B!r}" in line]
    assert listed
    assert all("read fewer accounts" in line for line in listed)
    coverage = run.states()[-1]["bookmarks"]["ads"]["coverage"]
    assert coverage["accounts"] == {A: [["2024-01-01", "2024-01-10"]]}
    assert coverage["failed"] == {B: "LICENSE_ACCOUNT_LIMIT_EXCEEDED"}


def test_a_licence_wide_refusal_for_a_query_submitted_ahead_names_its_own_stream(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(licence_daily_queries=1)  # the first query is taken, the next refused
    ga = {"name": "ga", "ds_id": "GAWA", "ds_accounts": ["properties/1001"], "fields": GA}
    settings = config(emulator, tmp_path, queries=[config(emulator, tmp_path)["queries"][0], ga])
    # One slot: ads's one window goes first, ga's first query only once it has ended, while
    # ads is still being read.
    settings["max_concurrent_queries"] = 1

    run = run_tap(tmp_path, settings)

    assert run.returncode == 1
    unhandled = [line for line in run.stderr.splitlines() if "unhandled error" in line]
    assert unhandled, run.stderr[-3000:]
    assert all("'ga'" in line for line in unhandled), unhandled
    refusal = [line for line in run.stderr.splitlines() if "LICENSE_DAILY_QUERY" in line]
    assert len(refusal) == 1
    assert "stream 'ga'" in refusal[0]
    assert "Traceback" not in run.stderr

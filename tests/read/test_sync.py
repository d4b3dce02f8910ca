"""The tap over real HTTP against the emulator: records, schema, state, status paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import ADS_FIELDS, API_KEY, GA_FIELDS, base_config, run_tap, submissions

#: With a fractional metric: properties/1001 has no conversions on 2024-01-01 (null).
GA_WITH_NULLS = [*GA_FIELDS, "Conversions"]


def two_queries(emulator: EmulatorServer, tmp_path: Path, **overrides: object) -> dict:
    config = base_config(emulator, tmp_path, window_days=4, page_size=7, **overrides)
    config["queries"].append(
        {"name": "ga", "ds_id": "GAWA", "ds_accounts": "properties/1001", "fields": GA_WITH_NULLS}
    )
    return config


def test_multi_query_sync_emits_every_row_typed_across_pages(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, two_queries(emulator, tmp_path))

    assert run.returncode == 0, run.stderr
    ads = oracle.rows("AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])
    ga = oracle.rows("GAWA", GA_WITH_NULLS, "2024-01-01", "2024-01-10", ["properties/1001"])
    assert run.records("ads") == ads
    assert run.records("ga") == ga
    assert len(ads) == 10 * 12 * 3  # days x campaigns x devices, over many 7-row pages
    assert any(record["Conversions"] is None for record in run.records("ga"))
    assert any("☀" in record["CampaignName"] for record in run.records("ads"))

    schema = run.schemas()["ads"]
    properties = schema["schema"]["properties"]
    assert properties["Date"]["type"] == ["string", "null"]
    assert properties["Date"]["format"] == "date"
    assert properties["Impressions"]["type"] == ["integer", "null"]
    assert properties["Cost"]["type"] == ["number", "null"]
    assert properties["CampaignName"]["type"] == ["string", "null"]
    assert schema["key_properties"] == ["Date", "CampaignName", "Device"]
    assert schema["bookmark_properties"] == ["Date"]

    assert run.bookmark("ads") == "2024-01-10"
    assert run.bookmark("ga") == "2024-01-10"
    ads_bookmarks = [
        s["bookmarks"]["ads"]["replication_key_value"]
        for s in run.states()
        if "replication_key_value" in s["bookmarks"].get("ads", {})
    ]
    # The first window's STATE goes out at once; the next windows end within seconds of it,
    # and their state goes out with the stream's last STATE.
    assert ads_bookmarks[0] == "2024-01-04"
    assert ads_bookmarks[-1] == "2024-01-10"
    assert "2024-01-08" not in ads_bookmarks

    runs = run.records("query_runs")
    assert [(r["stream"], r["start_date"], r["end_date"]) for r in runs] == [
        ("ads", "2024-01-01", "2024-01-04"),
        ("ads", "2024-01-05", "2024-01-08"),
        ("ads", "2024-01-09", "2024-01-10"),
        ("ga", "2024-01-01", "2024-01-04"),
        ("ga", "2024-01-05", "2024-01-08"),
        ("ga", "2024-01-09", "2024-01-10"),
    ]
    assert all(r["status"] == "SUCCESS" and r["attempts"] == 1 for r in runs)
    assert sum(r["rows_emitted"] for r in runs) == len(ads) + len(ga)
    assert all(r["schedule_id"] and r["request_id"] and r["finished_at"] for r in runs)


def test_records_are_identical_when_numbers_are_strings_and_no_header_row(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(numbers_as_strings=True, header_row=False)

    run = run_tap(tmp_path, base_config(emulator, tmp_path, page_size=10))

    assert run.returncode == 0, run.stderr
    expected = oracle.rows("AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])
    assert run.records("ads") == expected


def test_api_key_travels_only_in_the_authorization_header(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode == 0, run.stderr
    paths = [entry["path"] for entry in emulator.stats()["request_log"]]
    assert paths
    assert not any(API_KEY in path or "api_key" in path for path in paths)


def test_rejected_key_fails_at_once_without_printing_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, api_key="wrong-key-1234567890")

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert "Supermetrics rejected the API key" in run.stderr
    assert "wrong-key-1234567890" not in run.stderr + run.stdout
    assert emulator.stats()["requests"] == {"fields": 1}  # no retries of a final error
    assert submissions(emulator) == 0


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            {"action": "query_failure", "code": "DATA_SOURCE_ERROR", "message": "quota hit"},
            ["ended with FAILURE", "DATA_SOURCE_ERROR: quota hit", "request_id req_"],
        ),
        ({"action": "query_stopped"}, ["was aborted (STOPPED)", "request_id req_"]),
        ({"action": "unknown_status", "code": "PAUSED"}, ["status 'PAUSED'", "does not know"]),
    ],
    ids=["failure", "stopped", "unknown-status"],
)
def test_query_that_does_not_succeed_fails_the_sync_with_the_api_error(
    emulator: EmulatorServer, tmp_path: Path, fault: dict, expected: list[str]
) -> None:
    emulator.add_fault(**fault)  # discovery submits no query: the sync's query fails

    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode != 0
    for text in expected:
        assert text in run.stderr
    assert "stream 'ads', window 2024-01-01..2024-01-10" in run.stderr
    assert run.records("ads") == []
    assert run.bookmark("ads") is None


def test_query_that_never_finishes_hits_query_timeout(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="never_finish")

    run = run_tap(tmp_path, base_config(emulator, tmp_path, query_timeout=1))

    assert run.returncode != 0
    assert "was still RUNNING after query_timeout=1s" in run.stderr
    polls = emulator.stats()["status_polls"]
    assert 2 <= max(polls.values()) <= 12  # a growing interval, not a busy loop


def test_queued_and_scheduled_queries_are_polled_until_success(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(max_running=1, schedule_seconds=0.1, run_seconds=0.2)
    config = two_queries(emulator, tmp_path)
    config["window_days"] = 10

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert "QUEUED" in run.stderr or "SCHEDULED" in run.stderr
    assert "licence queue" in run.stderr
    assert len(run.records("ga")) == 10 * 6 * 2


def test_expired_results_are_resubmitted_and_the_window_is_read_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, page_size=50)
    run_tap(tmp_path, config, "--discover")  # fill the schema cache first
    emulator.add_fault(action="expire_early", after_pages=2)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert "results expired" in run.stderr
    expected = oracle.rows("AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])
    assert run.records("ads") == expected  # nothing lost, nothing twice, in order
    stamps = {record["_sm_extracted_at"] for record in run.records("ads", lineage=True)}
    assert len(stamps) == 1  # one lineage stamp for the window, across both reads
    (query_run,) = run.records("query_runs")
    assert query_run["attempts"] == 2
    assert query_run["rows_emitted"] == len(expected)


def test_results_that_keep_expiring_fail_after_max_resubmits(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, page_size=50, max_resubmits=2)
    run_tap(tmp_path, config, "--discover")
    emulator.add_fault(action="expire_early", after_pages=1, times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert "results expired 3 times (max_resubmits=2)" in run.stderr
    assert run.bookmark("ads") is None


def test_duplicate_primary_key_fails_naming_the_key(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="duplicate_row", row=5)

    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode != 0
    assert "duplicate primary key {'Date': '2024-01-01'" in run.stderr
    assert "row 6" in run.stderr


def test_discovery_gives_the_sync_schema_and_asks_for_the_fields_only_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)

    first = run_tap(tmp_path, config, "--discover")
    log_after_first = emulator.stats()["request_log"]
    second = run_tap(tmp_path, config, "--discover")

    assert first.returncode == 0, first.stderr
    assert [e["endpoint"] for e in log_after_first] == ["fields"]  # no query submitted
    assert emulator.stats()["request_log"] == log_after_first  # the cache answered
    assert first.stdout == second.stdout
    catalog = json.loads(first.stdout)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "ads")
    sync = run_tap(tmp_path, config, catalog=catalog)
    assert sync.returncode == 0, sync.stderr
    assert sync.schemas()["ads"]["schema"] == entry["schema"]
    assert sync.schemas()["ads"]["key_properties"] == entry["key_properties"]


def test_sync_with_a_catalog_asks_no_probe_and_one_field_list_at_most(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    config["schema_cache_dir"] = str(tmp_path / "empty-cache")
    before = submissions(emulator)

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    assert submissions(emulator) - before == 1  # the one window, no probe
    # Dimensions and metrics come from the field list, not from the catalog's key (issue
    # 29, case 9); the cache is empty, so the data source's list is asked for once.
    assert [e["endpoint"] for e in emulator.stats()["request_log"]].count("fields") == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_key": None}, "api_key"),
        ({"queries": []}, "queries must list at least one query"),
        ({"start_date": "2024-13-45"}, "start_date '2024-13-45' is not a date"),
        ({"end_date": "2023-12-01"}, "end_date 2023-12-01 is before start_date 2024-01-01"),
        ({"page_size": 0}, "page_size must be at least 1"),
        ({"unknown_thing": 1}, "unknown setting(s): unknown_thing"),
        ({"base_url": "http://api.example.com/enterprise/v2"}, "base_url must be an https URL"),
        ({"queries": "DUPLICATE"}, "stream name 'ads' is used twice"),
        ({"queries": "EMPTY_FIELDS"}, "fields must name at least one field"),
        ({"queries": "BAD_DATE_FIELD"}, "date_field 'Day' is not among the fields"),
    ],
)
def test_bad_config_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, change: dict, message: str
) -> None:
    config = base_config(emulator, tmp_path)
    query = config["queries"][0]
    special = {
        "DUPLICATE": [query, dict(query)],
        "EMPTY_FIELDS": [{**query, "fields": []}],
        "BAD_DATE_FIELD": [{**query, "date_field": "Day"}],
    }
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = special.get(value, value) if isinstance(value, str) else value

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.stats()["requests"] == {}


def test_deselected_properties_and_stream_maps_still_apply(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(
        emulator,
        tmp_path,
        stream_maps={"ads": {"cost_eur": "float(Cost * 0.5)", "CTR": "__NULL__"}},
    )
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "ads")
    for item in entry["metadata"]:
        if item["breadcrumb"] == ["properties", "Clicks"]:
            item["metadata"]["selected"] = False

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    records = run.records("ads")
    expected = oracle.rows("AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])
    assert len(records) == len(expected)
    assert all("Clicks" not in r and "CTR" not in r for r in records)
    assert records[0]["cost_eur"] == pytest.approx(expected[0]["Cost"] * 0.5)
    assert records[0]["Impressions"] == expected[0]["Impressions"]


@pytest.mark.parametrize("hold_lookups", [True, False], ids=["held-lookups", "plain-polling"])
def test_long_queries_are_waited_for_with_few_polls(
    emulator: EmulatorServer, tmp_path: Path, hold_lookups: bool
) -> None:
    config = base_config(emulator, tmp_path, poll_interval=0.25, max_poll_interval=5)
    assert run_tap(tmp_path, config, "--discover").returncode == 0
    emulator.configure(run_seconds=3, hold_lookups=hold_lookups)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert len(run.records("ads")) == 360
    stats = emulator.stats()
    schedule_id = max(stats["queries"], key=lambda q: q["submitted_at"])["schedule_id"]
    polls = stats["status_polls"][schedule_id]
    lookups = [
        e
        for e in stats["request_log"]
        if e["params"].get("schedule_id") == schedule_id and "sync_timeout" in e["params"]
    ]
    if hold_lookups:
        assert polls <= 3  # 1 s + 2 s held lookups cover a 3 s query
        assert [e["params"]["sync_timeout"] for e in lookups] == [1, 2]
    else:
        assert 4 <= polls <= 8  # 0.25 s growing by half: logarithmic, not a busy loop
        assert len(lookups) == 1  # tried once, then plain sleeping


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "http_error", "status": 400, "code": "DS_ID_MISSING"},
        {"action": "http_error", "status": 404, "code": "STATUS_NOT_FOUND"},
    ],
    ids=["lookup-refused", "lookup-not-found"],
)
def test_an_api_that_refuses_held_lookups_is_simply_polled(
    emulator: EmulatorServer, tmp_path: Path, fault: dict
) -> None:
    config = base_config(emulator, tmp_path)
    assert run_tap(tmp_path, config, "--discover").returncode == 0
    emulator.configure(run_seconds=1.5)
    emulator.add_fault(**fault, endpoint="submit", skip=1, times=0)  # every lookup fails

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert len(run.records("ads")) == 360
    assert "lookups are not held open" in run.stderr
    (query_run,) = run.records("query_runs")
    assert query_run["attempts"] == 1
    assert query_run["status_polls"] >= 3


def test_before_any_window_is_timed_only_the_next_streams_first_query_goes_ahead(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = two_queries(emulator, tmp_path)
    third_fields = ["Date", "CampaignName", "Clicks"]
    config["queries"].append({**config["queries"][0], "name": "third", "fields": third_fields})

    discovered = run_tap(tmp_path, config, "--discover")
    asked = [e["endpoint"] for e in emulator.stats()["request_log"]]
    emulator.emulator.reset_stats()
    run = run_tap(tmp_path, config)
    log = emulator.stats()["request_log"]

    assert discovered.returncode == 0, discovered.stderr
    assert asked == ["fields", "fields"]  # one field list per data source, no query
    assert run.returncode == 0, run.stderr
    first_page = next(n for n, e in enumerate(log) if e["params"].get("offset_start"))
    before = [
        e["params"]["ds_id"]
        for e in log[:first_page]
        if "ds_id" in e["params"] and e["params"]["fields"] != third_fields
    ]
    # The first stream's three windows and the next stream's first query go out at once;
    # the third stream's only once a window has been read and timed (a result must not
    # wait unread past half its lifetime).
    assert sorted(before) == ["AW", "AW", "AW", "GAWA"]
    third = [n for n, e in enumerate(log) if e["params"].get("fields") == third_fields]
    assert len(third) == 3
    assert min(third) > first_page


def test_without_total_rows_and_with_a_smaller_server_page_every_row_arrives(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(report_total_rows=False, max_page_size=40)

    run = run_tap(tmp_path, base_config(emulator, tmp_path, page_size=100))

    assert run.returncode == 0, run.stderr
    expected = oracle.rows("AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])
    assert run.records("ads") == expected

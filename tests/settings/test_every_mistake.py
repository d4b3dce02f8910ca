"""A config with several mistakes reports every one of them, one line each (issue 30, 5 and 6).

Every check that needs no request runs, schema errors included, and the mistakes are
reported together, in the same lines for `--discover` and a sync; the checks against
the field list report together after discovery, before any data query. Dates are read
exactly: `YYYY-MM-DD` or an ISO timestamp (its day), nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.settings.dates import parse_day
from tests.conftest import API_KEY, TapRun, base_config, run_tap, submissions

PREFIX = "Config validation error: "


def mistakes(run: TapRun) -> list[str]:
    """The settings mistakes the run reported, without the log line's time and level."""
    return [
        line.partition(PREFIX)[2]
        for line in run.stderr.splitlines()
        if PREFIX in line and re.search(r"\|\s*ERROR\s*\|", line)
    ]


def eight_mistakes(emulator: EmulatorServer, tmp_path: Path) -> dict[str, Any]:
    config = base_config(emulator, tmp_path)
    config.update(
        bogus_setting=1,
        window_days="thirty",
        base_url="http://api.example.com/v2",
        page_size=0,
        start_date="2024-13-01",
    )
    config["queries"] = [
        {**config["queries"][0], "name": "query_runs"},
        {**config["queries"][0], "name": "ads", "fields": ["Date", "Clicks", "Date"]},
        {**config["queries"][0], "name": "ga", "ds_id": "GAWA", "window_days": 0},
    ]
    return config


EXPECTED = [
    "unknown setting(s): bogus_setting",
    "window_days: 'thirty' is not of type 'integer', 'null'",
    (
        "base_url must be an https URL (http only for loopback addresses), got "
        "'http://api.example.com/v2'"
    ),
    "page_size must be at least 1, got 0",
    "start_date '2024-13-01' is not a date; use YYYY-MM-DD",
    (
        "queries[0]: stream name 'query_runs' is reserved for the tap's own stream "
        "'query_runs' (coverage, query_runs, reconciliation are reserved, ignoring case)"
    ),
    "queries[1] (ads): field(s) listed twice: Date",
    "queries[2] (ga): window_days must be at least 1, got 0",
]


def test_every_mistake_is_one_line_the_same_in_discovery_and_a_sync(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = eight_mistakes(emulator, tmp_path)

    discovery = run_tap(tmp_path, config, "--discover")
    sync = run_tap(tmp_path, config)

    for run in (discovery, sync):
        assert run.returncode == 1
        assert run.stdout == ""
        assert "Traceback" not in run.stderr
        assert API_KEY not in run.stderr
        assert sorted(mistakes(run)) == sorted(EXPECTED)
    assert mistakes(discovery) == mistakes(sync)
    assert emulator.stats()["request_log"] == []


def test_a_query_with_several_mistakes_reports_each(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = {
        "name": "ads",
        "ds_id": "AW/x",
        "fields": ["Date", "Cost", "cost"],
        "ds_accounts": {"filter_id": "(unclosed"},
        "date_field": "Day",
        "primary_keys": ["Device"],
        "start_date": "01/02/2024",
    }
    config = base_config(emulator, tmp_path, queries=[query])

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    found = mistakes(run)
    for text in (
        "queries[0] (ads): ds_id 'AW/x' is not allowed",
        "queries[0] (ads): fields 'Cost' and 'cost' would land in one PostgreSQL column",
        "queries[0] (ads): ds_accounts.filter_id '(unclosed' is not a valid regex",
        "queries[0] (ads): date_field 'Day' is not among the fields",
        "queries[0] (ads): primary_keys must be non-empty and among the fields: ['Device']",
        "queries[0] (ads): start_date '01/02/2024' is not a date; use YYYY-MM-DD",
    ):
        assert len([line for line in found if line.startswith(text)]) == 1, (text, found)
    assert len(found) == 6, found


@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_field_list_checks_report_together_before_any_data_query(
    emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    ads = {"name": "ads", "ds_id": "AW", "ds_accounts": ["111-111-1111"]}
    config = base_config(
        emulator,
        tmp_path,
        queries=[
            {**ads, "fields": ["Date", "Clickz"]},
            {**ads, "name": "ga", "ds_id": "GAWA", "fields": ["Date", "Sesions"]},
            {**ads, "name": "months", "fields": ["YearMonth", "Clicks"], "date_field": "YearMonth"},
        ],
    )

    run = run_tap(tmp_path, config, *(["--discover"] if mode == "discover" else []))

    assert run.returncode == 1
    found = mistakes(run)
    assert [line.split(":")[0] for line in found] == [
        "stream 'ads'",
        "stream 'ga'",
        "stream 'months'",
    ], found
    assert "'Clickz' (did you mean 'Clicks'?)" in found[0]
    assert "'Sesions' (did you mean 'Sessions'?)" in found[1]
    assert "date_field 'YearMonth' has data_type 'string.time.month'" in found[2]
    assert submissions(emulator) == 0


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("2024-02-29T00:00:00", dt.date(2024, 2, 29)),  # Meltano's date_iso8601 form
        ("2024-02-29T23:30:00+02:00", dt.date(2024, 2, 29)),
        ("2024-02-29T10:00:00Z", dt.date(2024, 2, 29)),
    ],
)
def test_a_day_or_an_iso_timestamp_is_read_as_its_day(value: str, day: dt.date) -> None:
    assert parse_day(value, "start_date") == day


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-01",  # Meltano's date_iso8601 would make it 2024-01-13
        "01/02/2024",  # … and this 2024-01-02
        "2024-02-30",
        "20240201",
        "2024-2-1",
        "2024-02-01Tnoon",
        "2024-02-01 00:00:00",
        "yesterday",
        20240201,
    ],
)
def test_anything_else_is_refused_naming_the_setting(value: object) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_day(value, "end_date")

    assert str(refused.value) == f"end_date {value!r} is not a date; use YYYY-MM-DD"


def test_a_reread_day_is_read_the_same_way(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = base_config(
        emulator,
        tmp_path,
        reread=[{"stream": "ads", "start_date": "20240102", "end_date": "2024-01-03"}],
    )

    run = run_tap(tmp_path, config)

    assert mistakes(run) == ["reread[0].start_date '20240102' is not a date; use YYYY-MM-DD"]

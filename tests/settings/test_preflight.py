"""Mistakes that can be seen before a data query are refused before one (issue 19).

An account filter regex that does not compile is refused with the settings, before
any request. A date_field that is not a day (a month key such as `YearMonth`) is
refused as soon as discovery knows its type, before any data query: day windows
would overwrite a month's total with parts of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.schema.preflight import is_day_type
from tap_supermetrics.settings.queries import ConfigError, query_definitions
from tests.conftest import API_KEY, TapRun, base_config, expected_rows, run_tap, submissions

MONTH_FIELDS = ["YearMonth", "CampaignName", "Clicks", "Cost"]
MONTH_REFUSAL = "stream 'ads': date_field 'YearMonth' has data_type"


def month_config(emulator: EmulatorServer, tmp_path: Path, **query: Any) -> dict[str, Any]:
    """One Google Ads query over the month field, with `query`'s settings on top."""
    config = base_config(emulator, tmp_path)
    config["queries"][0].update(fields=MONTH_FIELDS, **query)
    return config


def endpoints(emulator: EmulatorServer) -> list[str]:
    return [entry["endpoint"] for entry in emulator.stats()["request_log"]]


def refusal_lines(run: TapRun, marker: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if marker in line]


def assert_refused_in_one_line(run: TapRun, marker: str) -> str:
    """Exit code 1, no traceback, no output, and exactly one line holding `marker`."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert API_KEY not in run.stderr
    (line,) = refusal_lines(run, marker)
    return line


# Account filter regexes -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "discover"])
@pytest.mark.parametrize(
    ("key", "pattern", "error"),
    [
        ("filter_id", "[0-9", "unterminated character set at position 0"),
        ("filter_name", "(Acme", "missing ), unterminated subpattern at position 0"),
    ],
)
def test_an_account_filter_regex_that_does_not_compile_is_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, key: str, pattern: str, error: str, mode: str
) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"][0]["ds_accounts"] = {"filter_id": "^111", key: pattern}

    run = run_tap(tmp_path, config, *(["--discover"] if mode == "discover" else []))

    line = assert_refused_in_one_line(run, f"ds_accounts.{key}")
    assert f"queries[0] (ads): ds_accounts.{key} {pattern!r} is not a valid regex: {error}" in line
    assert "ERROR" in line
    assert emulator.stats()["request_log"] == []  # not even /query/fields or /query/accounts


@pytest.mark.parametrize(
    "pattern",
    ["^Acme Shoes (FI|SE)$", "(?i)acme", "(?>Acme)\\s++Shoes", "", "[-]"],
    ids=["plain", "inline-flag", "atomic-possessive", "empty", "dash-class"],
)
def test_filter_regexes_that_re_compiles_are_accepted(pattern: str) -> None:
    query = {"name": "ads", "ds_id": "AW", "fields": ["Date", "Clicks"]}
    query["ds_accounts"] = {"filter_name": pattern}

    (definition,) = query_definitions({"queries": [query]})

    assert definition.ds_accounts == {"filter_name": pattern}


def test_a_filter_regex_that_re_refuses_names_the_query_key_and_error() -> None:
    queries = [
        {"name": "ok", "ds_id": "AW", "fields": ["Date"], "ds_accounts": {"filter_id": "1"}},
        {"name": "bad", "ds_id": "AW", "fields": ["Date"], "ds_accounts": {"filter_id": "*1"}},
    ]
    with pytest.raises(ConfigError) as refused:
        query_definitions({"queries": queries})

    assert str(refused.value) == (
        "queries[1] (bad): ds_accounts.filter_id '*1' is not a valid regex: "
        "nothing to repeat at position 0"
    )


# The date field's type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "is_day"),
    [
        ("string.time.date", True),
        ("STRING.TIME.DATE", True),
        ("date", True),
        ("string.time.month", False),
        ("string.time.week", False),
        ("string.time.year", False),
        ("int.time.year", False),
        ("year", False),
        ("month", False),
        ("string.time.datetime", False),
        ("datetime", False),
        ("string.text.value", False),
        ("string", False),
        ("int.number.value", False),
        ("no.such.type", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_day_type_is_a_day(data_type: str | None, *, is_day: bool) -> None:
    assert is_day_type(data_type) is is_day


@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_a_month_date_field_is_refused_before_any_data_query(
    emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    config = month_config(emulator, tmp_path, date_field="YearMonth")

    run = run_tap(tmp_path, config, *(["--discover"] if mode == "discover" else []))

    line = assert_refused_in_one_line(run, "date_field")
    assert f"{MONTH_REFUSAL} 'string.time.month', not a day ('string.time.date')" in line
    assert "ERROR" in line
    assert submissions(emulator) == 0
    assert endpoints(emulator) == ["fields"]


def test_a_month_date_field_is_refused_from_the_schema_cache_without_a_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assert run_tap(tmp_path, month_config(emulator, tmp_path), "--discover").returncode == 0

    run = run_tap(tmp_path, month_config(emulator, tmp_path, date_field="YearMonth"))

    line = assert_refused_in_one_line(run, "date_field")
    assert f"{MONTH_REFUSAL} 'string.time.month'" in line
    assert endpoints(emulator) == ["fields"]  # the first discovery's; the refusal asked nothing


def test_a_month_date_field_is_refused_when_the_input_catalog_types_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    discovery = run_tap(tmp_path, month_config(emulator, tmp_path), "--discover")
    assert discovery.returncode == 0, discovery.stderr

    config = month_config(emulator, tmp_path, date_field="YearMonth")
    run = run_tap(tmp_path, config, catalog=json.loads(discovery.stdout))

    line = assert_refused_in_one_line(run, "date_field")
    # A catalog keeps JSON Schema types only: a month is a plain string there.
    assert f"{MONTH_REFUSAL} 'string', not a day" in line
    assert endpoints(emulator) == ["fields"]


def test_a_probed_date_field_is_refused_right_after_the_probe(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="http_error", endpoint="fields", status=404, times=0)
    config = month_config(emulator, tmp_path, date_field="YearMonth")

    run = run_tap(tmp_path, config)

    line = assert_refused_in_one_line(run, "date_field")
    assert f"{MONTH_REFUSAL} 'string.time.month'" in line
    assert submissions(emulator) == 1  # the one-row probe that typed the fields, no data query


def test_a_datetime_date_field_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"][0].update(
        fields=["CampaignStartTime", "CampaignName", "Clicks"], date_field="CampaignStartTime"
    )

    run = run_tap(tmp_path, config)

    line = assert_refused_in_one_line(run, "date_field")
    assert "date_field 'CampaignStartTime' has data_type 'string.time.datetime'" in line
    assert submissions(emulator) == 0


def test_unknown_fields_and_a_month_date_field_are_refused_together_one_line_each(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = month_config(emulator, tmp_path, name="months", date_field="YearMonth")
    config["queries"].append(
        {"name": "typo", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": ["Clickz"]}
    )

    run = run_tap(tmp_path, config)

    unknown = assert_refused_in_one_line(run, "unknown field id")
    month = assert_refused_in_one_line(run, "date_field")
    assert "stream 'typo': unknown field id(s) for data source 'AW': 'Clickz'" in unknown
    assert "stream 'months': date_field 'YearMonth' has data_type 'string.time.month'" in month
    assert submissions(emulator) == 0


def test_the_default_date_field_stays_a_day(emulator: EmulatorServer, tmp_path: Path) -> None:
    fields = ["Date", "YearMonth", "Clicks"]
    config = base_config(emulator, tmp_path, end_date="2024-01-02")
    config["queries"][0]["fields"] = fields

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert run.bookmark("ads") == "2024-01-02"
    assert run.records("ads") == expected_rows(
        emulator, "AW", fields, "2024-01-01", "2024-01-02", ["111-111-1111"]
    )


def test_a_month_query_without_a_day_field_syncs_as_a_full_table(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = month_config(emulator, tmp_path)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    records = run.records("ads")
    assert records
    assert records == expected_rows(
        emulator, "AW", MONTH_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"]
    )
    assert {record["YearMonth"] for record in records} <= {f"2024-{m:02d}" for m in range(1, 13)}
    assert run.schemas()["ads"].get("bookmark_properties") in (None, [])
    assert run.bookmark("ads") is None
    assert submissions(emulator) == 1  # the whole range in one query, not day windows

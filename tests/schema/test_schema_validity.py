"""The tap emits only schema-valid records: the reason the loader may skip validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from supermetrics_emulator import EmulatorServer
from supermetrics_emulator.catalog import DATA_SOURCES
from tests.conftest import assert_records_match_their_schemas, base_config, run_tap

SCHEMA = {
    "type": "SCHEMA",
    "stream": "ads",
    "schema": {
        "type": "object",
        "properties": {
            "Date": {"type": ["string", "null"], "format": "date"},
            "Clicks": {"type": ["integer", "null"]},
            "_sm_extracted_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "key_properties": ["Date"],
}


@pytest.mark.parametrize(
    "record",
    [
        {"Date": "2024-01-01", "Clicks": "7", "_sm_extracted_at": None},
        {"Date": "2024-01-32", "Clicks": 7, "_sm_extracted_at": None},
        {"Date": "2024-01-01T00:00:00", "Clicks": 7, "_sm_extracted_at": None},
        {"Date": "2024-01-01", "Clicks": 7, "_sm_extracted_at": "yesterday"},
    ],
    ids=["number-as-text", "no-such-day", "timestamp-as-date", "bad-timestamp"],
)
def test_the_suite_check_refuses_records_that_break_their_schema(record: dict) -> None:
    with pytest.raises(AssertionError, match="ads: "):
        assert_records_match_their_schemas(
            [SCHEMA, {"type": "RECORD", "stream": "ads", "record": record}]
        )


@pytest.mark.parametrize("numbers_as_strings", [False, True])
def test_every_data_type_of_every_data_source_is_emitted_schema_valid(
    emulator: EmulatorServer, tmp_path: Path, numbers_as_strings: bool
) -> None:
    emulator.configure(numbers_as_strings=numbers_as_strings, header_row=not numbers_as_strings)
    queries = [
        {
            "name": f"all_{source.ds_id.lower()}",
            "ds_id": source.ds_id,
            "ds_accounts": [account.account_id for account in source.accounts[:2]],
            "fields": [f for f in source.fields if f not in {"Keyword", "PagePath"}],
        }
        for source in DATA_SOURCES.values()
    ]
    config = base_config(emulator, tmp_path, queries=queries, end_date="2024-01-03")

    run = run_tap(tmp_path, config)  # run_tap validates every record against its SCHEMA

    assert run.returncode == 0, run.stderr[-3000:]
    assert all(run.records(query["name"]) for query in queries)

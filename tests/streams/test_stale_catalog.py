"""A catalog discovered before the config changed (issue 30, 7).

Before any query the tap reads the fields that are both configured and declared by the
catalog, with one WARNING naming the fields left out on either side; a missing key field
is refused in one line. Records always match the SCHEMA the tap emits (`run_tap` checks
every record against its SCHEMA).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests.conftest import TapRun, base_config, expected_rows, run_tap, submissions

ACCOUNT = "111-111-1111"
FIELDS = ["Date", "profileID", "CampaignName", "Device", "Clicks", "Cost"]
DISCOVER_AGAIN = "the catalog was discovered before the config changed: run discovery again"


def discovered(emulator: EmulatorServer, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A config of FIELDS and the catalog discovered for it."""
    config = base_config(emulator, tmp_path, end_date="2024-01-03")
    config["queries"][0].update(fields=list(FIELDS))
    discovery = run_tap(tmp_path, config, "--discover")
    assert discovery.returncode == 0, discovery.stderr
    return config, json.loads(discovery.stdout)


def submitted_fields(emulator: EmulatorServer) -> list[list[str]]:
    log = emulator.stats()["request_log"]
    return [
        e["params"]["fields"] for e in log if e["endpoint"] == "submit" and "ds_id" in e["params"]
    ]


def warnings(run: TapRun) -> list[str]:
    return [
        line for line in run.stderr.splitlines() if "WARNING" in line and DISCOVER_AGAIN in line
    ]


def test_a_field_added_since_discovery_is_left_out_with_one_warning(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    config["queries"][0]["fields"] += ["Impressions"]

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    assert "Impressions" not in run.schemas()["ads"]["schema"]["properties"]
    assert run.records("ads") == expected_rows(
        emulator, "AW", FIELDS, "2024-01-01", "2024-01-03", [ACCOUNT]
    )
    assert submitted_fields(emulator) == [FIELDS]
    (warning,) = warnings(run)
    assert "stream 'ads': field(s) 'Impressions' (in the config, not in the catalog)" in warning


def test_a_field_removed_since_discovery_is_left_out_with_one_warning(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    config["queries"][0]["fields"].remove("Cost")

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    kept = [name for name in FIELDS if name != "Cost"]
    assert run.records("ads") == expected_rows(
        emulator, "AW", kept, "2024-01-01", "2024-01-03", [ACCOUNT]
    )
    assert submitted_fields(emulator) == [kept]
    (warning,) = warnings(run)
    assert "stream 'ads': field(s) 'Cost' (in the catalog, not in the config)" in warning


def test_fields_added_and_removed_are_named_in_the_same_warning(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    config["queries"][0]["fields"] = [*FIELDS[:-1], "Impressions", "CTR"]

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    (warning,) = warnings(run)
    assert (
        "stream 'ads': field(s) 'Impressions', 'CTR' (in the config, not in the catalog) and "
        "'Cost' (in the catalog, not in the config) are not read"
    ) in warning
    assert submitted_fields(emulator) == [FIELDS[:-1]]


def test_a_key_field_removed_since_discovery_is_refused_before_any_query(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    config["queries"][0]["fields"].remove("Device")

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    refusals = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(refusals) == 1, refusals
    assert (
        "stream 'ads': key field(s) 'Device' (not in the config) cannot be left out"
        in (refusals[0])
    )
    assert DISCOVER_AGAIN in refusals[0]
    assert submissions(emulator) == 0
    assert run.messages == []


def test_an_account_field_added_since_discovery_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-01-03")
    config["queries"][0].update(fields=[name for name in FIELDS if name != "profileID"])
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    config["queries"][0]["fields"] = list(FIELDS)  # rows now carry the account's id

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 1
    assert "key field(s) 'profileID' (not in the catalog) cannot be left out" in run.stderr
    assert submissions(emulator) == 0


def test_a_catalog_without_the_lineage_column_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    for entry in catalog["streams"]:
        entry["schema"]["properties"].pop("_sm_extracted_at", None)
        entry["metadata"] = [
            item for item in entry["metadata"] if item["breadcrumb"][-1:] != ["_sm_extracted_at"]
        ]

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 1
    assert "the lineage column '_sm_extracted_at' (not in the catalog) cannot be left out" in (
        run.stderr
    )
    assert submissions(emulator) == 0


def test_a_missing_key_field_and_an_unknown_field_are_reported_together(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config, catalog = discovered(emulator, tmp_path)
    config["queries"][0]["fields"].remove("Device")
    config["queries"].append({**config["queries"][0], "name": "typo", "fields": ["Date", "Clickz"]})

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 1
    refusals = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(refusals) == 2, refusals
    assert "stream 'ads': key field(s) 'Device' (not in the config)" in refusals[0]
    assert "stream 'typo': unknown field id(s) for data source 'AW': 'Clickz'" in refusals[1]
    assert submissions(emulator) == 0

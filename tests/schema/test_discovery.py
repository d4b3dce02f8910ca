"""Discovery over real HTTP: streams typed from `/query/fields`, never by a data query.

The field lists the tests expect are read from the emulator's `/query/fields` after
the tap has run, so that the request counts the tests check are the tap's alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.schema.lineage import LINEAGE_FIELD
from tap_supermetrics.schema.types import json_type
from tests.conftest import (
    ADS_FIELDS,
    API_KEY,
    GA_FIELDS,
    TapRun,
    base_config,
    expected_rows,
    run_tap,
    submissions,
)

DEVICE_FIELDS = ["Date", "Device", "Clicks", "Cost"]


def three_queries(emulator: EmulatorServer, tmp_path: Path) -> dict[str, Any]:
    """Two queries on Google Ads and one on GA4."""
    config = base_config(emulator, tmp_path)
    config["queries"] += [
        {
            "name": "ads_devices",
            "ds_id": "AW",
            "ds_accounts": ["111-111-1111"],
            "fields": DEVICE_FIELDS,
        },
        {"name": "ga", "ds_id": "GAWA", "ds_accounts": "properties/1001", "fields": GA_FIELDS},
    ]
    return config


def requests_to(emulator: EmulatorServer, endpoint: str) -> list[dict[str, Any]]:
    return [e for e in emulator.stats()["request_log"] if e["endpoint"] == endpoint]


def field_list(emulator: EmulatorServer, ds_id: str) -> dict[str, dict[str, Any]]:
    """The emulator's field list for `ds_id`, by field id."""
    response = requests.get(
        f"{emulator.base_url}/query/fields",
        params={"json": json.dumps({"ds_id": ds_id})},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    return {item["field_id"]: item for item in response.json()["data"]}


def discovered(run: TapRun) -> dict[str, dict[str, Any]]:
    assert run.returncode == 0, run.stderr
    return {entry["tap_stream_id"]: entry for entry in json.loads(run.stdout)["streams"]}


def field_properties(entry: dict[str, Any]) -> dict[str, Any]:
    """A catalog entry's properties for its configured fields (no lineage column)."""
    properties = entry["schema"]["properties"]
    return {name: schema for name, schema in properties.items() if name != LINEAGE_FIELD}


def assert_typed_by(properties: dict[str, Any], listing: dict[str, dict[str, Any]]) -> None:
    """Each property has its field's type, `field_name` as title and the description."""
    for field_id, schema in properties.items():
        field = listing[field_id]
        expected = {**json_type(field["data_type"]), "title": field["field_name"]}
        if field.get("description"):
            expected["description"] = field["description"]
        assert schema == expected, field_id


def test_discovery_reads_one_field_list_per_data_source_and_submits_no_query(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = three_queries(emulator, tmp_path)

    first = run_tap(tmp_path, config, "--discover")
    log_after_first = emulator.stats()["request_log"]
    second = run_tap(tmp_path, config, "--discover")
    log_after_second = emulator.stats()["request_log"]

    streams = discovered(first)
    assert submissions(emulator) == 0
    assert [e["endpoint"] for e in log_after_first] == ["fields", "fields"]
    assert [e["params"]["ds_id"] for e in log_after_first] == ["AW", "GAWA"]
    assert log_after_second == log_after_first  # the cache answered everything
    assert second.stdout == first.stdout

    aw, ga4 = field_list(emulator, "AW"), field_list(emulator, "GAWA")
    assert any(field.get("description") for field in aw.values())
    for name, fields, listing in (
        ("ads", ADS_FIELDS, aw),
        ("ads_devices", DEVICE_FIELDS, aw),
        ("ga", GA_FIELDS, ga4),
    ):
        properties = field_properties(streams[name])
        assert list(properties) == fields
        assert_typed_by(properties, listing)
    assert streams["ads"]["schema"]["properties"]["Cost"]["type"] == ["number", "null"]
    assert streams["ads"]["key_properties"] == ["Date", "CampaignName", "Device"]
    assert streams["ads_devices"]["key_properties"] == ["Date", "Device"]
    assert streams["ga"]["key_properties"] == ["Date", "Country", "DeviceCategory"]


def test_the_discovered_catalog_drives_an_exact_sync(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = three_queries(emulator, tmp_path)
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    config["schema_cache_dir"] = str(tmp_path / "empty-cache")
    before = len(requests_to(emulator, "fields"))

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    accounts = ["111-111-1111"]
    assert run.records("ads") == expected_rows(
        emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", accounts
    )
    assert run.records("ads_devices") == expected_rows(
        emulator, "AW", DEVICE_FIELDS, "2024-01-01", "2024-01-10", accounts
    )
    assert run.records("ga") == expected_rows(
        emulator, "GAWA", GA_FIELDS, "2024-01-01", "2024-01-10", ["properties/1001"]
    )
    for entry in catalog["streams"]:
        assert run.schemas()[entry["tap_stream_id"]]["schema"] == entry["schema"]
    # The catalog typed the streams; the field list (empty cache: one request per data
    # source) told dimensions from metrics.
    assert [e["params"]["ds_id"] for e in requests_to(emulator, "fields")[before:]] == [
        "AW",
        "GAWA",
    ]
    assert submissions(emulator) == 3  # one window per stream, no probe


#: A dimension outside the key: `primary_keys` leaves CampaignIsActive out of it.
KEYED_FIELDS = ["Date", "profileID", "CampaignName", "CampaignIsActive", "Device", "Clicks"]
KEY = ["Date", "profileID", "CampaignName", "Device"]


def plan_lines(run: TapRun) -> list[str]:
    """The stream's plan as the log tells it, without the lines' time stamps."""
    return [
        line.split("| ")[-1] for line in run.stderr.splitlines() if "stream 'ads' plans" in line
    ] + [line.split("| ")[-1] for line in run.stderr.splitlines() if "stream 'ads': 20" in line]


def fingerprint(run: TapRun) -> dict[str, str]:
    return dict(run.states()[-1]["bookmarks"]["ads"]["coverage"]["fingerprint"])


def test_the_discovered_catalog_plans_and_fingerprints_as_running_without_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"][0].update(fields=KEYED_FIELDS, primary_keys=KEY)
    first = run_tap(tmp_path, config)
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    assert first.returncode == 0, first.stderr
    config.update(end_date="2024-01-12", schema_cache_dir=str(tmp_path / "empty-cache"))
    state = first.states()[-1]
    fields_asked = len(requests_to(emulator, "fields"))

    without = run_tap(tmp_path, config, state=state)
    config["schema_cache_dir"] = str(tmp_path / "another-empty-cache")
    with_catalog = run_tap(tmp_path, config, state=state, catalog=catalog)

    assert without.returncode == with_catalog.returncode == 0, with_catalog.stderr
    assert fingerprint(with_catalog) == fingerprint(without) == fingerprint(first)
    assert plan_lines(with_catalog) == plan_lines(without)
    assert plan_lines(with_catalog)[1:] == [
        "stream 'ads': 2024-01-07..2024-01-12 for 111-111-1111 (lookback, new days), "
        + plan_lines(with_catalog)[1].rsplit(", ", 1)[1]
    ]
    assert "reading every account again" not in with_catalog.stderr
    assert with_catalog.records("ads") == without.records("ads")
    # Dimensions and metrics come from the field list: one request for the data source
    # in each run (each with an empty cache), whether the catalog typed the stream or not.
    assert len(requests_to(emulator, "fields")) == fields_asked + 2


def test_a_catalog_without_titles_and_descriptions_still_drives_a_sync(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    catalog = json.loads(run_tap(tmp_path, config, "--discover").stdout)
    for entry in catalog["streams"]:
        for schema in entry["schema"]["properties"].values():
            schema.pop("title", None)
            schema.pop("description", None)
    config["schema_cache_dir"] = str(tmp_path / "empty-cache")
    before = len(emulator.stats()["request_log"])

    run = run_tap(tmp_path, config, catalog=catalog)

    assert run.returncode == 0, run.stderr
    assert run.records("ads") == expected_rows(
        emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"]
    )
    new = emulator.stats()["request_log"][before:]
    assert len([e for e in new if e["endpoint"] == "fields"]) == 1  # dimensions and metrics
    assert submissions(emulator) == 1


def test_a_cache_entry_written_by_an_earlier_version_is_still_used(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    aw = field_list(emulator, "AW")
    emulator.emulator.reset_stats()
    host = urlsplit(emulator.base_url).netloc
    digest = hashlib.sha256(json.dumps([host, "AW", ADS_FIELDS]).encode()).hexdigest()[:20]
    directory = Path(config["schema_cache_dir"])
    directory.mkdir(parents=True)
    old_entry = {  # the probe-typed format: no descriptions, no format marker
        "ds_id": "AW",
        "fields": [
            {
                key: aw[field_id][key]
                for key in ("field_id", "field_name", "field_type", "data_type")
            }
            for field_id in ADS_FIELDS
        ],
    }
    (directory / f"AW-{digest}.json").write_text(json.dumps(old_entry))

    streams = discovered(run_tap(tmp_path, config, "--discover"))

    assert emulator.stats()["request_log"] == []
    properties = field_properties(streams["ads"])
    assert properties["Cost"] == {**json_type("float.currency.value"), "title": "Cost"}
    assert all("description" not in schema for schema in properties.values())


@pytest.mark.parametrize("mode", ["discover", "sync"])
@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("Campaignnme", "'Campaignnme' (did you mean 'CampaignName'?)"),
        ("campaignname", "'campaignname' (did you mean 'CampaignName'?)"),
    ],
)
def test_an_unknown_field_id_is_refused_with_a_suggestion_before_any_query(
    emulator: EmulatorServer, tmp_path: Path, typo: str, suggestion: str, mode: str
) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"][0]["fields"] = [typo if f == "CampaignName" else f for f in ADS_FIELDS]

    run = run_tap(tmp_path, config, *(["--discover"] if mode == "discover" else []))

    assert run.returncode == 1
    refusal = [line for line in run.stderr.splitlines() if "did you mean" in line]
    assert len(refusal) == 1
    assert "stream 'ads': unknown field id(s) for data source 'AW'" in refusal[0]
    assert suggestion in refusal[0]
    assert submissions(emulator) == 0
    assert [e["endpoint"] for e in emulator.stats()["request_log"]] == ["fields"]
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert API_KEY not in run.stderr


def test_a_field_added_since_the_cache_was_written_is_looked_up_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    assert run_tap(tmp_path, config, "--discover").returncode == 0
    (entry,) = Path(config["schema_cache_dir"]).glob("source-AW-*.json")
    cached = json.loads(entry.read_text())
    cached["fields"] = [f for f in cached["fields"] if f["field_id"] != "Conversions"]
    entry.write_text(json.dumps(cached))  # as if Conversions were new at Supermetrics

    again = run_tap(tmp_path, config, "--discover")
    third = run_tap(tmp_path, config, "--discover")

    assert again.returncode == 0, again.stderr
    assert third.stdout == again.stdout
    assert len(requests_to(emulator, "fields")) == 2  # the first discovery, then the refresh
    assert submissions(emulator) == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, "NOT_FOUND"), (403, "ACCESS_DENIED_PERMISSIONS"), (200, "FIELDS_UNAVAILABLE")],
    ids=["404", "403", "error-at-200"],
)
def test_discovery_falls_back_to_a_probe_when_the_field_list_fails(
    emulator: EmulatorServer, tmp_path: Path, status: int, code: str
) -> None:
    emulator.add_fault(action="http_error", endpoint="fields", status=status, code=code, times=0)
    config = three_queries(emulator, tmp_path)

    first = run_tap(tmp_path, config, "--discover")
    streams = discovered(first)
    second = run_tap(tmp_path, config, "--discover")

    assert [e["params"]["ds_id"] for e in requests_to(emulator, "fields")] == ["AW", "GAWA"]
    assert submissions(emulator) == 3  # one probe per query, and only in the first discovery
    assert second.stdout == first.stdout
    log = emulator.stats()["request_log"]
    first_poll = next(n for n, e in enumerate(log) if e["endpoint"] == "status")
    probes_before_first_poll = [
        e for e in log[:first_poll] if e["endpoint"] == "submit" and "ds_id" in e["params"]
    ]
    assert len(probes_before_first_poll) == 3  # the probes are submitted side by side
    warnings = [line for line in first.stderr.splitlines() if "one-row probe query" in line]
    assert len(warnings) == 2  # once per data source
    assert f"HTTP {status}: {code}" in warnings[0]
    assert "'ads', 'ads_devices'" in warnings[0]
    properties = field_properties(streams["ads"])
    assert properties["Cost"] == {**json_type("float.currency.value"), "title": "Cost"}
    assert properties["CampaignName"]["title"] == "Campaign name"
    assert all("description" not in schema for schema in properties.values())

    run = run_tap(tmp_path, config, catalog=json.loads(first.stdout))
    assert run.returncode == 0, run.stderr
    assert run.records("ads") == expected_rows(
        emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"]
    )


def test_a_field_list_that_keeps_failing_with_5xx_falls_back_to_a_probe(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(action="http_error", endpoint="fields", status=500, times=0)
    config = base_config(emulator, tmp_path, max_request_attempts=2)

    streams = discovered(run_tap(tmp_path, config, "--discover"))

    assert len(requests_to(emulator, "fields")) == 2  # tried, retried, then given up
    assert submissions(emulator) == 1
    assert list(field_properties(streams["ads"])) == ADS_FIELDS


def test_a_rejected_key_fails_discovery_without_a_probe(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, api_key="wrong-key-1234567890")

    run = run_tap(tmp_path, config, "--discover")

    assert run.returncode != 0
    assert "Supermetrics rejected the API key" in run.stderr
    assert "wrong-key-1234567890" not in run.stderr + run.stdout
    assert emulator.stats()["requests"] == {"fields": 1}

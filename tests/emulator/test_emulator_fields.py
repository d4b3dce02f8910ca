"""`GET /query/fields` over real HTTP: the documented shape, errors, auth, faults, stats."""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests

from supermetrics_emulator import EmulatorServer
from supermetrics_emulator.catalog import DATA_SOURCES
from tests.emulator.test_emulator import call, schema


def test_field_list_has_every_field_in_the_documented_shape(emulator: EmulatorServer) -> None:
    response = call(emulator, "fields", {"ds_id": "AW"})

    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, schema("api-fields"))
    assert body["meta"]["request_id"].startswith("req_")
    by_id = {entry["field_id"]: entry for entry in body["data"]}
    assert list(by_id) == list(DATA_SOURCES["AW"].fields)
    assert by_id["Date"] == {
        "@type": "ds_dimension",
        "field_id": "Date",
        "field_name": "Date",
        "field_type": "dim",
        "data_type": "string.time.date",
        "description": "The day the ads ran, in the account's time zone.",
        "group_name": "Time",
        "is_filterable": True,
    }
    assert by_id["Cost"]["@type"] == "ds_metric"
    assert by_id["Cost"]["field_type"] == "met"
    assert by_id["Cost"]["data_type"] == "float.currency.value"
    assert by_id["CampaignIsActive"]["data_type"] == "bool.boolean.value"


@pytest.mark.parametrize(
    ("ds_id", "ratios"),
    [("AW", {"CTR", "ConversionRate", "AverageCpc"}), ("GAWA", {"BounceRate"})],
)
def test_field_list_marks_ratios_as_non_aggregatable_and_hides_their_parts(
    emulator: EmulatorServer, ds_id: str, ratios: set[str]
) -> None:
    listed = call(emulator, "fields", {"ds_id": ds_id}).json()["data"]

    metrics = {e["field_id"]: e["is_non_aggregatable"] for e in listed if e["field_type"] == "met"}
    assert {field_id for field_id, ratio in metrics.items() if ratio} == ratios
    assert all(isinstance(flag, bool) for flag in metrics.values())
    assert all("is_non_aggregatable" not in e for e in listed if e["field_type"] == "dim")
    hidden = {"UnclickedImpressions", "BouncedSessions", "EngagedSessions"}
    assert not hidden & {entry["field_id"] for entry in listed}
    asked = call(
        emulator,
        "data/json",
        {
            "ds_id": ds_id,
            "fields": sorted(hidden),
            "start_date": "2024-01-01",
            "end_date": "2024-01-01",
            "ds_accounts": list(DATA_SOURCES[ds_id].account_ids),
        },
    )
    assert asked.status_code == 400


@pytest.mark.parametrize("ds_id", sorted(DATA_SOURCES))
def test_field_list_agrees_with_query_answers_and_describes_each_field(
    emulator: EmulatorServer, ds_id: str
) -> None:
    listed = call(emulator, "fields", {"ds_id": ds_id}).json()["data"]
    source = DATA_SOURCES[ds_id]
    query = {
        "ds_id": ds_id,
        "ds_accounts": list(source.account_ids[:1]),
        "fields": [entry["field_id"] for entry in listed],
        "start_date": "2024-01-01",
        "end_date": "2024-01-01",
        "max_rows": 1,
        "sync_timeout": 10,
    }
    answered = call(emulator, "data/json", query).json()["meta"]["query"]["fields"]

    keys = ("field_id", "field_name", "field_type", "data_type")
    assert [{k: e[k] for k in keys} for e in listed] == [{k: e[k] for k in keys} for e in answered]
    for entry in listed:
        assert entry["@type"] == {"dim": "ds_dimension", "met": "ds_metric"}[entry["field_type"]]
        description = entry["description"]
        assert description[0].isupper(), description
        assert description.endswith("."), description
        assert len(description.split()) >= 5, description
        assert entry["group_name"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({}, "DS_ID_MISSING"), ({"ds_id": "XX"}, "DATASOURCE_NOT_FOUND"), ({"ds_id": 7}, None)],
)
def test_field_list_refuses_a_missing_or_unknown_data_source(
    emulator: EmulatorServer, params: dict[str, object], code: str | None
) -> None:
    response = call(emulator, "fields", params)

    assert response.status_code == 400
    body = response.json()
    jsonschema.validate(body, schema("api-error"))
    assert body["error"]["code"] == (code or "DATASOURCE_NOT_FOUND")


def test_field_list_needs_the_api_key(emulator: EmulatorServer) -> None:
    missing = call(emulator, "fields", {"ds_id": "AW"}, key=None)
    wrong = call(emulator, "fields", {"ds_id": "AW"}, key="nope")
    in_json = call(emulator, "fields", {"ds_id": "AW", "api_key": emulator.api_key}, key=None)

    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "AUTH_API_KEY_MISSING")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "AUTH_API_KEY_INVALID")
    assert in_json.status_code == 200


def test_field_list_requests_are_counted_and_logged(emulator: EmulatorServer) -> None:
    call(emulator, "fields", {"ds_id": "GAWA"})
    call(emulator, "fields", {"ds_id": "AW"})

    stats = emulator.stats()
    assert stats["requests"] == {"fields": 2}
    assert [entry["endpoint"] for entry in stats["request_log"]] == ["fields", "fields"]
    assert stats["request_log"][0]["params"] == {"ds_id": "GAWA"}
    assert stats["request_log"][0]["method"] == "GET"


def test_fault_rules_can_target_the_field_list(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="http_error", endpoint="fields", status=404, times=0)

    answers = [call(emulator, "fields", {"ds_id": "AW"}) for _ in range(3)]
    query = call(emulator, "data/json", {"ds_id": "AW", "ds_accounts": "1", "fields": "Date"})

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert answers[0].json()["error"]["code"] == "NOT_FOUND"
    jsonschema.validate(answers[0].json(), schema("api-error"))
    assert query.json()["error"]["code"] == "ACCOUNT_NOT_FOUND"  # reached the query checks
    assert emulator.stats()["faults"][0]["fired"] == 3


def test_field_list_faults_for_another_endpoint_leave_it_alone(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="http_error", endpoint="accounts", status=500, times=0)
    emulator.add_fault(action="malform", endpoint="fields", kind="short_row")

    answer = call(emulator, "fields", {"ds_id": "AW"})

    assert answer.status_code == 200
    assert len(answer.json()["data"][-1]) == 8  # a short_row fault leaves field entries whole


def test_unknown_fault_endpoints_are_refused(emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="unknown fault endpoint"):
        emulator.add_fault(action="http_error", endpoint="field")
    refused = requests.post(
        f"{emulator.root_url}/_emulator/faults",
        data=json.dumps({"action": "http_error", "endpoint": "nope"}),
        timeout=5,
    )
    assert refused.status_code == 400

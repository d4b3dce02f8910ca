"""The emulator over real HTTP: lifecycle, queue, paging, errors, faults, schemas."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT
from tests.emulator_cli import emulator_command

QUERY = {
    "ds_id": "AW",
    "ds_accounts": ["111-111-1111", "222-222-2222"],
    "fields": ["Date", "profileID", "CampaignName", "CampaignIsActive", "Impressions", "Cost"],
    "start_date": "2024-03-01",
    "end_date": "2024-03-05",
}


def schema(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / f"{name}.json").read_text())


def call(
    server: EmulatorServer, endpoint: str, params: dict[str, Any], *, key: str | None = API_KEY
) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(
        f"{server.base_url}/query/{endpoint}",
        params={"json": json.dumps(params)},
        headers=headers,
        timeout=10,
    )


def wait_done(server: EmulatorServer, schedule_id: str, **page: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = call(server, "status", {"schedule_id": schedule_id, **page}).json()
        if body["meta"]["status_code"] not in {"SCHEDULED", "QUEUED", "RUNNING"}:
            return body
        time.sleep(0.01)
    raise AssertionError("query did not finish")


def submit(server: EmulatorServer, **changes: Any) -> str:
    response = call(server, "data/json", {**QUERY, **changes})
    assert response.status_code == 200, response.text
    return str(response.json()["meta"]["schedule_id"])


def test_lifecycle_runs_then_succeeds_with_documented_shapes(emulator: EmulatorServer) -> None:
    emulator.configure(run_seconds=0.3)
    pending = call(emulator, "data/json", QUERY).json()

    jsonschema.validate(pending, schema("api-status"))
    assert pending["meta"]["status_code"] == "RUNNING"
    done = wait_done(emulator, pending["meta"]["schedule_id"])

    jsonschema.validate(done, schema("api-data"))
    meta = done["meta"]
    assert meta["result"]["total_rows"] == 5 * 2 * 12
    assert [f["field_type"] for f in meta["query"]["fields"]] == ["dim"] * 4 + ["met"] * 2
    assert meta["query"]["fields"][5]["data_type"] == "float.currency.value"
    assert done["data"][0] == [f["field_name"] for f in meta["query"]["fields"]]
    assert len(done["data"]) == 1 + 120


def test_sync_timeout_answers_with_rows_when_the_query_finishes_in_time(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(run_seconds=0.2)
    quick = call(emulator, "data/json", {**QUERY, "sync_timeout": 5}).json()
    slow = call(emulator, "data/json", {**QUERY, "sync_timeout": 0.05}).json()

    assert quick["meta"]["status_code"] == "SUCCESS"
    assert len(quick["data"]) == 121
    assert slow["meta"]["status_code"] == "RUNNING"
    assert slow["data"] == []


def test_async_answers_can_use_http_202(emulator: EmulatorServer) -> None:
    emulator.configure(async_status_code=202, run_seconds=1)
    assert call(emulator, "data/json", QUERY).status_code == 202


def test_licence_queue_runs_at_most_max_running_queries(emulator: EmulatorServer) -> None:
    emulator.configure(max_running=2, run_seconds=0.4)
    ids = [submit(emulator, start_date=f"2024-03-0{n}") for n in range(1, 5)]

    first = call(emulator, "status", {"schedule_id": ids[-1]}).json()["meta"]
    assert first["status_code"] == "QUEUED"
    assert first["workflow"] == {"tasks_scheduled": 2, "tasks_running": 2}
    assert first["progress"] == {"queries_ready": 0, "queries_total": 1}
    started = time.monotonic()
    wait_done(emulator, ids[-1])
    assert time.monotonic() - started >= 0.6  # it waited for a slot, then ran 0.4 s
    summaries = {q["schedule_id"]: q for q in emulator.stats()["queries"]}
    assert summaries[ids[2]]["started_at"] >= summaries[ids[0]]["finished_at"] - 1e-9


def test_scheduled_state_and_growing_progress(emulator: EmulatorServer) -> None:
    emulator.configure(schedule_seconds=0.2, run_seconds=0.4)
    schedule_id = submit(emulator)
    assert (
        call(emulator, "status", {"schedule_id": schedule_id}).json()["meta"]["status_code"]
        == "SCHEDULED"
    )
    time.sleep(0.45)
    meta = call(emulator, "status", {"schedule_id": schedule_id}).json()["meta"]
    assert meta["status_code"] == "RUNNING"
    assert meta["progress"]["queries_total"] == 2  # grew to one sub-query per account


def test_rows_are_deterministic_and_pages_honour_inclusive_offsets(
    emulator: EmulatorServer,
) -> None:
    first = wait_done(emulator, submit(emulator))
    again = wait_done(emulator, submit(emulator))
    page = wait_done(emulator, submit(emulator), offset_start=10, offset_end=19)

    assert first["data"] == again["data"]
    assert page["data"][1:] == first["data"][11:21]
    assert "offset_start" in page["meta"]["paginate"]["next"]
    assert "prev" in page["meta"]["paginate"]


def test_a_small_query_returns_exactly_these_rows(emulator: EmulatorServer) -> None:
    # Written out by hand: if the row formula drifts, recorded expectations (bench
    # baselines, fixtures other projects keep) would drift with it, so it must not.
    fields = ["Date", "Device", "Clicks", "Cost", "CTR", "Conversions"]
    body = wait_done(
        emulator,
        submit(
            emulator,
            ds_accounts=["111-111-1111"],
            fields=fields,
            start_date="2024-03-01",
            end_date="2024-03-02",
        ),
    )
    summed = wait_done(
        emulator,
        submit(
            emulator,
            ds_id="GAWA",
            ds_accounts="list.all_accounts",
            fields=["Country", "Sessions", "BounceRate", "Revenue", "EngagementDuration"],
            start_date="2024-03-01",
            end_date="2024-03-01",
        ),
    )

    assert body["data"] == [
        ["Date", "Device", "Clicks", "Cost", "CTR", "Conversions"],
        ["2024-03-01", "Desktop", 3794350464, 2999361204.0, 4.91, 988100025.12],
        ["2024-03-01", "Mobile", 9485876160, 1799616722.4, 7.19, 1482150037.68],
        ["2024-03-01", "Tablet", 5691525696, 1199744481.6, 18.85, 1976200050.24],
        ["2024-03-02", "Desktop", 79929897984, 3378192884.5, 51.21, 2266671457.44],
        ["2024-03-02", "Mobile", 199824744960, 2026915730.7, 61.16, 3400007186.16],
        ["2024-03-02", "Tablet", 119894846976, 1351277153.8, 82.53, 4533342914.88],
    ]
    # Both GA4 properties, summed, over the whole range (one label, 2024-03-01..2024-03-01).
    # Finland: sessions are bounced (2,078 + 1,305) x w 3 x W 3 x W 2,963 = 90,214,461 plus
    # engaged (8,107 + 762) x 1 x 5 x 3,003 = 133,168,035; the bounce rate is recomputed
    # from those sums, 10,000 x 90,214,461 / 223,382,496 rounded: 40.39.
    assert summed["data"] == [
        ["Country", "Sessions", "Bounce rate", "Total revenue", "User engagement duration"],
        ["Finland", 223382496, 40.39, 15542678.25, 9090334.89],
        ["Côte d'Ivoire", 429575592, 7.0, 6217071.3, 9090334.89],
        ["日本", 429575592, 7.0, 15542678.25, 36361339.56],
        ["United States", 592815114, 10.15, 12434142.6, 45451674.45],
        ["", 283525470, 53.03, 3108535.65, 45451674.45],
        ["Ελλάδα", 549861540, 27.34, 6217071.3, 36361339.56],
    ]


def test_max_page_size_caps_a_page(emulator: EmulatorServer) -> None:
    emulator.configure(max_page_size=25)
    body = wait_done(emulator, submit(emulator), offset_start=0, offset_end=999)
    assert len(body["data"]) == 1 + 25


def test_header_row_and_number_format_are_switchable(emulator: EmulatorServer) -> None:
    emulator.configure(header_row=False, numbers_as_strings=True)
    body = wait_done(emulator, submit(emulator))
    setting = wait_done(emulator, submit(emulator, settings={"no_headers": True}))

    assert body["data"][0][0] == "2024-03-01"
    assert isinstance(body["data"][0][4], str)
    assert body["data"][0][4].isdigit()
    assert setting["data"][0][0] == "2024-03-01"


def test_catalogue_has_unicode_empty_and_null_values(emulator: EmulatorServer) -> None:
    body = wait_done(
        emulator,
        submit(
            emulator,
            ds_id="GAWA",
            ds_accounts=["properties/1001"],
            fields=["Date", "Country", "Conversions"],
            start_date="2024-01-01",
            end_date="2024-01-31",
        ),
    )
    cells = [cell for row in body["data"][1:] for cell in row]
    assert "" in cells
    assert None in cells
    assert "Côte d'Ivoire" in cells


def test_large_results_are_computed_lazily(emulator: EmulatorServer) -> None:
    emulator.configure(max_result_rows=0, row_parameter_bound=0)  # past the API's caps
    start = time.monotonic()
    schedule_id = submit(
        emulator,
        fields=["Date", "Keyword", "Device", "CampaignName", "Clicks"],
        ds_accounts=["111-111-1111"],
        start_date="2020-01-01",
        end_date="2020-05-19",
    )
    body = wait_done(emulator, schedule_id, offset_start=4_999_990, offset_end=5_000_009)

    assert body["meta"]["result"]["total_rows"] == 140 * 1000 * 3 * 12  # 5,040,000 rows
    assert len(body["data"]) == 1 + 20
    assert body["data"][1][0] == "2020-05-18"
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"fields": ["Date"]}, 400, "DS_ID_MISSING"),
        ({**QUERY, "ds_id": "XX"}, 400, "DATASOURCE_NOT_FOUND"),
        ({**QUERY, "fields": ["Date", "Nope"]}, 400, "FIELD_NOT_FOUND"),
        ({**QUERY, "ds_accounts": ["999"]}, 400, "ACCOUNT_NOT_FOUND"),
        ({**QUERY, "start_date": "2024-02-30"}, 400, "DATE_INVALID"),
        ({**QUERY, "end_date": "2024-01-01"}, 400, "DATE_RANGE_INVALID"),
    ],
)
def test_invalid_queries_get_documented_errors(
    emulator: EmulatorServer, params: dict[str, Any], status: int, code: str
) -> None:
    response = call(emulator, "data/json", params)
    assert response.status_code == status
    body = response.json()
    jsonschema.validate(body, schema("api-error"))
    assert body["error"]["code"] == code
    assert body["meta"]["request_id"].startswith("req_")


def test_bad_json_bad_key_and_unknown_schedule(emulator: EmulatorServer) -> None:
    bad_json = requests.get(
        f"{emulator.base_url}/query/status",
        params={"json": "{nope"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    missing_key = call(emulator, "status", {"schedule_id": "x"}, key=None)
    wrong_key = call(emulator, "status", {"schedule_id": "x"}, key="nope")
    unknown = call(emulator, "status", {"schedule_id": "nope"})

    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "REQUEST_INVALID_JSON")
    assert (missing_key.status_code, missing_key.json()["error"]["code"]) == (
        401,
        "AUTH_API_KEY_MISSING",
    )
    assert (wrong_key.status_code, wrong_key.json()["error"]["code"]) == (
        401,
        "AUTH_API_KEY_INVALID",
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "STATUS_NOT_FOUND")
    for response in (bad_json, missing_key, wrong_key, unknown):
        jsonschema.validate(response.json(), schema("api-error"))


def test_api_key_inside_json_is_accepted_as_documented(emulator: EmulatorServer) -> None:
    response = call(emulator, "data/json", {**QUERY, "api_key": API_KEY}, key=None)
    assert response.status_code == 200


def test_results_expire_after_the_ttl(emulator: EmulatorServer) -> None:
    emulator.configure(result_ttl=0.2)
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)
    time.sleep(0.3)
    response = call(emulator, "status", {"schedule_id": schedule_id})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "STATUS_NOT_FOUND"


def test_lookup_by_schedule_id_on_the_data_endpoint(emulator: EmulatorServer) -> None:
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)
    body = call(emulator, "data/json", {"schedule_id": schedule_id}).json()
    assert body["meta"]["status_code"] == "SUCCESS"
    assert len(emulator.stats()["queries"]) == 1


def test_revision_changes_metrics_from_a_date_on(emulator: EmulatorServer) -> None:
    before = wait_done(emulator, submit(emulator))["data"][1:]
    emulator.configure(revision=1, revision_from="2024-03-04")
    after = wait_done(emulator, submit(emulator))["data"][1:]
    changed = {row[0] for row, new in zip(before, after, strict=True) if row != new}
    assert changed == {"2024-03-04", "2024-03-05"}


# Faults ---------------------------------------------------------------------


def test_fault_429_with_retry_after_then_recovers(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="http_error", status=429, retry_after="2", endpoint="submit")
    first = call(emulator, "data/json", QUERY)
    second = call(emulator, "data/json", QUERY)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    jsonschema.validate(first.json(), schema("api-error"))
    assert second.status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_server_errors(emulator: EmulatorServer, status: int) -> None:
    emulator.add_fault(action="http_error", status=status, times=2)
    codes = [call(emulator, "data/json", QUERY).status_code for _ in range(3)]
    assert codes == [status, status, 200]


def test_fault_http_date_retry_after(emulator: EmulatorServer) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    emulator.add_fault(action="http_error", status=429, retry_after=when)
    assert call(emulator, "data/json", QUERY).headers["Retry-After"] == when


def test_fault_dropped_connection_and_truncated_body(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="drop", endpoint="submit")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        call(emulator, "data/json", QUERY)
    emulator.add_fault(action="truncate", endpoint="submit")
    truncated = call(emulator, "data/json", QUERY)
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.content)
    assert call(emulator, "data/json", QUERY).status_code == 200


def test_fault_slow_response(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="slow", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{emulator.base_url}/query/data/json",
            params={"json": json.dumps(QUERY)},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=0.2,
        )


def test_fault_failure_stopped_and_never_finishing_queries(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="query_failure", code="DS_ERROR", message="boom")
    emulator.add_fault(action="query_stopped", skip=1)
    emulator.add_fault(action="never_finish", skip=2)
    failed = wait_done(emulator, submit(emulator))
    stopped = wait_done(emulator, submit(emulator))
    endless = submit(emulator)
    time.sleep(0.3)

    assert failed["meta"]["status_code"] == "FAILURE"
    assert failed["error"]["code"] == "DS_ERROR"
    jsonschema.validate(failed, schema("api-error"))
    assert stopped["meta"]["status_code"] == "STOPPED"
    endless_meta = call(emulator, "status", {"schedule_id": endless}).json()["meta"]
    assert endless_meta["status_code"] == "RUNNING"


def test_fault_early_expiry_after_pages(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="expire_early", after_pages=1)
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)  # the first page is served, then the results go
    assert call(emulator, "status", {"schedule_id": schedule_id}).status_code == 404


def test_fault_rules_match_by_data_source_and_offset(emulator: EmulatorServer) -> None:
    emulator.add_fault(action="http_error", status=503, endpoint="status", min_offset=10)
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)
    early = call(emulator, "status", {"schedule_id": schedule_id, "offset_start": 0})
    late = call(emulator, "status", {"schedule_id": schedule_id, "offset_start": 10})
    assert (early.status_code, late.status_code) == (200, 503)


def test_rate_limit_answers_429(emulator: EmulatorServer) -> None:
    emulator.configure(rate_limit_per_second=3)
    codes = [call(emulator, "status", {"schedule_id": "x"}).status_code for _ in range(6)]
    assert 429 in codes


def test_control_plane_over_http(emulator: EmulatorServer) -> None:
    root = emulator.root_url
    added = requests.post(
        f"{root}/_emulator/faults", json={"action": "http_error", "status": 500}, timeout=5
    )
    refused = requests.post(f"{root}/_emulator/faults", json={"action": "explode"}, timeout=5)
    settings = requests.post(f"{root}/_emulator/settings", json={"run_seconds": 0.01}, timeout=5)
    bad_setting = requests.post(f"{root}/_emulator/settings", json={"nope": 1}, timeout=5)

    assert added.status_code == 201
    assert refused.status_code == 400
    assert settings.json()["run_seconds"] == 0.01
    assert bad_setting.status_code == 400
    assert call(emulator, "data/json", QUERY).status_code == 500
    requests.post(f"{root}/_emulator/reset", timeout=5)
    assert requests.get(f"{root}/_emulator/stats", timeout=5).json()["faults"] == []


def test_command_line_prints_its_address_first(tmp_path: Path) -> None:
    fault = json.dumps({"action": "http_error", "status": 503})
    with emulator_command("--port", "0", "--api-key", "k", "--fault", fault) as line:
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ") + "/enterprise/v2/query/data/json"
        response = requests.get(
            url,
            params={"json": json.dumps(QUERY)},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        assert response.status_code == 503

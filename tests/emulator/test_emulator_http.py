"""HTTP details over real HTTP: POSTed queries, URL length, rate-limit headers and bodies."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest
import requests

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY
from tests.emulator.test_emulator import QUERY, call, schema, wait_done
from tests.emulator_cli import emulator_command

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def post(
    server: EmulatorServer, body: object, *, path: str = "data/json", **headers: str
) -> requests.Response:
    return requests.post(
        f"{server.base_url}/query/{path}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", **AUTH, **headers},
        timeout=10,
    )


def next_second() -> None:
    """Sleep to just after a wall-clock second starts, so that a burst stays in one."""
    time.sleep(1.02 - time.time() % 1)


# POST /query/data/json -------------------------------------------------------------


def test_a_posted_query_runs_like_a_get_and_is_logged_as_post(emulator: EmulatorServer) -> None:
    posted = post(emulator, {**QUERY, "sync_timeout": 10})
    got = call(emulator, "data/json", {**QUERY, "sync_timeout": 10})

    assert posted.status_code == 200
    assert posted.json()["meta"]["status_code"] == "SUCCESS"
    assert posted.json()["data"] == got.json()["data"]
    log = emulator.stats()["request_log"]
    assert [(e["endpoint"], e["method"]) for e in log] == [("submit", "POST"), ("submit", "GET")]
    assert log[0]["params"]["ds_accounts"] == QUERY["ds_accounts"]


def test_a_posted_lookup_and_a_posted_key_work(emulator: EmulatorServer) -> None:
    schedule_id = post(emulator, QUERY).json()["meta"]["schedule_id"]
    wait_done(emulator, schedule_id)
    looked_up = post(emulator, {"schedule_id": schedule_id})
    keyed = requests.post(
        f"{emulator.base_url}/query/data/json",
        json={**QUERY, "api_key": API_KEY},
        timeout=10,
    )

    assert looked_up.json()["meta"]["status_code"] == "SUCCESS"
    assert keyed.status_code == 200
    assert "api_key" not in emulator.stats()["request_log"][-1]["params"]


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        ({"data": "{nope"}, 400, "REQUEST_INVALID_JSON"),
        ({"data": "[1, 2]"}, 400, "REQUEST_INVALID_JSON"),
        ({"data": json.dumps(QUERY), "content_type": "text/plain"}, 415, "CONTENT_TYPE_INVALID"),
        ({"data": json.dumps({"schedule_id": "x"}), "path": "status"}, 405, "METHOD_NOT_ALLOWED"),
        ({"data": json.dumps(QUERY), "key": "nope"}, 401, "AUTH_API_KEY_INVALID"),
    ],
    ids=["bad-json", "not-an-object", "wrong-content-type", "status-is-get-only", "bad-key"],
)
def test_bad_posts_get_documented_errors(
    emulator: EmulatorServer, send: dict[str, str], status: int, code: str
) -> None:
    response = requests.post(
        f"{emulator.base_url}/query/{send.get('path', 'data/json')}",
        data=send["data"],
        headers={
            "Content-Type": send.get("content_type", "application/json"),
            "Authorization": f"Bearer {send.get('key', API_KEY)}",
        },
        timeout=10,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    jsonschema.validate(response.json(), schema("api-error"))
    assert call(emulator, "status", {"schedule_id": "x"}).status_code == 404  # connection fine


# URL length ----------------------------------------------------------------------


def long_query(accounts: int) -> dict[str, Any]:
    ids = [f"{n:03d}-{n:03d}-{n:04d}" for n in range(accounts)]
    return {**QUERY, "ds_accounts": ids}


def test_urls_over_max_url_length_get_414_and_a_post_carries_the_same_query(
    emulator: EmulatorServer,
) -> None:
    query = long_query(600)
    emulator.configure(extra_accounts={"AW": query["ds_accounts"]}, max_accounts_per_query=0)

    long_get = call(emulator, "data/json", {**query, "sync_timeout": 10})
    same_post = post(emulator, {**query, "sync_timeout": 10})

    assert len(long_get.request.url or "") > 8192
    assert long_get.status_code == 414
    assert long_get.json()["error"]["code"] == "URI_TOO_LONG"
    jsonschema.validate(long_get.json(), schema("api-error"))
    assert same_post.status_code == 200
    assert same_post.json()["meta"]["result"]["total_rows"] == 5 * 600 * 12
    first = emulator.stats()["request_log"][0]
    assert first["endpoint"] == "submit"
    assert len(first["path"]) < 400


def test_max_url_length_is_a_setting(emulator: EmulatorServer) -> None:
    emulator.configure(max_url_length=200)
    assert call(emulator, "status", {"schedule_id": "x"}).status_code == 404
    assert call(emulator, "data/json", QUERY).status_code == 414
    assert post(emulator, QUERY).status_code == 200


# Rate limits ---------------------------------------------------------------------


def test_rate_limit_headers_count_down_within_a_second(emulator: EmulatorServer) -> None:
    emulator.configure(rate_limit_per_second=3)
    next_second()
    answers = [call(emulator, "status", {"schedule_id": "x"}) for _ in range(4)]

    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert answers[3].headers["Retry-After"] == "1"
    jsonschema.validate(answers[3].json(), schema("api-error"))
    next_second()
    assert call(emulator, "status", {"schedule_id": "x"}).headers["X-RateLimit-Remaining"] == "2"


def test_no_rate_limit_headers_without_a_limit(emulator: EmulatorServer) -> None:
    response = call(emulator, "fields", {"ds_id": "AW"})
    assert "X-RateLimit-Limit" not in response.headers
    assert "X-RateLimit-Remaining" not in response.headers


def test_stats_report_the_busiest_second(emulator: EmulatorServer) -> None:
    assert emulator.stats()["peak_requests_per_second"] == 0
    next_second()
    for _ in range(5):
        call(emulator, "fields", {"ds_id": "AW"})
    next_second()
    call(emulator, "fields", {"ds_id": "AW"})

    assert emulator.stats()["peak_requests_per_second"] == 5
    emulator.reset()
    assert emulator.stats()["peak_requests_per_second"] == 0


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("empty", {}),
        ("message_only", {"error": {"message": "Too many requests"}}),
    ],
)
def test_429_bodies_can_take_the_shapes_of_official_mocks(
    emulator: EmulatorServer, shape: str, expected: dict[str, Any]
) -> None:
    emulator.configure(rate_limit_per_second=1, rate_limit_body=shape)
    next_second()
    call(emulator, "status", {"schedule_id": "x"})
    limited = call(emulator, "status", {"schedule_id": "x"})
    emulator.configure(rate_limit_per_second=0)
    emulator.add_fault(action="http_error", status=429, message="Too many requests")
    injected = call(emulator, "status", {"schedule_id": "x"})
    other = call(emulator, "status", {"schedule_id": "x"})

    assert (limited.status_code, limited.json()) == (429, expected)
    assert (injected.status_code, injected.json()) == (429, expected)
    assert other.json()["error"]["code"] == "STATUS_NOT_FOUND"  # other errors keep the shape


def test_unknown_rate_limit_body_shapes_are_refused(emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="rate_limit_body"):
        emulator.configure(rate_limit_body="html")


# Pending answers -------------------------------------------------------------------


def test_pending_answers_can_carry_null_data(emulator: EmulatorServer) -> None:
    emulator.configure(run_seconds=1, pending_data_null=True)
    pending = call(emulator, "data/json", QUERY)
    status = call(emulator, "status", {"schedule_id": pending.json()["meta"]["schedule_id"]})

    assert pending.json()["meta"]["status_code"] == "RUNNING"
    assert pending.json()["data"] is None
    assert status.json()["data"] is None
    emulator.configure(run_seconds=0.01, pending_data_null=False)
    assert call(emulator, "data/json", {**QUERY, "schedule_id": "s2"}).json()["data"] == []


def test_command_line_takes_structured_settings_as_json() -> None:
    settings = json.dumps({"extra_accounts": {"AW": ["444-444-4444"]}, "run_seconds": 0.01})
    options = ["--api-key", "k", "--max-url-length", "300", "--rate-limit-per-second", "50"]
    with emulator_command(*options, "--settings", settings) as line:
        root = line.removeprefix("listening on ")
        accounts = requests.get(
            f"{root}/enterprise/v2/query/accounts",
            params={"json": json.dumps({"ds_id": "AW"})},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        too_long = requests.get(
            f"{root}/enterprise/v2/query/status",
            params={"json": json.dumps({"schedule_id": "x" * 300})},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        held = [a["account_id"] for a in accounts.json()["data"][0]["accounts"]]
        assert held[-1] == "444-444-4444"
        assert accounts.headers["X-RateLimit-Limit"] == "50"
        assert too_long.status_code == 414

"""Faults survived or reported, bad input refused, and the API key never leaked.

Each fault either ends in exactly the right records or in a non-zero exit with the
promised message. The leak test runs whole syncs (good and failing, at DEBUG) and
searches every byte the tap wrote for the key.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import (
    ADS_FIELDS,
    API_KEY,
    TapRun,
    base_config,
    expected_rows,
    run_tap,
    submissions,
)


def expected_ads(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return expected_rows(emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])


def primed(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A config whose schema is already cached, so faults hit the sync, not discovery."""
    config = base_config(emulator, tmp_path, page_size=100, **overrides)
    assert run_tap(tmp_path, config, "--discover").returncode == 0
    return config


def backoff_waits(run: TapRun) -> list[float]:
    return [float(w) for w in re.findall(r"Backing off (\d+\.\d+) seconds", run.stderr)]


# Retried, then the right records ---------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "http_error", "status": 500},
        {"action": "http_error", "status": 502, "endpoint": "submit"},
        {"action": "http_error", "status": 503, "min_offset": 100},
        {"action": "drop", "endpoint": "status"},
        {"action": "truncate", "endpoint": "status", "min_offset": 100},
        {"action": "http_error", "status": 429, "endpoint": "status"},
    ],
    ids=["500", "502-submit", "503-page", "dropped-connection", "truncated-json", "429-no-header"],
)
def test_transient_faults_are_retried_and_every_row_arrives_once(
    emulator: EmulatorServer, tmp_path: Path, fault: dict[str, Any]
) -> None:
    config = primed(emulator, tmp_path)
    emulator.add_fault(**fault)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert run.records("ads") == expected_ads(emulator)
    assert len(backoff_waits(run)) == 1
    assert emulator.stats()["faults"][0]["fired"] == 1


def test_read_timeout_is_retried(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = primed(emulator, tmp_path, request_timeout=1)
    emulator.add_fault(action="slow", delay=2.5, endpoint="status")

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert run.records("ads") == expected_ads(emulator)
    assert "ReadTimeout" in run.stderr or "Read timed out" in run.stderr


def test_retry_after_seconds_is_honoured(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = primed(emulator, tmp_path)
    emulator.add_fault(action="http_error", status=429, retry_after="2", endpoint="status")

    started = time.monotonic()
    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert backoff_waits(run) == [2.0]
    assert time.monotonic() - started >= 2
    assert run.records("ads") == expected_ads(emulator)


def test_retry_after_http_date_is_honoured_and_clamped(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = primed(emulator, tmp_path, max_retry_after=1)
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    emulator.add_fault(action="http_error", status=429, retry_after=later, endpoint="submit")
    emulator.add_fault(action="http_error", status=429, retry_after=soon, endpoint="status")

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert backoff_waits(run) == [1.0, 1.0]  # an hour and ~30 s, both clamped to 1 s


# Given up, with the promised message ------------------------------------------


def test_after_the_last_try_the_error_names_stream_window_code_and_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = primed(emulator, tmp_path, max_request_attempts=2)
    emulator.add_fault(
        action="http_error", status=503, code="BACKEND_DOWN", endpoint="status", times=0
    )

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    message = next(line for line in run.stderr.splitlines() if "gave up after 2 tries" in line)
    assert "stream 'ads', window 2024-01-01..2024-01-10" in message
    assert "HTTP 503" in message
    assert "BACKEND_DOWN" in message
    assert re.search(r"request_id req_\d+", message)
    assert run.records("ads") == []


def test_dropped_connections_that_persist_fail_clearly(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = primed(emulator, tmp_path, max_request_attempts=2)
    emulator.add_fault(action="drop", endpoint="submit", times=0)

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert "stream 'ads', window 2024-01-01..2024-01-10: gave up after 2 tries" in run.stderr
    assert "ChunkedEncodingError" in run.stderr


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "PARAMETER_INVALID", "HTTP 400: PARAMETER_INVALID: Injected"),
        (422, "QUERY_INVALID", "HTTP 422: QUERY_INVALID: Injected"),
        # A 403 with a code about one data source's login stops only its stream.
        (403, "AUTH_FORBIDDEN", "HTTP 403: AUTH_FORBIDDEN: Injected"),
        (403, "ACCESS_DENIED_IP", "Supermetrics rejected the API key (HTTP 403"),
        (403, "API_KEY_DISABLED", "Supermetrics rejected the API key (HTTP 403"),
        (401, "AUTH_API_KEY_INVALID", "Supermetrics rejected the API key (HTTP 401"),
    ],
)
def test_client_errors_are_final_at_once(
    emulator: EmulatorServer, tmp_path: Path, status: int, code: str, expected: str
) -> None:
    config = primed(emulator, tmp_path)
    emulator.add_fault(action="http_error", status=status, code=code, endpoint="submit")

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert expected in run.stderr
    assert "stream 'ads'" in run.stderr
    assert backoff_waits(run) == []
    assert submissions(emulator) == 1  # one try: discovery submits no query


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("no_meta", "the answer has no 'meta' object"),
        ("short_row", "row 199: expected 8 cells, got 7"),
        ("bad_value", "row 199: field 'Conversions': 'n/a' is not a valid number"),
    ],
)
def test_malformed_answers_fail_where_they_break_and_emit_no_wrong_record(
    emulator: EmulatorServer, tmp_path: Path, kind: str, expected: str
) -> None:
    config = primed(emulator, tmp_path)
    # The second page (rows 100-199) breaks; the first, in the SUCCESS answer, is sound.
    emulator.add_fault(action="malform", kind=kind, endpoint="status", min_offset=100)

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert expected in run.stderr
    assert "stream 'ads', window 2024-01-01..2024-01-10" in run.stderr
    assert emulator.stats()["faults"][0]["fired"] == 1
    # Exactly the sound page: none of the broken page (not even its good rows 100-198).
    assert run.records("ads") == expected_ads(emulator)[:100]
    assert run.bookmark("ads") is None


# Bad input refused -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"page_size": "many"}, "'many' is not of type 'integer'"),
        ({"lookback_days": -1}, "lookback_days must be at least 0"),
        ({"poll_interval": "soon"}, "'soon' does not match"),
        ({"query_timeout": 0}, "query_timeout must be a positive number of seconds"),
        ({"start_date": "yesterday"}, "start_date 'yesterday' is not a date"),
        (
            {"queries": [{"name": "x", "ds_id": "AW", "fields": ["Date"], "fieldz": []}]},
            "Additional properties are not allowed ('fieldz' was unexpected)",
        ),
    ],
)
def test_wrong_types_and_values_are_refused_with_one_line(
    emulator: EmulatorServer, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    config = {**base_config(emulator, tmp_path), **change}

    run = run_tap(tmp_path, config)

    assert run.returncode != 0
    assert message in run.stderr
    assert emulator.stats()["requests"] == {}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_plain_http_is_allowed_only_on_loopback(
    emulator: EmulatorServer, tmp_path: Path, host: str
) -> None:
    port = emulator.base_url.split(":")[2].split("/")[0]
    config = base_config(emulator, tmp_path, base_url=f"http://{host}:{port}/enterprise/v2")

    assert run_tap(tmp_path, config).returncode == 0


# The key never leaks ------------------------------------------------------------


def test_api_key_appears_in_no_output_of_any_run(emulator: EmulatorServer, tmp_path: Path) -> None:
    debug = {"LOGLEVEL": "DEBUG", "TAP_SUPERMETRICS_LOGLEVEL": "DEBUG"}
    config = base_config(emulator, tmp_path, max_request_attempts=2, query_timeout=1)
    outputs: list[str] = []

    def record(run: TapRun) -> TapRun:
        outputs.extend([run.stdout, run.stderr])
        return run

    discovered = record(run_tap(tmp_path, config, "--discover", env=debug))
    catalog = json.loads(discovered.stdout)
    good = record(run_tap(tmp_path, config, catalog=catalog, env=debug))
    assert good.returncode == 0
    record(run_tap(tmp_path, config, state=good.states()[-1], env=debug))
    record(run_tap(tmp_path, config, "--about", env=debug))
    record(run_tap(tmp_path, config, "--about", "--format=json", env=debug))
    emulator.add_fault(action="http_error", status=503, times=0, endpoint="status")
    assert record(run_tap(tmp_path, config, env=debug)).returncode != 0
    emulator.emulator.faults.clear()
    emulator.add_fault(action="drop", times=0, endpoint="submit")
    assert record(run_tap(tmp_path, config, env=debug)).returncode != 0
    emulator.emulator.faults.clear()
    emulator.add_fault(action="never_finish")
    assert record(run_tap(tmp_path, config, env=debug)).returncode != 0
    emulator.emulator.faults.clear()
    emulator.add_fault(action="query_failure")
    assert record(run_tap(tmp_path, config, env=debug)).returncode != 0
    emulator.configure(api_key="another-key")
    assert record(run_tap(tmp_path, config, env=debug)).returncode != 0

    assert "DEBUG" in good.stderr  # the runs really logged at DEBUG
    for text in outputs:
        assert API_KEY not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "config.json":
            assert API_KEY not in path.read_text(errors="replace"), path
    urls = [entry["path"] for entry in emulator.stats()["request_log"]]
    assert not any(API_KEY in url for url in urls)

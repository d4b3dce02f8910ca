"""Answers shaped as in Supermetrics' own docs, OpenAPI spec and client mocks."""

from __future__ import annotations

import time
from pathlib import Path

from supermetrics_emulator import EmulatorServer
from tests.conftest import ADS_FIELDS, base_config, expected_rows, run_tap


def expected(emulator: EmulatorServer) -> list[dict]:
    return expected_rows(emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"])


def test_202_pending_answers_with_null_data_and_string_numbers_sync_exactly(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(async_status_code=202, pending_data_null=True, numbers_as_strings=True)

    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records("ads") == expected(emulator)


def test_429_without_meta_is_retried(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.configure(rate_limit_body="empty")
    emulator.add_fault(action="http_error", status=429, retry_after="1", endpoint="status")

    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records("ads") == expected(emulator)


def test_an_error_envelope_at_http_200_fails_with_its_code(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(
        action="http_error", status=200, code="QUERY_INVALID", message="bad", endpoint="submit"
    )

    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode == 1
    assert "QUERY_INVALID: bad" in run.stderr
    assert run.records("ads") == []


def test_the_daily_query_limit_stops_the_run_at_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.add_fault(
        action="http_error",
        status=429,
        code="LICENSE_DAILY_QUERY_LIMIT_EXCEEDED",
        message="Daily query limit reached",
        endpoint="submit",
        times=0,
    )

    started = time.monotonic()
    run = run_tap(tmp_path, base_config(emulator, tmp_path))

    assert run.returncode == 1
    assert "the Supermetrics licence refused the request" in run.stderr
    assert "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED" in run.stderr
    assert emulator.stats()["requests"].get("submit") == 1  # no retries
    assert time.monotonic() - started < 10

"""A re-read names accounts its stream holds (issue 29, case 7): refused before any request.

Explicit account lists are checked with the settings; lists the API resolves are checked
once listed (tests/read/test_hardening.py). A stream summed over its accounts or reading an
opaque team list cannot re-read single accounts at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import base_config, run_tap

A, B = "111-111-1111", "222-222-2222"


def reread(accounts: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "stream": "ads",
            "accounts": accounts,
            "start_date": "2024-01-02",
            "end_date": "2024-01-03",
        }
    ]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (
            {"ds_accounts": [A, B], "fields": ["Date", "profileID", "Clicks"]},
            "reread[0]: account(s) 999-999-9999 are not among stream 'ads''s ds_accounts",
        ),
        (
            {"ds_accounts": f"{A},{B}", "fields": ["Date", "profileID", "Clicks"]},
            "reread[0]: account(s) 999-999-9999 are not among stream 'ads''s ds_accounts",
        ),
        (
            {"ds_accounts": [A, B], "fields": ["Date", "Clicks"]},
            "stream 'ads' has no account field, so its rows are sums over its accounts",
        ),
        (
            {"ds_accounts": "list.team_a", "fields": ["Date", "profileID", "Clicks"]},
            "stream 'ads' reads the team list list.team_a",
        ),
    ],
    ids=["listed", "comma-separated", "summed", "team-list"],
)
def test_a_reread_naming_an_account_the_stream_cannot_read_alone_is_refused(
    emulator: EmulatorServer, tmp_path: Path, query: dict[str, Any], says: str
) -> None:
    settings = base_config(emulator, tmp_path, queries=[{"name": "ads", "ds_id": "AW", **query}])
    settings["reread"] = reread(["999-999-9999"])

    run = run_tap(tmp_path, settings)

    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if says in line]
    assert len(lines) == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert emulator.stats()["request_log"] == []


def test_a_reread_of_an_account_the_list_holds_is_taken(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": ["Date", "profileID"]}
    settings = base_config(emulator, tmp_path, queries=[query])
    first = run_tap(tmp_path, settings)
    settings["reread"] = reread([B])

    second = run_tap(tmp_path, settings, state=first.states()[-1])

    assert second.returncode == 0, second.stderr[-2000:]
    assert {(r["Date"], r["profileID"]) for r in second.records("ads")} == {
        ("2024-01-02", B),
        ("2024-01-03", B),
    }

"""Summed accounts are said (issue 30, 8).

A query that reads several accounts without an account field gets rows summed over them
(coverage keeps them as one, account `*`): one WARNING names the id field to add.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import TapRun, base_config, run_tap

A, B = "111-111-1111", "222-222-2222"
SUMMED = "so each row is a sum over them"


def summed_warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if SUMMED in line]


def test_several_accounts_without_an_account_field_get_one_warning_naming_the_id_field(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-02-10")  # two windows
    config["queries"][0]["ds_accounts"] = [A, B]

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    (warning,) = summed_warnings(run)
    assert "WARNING" in warning
    assert "Stream 'ads' reads 2 accounts with no account field among its fields" in warning
    assert "coverage keeps them as one (account '*'): add 'profileID' to fields" in warning
    coverage = run.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"]
    assert list(coverage) == ["*"]


def test_a_team_list_without_an_account_field_is_said_too(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"] = [
        {
            "name": "ga",
            "ds_id": "GAWA",
            "ds_accounts": "list.my_team",
            "fields": ["Date", "Sessions"],
        }
    ]

    run = run_tap(tmp_path, {**config, "dry_run": True})

    (warning,) = summed_warnings(run)
    assert "reads team list 'list.my_team'" in warning
    assert "add 'property' to fields" in warning


@pytest.mark.parametrize(
    ("accounts", "fields"),
    [
        ([A, B], ["Date", "profileID", "Device", "Clicks"]),  # each account's own rows
        ([A], ["Date", "Device", "Clicks"]),  # one account: nothing is summed
    ],
)
def test_no_warning_when_nothing_is_summed(
    emulator: EmulatorServer, tmp_path: Path, accounts: list[str], fields: list[str]
) -> None:
    config = base_config(emulator, tmp_path)
    config["queries"][0].update(ds_accounts=accounts, fields=fields)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert summed_warnings(run) == []

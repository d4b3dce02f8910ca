"""The account key is an id, never a name (docs/account-ids.md).

A query whose account field holds account names is refused before any request, in one
line naming the id field to use; a name listed beside the id field is an ordinary column.
The emulator's Google Ads has both, as Supermetrics does: `profileID` (the id) and
`profile` (the account's name as `/query/accounts` lists it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.core.accounts import ACCOUNT_NAME_FIELDS, account_field
from tap_supermetrics.settings.queries import ConfigError
from tests.conftest import API_KEY, base_config, expected_rows, run_tap
from tests.emulator.test_emulator import call

A, B = "111-111-1111", "222-222-2222"
NAMES = {A: "Acme Shoes FI", B: "Acme Shoes SE"}
WITH_NAME = ["Date", "profileID", "profile", "Device", "Clicks"]


def _query(fields: list[str], **overrides: Any) -> dict[str, Any]:
    return {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": fields, **overrides}


REFUSED = {
    "profile found among fields": (
        _query(["Date", "profile", "Clicks"]),
        (
            "account field 'profile' holds the account's name, which can change: "
            "use the id field 'profileID' instead"
        ),
    ),
    "profile named beside profileID": (
        _query(WITH_NAME, account_field="profile"),
        "account field 'profile' holds the account's name",
    ),
    "accountname": (
        _query(["Date", "accountname", "Clicks"]),
        (
            "account field 'accountname' holds the account's name, which can change: "
            "use the id field 'accountID' instead"
        ),
    ),
    "account_name in another case": (
        _query(["Date", "Account_Name", "Clicks"], account_field="Account_Name"),
        "use the id field 'account_id' instead",
    ),
}


@pytest.mark.parametrize(("query", "message"), REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_a_name_as_account_field_is_refused_in_one_line_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, query: dict[str, Any], message: str, mode: str
) -> None:
    config = base_config(emulator, tmp_path, queries=[query])

    run = run_tap(tmp_path, config, *(["--discover"] if mode == "discover" else []))

    assert run.returncode == 1
    assert run.stdout == ""
    refusal = [line for line in run.stderr.splitlines() if "holds the account's name" in line]
    assert len(refusal) == 1, run.stderr
    assert message in refusal[0]
    assert "queries[0] (ads)" in refusal[0]
    assert "docs/account-ids.md" in refusal[0]
    assert emulator.stats()["request_log"] == []
    assert API_KEY not in run.stderr


@pytest.mark.parametrize(
    ("fields", "configured", "chosen"),
    [
        (["Date", "profile", "profileID", "Clicks"], None, "profileID"),
        (["Date", "PROFILEID", "profile", "Clicks"], None, "PROFILEID"),
        (["Date", "property", "Sessions"], None, "property"),
        (["Date", "account_name", "account_id", "Clicks"], None, "account_id"),
        (["Date", "Device", "Clicks"], None, None),
        (["Date", "profile", "MyAccount", "Clicks"], "MyAccount", "MyAccount"),
    ],
)
def test_the_default_account_field_is_an_id_field_and_a_name_beside_it_is_a_column(
    fields: list[str], configured: str | None, chosen: str | None
) -> None:
    assert account_field(fields, configured, "queries[0] (ads)") == chosen


def test_every_name_field_names_an_id_field_that_is_detected_as_the_account() -> None:
    for name, id_field in ACCOUNT_NAME_FIELDS.items():
        assert account_field([name, id_field], None, "q") == id_field
        with pytest.raises(ConfigError, match=f"use the id field '{id_field}'"):
            account_field([name, id_field], name.upper(), "q")


def test_the_id_is_the_account_key_and_the_name_a_plain_column(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(
        emulator,
        tmp_path,
        queries=[_query(WITH_NAME)],
        start_date="2024-01-01",
        end_date="2024-01-02",
    )

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records("ads")
    assert records == expected_rows(emulator, "AW", WITH_NAME, "2024-01-01", "2024-01-02", [A, B])
    assert {(r["profileID"], r["profile"]) for r in records} == set(NAMES.items())
    (query_run,) = run.records("query_runs")
    assert query_run["account_field"] == "profileID"
    coverage = run.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"]
    assert set(coverage) == {A, B}


def test_the_emulator_fills_profile_with_names_from_the_account_list(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(extra_accounts={"AW": [{"account_id": "444", "account_name": "Dépôt Oy"}]})
    listed = call(emulator, "accounts", {"ds_id": "AW"}).json()["data"][0]["accounts"]
    names = {account["account_id"]: account["account_name"] for account in listed}
    fields = call(emulator, "fields", {"ds_id": "AW"}).json()["data"]
    by_id = {entry["field_id"]: entry for entry in fields}

    rows = expected_rows(
        emulator, "AW", ["profileID", "profile"], "2024-01-01", "2024-01-01", [A, "444"]
    )

    assert (by_id["profile"]["field_name"], by_id["profileID"]["field_name"]) == (
        "Account name",
        "Account ID",
    )
    assert by_id["profile"]["group_name"] == by_id["profileID"]["group_name"] == "Account"
    assert [(row["profileID"], row["profile"]) for row in rows] == [
        (A, names[A]),
        ("444", "Dépôt Oy"),
    ]


def test_a_renamed_account_keeps_its_id_its_values_and_its_coverage(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    query = _query(WITH_NAME, primary_keys=["Date", "profileID", "Device"])
    config = base_config(
        emulator, tmp_path, queries=[query], end_date="2024-01-05", lookback_days=2
    )
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    emulator.configure(
        renames=[{"ds_id": "AW", "field": "profile", "from": NAMES[A], "to": "Acme Finland"}]
    )

    second = run_tap(tmp_path, config | {"end_date": "2024-01-06"}, state=first.states()[-1])

    assert second.returncode == 0, second.stderr[-3000:]
    reread = [r for r in second.records("ads") if r["Date"] <= "2024-01-05"]
    # The next day's run reads the lookback's days and the new day: the renamed account is
    # the same account, not a new one backfilled from start_date.
    assert {r["Date"] for r in second.records("ads")} == {
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
        "2024-01-06",
    }
    assert {(r["profileID"], r["profile"]) for r in reread} == {(A, "Acme Finland"), (B, NAMES[B])}
    key = ("Date", "profileID", "Device")
    before = {tuple(r[k] for k in key): r["Clicks"] for r in first.records("ads")}
    assert all(before[tuple(r[k] for k in key)] == r["Clicks"] for r in reread)
    assert second.schemas()["ads"]["key_properties"] == list(key)
    coverage = second.states()[-1]["bookmarks"]["ads"]["coverage"]["accounts"]
    assert coverage == {A: [["2024-01-01", "2024-01-06"]], B: [["2024-01-01", "2024-01-06"]]}


def test_a_drop_rule_on_the_account_name_drops_that_accounts_rows(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(
        dropped_rows=[{"ds_id": "AW", "match": {"profile": NAMES[B], "Date": "2024-01-02"}}]
    )

    rows = expected_rows(emulator, "AW", WITH_NAME, "2024-01-01", "2024-01-02", [A, B])

    days = {(row["Date"], row["profileID"]) for row in rows}
    assert days == {("2024-01-01", A), ("2024-01-02", A), ("2024-01-01", B)}

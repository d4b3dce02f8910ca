"""Accounts over real HTTP: `/query/accounts`, every `ds_accounts` form, account faults."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import requests

from supermetrics_emulator import EmulatorServer
from tests.conftest import expected_rows
from tests.emulator.test_emulator import call, schema

AW_ACCOUNTS = [
    {"account_id": "111-111-1111", "account_name": "Acme Shoes FI", "group_name": "Acme Group MCC"},
    {"account_id": "222-222-2222", "account_name": "Acme Shoes SE", "group_name": "Acme Group MCC"},
    {
        "account_id": "333-333-3333",
        "account_name": "Nordic Outdoor Oy",
        "group_name": "Nordic Outdoor MCC",
    },
]


def listed(emulator: EmulatorServer, ds_id: str = "AW") -> list[str]:
    body = call(emulator, "accounts", {"ds_id": ds_id}).json()
    return [account["account_id"] for login in body["data"] for account in login["accounts"]]


def run(emulator: EmulatorServer, ds_accounts: object, **changes: Any) -> dict[str, Any]:
    """Submit a one-day AW query with the account dimension and wait for its answer."""
    query = {
        "ds_id": "AW",
        "ds_accounts": ds_accounts,
        "fields": ["Date", "profileID", "Clicks"],
        "start_date": "2024-01-01",
        "end_date": "2024-01-01",
        "sync_timeout": 10,
        **changes,
    }
    response = call(emulator, "data/json", query)
    body: dict[str, Any] = response.json()
    body["http_status"] = response.status_code
    return body


def accounts_of(body: dict[str, Any]) -> list[str]:
    return [row[1] for row in body["data"][1:]]


# /query/accounts ---------------------------------------------------------------


def test_account_list_has_the_documented_shape(emulator: EmulatorServer) -> None:
    response = call(emulator, "accounts", {"ds_id": "AW"})

    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, schema("api-accounts"))
    assert body["meta"]["query"] == {"cache_minutes": 0}
    [login] = body["data"]
    assert login["ds_user"] == "ads.team@acme.example"
    assert login["display_name"] == "Acme Ads Team"
    assert login["cache_time"].endswith("Z")
    assert login["accounts"] == AW_ACCOUNTS
    assert listed(emulator, "GAWA") == ["properties/1001", "properties/1002"]


def test_account_list_takes_ds_users_and_refuses_unknown_logins(
    emulator: EmulatorServer,
) -> None:
    mine = call(emulator, "accounts", {"ds_id": "AW", "ds_users": ["ads.team@acme.example"]})
    as_text = call(emulator, "accounts", {"ds_id": "AW", "ds_users": "ads.team@acme.example"})
    other = call(emulator, "accounts", {"ds_id": "AW", "ds_users": ["someone@else.example"]})

    assert mine.status_code == as_text.status_code == 200
    assert mine.json()["data"][0]["accounts"] == AW_ACCOUNTS
    assert (other.status_code, other.json()["error"]["code"]) == (400, "DS_USER_NOT_FOUND")
    jsonschema.validate(other.json(), schema("api-error"))


@pytest.mark.parametrize(
    ("params", "code"), [({}, "DS_ID_MISSING"), ({"ds_id": "XX"}, "DATASOURCE_NOT_FOUND")]
)
def test_account_list_refuses_a_missing_or_unknown_data_source(
    emulator: EmulatorServer, params: dict[str, Any], code: str
) -> None:
    response = call(emulator, "accounts", params)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_account_list_needs_the_key_is_counted_and_takes_faults(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(action="http_error", endpoint="accounts", status=503, times=1)

    failed = call(emulator, "accounts", {"ds_id": "AW"})
    unauthorised = call(emulator, "accounts", {"ds_id": "AW"}, key="nope")
    served = call(emulator, "accounts", {"ds_id": "AW"})

    assert [failed.status_code, unauthorised.status_code, served.status_code] == [503, 401, 200]
    assert emulator.stats()["requests"] == {"accounts": 3}


# Accounts that change at run time ------------------------------------------------


def test_extra_and_removed_accounts_apply_from_the_moment_they_are_set(
    emulator: EmulatorServer,
) -> None:
    before = run(emulator, ["444-444-4444"])
    emulator.configure(
        extra_accounts={"AW": ["444-444-4444", {"account_id": "555", "account_name": "Five"}]},
        removed_accounts={"AW": ["222-222-2222"]},
    )
    names = {
        a["account_id"]: a["account_name"]
        for a in call(emulator, "accounts", {"ds_id": "AW"}).json()["data"][0]["accounts"]
    }
    after = run(emulator, ["444-444-4444"])
    removed = run(emulator, ["222-222-2222"])

    assert before["error"]["code"] == "ACCOUNT_NOT_FOUND"
    assert names == {
        "111-111-1111": "Acme Shoes FI",
        "333-333-3333": "Nordic Outdoor Oy",
        "444-444-4444": "Account 444-444-4444",
        "555": "Five",
    }
    assert accounts_of(after) == ["444-444-4444"]
    assert (removed["http_status"], removed["error"]["code"]) == (400, "ACCOUNT_NOT_FOUND")


def test_extra_accounts_have_rows_of_their_own(emulator: EmulatorServer) -> None:
    emulator.configure(extra_accounts={"AW": ["444-444-4444"]})
    body = run(emulator, ["111-111-1111", "444-444-4444"])

    clicks = {row[1]: row[2] for row in body["data"][1:]}
    assert set(clicks) == {"111-111-1111", "444-444-4444"}
    assert clicks["111-111-1111"] != clicks["444-444-4444"]


@pytest.mark.parametrize(
    "settings",
    [
        {"extra_accounts": {"XX": ["1"]}},
        {"extra_accounts": {"AW": [7]}},
        {"extra_accounts": {"AW": [{"account_id": "1", "colour": "red"}]}},
        {"removed_accounts": {"AW": "111-111-1111"}},
        {"team_lists": {"team_a": ["111-111-1111"]}},
        {"team_lists": {"list.all_accounts": ["111-111-1111"]}},
        {"team_lists": {"list.team_a": [1]}},
    ],
)
def test_malformed_account_settings_are_refused_and_change_nothing(
    emulator: EmulatorServer, settings: dict[str, Any]
) -> None:
    response = requests.post(f"{emulator.root_url}/_emulator/settings", json=settings, timeout=5)

    assert response.status_code == 400
    assert next(iter(settings)) in response.json()["error"]
    assert listed(emulator) == [account["account_id"] for account in AW_ACCOUNTS]


# ds_accounts forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ds_accounts", "expected"),
    [
        (["333-333-3333", "111-111-1111"], ["333-333-3333", "111-111-1111"]),
        ("111-111-1111, 222-222-2222", ["111-111-1111", "222-222-2222"]),
        (["111-111-1111", "111-111-1111"], ["111-111-1111"]),
        ("list.all_accounts", ["111-111-1111", "222-222-2222", "333-333-3333"]),
        (["list.team_a", "333-333-3333"], ["222-222-2222", "111-111-1111", "333-333-3333"]),
        ({"filter_id": "^[12]"}, ["111-111-1111", "222-222-2222"]),
        ({"filter_name": "(?i)acme"}, ["111-111-1111", "222-222-2222"]),
        ({"filter_id": "2|3", "filter_name": "Oy$"}, ["333-333-3333"]),
        ({}, ["111-111-1111", "222-222-2222", "333-333-3333"]),
    ],
    ids=[
        "list",
        "comma-string",
        "repeated",
        "all-accounts",
        "team-list",
        "filter-id",
        "filter-name",
        "both-filters",
        "empty-filter",
    ],
)
def test_ds_accounts_forms_expand_to_the_accounts_they_mean(
    emulator: EmulatorServer, ds_accounts: object, expected: list[str]
) -> None:
    emulator.configure(team_lists={"list.team_a": ["222-222-2222", "111-111-1111"]})
    body = run(emulator, ds_accounts)

    assert body["meta"]["status_code"] == "SUCCESS", body
    assert accounts_of(body) == expected
    assert emulator.stats()["queries"][0]["accounts"] == expected
    assert body["data"][1:] == [
        list(row.values())
        for row in expected_rows(
            emulator, "AW", ["Date", "profileID", "Clicks"], "2024-01-01", "2024-01-01", ds_accounts
        )
    ]


def test_all_accounts_includes_accounts_added_at_run_time(emulator: EmulatorServer) -> None:
    emulator.configure(extra_accounts={"AW": ["444-444-4444"]})
    body = run(emulator, "list.all_accounts")
    assert accounts_of(body)[-1] == "444-444-4444"
    assert run(emulator, {"filter_name": "444"})["meta"]["status_code"] == "SUCCESS"


@pytest.mark.parametrize(
    ("ds_accounts", "code"),
    [
        ("list.nope", "ACCOUNT_LIST_NOT_FOUND"),
        ({"filter_id": "^9"}, "ACCOUNTS_MISSING"),
        ({"filter_id": "("}, "PARAMETER_INVALID"),
        ({"filter_id": 1}, "PARAMETER_INVALID"),
        ({"filter_account": "1"}, "PARAMETER_INVALID"),
        ([], "ACCOUNTS_MISSING"),
        (None, "ACCOUNTS_MISSING"),
        ([1, 2], "PARAMETER_INVALID"),
        (["list.team_b"], "ACCOUNT_NOT_FOUND"),  # it names an account the login lacks
    ],
)
def test_bad_ds_accounts_get_documented_errors(
    emulator: EmulatorServer, ds_accounts: object, code: str
) -> None:
    emulator.configure(team_lists={"list.team_b": ["999-999-9999"]})
    response = call(
        emulator, "data/json", {"ds_id": "AW", "fields": ["Date"], "ds_accounts": ds_accounts}
    )

    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    jsonschema.validate(response.json(), schema("api-error"))


# Account-specific failures -------------------------------------------------------


def test_a_failing_account_fails_every_query_that_reads_it_until_cleared(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(action="query_failure", account="222-222-2222", times=0)

    together = run(emulator, ["111-111-1111", "222-222-2222"])
    alone = run(emulator, ["222-222-2222"])
    listed_all = run(emulator, "list.all_accounts")
    by_filter = run(emulator, {"filter_name": "SE$"})
    others = [run(emulator, [account]) for account in ("111-111-1111", "333-333-3333")]
    emulator.emulator.faults.clear()
    recovered = run(emulator, ["222-222-2222"])

    for failed in (together, alone, listed_all, by_filter):
        assert failed["meta"]["status_code"] == "FAILURE"
        assert failed["error"]["code"] == "ACCOUNT_ACCESS_DENIED"
        assert "222-222-2222" in failed["error"]["message"]
        jsonschema.validate(failed, schema("api-error"))
    assert [body["meta"]["status_code"] for body in others] == ["SUCCESS", "SUCCESS"]
    assert recovered["meta"]["status_code"] == "SUCCESS"
    assert emulator.stats()["faults"] == []


def test_an_account_failure_takes_a_code_and_a_message(emulator: EmulatorServer) -> None:
    emulator.add_fault(
        action="query_failure",
        account="111-111-1111",
        code="OAUTH_TOKEN_EXPIRED",
        message="Reconnect the login",
    )
    body = run(emulator, ["111-111-1111"])
    assert body["error"]["code"] == "OAUTH_TOKEN_EXPIRED"
    assert body["error"]["message"] == "Reconnect the login (account 111-111-1111)"


def test_exclude_invalid_accounts_leaves_the_failing_account_out(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(action="query_failure", account="222-222-2222", times=0)
    settings = {"exclude_invalid_accounts": True}

    with_field = run(emulator, "list.all_accounts", settings=settings)
    summed = run(
        emulator,
        "list.all_accounts",
        settings=settings,
        fields=["Date", "Clicks"],
    )
    only_bad = run(emulator, ["222-222-2222"], settings=settings)

    assert with_field["meta"]["status_code"] == "SUCCESS"
    assert accounts_of(with_field) == ["111-111-1111", "333-333-3333"]
    good = expected_rows(
        emulator, "AW", ["Date", "Clicks"], "2024-01-01", "2024-01-01", "111-111-1111,333-333-3333"
    )
    assert summed["data"][1:] == [list(row.values()) for row in good]
    assert only_bad["meta"]["status_code"] == "SUCCESS"
    assert only_bad["meta"]["result"]["total_rows"] == 0
    summaries = emulator.stats()["queries"]
    assert summaries[0]["excluded_accounts"] == ["222-222-2222"]
    assert summaries[0]["accounts"] == ["111-111-1111", "333-333-3333"]


def test_account_rules_are_for_query_actions_only(emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="account applies to query actions"):
        emulator.add_fault(action="http_error", account="111-111-1111")


def test_account_rules_leave_other_accounts_queries_and_counters_alone(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(action="query_failure", account="333-333-3333")

    untouched = run(emulator, ["111-111-1111"])
    failed = run(emulator, ["333-333-3333"])
    again = run(emulator, ["333-333-3333"])

    assert untouched["meta"]["status_code"] == "SUCCESS"
    assert failed["meta"]["status_code"] == "FAILURE"
    assert again["meta"]["status_code"] == "SUCCESS"  # times=1: fired once
    rule = emulator.stats()["faults"][0]
    assert (rule["seen"], rule["fired"]) == (2, 1)  # the 111 query did not match at all

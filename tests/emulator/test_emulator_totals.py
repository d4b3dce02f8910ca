"""What reconciliation needs of the emulator, over real HTTP.

A totals query (the date, the account field, metrics) of an opaque team list answers
per account the list holds, each equal to the sum of the detailed rows; and a fault
can hit only queries that lack a field, the way a data source refuses a totals
query's shape while answering the data query.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tests.emulator.test_emulator import call, wait_done
from tests.emulator.test_emulator_rows import cents, read, records

A, B = "111-111-1111", "222-222-2222"
TEAM = "list.team_a"
DETAILED = ["Date", "profileID", "CampaignName", "Device", "Clicks", "Cost"]
TOTALS = ["Date", "profileID", "Clicks", "Cost"]


def totals_query(**changes: Any) -> dict[str, Any]:
    return {
        "ds_id": "AW",
        "ds_accounts": [A, B],
        "fields": TOTALS,
        "start_date": "2024-01-01",
        "end_date": "2024-01-03",
        **changes,
    }


def test_a_totals_query_of_a_team_list_answers_per_account_it_holds(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(team_lists={TEAM: [B, A]})
    detailed = records(read(emulator, ds_accounts=TEAM, fields=DETAILED), DETAILED)
    totals = records(read(emulator, ds_accounts=TEAM, fields=TOTALS), TOTALS)

    sums: dict[tuple[str, str], list[int]] = {}
    for row in detailed:
        amounts = sums.setdefault((row["Date"], row["profileID"]), [0, 0])
        amounts[0] += row["Clicks"]
        amounts[1] += cents(row["Cost"])
    assert {row["profileID"] for row in totals} == {A, B}
    assert len(totals) == 10 * 2
    assert {
        (row["Date"], row["profileID"]): [row["Clicks"], cents(row["Cost"])] for row in totals
    } == sums


def test_without_field_fails_only_the_queries_that_lack_the_field(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(
        action="query_failure", code="FIELDS_UNSUPPORTED", without_field="CampaignName", times=0
    )
    first_detailed = call(emulator, "data/json", totals_query(fields=DETAILED)).json()
    first_totals = call(emulator, "data/json", totals_query()).json()
    second_totals = call(emulator, "data/json", totals_query(fields="Date,profileID,Clicks"))

    detailed = wait_done(emulator, first_detailed["meta"]["schedule_id"])
    totals = wait_done(emulator, first_totals["meta"]["schedule_id"])
    again = wait_done(emulator, second_totals.json()["meta"]["schedule_id"])
    assert detailed["meta"]["status_code"] == "SUCCESS"
    assert totals["meta"]["status_code"] == "FAILURE"
    assert totals["error"]["code"] == "FIELDS_UNSUPPORTED"
    assert again["meta"]["status_code"] == "FAILURE"  # a comma-separated `fields` too


def test_without_field_refuses_only_the_submits_that_lack_the_field(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(
        action="http_error",
        endpoint="submit",
        status=400,
        code="FIELDS_UNSUPPORTED",
        without_field="CampaignName",
        times=0,
    )
    detailed = call(emulator, "data/json", totals_query(fields=DETAILED))
    refused = call(emulator, "data/json", totals_query())
    schedule_id = detailed.json()["meta"]["schedule_id"]
    lookup = call(emulator, "data/json", {"schedule_id": schedule_id})

    assert detailed.status_code == 200
    assert lookup.status_code == 200  # a lookup carries no fields: never matched
    assert wait_done(emulator, schedule_id)["meta"]["status_code"] == "SUCCESS"
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "FIELDS_UNSUPPORTED"
    assert len(emulator.stats()["queries"]) == 1


def test_without_field_expires_or_holds_only_the_queries_that_lack_the_field(
    emulator: EmulatorServer,
) -> None:
    emulator.add_fault(action="expire_early", after_seconds=0, without_field="CampaignName")
    emulator.add_fault(action="never_finish", without_field="CampaignName", skip=1)
    detailed = call(emulator, "data/json", totals_query(fields=DETAILED)).json()
    expiring = call(emulator, "data/json", totals_query()).json()
    endless = call(emulator, "data/json", totals_query()).json()
    time.sleep(0.3)

    assert wait_done(emulator, detailed["meta"]["schedule_id"])["meta"]["status_code"] == "SUCCESS"
    gone = call(emulator, "status", {"schedule_id": expiring["meta"]["schedule_id"]})
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "STATUS_NOT_FOUND"
    still = call(emulator, "status", {"schedule_id": endless["meta"]["schedule_id"]}).json()
    assert still["meta"]["status_code"] == "RUNNING"


@pytest.mark.parametrize("endpoint", ["status", "fields", "accounts"])
def test_without_field_is_refused_where_no_query_is_submitted(
    emulator: EmulatorServer, endpoint: str
) -> None:
    with pytest.raises(ValueError, match="without_field"):
        emulator.add_fault(action="http_error", endpoint=endpoint, without_field="CampaignName")

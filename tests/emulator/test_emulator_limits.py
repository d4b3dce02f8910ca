"""The API's hard limits and the licence's terms, over real HTTP (issue 22).

Rows per result are cut silently at `max_result_rows` (the worst case the docs leave
open), the spec's bounds refuse `max_rows` and offsets over 1,000,000, a query takes at
most 100 accounts, and the licence refuses submits with its documented errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
import requests

from supermetrics_emulator import EmulatorServer, EmulatorSettings
from supermetrics_emulator.catalog import DATA_SOURCES
from supermetrics_emulator.licence import Licence
from supermetrics_emulator.validation import ApiError, QuerySpec
from tests.emulator.test_emulator import QUERY, call, schema, submit, wait_done

ALL_ACCOUNTS = ["111-111-1111", "222-222-2222", "333-333-3333"]
#: 1,000 keywords a day for one account: a million rows in 1,000 days.
KEYWORDS = {
    "ds_id": "AW",
    "ds_accounts": ["111-111-1111"],
    "fields": ["Date", "Keyword", "Clicks"],
    "start_date": "2020-01-01",
}


def page(emulator: EmulatorServer, schedule_id: str, first: int, last: int) -> dict[str, Any]:
    """One page of a finished query, read by offsets (inclusive)."""
    return wait_done(emulator, schedule_id, offset_start=first, offset_end=last)


def read_all(emulator: EmulatorServer, schedule_id: str, size: int = 25) -> list[list[Any]]:
    """Every data row, paging by offsets until an empty page (as without `total_rows`)."""
    rows: list[list[Any]] = []
    while True:
        data = page(emulator, schedule_id, len(rows), len(rows) + size - 1)["data"][1:]
        if not data:
            return rows
        rows.extend(data)


def refusal(response: requests.Response) -> tuple[int, str, str]:
    """Status, code and message of an error answer, checked against the documented shape."""
    body = response.json()
    jsonschema.validate(body, schema("api-error"))
    return response.status_code, body["error"]["code"], body["error"]["message"]


def query_stats(emulator: EmulatorServer, schedule_id: str) -> dict[str, Any]:
    return next(q for q in emulator.stats()["queries"] if q["schedule_id"] == schedule_id)


# Rows per result ------------------------------------------------------------------


def test_a_result_over_the_cap_is_cut_to_its_first_rows_and_says_the_cap(
    emulator: EmulatorServer,
) -> None:
    whole = submit(emulator)  # 120 rows, under the default cap
    emulator.configure(max_result_rows=50)
    cut = submit(emulator)

    full_rows = read_all(emulator, whole)
    cut_rows = read_all(emulator, cut)
    first = page(emulator, cut, 0, 24)

    assert len(full_rows) == 120
    assert cut_rows == full_rows[:50]
    assert first["meta"]["result"]["total_rows"] == 50
    jsonschema.validate(first, schema("api-data"))
    last = page(emulator, cut, 25, 49)
    assert "next" not in last["meta"]["paginate"]
    assert page(emulator, cut, 50, 99)["data"] == [first["data"][0]]  # the header alone
    assert (query_stats(emulator, cut)["natural_rows"], query_stats(emulator, cut)["cut"]) == (
        120,
        True,
    )
    assert query_stats(emulator, cut)["total_rows"] == 50
    assert query_stats(emulator, whole)["cut"] is False


def test_a_cut_result_can_carry_no_total_rows(emulator: EmulatorServer) -> None:
    emulator.configure(max_result_rows=50, cut_total_rows="absent")
    cut = submit(emulator)
    small = submit(emulator, end_date="2024-03-02")  # 48 rows: not cut

    assert "total_rows" not in page(emulator, cut, 0, 24)["meta"]["result"]
    assert len(read_all(emulator, cut)) == 50
    assert page(emulator, small, 0, 24)["meta"]["result"]["total_rows"] == 48


def test_the_querys_own_max_rows_and_the_cap_take_the_smaller(emulator: EmulatorServer) -> None:
    emulator.configure(max_result_rows=50)
    fewer = submit(emulator, max_rows=30)
    more = submit(emulator, max_rows=80)

    assert len(read_all(emulator, fewer)) == 30
    assert len(read_all(emulator, more)) == 50
    assert query_stats(emulator, fewer)["cut"] is False
    assert (query_stats(emulator, more)["natural_rows"], query_stats(emulator, more)["cut"]) == (
        80,
        True,
    )


def test_by_default_a_million_rows_pass_and_more_are_cut_at_a_million(
    emulator: EmulatorServer,
) -> None:
    million = submit(emulator, **KEYWORDS, end_date="2022-09-26")  # 1,000 days
    more = submit(emulator, **KEYWORDS, end_date="2022-09-27")  # 1,001 days

    tail = page(emulator, million, 999_990, 999_999)
    cut_tail = page(emulator, more, 999_990, 1_000_000)

    assert tail["meta"]["result"]["total_rows"] == 1_000_000
    assert [row[:2] for row in tail["data"][-1:]] == [["2022-09-26", "kw 0999 shoes"]]
    assert cut_tail["meta"]["result"]["total_rows"] == 1_000_000
    assert cut_tail["data"][1:] == tail["data"][1:]
    assert query_stats(emulator, million)["cut"] is False
    assert query_stats(emulator, more)["natural_rows"] == 1_001_000


def test_without_a_cap_a_result_keeps_every_row(emulator: EmulatorServer) -> None:
    emulator.configure(max_result_rows=0, row_parameter_bound=0)
    more = submit(emulator, **KEYWORDS, end_date="2022-09-27")

    tail = page(emulator, more, 1_000_990, 1_000_999)

    assert tail["meta"]["result"]["total_rows"] == 1_001_000
    assert tail["data"][-1][:2] == ["2022-09-27", "kw 0999 shoes"]


# Bounds of the spec ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_rows", "offset_start", "offset_end"])
def test_row_parameters_over_a_million_are_refused_at_submit(
    emulator: EmulatorServer, name: str
) -> None:
    over = call(emulator, "data/json", {**QUERY, name: 1_000_001})
    at = call(emulator, "data/json", {**QUERY, name: 1_000_000})

    assert refusal(over) == (
        400,
        "PARAMETER_INVALID",
        f"{name} must be at most 1,000,000, got 1,000,001",
    )
    assert at.status_code == 200
    assert len(emulator.stats()["queries"]) == 1


@pytest.mark.parametrize("name", ["offset_start", "offset_end"])
def test_page_offsets_over_a_million_are_refused(emulator: EmulatorServer, name: str) -> None:
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)
    offsets = {"offset_start": 0, "offset_end": 10, name: 1_000_001}

    over = call(emulator, "status", {"schedule_id": schedule_id, **offsets})

    assert refusal(over)[:2] == (400, "PARAMETER_INVALID")
    assert call(emulator, "status", {"schedule_id": schedule_id, name: 1_000_000}).ok


def test_negative_offsets_are_still_refused_as_before(emulator: EmulatorServer) -> None:
    schedule_id = submit(emulator)
    wait_done(emulator, schedule_id)
    answer = call(emulator, "status", {"schedule_id": schedule_id, "offset_start": -1})

    assert refusal(answer) == (
        400,
        "PARAMETER_INVALID",
        "offset_start must be a non-negative integer",
    )


# Accounts per query ---------------------------------------------------------------

EXTRA = [f"9{n:02d}-{n:03d}-{n:04d}" for n in range(250)]


@pytest.mark.parametrize(
    ("ds_accounts", "team_lists", "count"),
    [
        (EXTRA[:101], {}, 101),
        (",".join(EXTRA[:150]), {}, 150),
        (["list.team_a"], {"list.team_a": EXTRA[:150]}, 150),
        (["list.all_accounts"], {}, 253),
        ({"filter_id": "^9"}, {}, 250),
    ],
    ids=["list", "comma-string", "team-list", "all-accounts", "filter"],
)
def test_a_query_over_100_accounts_is_refused_after_expansion(
    emulator: EmulatorServer, ds_accounts: object, team_lists: dict[str, list[str]], count: int
) -> None:
    emulator.configure(extra_accounts={"AW": EXTRA}, team_lists=team_lists)

    answer = call(emulator, "data/json", {**QUERY, "ds_accounts": ds_accounts})

    assert refusal(answer) == (
        400,
        "ACCOUNTS_INVALID",
        f"a query takes at most 100 accounts, got {count}",
    )
    assert emulator.stats()["queries"] == []


def test_100_accounts_pass_and_the_limit_is_a_setting(emulator: EmulatorServer) -> None:
    emulator.configure(extra_accounts={"AW": EXTRA})
    hundred = call(emulator, "data/json", {**QUERY, "ds_accounts": {"filter_id": "^9[0-9]{2}-0"}})
    emulator.configure(max_accounts_per_query=3)
    four = call(emulator, "data/json", {**QUERY, "ds_accounts": EXTRA[:4]})
    emulator.configure(max_accounts_per_query=0)
    every = call(emulator, "data/json", {**QUERY, "ds_accounts": "list.all_accounts"})

    assert hundred.status_code == 200
    assert refusal(four)[1:] == ("ACCOUNTS_INVALID", "a query takes at most 3 accounts, got 4")
    assert every.status_code == 200
    assert [len(q["accounts"]) for q in emulator.stats()["queries"]] == [100, 253]


# The licence ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "code", "message"),
    [
        ("expired", "LICENSE_EXPIRED", "The licence has expired"),
        ("suspended", "LICENSE_QUERIES_SUSPENDED", "Queries are suspended for this licence"),
    ],
)
def test_an_inactive_licence_refuses_every_submit_but_not_reads(
    emulator: EmulatorServer, state: str, code: str, message: str
) -> None:
    before = submit(emulator)
    emulator.configure(licence_state=state)

    valid = call(emulator, "data/json", QUERY)
    invalid = call(emulator, "data/json", {**QUERY, "fields": ["Nope"]})

    assert refusal(valid) == (403, code, message)
    assert refusal(invalid) == (403, code, message)
    assert wait_done(emulator, before)["meta"]["status_code"] == "SUCCESS"


def test_the_daily_query_limit_answers_429_with_its_documented_code(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(licence_daily_queries=2, rate_limit_body="empty")
    first = submit(emulator)
    submit(emulator)

    third = call(emulator, "data/json", QUERY)
    lookup = call(emulator, "data/json", {"schedule_id": first})

    assert refusal(third) == (
        429,
        "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED",
        "Daily query limit of 2 queries exceeded",
    )
    assert lookup.status_code == 200
    assert emulator.stats()["licence"]["queries_today"] == 2


def test_invalid_queries_do_not_use_the_daily_quota(emulator: EmulatorServer) -> None:
    emulator.configure(licence_daily_queries=1)
    invalid = call(emulator, "data/json", {**QUERY, "fields": ["Nope"]})

    assert refusal(invalid)[:2] == (400, "FIELD_NOT_FOUND")
    assert call(emulator, "data/json", QUERY).status_code == 200


def test_a_query_reaching_past_the_licences_history_is_refused(emulator: EmulatorServer) -> None:
    emulator.configure(licence_history_days=30)
    recent = {**QUERY, "end_date": "today"}
    inside = call(emulator, "data/json", {**recent, "start_date": "30 days ago"})
    outside = call(emulator, "data/json", {**recent, "start_date": "31 days ago"})

    assert inside.status_code == 200
    status, code, message = refusal(outside)
    assert (status, code) == (403, "LICENSE_HISTORICAL_RANGE_EXCEEDED")
    assert message.startswith("Historical range of 30 days exceeded: start_date ")
    assert message.endswith(" is 31 days ago")


def test_the_monthly_row_limit_refuses_new_queries_once_reached(emulator: EmulatorServer) -> None:
    emulator.configure(licence_rows_per_month=100)
    first = submit(emulator)
    page(emulator, first, 0, 59)
    second = submit(emulator)  # 60 rows returned: under the limit
    page(emulator, first, 60, 119)

    refused = call(emulator, "data/json", QUERY)
    still_readable = page(emulator, second, 0, 119)

    assert refusal(refused) == (
        403,
        "LICENSE_ROW_LIMIT_EXCEEDED",
        "Monthly row limit of 100 rows exceeded",
    )
    assert len(still_readable["data"]) == 1 + 120
    assert emulator.stats()["licence"]["rows_this_month"] == 240


def test_the_licence_account_limit_counts_distinct_accounts_over_queries(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(licence_max_accounts=3, extra_accounts={"AW": ["444-444-4444"]})
    answers = [
        call(emulator, "data/json", {**QUERY, "ds_accounts": accounts})
        for accounts in (ALL_ACCOUNTS[:2], ALL_ACCOUNTS[1:], ALL_ACCOUNTS[:1], ["444-444-4444"])
    ]

    assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
    assert refusal(answers[3]) == (
        403,
        "LICENSE_ACCOUNT_LIMIT_EXCEEDED",
        "Licence account limit of 3 accounts exceeded: this query would make it 4",
    )
    assert emulator.stats()["licence"]["accounts_seen"] == 3


def test_stats_count_rows_returned_and_reset_forgets_the_licences_counts(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(licence_daily_queries=1)
    schedule_id = submit(emulator)
    page(emulator, schedule_id, 0, 9)
    page(emulator, schedule_id, 115, 200)  # five rows left
    page(emulator, schedule_id, 120, 139)  # past the end: none

    stats = emulator.stats()
    assert stats["rows_returned"] == 15
    assert stats["licence"] == {"rows_this_month": 15, "queries_today": 1, "accounts_seen": 2}
    emulator.emulator.reset_stats()
    assert emulator.stats()["rows_returned"] == 0
    assert emulator.stats()["licence"]["queries_today"] == 1  # the licence's state stays
    assert call(emulator, "data/json", QUERY).status_code == 429
    reset = requests.post(f"{emulator.root_url}/_emulator/reset", timeout=10)
    assert reset.status_code == 200
    assert emulator.stats()["licence"] == {
        "rows_this_month": 0,
        "queries_today": 0,
        "accounts_seen": 0,
    }


def test_licence_counts_start_again_each_utc_day_and_month() -> None:
    """The emulator has no clock setting: the day and month turn over on a fake clock here."""
    now = [dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC)]
    licence = Licence(clock=lambda: now[0])
    terms = EmulatorSettings(licence_daily_queries=1, licence_rows_per_month=10)
    spec = QuerySpec(DATA_SOURCES["AW"], ["Date"], now[0].date(), now[0].date(), ["1"], None, {})

    licence.admit(terms, spec)
    licence.note_rows(10)
    with pytest.raises(ApiError) as refused:
        licence.admit(terms, spec)
    now[0] += dt.timedelta(minutes=2)  # 1 February, 00:01 UTC

    assert refused.value.code == "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED"
    licence.admit(terms, spec)
    assert licence.describe() == {"rows_this_month": 0, "queries_today": 1, "accounts_seen": 1}


@pytest.mark.parametrize(
    "changes",
    [
        {"max_result_rows": -1},
        {"cut_total_rows": "zero"},
        {"licence_state": "lapsed"},
        {"licence_daily_queries": -5},
        {"max_accounts_per_query": "100"},
    ],
)
def test_bad_limit_settings_are_refused(emulator: EmulatorServer, changes: dict[str, Any]) -> None:
    answer = requests.post(f"{emulator.root_url}/_emulator/settings", json=changes, timeout=10)

    assert answer.status_code == 400
    assert next(iter(changes)) in answer.json()["error"]

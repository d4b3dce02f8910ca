"""Planning is pure: config + coverage + today → the queries a run sends, and why."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_supermetrics.core.accounts import Account, account_keys, request_value
from tap_supermetrics.plan.coverage import Coverage, DaySet, bookmark_day, read_coverage
from tap_supermetrics.plan.planner import ALL_ACCOUNTS, fingerprint, plan_stream

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
SHAPE = {"ds_id": "AW", "fields": ["Date", "profileID", "Clicks"]}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(f"2024-{text}")


def days(first: str, last: str) -> DaySet:
    return DaySet.of(day(first), day(last))


def covered(**accounts: DaySet) -> Coverage:
    return Coverage(
        fingerprint=fingerprint(SHAPE, None),
        accounts={ACCOUNTS[name]: value for name, value in accounts.items()},
        known=True,
    )


ACCOUNTS = {"a": A, "b": B, "c": C}


def plan(
    coverage: Coverage,
    accounts: tuple[str, ...] = (A, B),
    wanted: DaySet | None = None,
    shape: dict | None = None,
    window_days: int = 30,
) -> list[tuple[str, tuple[str, ...], str]]:
    result = plan_stream(
        wanted=wanted or days("01-01", "02-05"),
        accounts=accounts,
        coverage=coverage,
        current_fingerprint=fingerprint(shape or SHAPE, None),
        lookback_days=3,
        window_days=window_days,
    )
    return [(str(q.window), q.accounts, q.reason) for q in result.queries]


def test_first_run_reads_everything_in_windows_for_all_accounts_at_once() -> None:
    assert plan(Coverage()) == [
        ("2024-01-01..2024-01-30", (A, B), "first run"),
        ("2024-01-31..2024-02-05", (A, B), "first run"),
    ]


def test_steady_daily_run_is_one_query_for_all_accounts() -> None:
    coverage = covered(a=days("01-01", "02-04"), b=days("01-01", "02-04"))
    assert plan(coverage) == [("2024-02-01..2024-02-05", (A, B), "lookback, new days")]


def test_added_account_alone_is_read_from_start_date() -> None:
    coverage = covered(a=days("01-01", "01-31"))
    assert plan(coverage) == [
        ("2024-01-01..2024-01-30", (B,), "new account"),
        ("2024-01-28..2024-02-05", (A,), "lookback, new days"),
        ("2024-01-31..2024-02-05", (B,), "new account"),
    ]


def test_removed_account_is_not_read_and_keeps_its_coverage() -> None:
    coverage = covered(a=days("01-01", "02-04"), b=days("01-01", "02-04"))
    result = plan_stream(
        wanted=days("01-01", "02-05"),
        accounts=(A,),
        coverage=coverage,
        current_fingerprint=fingerprint(SHAPE, None),
        lookback_days=3,
        window_days=30,
    )
    assert [q.accounts for q in result.queries] == [(A,)]
    assert result.coverage.loaded(B) == days("01-01", "02-04")


def test_changed_fields_read_the_stream_again_and_say_why() -> None:
    coverage = covered(a=days("01-01", "02-04"), b=days("01-01", "02-04"))
    shape = {**SHAPE, "fields": [*SHAPE["fields"], "Cost"]}
    result = plan_stream(
        wanted=days("01-01", "02-05"),
        accounts=(A, B),
        coverage=coverage,
        current_fingerprint=fingerprint(shape, None),
        lookback_days=3,
        window_days=30,
    )
    assert result.changed == "the query's fields changed since the last run"
    assert [(str(q.window), q.reason) for q in result.queries] == [
        ("2024-01-01..2024-01-30", "query changed"),
        ("2024-01-31..2024-02-05", "query changed"),
    ]
    assert result.coverage.loaded(A) == DaySet()


def test_field_order_does_not_count_as_a_change_but_a_filter_does() -> None:
    reordered = {**SHAPE, "fields": list(reversed(SHAPE["fields"]))}
    assert fingerprint(reordered, None) == fingerprint(SHAPE, None)
    filtered = fingerprint({**SHAPE, "filter": "Clicks > 0"}, None)
    assert sorted(set(filtered) ^ set(fingerprint(SHAPE, None))) == ["filter"]


def test_earlier_start_date_reads_only_the_new_early_days_plus_lookback() -> None:
    coverage = covered(a=days("01-10", "02-04"), b=days("01-10", "02-04"))
    assert plan(coverage) == [
        ("2024-01-01..2024-01-09", (A, B), "earlier start_date, lookback, new days"),
        ("2024-02-01..2024-02-05", (A, B), "earlier start_date, lookback, new days"),
    ]


def test_failed_account_is_read_again_from_where_it_stopped() -> None:
    coverage = covered(a=days("01-01", "02-04"), b=days("01-01", "01-14"))
    coverage.failed[B] = "ACCOUNT_ACCESS_DENIED"
    assert plan(coverage) == [
        ("2024-01-11..2024-02-05", (B,), "lookback, resume after failure"),
        ("2024-02-01..2024-02-05", (A,), "lookback, new days"),
    ]


def test_summed_query_is_planned_as_one_unit_and_a_changed_account_list_rereads_it() -> None:
    before = fingerprint(SHAPE, [A])
    after = fingerprint(SHAPE, [A, B])
    coverage = Coverage(fingerprint=before, accounts={ALL_ACCOUNTS: days("01-01", "02-04")})
    coverage.known = True
    result = plan_stream(
        wanted=days("01-01", "02-05"),
        accounts=(ALL_ACCOUNTS,),
        coverage=coverage,
        current_fingerprint=after,
        lookback_days=3,
        window_days=60,
    )
    assert result.changed == "the query's accounts changed since the last run"
    assert [(str(q.window), q.accounts) for q in result.queries] == [
        ("2024-01-01..2024-02-05", (ALL_ACCOUNTS,))
    ]


def test_state_of_the_first_release_reads_as_all_accounts_loaded_to_the_bookmark() -> None:
    bookmark = {"replication_key": "Date", "replication_key_value": "2024-01-31"}
    coverage = read_coverage(
        bookmark,
        replication_key="Date",
        start_date=day("01-01"),
        accounts=(A, B),
        fingerprint=fingerprint(SHAPE, None),
    )
    assert plan(coverage) == [("2024-01-28..2024-02-05", (A, B), "lookback, new days")]


def test_coverage_round_trips_through_plain_json_and_stays_small() -> None:
    coverage = covered(a=days("01-01", "01-31"))
    for start in range(1, 32):  # thirty-one daily windows merge into one range
        coverage.add([B], days(f"01-{start:02d}", f"01-{start:02d}"))
    stored = coverage.to_json()
    assert stored["accounts"] == {
        A: [["2024-01-01", "2024-01-31"]],
        B: [["2024-01-01", "2024-01-31"]],
    }
    again = read_coverage(
        {"coverage": stored},
        replication_key="Date",
        start_date=day("01-01"),
        accounts=(A,),
        fingerprint={},
    )
    assert again.accounts == coverage.accounts
    assert bookmark_day(again, (A, B), day("01-01")) == "2024-01-31"
    assert bookmark_day(again, (A, C), day("01-01")) is None


@pytest.mark.parametrize(
    ("left", "right", "union", "difference"),
    [
        (days("01-01", "01-10"), days("01-05", "01-20"), "01-01..01-20", "01-01..01-04"),
        (days("01-01", "01-10"), days("01-11", "01-20"), "01-01..01-20", "01-01..01-10"),
        (
            days("01-01", "01-31"),
            days("01-10", "01-12"),
            "01-01..01-31",
            "01-01..01-09+01-13..01-31",
        ),
    ],
)
def test_day_sets_merge_and_subtract(
    left: DaySet, right: DaySet, union: str, difference: str
) -> None:
    def text(value: DaySet) -> str:
        return "+".join(f"{r.start:%m-%d}..{r.end:%m-%d}" for r in value)

    assert text(left | right) == union
    assert text(left - right) == difference
    assert (left - right) | (left & right) == left


def test_accounts_in_every_form_supermetrics_accepts() -> None:
    listed = [Account(A, "Acme FI"), Account(B, "Acme SE"), Account(C, "Other Co")]
    calls: list[int] = []

    def list_accounts() -> list[Account]:
        calls.append(1)
        return listed

    assert account_keys([A, B], list_accounts) == (A, B)
    assert account_keys(f"{A}, {B}", list_accounts) == (A, B)
    assert calls == []
    assert account_keys("list.all_accounts", list_accounts) == (A, B, C)
    assert account_keys({"filter_name": "^Acme"}, list_accounts) == (A, B)
    assert account_keys({"filter_id": "^3", "filter_name": "Co$"}, list_accounts) == (C,)
    assert account_keys("list.team_a", list_accounts) == ("list.team_a",)
    assert request_value(("list.team_a",)) == "list.team_a"
    assert request_value((A, B)) == [A, B]

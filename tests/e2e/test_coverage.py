"""Config edits, run after run, through Meltano, target-postgres and PostgreSQL.

One project lives through the edits agencies make every week: an account added, a field
added, an earlier start_date, an account that fails and is fixed, accounts listed
upstream. After each run the table must hold exactly the emulator's rows for the
accounts and days wanted so far, and the run must have sent exactly the queries the
plan calls for (steady state: one per window for all accounts).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests import oracle
from tests.conftest import submissions
from tests.pipeline import Pipeline, as_stored

pytestmark = pytest.mark.e2e

A, B, C, D = "111-111-1111", "222-222-2222", "333-333-3333", "444-444-4444"
FIELDS = ["Date", "profileID", "Device", "Clicks", "Cost"]


def query(**changes: Any) -> list[dict[str, Any]]:
    entry = {"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS, **changes}
    return [entry]


def table(pipeline: Pipeline, fields: list[str]) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{name}"' for name in fields)
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        rows = connection.execute(
            f'select {columns} from "{pipeline.schema}"."ads"'  # noqa: S608 - test names
        ).fetchall()
    return sorted(rows, key=repr)


def wanted(spans: dict[str, tuple[str, str]], fields: list[str]) -> list[tuple[Any, ...]]:
    """The rows of each account's span of days (tests/oracle.py), as PostgreSQL returns them."""
    rows = [
        tuple(as_stored(name, row[name]) for name in fields)
        for account, (start, end) in spans.items()
        for row in oracle.rows("AW", fields, start, end, [account])
    ]
    return sorted(rows, key=repr)


def run(pipeline: Pipeline, *, ok: bool = True, **settings: Any) -> str:
    pipeline.emulator.emulator.reset_stats()
    result = pipeline.run(**settings)
    assert (result.returncode == 0) == ok, result.stderr[-3000:]
    return result.stderr


def test_config_edits_leave_no_gap_and_cost_only_the_queries_they_need(
    pipeline: Pipeline,
) -> None:
    emulator = pipeline.emulator
    counts: list[int] = []

    run(pipeline, queries=query())  # 2024-01-01..2024-01-20 in 7-day windows
    assert table(pipeline, FIELDS) == wanted({A: ("2024-01-01", "2024-01-20")}, FIELDS)
    counts.append(submissions(emulator))

    run(pipeline, queries=query(ds_accounts=[A, B]), end_date="2024-01-22")  # account added
    spans = {A: ("2024-01-01", "2024-01-22"), B: ("2024-01-01", "2024-01-22")}
    assert table(pipeline, FIELDS) == wanted(spans, FIELDS)
    counts.append(submissions(emulator))

    run(pipeline, queries=query(ds_accounts=[A, B]), end_date="2024-01-23")  # steady
    spans = {A: ("2024-01-01", "2024-01-23"), B: ("2024-01-01", "2024-01-23")}
    assert table(pipeline, FIELDS) == wanted(spans, FIELDS)
    counts.append(submissions(emulator))

    wider = [*FIELDS, "Impressions"]
    stderr = run(pipeline, queries=query(ds_accounts=[A, B], fields=wider), end_date="2024-01-23")
    assert table(pipeline, wider) == wanted(spans, wider)
    assert "the query's fields changed since the last run" in stderr
    counts.append(submissions(emulator))

    early = {"queries": query(ds_accounts=[A, B], fields=wider), "start_date": "2023-12-25"}
    run(pipeline, end_date="2024-01-23", **early)
    spans = {A: ("2023-12-25", "2024-01-23"), B: ("2023-12-25", "2024-01-23")}
    assert table(pipeline, wider) == wanted(spans, wider)
    counts.append(submissions(emulator))

    emulator.add_fault(action="query_failure", account=B, times=0)
    stderr = run(pipeline, ok=False, end_date="2024-01-25", **early)
    spans = {A: ("2023-12-25", "2024-01-25"), B: ("2023-12-25", "2024-01-23")}
    assert table(pipeline, wider) == wanted(spans, wider)
    assert f"account '{B}', window 2024-01-20..2024-01-25" in stderr
    counts.append(submissions(emulator))

    emulator.emulator.faults.clear()
    run(pipeline, end_date="2024-01-25", **early)  # fixed: B catches up
    spans = {A: ("2023-12-25", "2024-01-25"), B: ("2023-12-25", "2024-01-25")}
    assert table(pipeline, wider) == wanted(spans, wider)
    counts.append(submissions(emulator))

    listed = {**early, "queries": query(ds_accounts="list.all_accounts", fields=wider)}
    run(pipeline, end_date="2024-01-25", **listed)  # C comes with the team list
    spans[C] = ("2023-12-25", "2024-01-25")
    assert table(pipeline, wider) == wanted(spans, wider)
    counts.append(submissions(emulator))

    emulator.configure(extra_accounts={"AW": [D]})  # D appears upstream
    run(pipeline, end_date="2024-01-25", **listed)
    spans[D] = ("2023-12-25", "2024-01-25")
    assert table(pipeline, wider) == wanted(spans, wider)
    counts.append(submissions(emulator))

    # 3 windows; B's 4 + A's lookback; 1 for both; 4 again (fields); the early days only (the
    # same as-of day, and 01-23 was final when loaded); A+B, then [A] and [B]; then, as of
    # the same day 01-25 with every loaded day final when loaded, only what is missing: B's
    # resume, C's 5 windows, D's 5.
    assert counts == [3, 5, 1, 4, 1, 3, 1, 5, 5]

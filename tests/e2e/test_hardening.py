"""Issue 19's edges through Meltano, target-postgres and PostgreSQL.

An account list that empties and comes back, one stream whose account list is refused
while another loads, and an expiry followed by a failing account: after each run the
tables hold exactly the rows wanted, and Meltano's state carries what was loaded.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import oracle
from tests.conftest import submissions
from tests.pipeline import Pipeline, as_stored

pytestmark = pytest.mark.e2e

A, B, C = "111-111-1111", "222-222-2222", "333-333-3333"
ACCOUNT = "profileID"
FIELDS = ["Date", ACCOUNT, "Device", "Clicks", "Cost"]
GA_FIELDS = ["Date", "Country", "DeviceCategory", "Sessions"]


def spans(accounts: list[str], first: str, last: str) -> dict[str, list[list[str]]]:
    """A coverage's `accounts` entry: each account loaded from `first` to `last`."""
    return {account: [[first, last]] for account in accounts}


def ads(**changes: Any) -> dict[str, Any]:
    return {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B, C], "fields": FIELDS, **changes}


GA = {"name": "ga", "ds_id": "GAWA", "ds_accounts": "properties/1001", "fields": GA_FIELDS}


def wanted(
    ds_id: str, fields: list[str], start: str, end: str, accounts: list[str]
) -> list[tuple[Any, ...]]:
    """The rows of these days and accounts (tests/oracle.py), as PostgreSQL returns them."""
    rows = [
        tuple(as_stored(name, row[name]) for name in fields)
        for account in accounts
        for row in oracle.rows(ds_id, fields, start, end, [account])
    ]
    return sorted(rows, key=repr)


def test_an_account_list_that_empties_and_comes_back(pipeline: Pipeline) -> None:
    queries = [ads(ds_accounts="list.all_accounts")]
    first = pipeline.run(queries=queries, end_date="2024-01-10", window_days=30)
    assert first.returncode == 0, first.stderr[-3000:]
    loaded = pipeline.bookmarks()["ads"]["coverage"]
    first_rows = wanted("AW", FIELDS, "2024-01-01", "2024-01-10", [A, B, C])
    assert pipeline.table("ads", FIELDS) == first_rows

    pipeline.emulator.configure(removed_accounts={"AW": [A, B, C]})
    pipeline.emulator.emulator.reset_stats()
    empty = pipeline.run(queries=queries, end_date="2024-01-14", window_days=30)

    assert empty.returncode == 0, empty.stderr[-3000:]
    assert "lists no account now" in empty.stderr
    assert submissions(pipeline.emulator) == 0
    assert pipeline.bookmarks()["ads"]["coverage"] == loaded
    assert pipeline.table("ads", FIELDS) == first_rows

    pipeline.emulator.configure(removed_accounts={})
    pipeline.emulator.emulator.reset_stats()
    back = pipeline.run(queries=queries, end_date="2024-01-14", window_days=30)

    assert back.returncode == 0, back.stderr[-3000:]
    assert submissions(pipeline.emulator) == 1  # days 7..14 for all three, in one window
    assert pipeline.table("ads", FIELDS) == wanted(
        "AW", FIELDS, "2024-01-01", "2024-01-14", [A, B, C]
    )


def test_a_refused_account_list_leaves_the_other_stream_loaded(pipeline: Pipeline) -> None:
    pipeline.emulator.add_fault(
        action="http_error", endpoint="accounts", ds_id="AW", status=403, code="LOGIN_REVOKED"
    )

    run = pipeline.run(queries=[GA, ads(ds_accounts="list.all_accounts")], end_date="2024-01-10")

    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "stream 'ads', data source 'AW', account list" in run.stderr
    assert pipeline.table("ga", GA_FIELDS) == wanted(
        "GAWA", GA_FIELDS, "2024-01-01", "2024-01-10", ["properties/1001"]
    )
    assert pipeline.bookmarks()["ga"]["coverage"]["accounts"] == {
        "*": [["2024-01-01", "2024-01-10"]]
    }


def test_expiry_then_a_failing_account_loads_the_others_exactly(pipeline: Pipeline) -> None:
    pipeline.emulator.add_fault(action="expire_early", after_pages=2, times=1)
    pipeline.emulator.add_fault(action="query_failure", account=B, skip=1, times=0)

    run = pipeline.run(queries=[ads()], end_date="2024-01-10", page_size=20, window_days=30)

    assert run.returncode != 0
    loaded = [row for row in pipeline.table("ads", FIELDS) if row[1] != B]
    assert loaded == wanted("AW", FIELDS, "2024-01-01", "2024-01-10", [A, C])
    coverage = pipeline.bookmarks()["ads"]["coverage"]
    assert coverage["accounts"] == spans([A, C], "2024-01-01", "2024-01-10")
    assert B in coverage["failed"]

    pipeline.emulator.emulator.faults.clear()
    fixed = pipeline.run(queries=[ads()], end_date="2024-01-10", page_size=20, window_days=30)

    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert pipeline.table("ads", FIELDS) == wanted(
        "AW", FIELDS, "2024-01-01", "2024-01-10", [A, B, C]
    )

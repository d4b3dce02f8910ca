"""STATE at agency scale: values most accounts share are written once (issue 31).

A coverage with 1,000 accounts wrote a ~150 KB STATE message, most of it the as-of day
of each refresh tier and the unsettled day, the same for almost every account. Those
maps are written in the shared form (`refreshed_by`, `unsettled`): the value most
accounts hold, and the accounts that differ. The map per account that the previous
release wrote (`refreshed`) is still read, and the coverage stream's figures are the same.
"""

from __future__ import annotations

import datetime as dt
import json

from tap_supermetrics.plan.coverage import Coverage, DaySet, read_coverage

START = dt.date(2024, 1, 1)


def accounts(count: int) -> list[str]:
    return [f"9000-000-{n:04d}" for n in range(count)]


def estate(count: int) -> Coverage:
    """An estate's coverage: every account loaded, most sharing their tiers' days."""
    ids = accounts(count)
    loaded = DaySet.of(START, dt.date(2025, 12, 31))
    coverage = Coverage(known=True)
    coverage.accounts = dict.fromkeys(ids, loaded)
    coverage.refreshed = {
        account: {"3/1": "2025-12-31", "30/7": "2025-12-28" if n % 50 else "2025-12-21"}
        for n, account in enumerate(ids)
    }
    coverage.unsettled = dict.fromkeys(ids[:-1], dt.date(2025, 12, 31))  # the last: settled
    coverage.rows_read = {account: (300 + n, 30) for n, account in enumerate(ids)}
    return coverage


def read_back(bookmark_coverage: dict[str, object]) -> Coverage:
    return read_coverage(
        {"replication_key": "Date", "coverage": bookmark_coverage},
        replication_key="Date",
        start_date=START,
        accounts=[],
        fingerprint={},
    )


def test_a_coverage_reads_back_as_it_was_written() -> None:
    coverage = estate(200)

    again = read_back(coverage.to_json())

    assert again.accounts == coverage.accounts
    assert again.refreshed == coverage.refreshed
    assert again.unsettled == coverage.unsettled
    assert again.rows_read == coverage.rows_read


def test_shared_values_are_written_once_not_per_account() -> None:
    written = estate(1000).to_json()

    assert written["refreshed_by"]["all"] == {"3/1": "2025-12-31", "30/7": "2025-12-28"}
    assert len(written["refreshed_by"]["except"]) == 20  # every 50th ran its weekly tier apart
    assert written["unsettled"] == {"all": "2025-12-31", "except": {"9000-000-0999": None}}
    assert "refreshed" not in written
    size = len(json.dumps(written))
    shared = len(json.dumps(written["refreshed_by"])) + len(json.dumps(written["unsettled"]))
    assert shared < 2_000  # per account, these two maps took about 85 KB
    assert size < 80_000


def test_the_previous_releases_refreshed_map_is_still_read() -> None:
    previous = {
        "fingerprint": {},
        "accounts": {"a": [["2024-01-01", "2024-01-31"]]},
        "failed": {},
        "refreshed": {"a": {"3/1": "2024-01-31", "30/7": "2024-01-28"}},
    }

    coverage = read_back(previous)

    assert coverage.refreshed == {"a": {"3/1": "2024-01-31", "30/7": "2024-01-28"}}
    assert coverage.unsettled == {"a": dt.date(2024, 1, 31)}  # no key: the last day, once

"""Each row exactly once within a run, even when a window is read again after expiry."""

from __future__ import annotations

import pytest

from tap_supermetrics.core.digests import PageDigests
from tap_supermetrics.read.window_rows import WindowRows
from tap_supermetrics.schema.conversion import RowConverter
from tap_supermetrics.schema.types import json_type

FIELDS = ["Date", "CampaignName", "Device", "Clicks", "Cost"]
KEYS = ["Date", "CampaignName", "Device"]


def digests(
    records: list[dict], keys: list[str] = KEYS, day_key: str | None = "Date"
) -> PageDigests:
    """The digests the tap's row converter makes of these records' values."""
    columns = list(records[0])
    kinds = [
        "int.number.value" if isinstance(records[0][column], int) else "string.text.value"
        for column in columns
    ]
    converter = RowConverter(columns, [json_type(k) for k in kinds], {}, keys, day_key=day_key)
    return converter.convert_page_digested([list(record.values()) for record in records])[1]


def page(*rows: tuple[str, str, int]) -> list[dict]:
    return [{"Date": d, "CampaignName": c, "Device": "Mobile", "Clicks": n} for d, c, n in rows]


@pytest.mark.parametrize("day_key", [None, "Date"])
def test_a_second_read_emits_only_new_and_changed_rows(day_key: str | None) -> None:
    window = WindowRows(KEYS)
    window.start_read()
    first = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 2))
    assert window.admit(first, digests(first, day_key=day_key)) == (first, None)

    window.start_read()  # results expired: the window is read again
    again = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 3), ("2024-01-02", "A", 4))
    emitted, duplicate = window.admit(again, digests(again, day_key=day_key))

    assert duplicate is None
    assert emitted == again[1:]  # B changed, 01-02 is new; A is identical: not again


@pytest.mark.parametrize("day_key", [None, "Date"])
def test_a_key_twice_in_one_read_is_a_duplicate_even_after_a_resubmission(
    day_key: str | None,
) -> None:
    window = WindowRows(KEYS)
    window.start_read()
    rows = page(("2024-01-01", "A", 1), ("2024-01-01", "A", 2))
    assert window.admit(rows, digests(rows, day_key=day_key))[1] == 1

    window = WindowRows(KEYS)
    window.start_read()
    window.admit(rows[:1], digests(rows[:1], day_key=day_key))
    window.start_read()
    assert (
        window.admit(rows, digests(rows, day_key=day_key))[1] == 1
    )  # seen again in this read, then repeated


def test_twelve_bytes_a_row() -> None:
    window = WindowRows(["Date", "CampaignName"])
    window.start_read()
    for start in range(0, 200_000, 25_000):
        rows = [
            {"Date": "2024-01-01", "CampaignName": f"c{n}"} for n in range(start, start + 25_000)
        ]
        window.admit(rows, digests(rows, ["Date", "CampaignName"]))
    assert window.nbytes / 200_000 < 13  # 8-byte key digest, 4-byte row digest, buckets


def test_a_third_read_does_not_repeat_what_the_second_emitted() -> None:
    window = WindowRows(KEYS)
    window.start_read()
    first = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 2))
    window.admit(first, digests(first))
    window.start_read()
    second = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 3))
    assert window.admit(second, digests(second))[0] == second[1:]

    window.start_read()  # expired again
    third = page(("2024-01-01", "A", 1), ("2024-01-01", "B", 3), ("2024-01-01", "C", 5))
    assert window.admit(third, digests(third)) == (third[2:], None)


# Windows without a primary key (a query with no date and no dimension). The rule:
# rows are told apart by all their values, and counted. Every row of a read is emitted,
# identical ones included: the API sent each of them, and a target without a key
# appends them all. A read after an expiry emits a row only for the copies beyond those
# the window's earlier reads emitted, so the target ends with each distinct row as many
# times as one read of the answer holds it: no more (a repeat of rows already sent), no
# fewer (copies the expiry cut off).


def test_rows_without_a_key_repeated_within_one_read_are_all_emitted() -> None:
    window = WindowRows([])
    window.start_read()
    rows = page(("2024-01-01", "A", 1), ("2024-01-01", "A", 1), ("2024-01-01", "B", 2))

    assert window.admit(rows, digests(rows, [])) == (rows, None)


def test_a_read_after_an_expiry_emits_the_copies_the_first_read_did_not_reach() -> None:
    window = WindowRows([])
    window.start_read()
    first = page(("2024-01-01", "A", 1))  # results expired after the first row
    assert window.admit(first, digests(first, [])) == (first, None)

    window.start_read()
    again = page(("2024-01-01", "A", 1), ("2024-01-01", "A", 1), ("2024-01-01", "B", 2))
    emitted, duplicate = window.admit(again, digests(again, []))

    assert duplicate is None
    assert emitted == again[1:]  # A: 2 copies in the answer, 1 out before; B: new


def test_a_read_after_an_expiry_does_not_repeat_copies_already_emitted() -> None:
    window = WindowRows([])
    window.start_read()
    rows = page(("2024-01-01", "A", 1), ("2024-01-01", "A", 1), ("2024-01-01", "B", 2))
    window.admit(rows, digests(rows, []))  # all three out, then the results expired

    window.start_read()
    again = [*rows, *page(("2024-01-01", "B", 9))]
    emitted, duplicate = window.admit(again, digests(again, []))

    assert duplicate is None
    assert emitted == again[3:]  # A's two copies and B are out already: only the new row


def test_a_read_after_an_expiry_holds_at_most_28_bytes_a_row() -> None:
    keys = ["Date", "CampaignName"]
    window = WindowRows(keys)
    rows = [{"Date": "2024-01-01", "CampaignName": f"c{n}"} for n in range(100_000)]
    window.start_read()
    window.admit(rows, digests(rows, keys))
    window.start_read()
    window.admit(rows, digests(rows, keys))

    assert window.nbytes / len(rows) < 28  # keys 8 + log 4 + earlier rows 4 + met keys 8


def test_every_row_is_found_again_across_bucket_splits() -> None:
    keys = ["Date", "CampaignName"]
    window = WindowRows(keys)
    rows = [{"Date": "2024-01-01", "CampaignName": f"c{n}", "Clicks": n} for n in range(20_000)]
    window.start_read()
    assert window.admit(rows, digests(rows, keys)) == (rows, None)  # many bucket splits

    window.start_read()
    changed = [{**row, "Clicks": -1} if n % 1000 == 0 else row for n, row in enumerate(rows)]
    emitted, duplicate = window.admit(changed, digests(changed, keys))

    assert duplicate is None
    assert emitted == changed[::1000]  # every identical row found, only the changed ones out

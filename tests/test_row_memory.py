"""The compact row memory: exact set semantics, both uses, and 8 bytes a row."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from tap_supermetrics.row_memory import BUCKET_DIGESTS, DigestSet, key_digests, row_digests

SMALLEST, LARGEST = -(2**63), 2**63 - 1


def spread(count: int, seed: int = 7) -> list[int]:
    """Distinct well-spread signed 64-bit digests, the extremes included."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    digests = {SMALLEST, LARGEST, 0, -1, 1}
    while len(digests) < count:
        digests.add(rng.randint(SMALLEST, LARGEST))
    result = sorted(digests)
    rng.shuffle(result)
    return result


def reference_add_page(seen: set[int], page: list[int]) -> int | None:
    for index, digest in enumerate(page):
        if digest in seen:
            return index
        seen.add(digest)
    return None


def test_a_new_set_holds_nothing() -> None:
    digests = DigestSet()

    assert len(digests) == 0
    assert 0 not in digests
    assert "0" not in digests


def test_every_added_digest_is_found_across_bucket_splits() -> None:
    values = spread(20 * BUCKET_DIGESTS * 4)
    added, absent = values[: len(values) // 2], values[len(values) // 2 :]
    digests = DigestSet()

    for first in range(0, len(added), 997):
        assert digests.add_page(added[first : first + 997]) is None

    assert len(digests) == len(added)
    assert all(value in digests for value in added)
    assert not any(value in digests for value in absent)


def test_add_page_reports_a_digest_from_an_earlier_page() -> None:
    digests = DigestSet()
    digests.add_page([10, 20, 30])

    assert digests.add_page([40, 50, 20, 60]) == 2
    assert 40 in digests
    assert 50 in digests
    assert 60 not in digests  # nothing after the hit is kept
    assert len(digests) == 5


def test_add_page_reports_the_second_of_two_equal_digests_in_one_page() -> None:
    digests = DigestSet()

    assert digests.add_page([7, 8, 9, 8, 10]) == 3
    assert len(digests) == 3
    assert 10 not in digests


def test_add_page_agrees_with_a_python_set_on_random_pages() -> None:
    rng = random.Random(3)  # noqa: S311 - reproducible test data
    pool = spread(3000, seed=11)
    digests, reference = DigestSet(), set[int]()
    for _ in range(300):
        page = rng.sample(pool, rng.randint(0, 12))
        expected = reference_add_page(reference, page)
        assert digests.add_page(page) == expected
    assert len(digests) == len(reference)
    assert all(value in digests for value in reference)


def test_add_new_returns_first_occurrences_of_digests_not_held() -> None:
    digests = DigestSet()

    assert digests.add_new([1, 2, 2, 3]) == [0, 1, 3]
    assert digests.add_new([3, 4, 1, 5, 4]) == [1, 3]
    assert digests.add_new([]) == []
    assert len(digests) == 5


def test_a_window_read_again_emits_only_the_rows_not_emitted() -> None:
    records = [{"Date": "2024-01-01", "Device": d, "Clicks": n} for n, d in enumerate("ABCD")]
    emitted = DigestSet()
    emitted.add_new(row_digests(records[:2]))  # the first read stopped after two rows

    again = row_digests(records)  # the resubmitted query serves all four again
    assert emitted.add_new(again) == [2, 3]


def test_poorly_spread_digests_are_still_exact() -> None:
    digests = DigestSet()
    small = list(range(5 * BUCKET_DIGESTS))

    assert digests.add_page(small) is None
    assert digests.add_page([5 * BUCKET_DIGESTS, 17]) == 1
    assert all(value in digests for value in small)


def test_clear_forgets_everything() -> None:
    digests = DigestSet()
    digests.add_page(spread(3 * BUCKET_DIGESTS))

    digests.clear()

    assert len(digests) == 0
    assert digests.add_page(spread(3 * BUCKET_DIGESTS)) is None


def test_digests_outside_64_bits_are_refused() -> None:
    with pytest.raises(OverflowError):
        DigestSet().add_page([2**63])


@pytest.mark.parametrize(
    ("one", "other"),
    [(-1, -2), (1, 1.0), (1, True), (1, "1"), (None, "null"), (0.1 + 0.2, 0.3)],
    ids=["python-hash-equal", "int-float", "int-bool", "int-str", "null-str", "float-bits"],
)
def test_digests_tell_apart_values_a_target_tells_apart(one: object, other: object) -> None:
    records = [{"Date": "2024-01-01", "Id": one}, {"Date": "2024-01-01", "Id": other}]

    keys = key_digests(records, ["Date", "Id"])
    rows = row_digests(records)

    assert keys[0] != keys[1]
    assert rows[0] != rows[1]
    assert key_digests(records, ["Id"])[0] != key_digests(records, ["Id"])[1]


def test_key_digests_ignore_other_fields_and_row_digests_do_not() -> None:
    records = [
        {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 5},
        {"Date": "2024-01-01", "Device": "Mobile", "Clicks": 6},
    ]

    keys = key_digests(records, ["Date", "Device"])
    rows = row_digests(records)

    assert keys[0] == keys[1]
    assert rows[0] != rows[1]
    assert DigestSet().add_page(keys) == 1


def test_key_digests_need_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        key_digests([{"a": 1}], [])


def test_a_digest_costs_about_eight_bytes() -> None:
    count = 100 * BUCKET_DIGESTS * 4
    values = spread(count)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        digests = DigestSet()
        for first in range(0, count, 25_000):
            digests.add_page(values[first : first + 25_000])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert len(digests) == count
    assert 8 <= held / count <= 9.5

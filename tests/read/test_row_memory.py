"""The compact row memory: exact set semantics at either width, and its size."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from tap_supermetrics.core.digests import KEY_BITS, ROW_BITS
from tap_supermetrics.read.row_memory import BUCKET_DIGESTS, OPEN_DAY_KEYS, DigestSet, KeysByDay


def spread(count: int, bits: int = KEY_BITS, seed: int = 7) -> list[int]:
    """Distinct well-spread digests of `bits` bits, the extremes included."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    digests = {0, 1, (1 << bits) - 1, (1 << bits) - 2, 1 << (bits - 1)}
    while len(digests) < count:
        digests.add(rng.getrandbits(bits))
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
    assert 1 << KEY_BITS not in digests  # the sentinel is not a member


@pytest.mark.parametrize("bits", [KEY_BITS, ROW_BITS])
def test_every_added_digest_is_found_across_bucket_splits(bits: int) -> None:
    values = spread(20 * BUCKET_DIGESTS * 4, bits)
    added, absent = values[: len(values) // 2], values[len(values) // 2 :]
    digests = DigestSet(bits)

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


def test_add_and_update_take_repeats_and_say_what_was_new() -> None:
    digests = DigestSet(ROW_BITS)
    digests.update([5, 5, 6, (1 << ROW_BITS) - 1])

    assert len(digests) == 3
    assert digests.add(7) is True
    assert digests.add(5) is False
    assert len(digests) == 4


def test_poorly_spread_digests_are_still_exact() -> None:
    digests = DigestSet()
    small = list(range(5 * BUCKET_DIGESTS))

    assert digests.add_page(small) is None
    assert digests.add_page([5 * BUCKET_DIGESTS, 17]) == 1
    assert all(value in digests for value in small)


@pytest.mark.parametrize(("bits", "digest"), [(ROW_BITS, 1 << 40), (KEY_BITS, -1)])
def test_digests_outside_their_width_are_refused(bits: int, digest: int) -> None:
    digests = DigestSet(bits)

    with pytest.raises((OverflowError, IndexError)):
        digests.add_page([digest])
    assert len(digests) == 0


@pytest.mark.parametrize(("bits", "size"), [(KEY_BITS, 8), (ROW_BITS, 4)])
def test_a_digest_costs_its_width_and_little_more(bits: int, size: int) -> None:
    count = 100 * BUCKET_DIGESTS * 4
    values = spread(count, bits)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        digests = DigestSet(bits)
        for first in range(0, count, 25_000):
            digests.add_page(values[first : first + 25_000])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert len(digests) == count
    assert size <= held / count <= size + 1.5
    assert size <= digests.nbytes / count <= size + 0.5


@pytest.mark.parametrize("count", [0, 1, BUCKET_DIGESTS, 10 * BUCKET_DIGESTS + 7])
def test_a_set_made_from_sorted_digests_holds_them_and_takes_more(count: int) -> None:
    values = spread(2 * count + 10)
    held, absent = sorted(values[:count]), values[count:]

    digests = DigestSet.from_sorted(held)

    assert len(digests) == count
    assert digests.sorted() == held
    assert not any(value in digests for value in absent)
    assert digests.add_page(absent) is None
    assert len(digests) == len(values)


def day_pages(days: int, per_day: int, page: int) -> list[tuple[list[str], list[int]]]:
    """Keys of `days` days of `per_day` rows, day by day, cut in pages."""
    keys = spread(days * per_day, seed=5)
    names = [f"2024-01-{1 + n // per_day:02d}" for n in range(days * per_day)]
    return [(names[i : i + page], keys[i : i + page]) for i in range(0, len(keys), page)]


def test_keys_by_day_hold_every_key_and_find_a_repeat_in_an_earlier_day() -> None:
    keys = KeysByDay()
    pages = day_pages(days=6, per_day=1000, page=700)
    for days, digests in pages:
        assert keys.add_page(days, digests) is None
    every = [digest for _, digests in pages for digest in digests]

    assert len(keys) == len(every)
    assert keys.merged().sorted() == sorted(every)
    first_day_key = every[3]
    assert keys.add_page(["2024-01-01", "2024-01-01"], [7, first_day_key]) == 1  # met again
    assert keys.add_page(["2024-01-09"] * 3, [8, 9, 8]) == 2  # repeated in one run


def test_keys_by_day_find_a_repeat_in_the_open_day_and_across_pages() -> None:
    keys = KeysByDay()
    assert keys.add_page(["d1"] * 3, [1, 2, 3]) is None

    assert keys.add_page(["d1", "d1"], [4, 2]) == 1
    assert KeysByDay().add_page(["d1", "d2", "d2"], [1, 2, 2]) == 2


def test_a_day_past_the_open_limit_is_still_checked_exactly() -> None:
    keys = KeysByDay()
    values = spread(OPEN_DAY_KEYS + 5000, seed=9)
    for first in range(0, len(values), 4096):
        assert (
            keys.add_page(["d"] * len(values[first : first + 4096]), values[first : first + 4096])
            is None
        )

    assert len(keys) == len(values)
    assert keys.add_page(["d"], [values[10]]) == 0
    assert keys.add_page(["d"], [values[-1]]) == 0


def test_rows_that_change_day_every_row_are_held_in_one_set() -> None:
    keys = KeysByDay()
    values = spread(3000, seed=13)
    days = [f"d{n % 7}" for n in range(len(values))]  # no order by day at all

    assert keys.add_page(days[:1500], values[:1500]) is None
    assert keys.add_page(days[1500:], values[1500:]) is None
    assert len(keys) == len(values)
    assert keys.add_page(["d0"], [values[2000]]) == 0


def test_keys_without_their_days_are_refused() -> None:
    keys = KeysByDay()

    with pytest.raises(ValueError, match="every key needs its row's day"):
        keys.add_page([], [1, 2])
    assert len(keys) == 0

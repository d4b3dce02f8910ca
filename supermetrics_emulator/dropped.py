"""Rows left out of a lazy result, without materialising the result.

A result's rows are numbered by their natural index (the odometer of its axes).
Dropped rows are a sorted list of natural indexes; the rows a client sees are the
others, renumbered from 0. Both directions of that renumbering are a bisect away,
so a page deep inside a multi-million-row result still costs only its own rows.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence


def matching_indexes(
    sizes: Sequence[int], allowed: Sequence[Collection[int] | None]
) -> Iterator[int]:
    """Yield the natural index of every row whose axis positions are all allowed.

    Args:
        sizes: Each axis's size, the first axis varying slowest.
        allowed: Per axis, the positions a row must hold there, or None for any.
    """
    strides = [1] * len(sizes)
    for number in range(len(sizes) - 2, -1, -1):
        strides[number] = strides[number + 1] * sizes[number + 1]
    choices = [
        [position * stride for position in (range(size) if only is None else sorted(only))]
        for size, stride, only in zip(sizes, strides, allowed, strict=True)
    ]
    for parts in itertools.product(*choices):
        yield sum(parts)


class Skips:
    """A sorted set of dropped natural indexes, and the renumbering around it."""

    def __init__(self, dropped: Iterable[int] = ()) -> None:
        """Sort and deduplicate the dropped indexes."""
        self._dropped = sorted(set(dropped))
        # For the i-th dropped index d, d - i visible rows come before it: monotonic,
        # so "how many dropped rows precede visible row v" is one bisect.
        self._shifted = [index - number for number, index in enumerate(self._dropped)]

    def __len__(self) -> int:
        """How many rows are dropped."""
        return len(self._dropped)

    def natural(self, visible: int) -> int:
        """Return the natural index of the `visible`-th row a client sees."""
        return visible + bisect_right(self._shifted, visible)

    def runs(self, first: int, count: int) -> Iterator[tuple[int, int]]:
        """Yield `(natural start, length)` runs covering `count` visible rows from `first`."""
        natural = self.natural(first)
        number = bisect_left(self._dropped, natural)
        while count > 0:
            stop = self._dropped[number] if number < len(self._dropped) else natural + count
            run = min(count, stop - natural)
            if run:
                yield natural, run
            count -= run
            natural, number = stop + 1, number + 1

"""Compact memory of the rows of one window: digests in sorted arrays, no object per row.

Two checks remember every row of a window while it is read: no two rows may share a
primary key (a target would merge them), and, once a window is read again after its
results expired, a row already emitted must not be emitted twice. A Python `set` of
`int` costs about 70 bytes a row (the int object and its slot), which makes a window of
a million rows the largest thing in the tap's memory. `DigestSet` keeps the same
digests in sorted `array` buckets: 8 bytes a 63-bit digest (4 for 31-bit ones), plus
under half a byte of bucket overhead, and its common path is one `bisect` and one
`insert` a row.

The digests come from `RowConverter` (`PageDigests`), which makes them while it builds
each record. Key digests hash the msgspec JSON encoding of the key values, or the
values themselves when they are all strings, so two keys that a target would tell
apart never share a digest by construction (`hash(-1) == hash(-2)` in Python, for
instance, but their encodings differ); only chance collisions remain, about
n**2 / 2**64 for n rows (5e-8 for a million rows). Row digests hash the row's typed
values (see `window_rows` for what that misses). Digests use Python's per-process hash
seed: they mean nothing across runs, and none is written to state.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import groupby
from typing import TYPE_CHECKING

from tap_supermetrics.core.digests import KEY_BITS, ROW_BITS

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Average digests per bucket before the bucket count doubles: small enough for a quick
#: `bisect` and `insert`, large enough that a bucket's own ~90 bytes are noise.
BUCKET_DIGESTS = 384


_TYPECODES = {KEY_BITS: "Q", ROW_BITS: "I"}


_FIRST_BITS = 0  # one bucket until it holds BUCKET_DIGESTS


class DigestSet:
    """A set of `bits`-bit digests (63 or 31) in sorted buckets by their leading bits.

    Bucket `j` holds the digests whose leading `level` bits are `j`, sorted, and ends
    with a sentinel above every digest (so a look-up needs no bounds check). There is
    one bucket per `BUCKET_DIGESTS` digests on average; the bucket count doubles (each
    bucket cut in two at C speed) as the set grows. Digests must be well spread (the
    helpers' are); any other ints in range work too, only more slowly.
    """

    def __init__(self, bits: int = KEY_BITS) -> None:
        """Start empty, for digests of `bits` bits (`KEY_BITS` or `ROW_BITS`)."""
        self.bits = bits
        self._typecode = _TYPECODES[bits]
        self._sentinel = 1 << bits
        self._level = _FIRST_BITS
        self._buckets = [self._bucket() for _ in range(1 << _FIRST_BITS)]
        self._count = 0

    @classmethod
    def from_sorted(cls, digests: Sequence[int], bits: int = KEY_BITS) -> DigestSet:
        """A set of `digests`, distinct and ascending, cut into buckets at C speed."""
        made = cls(bits)
        made._count = len(digests)
        while made._count > BUCKET_DIGESTS << made._level:
            made._level += 1
        shift = bits - made._level
        held = array(made._typecode, digests)
        made._buckets, start = [], 0
        for number in range(1, (1 << made._level) + 1):
            end = bisect_left(held, number << shift, start)
            bucket = held[start:end]
            bucket.append(made._sentinel)
            made._buckets.append(bucket)
            start = end
        return made

    def _bucket(self) -> array[int]:
        return array(self._typecode, [self._sentinel])

    def __len__(self) -> int:
        """How many distinct digests are held."""
        return self._count

    def __contains__(self, digest: object) -> bool:
        """Whether `digest` is held."""
        if not isinstance(digest, int) or not 0 <= digest < self._sentinel:
            return False
        bucket = self._buckets[digest >> (self.bits - self._level)]
        return bucket[bisect_left(bucket, digest)] == digest

    @property
    def nbytes(self) -> int:
        """Bytes allocated for digests, sentinels and buckets (not counting slack)."""
        size = array(self._typecode).itemsize
        held = sum(64 + size * len(bucket) for bucket in self._buckets)
        return held + 8 * len(self._buckets) + 56 + 48

    def add_page(self, digests: Sequence[int]) -> int | None:
        """Add a page of digests; return the index of the first one already held, if any.

        "Already held" covers digests added before and digests repeated earlier in the
        same page: the duplicate-key check. On a hit, the digests before it are kept
        and those from it on are not. This is the hot path of every read: keep it lean.
        """
        self._grow(self._count + len(digests))
        buckets, find = self._buckets, bisect_left
        shift = self.bits - self._level
        for index, digest in enumerate(digests):
            bucket = buckets[digest >> shift]
            at = find(bucket, digest)
            if bucket[at] == digest:
                self._count += index
                return index
            bucket.insert(at, digest)
        self._count += len(digests)
        return None

    def add(self, digest: int) -> bool:
        """Add one digest; whether it was new."""
        self._grow(self._count + 1)
        bucket = self._buckets[digest >> (self.bits - self._level)]
        at = bisect_left(bucket, digest)
        if bucket[at] == digest:
            return False
        bucket.insert(at, digest)
        self._count += 1
        return True

    def update(self, digests: Sequence[int]) -> None:
        """Add digests, repeats allowed."""
        self._grow(self._count + len(digests))
        buckets = self._buckets
        shift = self.bits - self._level
        for digest in digests:
            bucket = buckets[digest >> shift]
            at = bisect_left(bucket, digest)
            if bucket[at] != digest:
                bucket.insert(at, digest)
                self._count += 1

    def sorted(self) -> list[int]:
        """Every digest, ascending."""
        return [digest for bucket in self._buckets for digest in bucket[:-1]]

    def _grow(self, count: int) -> None:
        """Double the buckets until `count` digests average at most `BUCKET_DIGESTS`."""
        while count > BUCKET_DIGESTS * len(self._buckets):
            self._level += 1
            shift = self.bits - self._level
            split: list[array[int]] = []
            for number in range(len(self._buckets)):
                bucket, self._buckets[number] = self._buckets[number], _NOTHING
                # Digests of bucket `number` whose next bit is 1 start at this value.
                cut = bisect_left(bucket, (2 * number + 1) << shift)
                # Slices are exact-size copies: the old bucket's insertion slack is freed.
                low = bucket[:cut]
                low.append(self._sentinel)
                split += (low, bucket[cut:])
                del bucket
            self._buckets = split


_NOTHING: array[int] = array("Q")


#: Keys of the day being read are held in a Python set (C-speed checks, ~70 bytes a
#: key) up to this many, then moved to a `DigestSet` like every day already read.
OPEN_DAY_KEYS = 32_768


#: Fewer rows than this per run of one day, on average over a page, means the rows do
#: not come day by day: from then on one `DigestSet` holds every key.
SHORTEST_RUNS = 16


class KeysByDay:
    """The key digests of one read of a window, by the day each row belongs to.

    Why: a `DigestSet` costs a `bisect` and an `insert` in a bucket picked at random for
    every row, and past a few hundred thousand rows every bucket is a cache miss. Rows
    come day by day (the API sorts them by date, as far as seen; not documented), and
    two rows with one key share its day, so only the day being read needs checking: its
    keys live in a Python set (checked and added a page at a time, at C speed) and move
    into a compact `DigestSet` of their own when the next day starts (sorted at C
    speed). A day met again, or one grown past `OPEN_DAY_KEYS`, is checked in its
    `DigestSet` row by row; rows that change day every few rows put every key into one
    `DigestSet`. Exact in every case; only the speed depends on the order.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._days: dict[object, DigestSet] = {}
        self._open_day: object = _NO_DAY
        self._open: set[int] = set()
        self._single: DigestSet | None = None

    def __len__(self) -> int:
        """How many keys are held."""
        if self._single is not None:
            return len(self._single)
        return len(self._open) + sum(len(keys) for keys in self._days.values())

    @property
    def nbytes(self) -> int:
        """Bytes held: the compact sets, and the open day's set at ~70 bytes a key."""
        if self._single is not None:
            return self._single.nbytes
        compact = sum(keys.nbytes for keys in self._days.values()) + 104 * len(self._days)
        return compact + 70 * len(self._open)

    def add_page(self, days: Sequence[object], keys: Sequence[int]) -> int | None:
        """Add a page of keys, with each row's day; the index of the first repeat, if any.

        As `DigestSet.add_page`, a key held before or repeated earlier in the page is a
        repeat. A repeat fails the read, so what is held after one does not matter.
        """
        if len(days) != len(keys):
            msg = f"{len(keys)} keys but {len(days)} days: every key needs its row's day"
            raise ValueError(msg)
        if self._single is not None:
            return self._single.add_page(keys)
        runs = [(day, len(list(rows))) for day, rows in groupby(days)]
        if len(keys) > SHORTEST_RUNS * len(runs) or len(runs) == 1:
            start = 0
            for day, length in runs:
                repeat = self._add_run(day, keys[start : start + length])
                if repeat is not None:
                    return start + repeat
                start += length
            return None
        self._single = self.merged()
        self._days, self._open = {}, set()
        return self._single.add_page(keys)

    def _add_run(self, day: object, keys: Sequence[int]) -> int | None:
        if day != self._open_day:
            self._close_day()
            known = self._days.get(day)
            if known is not None:
                return known.add_page(keys)  # a day met again: row by row
            self._open_day = day
        page = set(keys)
        if len(page) < len(keys) or not self._open.isdisjoint(page):
            return _first_repeat(self._open, keys)
        self._open |= page
        if len(self._open) > OPEN_DAY_KEYS:
            self._close_day()
        return None

    def _close_day(self) -> None:
        if self._open_day is not _NO_DAY:
            self._days[self._open_day] = DigestSet.from_sorted(sorted(self._open))
        self._open_day, self._open = _NO_DAY, set()

    def merged(self) -> DigestSet:
        """One `DigestSet` of every key (for a read after an expiry)."""
        if self._single is not None:
            return self._single
        every = DigestSet()
        every.update(sorted(self._open))
        for keys in self._days.values():
            every.update(keys.sorted())
        return every


_NO_DAY = object()


def _first_repeat(held: set[int], keys: Sequence[int]) -> int:
    """The index of the first key of `keys` in `held` or earlier in `keys`."""
    seen: set[int] = set()
    for index, key in enumerate(keys):
        if key in held or key in seen:
            return index
        seen.add(key)
    msg = "no repeat among the keys"
    raise AssertionError(msg)

"""Compact memory of the rows of one window: 64-bit digests at about 8 bytes a row.

Two checks need to remember every row of a window while it is read: no two rows may
share a primary key (a target would merge them), and, once a window is read again after
its results expired, a row already emitted must not be emitted twice. A Python `set`
of `int` costs about 70 bytes a row (the int object and its slot), which makes a
window of millions of rows the largest thing in the tap's memory. `DigestSet` keeps
the same digests in sorted `array("q")` buckets instead: 8 bytes a digest, plus under
half a byte of bucket overhead.

Digests are signed 64-bit integers as `hash()` returns them. `key_digests` and
`row_digests` make them from records: they hash the msgspec JSON encoding of the
values, so two values that a target would tell apart never share a digest by
construction (`hash(-1) == hash(-2)` in Python, for instance, but their encodings
differ); only chance collisions remain, about n**2 / 2**65 for n rows (3e-8 for a
million rows). Digests use Python's per-process hash seed: they mean nothing across runs.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: Average digests per bucket before the bucket count doubles: small enough for a
#: quick `bisect` and `insert`, large enough that a bucket's own 64 bytes are noise.
BUCKET_DIGESTS = 256
_WIDTH = 64
_FIRST_BITS = 1  # two buckets: the sign bit splits them, so each holds one sign
_EMPTY: array[int] = array("q")

_encode = msgspec.json.Encoder().encode


def key_digests(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[int]:
    """Digest each record's values of `keys` (the primary key), in `keys` order.

    Raises:
        ValueError: `keys` is empty.
        KeyError: a record lacks one of `keys`.
    """
    if not keys:
        msg = "key_digests needs at least one key"
        raise ValueError(msg)
    if len(keys) == 1:
        (key,) = keys
        return [hash(_encode((record[key],))) for record in records]
    key_of = itemgetter(*keys)
    return [hash(_encode(key_of(record))) for record in records]


def row_digests(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Digest each record's values, in the record's key order (the same for a window)."""
    return [hash(_encode(tuple(record.values()))) for record in records]


class DigestSet:
    """A set of signed 64-bit digests, 8 bytes each, in sorted buckets by leading bits.

    Bucket `j` holds the digests whose leading `bits` bits (two's complement) are `j`,
    sorted; there is one bucket per `BUCKET_DIGESTS` digests on average, and the
    bucket count doubles (each bucket split in two at C speed) as the set grows. A look-up
    is a `bisect` in one bucket, an addition an `insert` into it. Digests must be well
    spread (the helpers' are); any other ints in range work too, only more slowly.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._bits = _FIRST_BITS
        self._buckets: list[array[int]] = [array("q") for _ in range(1 << _FIRST_BITS)]
        self._count = 0

    def clear(self) -> None:
        """Forget every digest and give the memory back."""
        self._bits = _FIRST_BITS
        self._buckets = [array("q") for _ in range(1 << _FIRST_BITS)]
        self._count = 0

    def __len__(self) -> int:
        """How many distinct digests are held."""
        return self._count

    def __contains__(self, digest: object) -> bool:
        """Whether `digest` is held."""
        if not isinstance(digest, int):
            return False
        bucket = self._bucket_of(digest)
        at = bisect_left(bucket, digest)
        return at < len(bucket) and bucket[at] == digest

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the digests and the bucket list (not counting slack)."""
        buckets = self._buckets
        return sum(b.itemsize * len(b) + 64 for b in buckets) + 8 * len(buckets) + 56

    def add_page(self, digests: Sequence[int]) -> int | None:
        """Add a page of digests; return the index of the first already present, if any.

        "Already present" covers digests added before and digests repeated earlier in
        the same page: this is the duplicate-key check. On a hit, the digests before it
        are kept and those from it on are not.
        """
        buckets = self._buckets
        shift = _WIDTH - self._bits
        mask = (1 << self._bits) - 1
        for index, digest in enumerate(digests):
            bucket = buckets[(digest >> shift) & mask]
            at = bisect_left(bucket, digest)
            if at < len(bucket) and bucket[at] == digest:
                self._count += index
                self._grow()
                return index
            bucket.insert(at, digest)
        self._count += len(digests)
        self._grow()
        return None

    def add_new(self, digests: Iterable[int]) -> list[int]:
        """Add digests; return the indexes of those not held before, in order.

        A digest repeated within `digests` counts as new at its first index only. This
        is the exactly-once check: of a page read again, emit only the returned rows.
        """
        buckets = self._buckets
        shift = _WIDTH - self._bits
        mask = (1 << self._bits) - 1
        fresh: list[int] = []
        for index, digest in enumerate(digests):
            bucket = buckets[(digest >> shift) & mask]
            at = bisect_left(bucket, digest)
            if at < len(bucket) and bucket[at] == digest:
                continue
            bucket.insert(at, digest)
            fresh.append(index)
        self._count += len(fresh)
        self._grow()
        return fresh

    def _bucket_of(self, digest: int) -> array[int]:
        return self._buckets[(digest >> (_WIDTH - self._bits)) & ((1 << self._bits) - 1)]

    def _grow(self) -> None:
        """Double the buckets while they hold more than `BUCKET_DIGESTS` on average."""
        while self._count > BUCKET_DIGESTS * len(self._buckets):
            self._bits += 1
            shift = _WIDTH - self._bits
            old = self._buckets
            split: list[array[int]] = []
            for number in range(len(old)):
                bucket, old[number] = old[number], _EMPTY  # never two copies of the set
                # Digests of bucket `number` whose next bit is 1 start at this value.
                upper = (2 * number + 1) << shift
                if upper >= 1 << (_WIDTH - 1):
                    upper -= 1 << _WIDTH
                cut = bisect_left(bucket, upper)
                high = bucket[cut:]
                del bucket[cut:]
                split += (bucket, high)
            self._buckets = split

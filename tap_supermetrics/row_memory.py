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


_VALUE_BITS = 31
_SEEN = 1  # low bit of a stored value: seen in the current pass


class KeyedDigests:
    """Per primary key (64-bit digest): a 31-bit digest of the row's values, 12 bytes a row.

    One structure serves both checks of a window: a key met twice in one pass is a
    duplicate key; after the window is read again (a new pass), a row whose key and
    values match a stored one was already emitted, while a known key with other values
    is a changed row. Keys live in sorted `array("Q")` buckets by their leading bits
    with the values in a parallel `array("I")`: 8 + 4 bytes a row, where two digest sets
    (keys, rows) would take 16. Two different rows of one key are taken as identical
    only when 31 bits of their digests agree (a chance of 5e-10 per changed row).
    """

    def __init__(self) -> None:
        """Start empty."""
        self._bits = 1
        self._keys: list[array[int]] = [array("Q"), array("Q")]
        self._values: list[array[int]] = [array("I"), array("I")]
        self._count = 0

    def __len__(self) -> int:
        """How many keys are held."""
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes allocated for keys, values and buckets (not counting slack)."""
        data = sum(k.itemsize * len(k) + v.itemsize * len(v) + 128 for k, v in self._buckets())
        return data + 16 * len(self._keys) + 56

    def _buckets(self) -> zip[tuple[array[int], array[int]]]:
        return zip(self._keys, self._values, strict=True)

    def new_pass(self) -> None:
        """Start reading the window again: every key counts as not yet seen."""
        self._values = [array("I", (v & ~_SEEN for v in values)) for values in self._values]

    def admit(
        self, keys: Sequence[int], values: Sequence[int], *, keys_unique: bool = True
    ) -> tuple[list[int], int | None]:
        """Add a page of (key, value) digests.

        Returns the indexes of the rows to emit (new keys, and known keys whose values
        changed since an earlier pass) and, when `keys_unique`, the index of the first
        key already met in this pass (the caller fails: nothing after it is added).
        """
        fresh: list[int] = []
        shift = _WIDTH - self._bits
        added = 0
        for index, (key, value) in enumerate(zip(keys, values, strict=True)):
            number = (key & _UNSIGNED) >> shift
            bucket = self._keys[number]
            stored_values = self._values[number]
            digest = key & _UNSIGNED
            wanted = ((value & _VALUE_MASK) << 1) | _SEEN
            at = bisect_left(bucket, digest)
            if at < len(bucket) and bucket[at] == digest:
                stored = stored_values[at]
                if stored & _SEEN:
                    if keys_unique:
                        self._count += added
                        self._grow()
                        return fresh, index
                    fresh.append(index)
                    continue
                stored_values[at] = wanted
                if stored != wanted & ~_SEEN:
                    fresh.append(index)
                continue
            bucket.insert(at, digest)
            stored_values.insert(at, wanted)
            fresh.append(index)
            added += 1
        self._count += added
        self._grow()
        return fresh, None

    def _grow(self) -> None:
        """Double the buckets while they hold more than `BUCKET_DIGESTS` on average."""
        while self._count > BUCKET_DIGESTS * len(self._keys):
            self._bits += 1
            shift = _WIDTH - self._bits
            keys: list[array[int]] = []
            values: list[array[int]] = []
            for number in range(len(self._keys)):
                low_keys, low_values = self._keys[number], self._values[number]
                self._keys[number], self._values[number] = _EMPTY_KEYS, _EMPTY_VALUES
                cut = bisect_left(low_keys, (2 * number + 1) << shift)
                # Slices are exact-size copies: the old arrays' insertion slack is freed.
                keys += (low_keys[:cut], low_keys[cut:])
                values += (low_values[:cut], low_values[cut:])
                del low_keys, low_values
            self._keys, self._values = keys, values


_UNSIGNED = (1 << _WIDTH) - 1
_VALUE_MASK = (1 << _VALUE_BITS) - 1
_EMPTY_KEYS: array[int] = array("Q")
_EMPTY_VALUES: array[int] = array("I")


def raw_row_digests(rows: Sequence[Any]) -> list[int]:
    """Digest each row as the API sent it: its raw JSON, or its encoding once decoded."""
    if rows and isinstance(rows[0], msgspec.Raw):
        return [hash(bytes(row)) for row in rows]
    return [hash(_encode(row)) for row in rows]

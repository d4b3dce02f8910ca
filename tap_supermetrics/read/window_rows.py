"""Every row of a window exactly once, and never two rows with one primary key.

A window is read again from its first row when its results expire mid-paging: the
query is submitted anew and its pages come again. Rows identical to ones already
emitted are not emitted twice (append-only targets would keep both); rows whose
values changed in between are emitted (upserting targets keep the newer). Within one
read, two rows with the same primary key fail the window: a target upserting by key
would silently merge them.

Without a primary key (a query with neither a date nor a dimension) rows are told apart
by their values and counted: every row of one read is emitted, repeats included (the
API returned them), and a later read emits a row only for the copies beyond those the
earlier reads emitted. An append-only target ends with each row as often as one read
holds it.

The parts of a window split by accounts are later reads of the same window: its row
memory goes with them (`splitting.py`).

Memory, first read: 8 bytes a row for its key digest (`KeysByDay`: compact sets per
day, and a Python set for the day being read) and 4 for a digest of the row's values,
kept in arrival order (a flat array the page extends at C speed). Only a read
after an expiry needs more: a look-up of the earlier rows' digests and the keys met in
this read, 12 more bytes a row while it lasts. A changed
row counts as already emitted only when its 31-bit digest equals one of the window's
earlier rows' (a chance of n / 2**31 per changed row in a window of n rows), when it
changed back to a value emitted by an earlier read, or when only an integer cell
changed between -1 and -2 (Python hashes both alike).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.core.digests import ROW_BITS, PageDigests
from tap_supermetrics.read.row_memory import DigestSet, KeysByDay


@dataclass
class _LaterRead:
    """What a read after an expiry needs besides the first read's memory."""

    #: Keys met in this read (whole-row digests without a primary key).
    met: DigestSet = field(default_factory=DigestSet)
    #: The 31-bit digests of every row emitted by earlier reads (with a primary key).
    earlier_rows: DigestSet = field(default_factory=lambda: DigestSet(ROW_BITS))
    #: Copies of each row met in this read (without a primary key).
    copies: Counter[int] = field(default_factory=Counter)


class WindowRows:
    """The rows of one window, across its reads."""

    def __init__(self, keys: Sequence[str]) -> None:
        """Watch the primary key `keys` (none: rows are told apart by all their values).

        The first read checks keys day by day (`KeysByDay`) when the pages' digests
        carry each row's day (`PageDigests.days`).
        """
        self.keys = list(keys)
        #: The first read's keys.
        self._first_keys = KeysByDay()
        #: Digests of the keys emitted (of the whole rows, without a primary key), from
        #: the second read on (and in every read without a primary key).
        self._emitted = DigestSet()
        #: 31-bit digests of the rows emitted, in order (windows with a primary key).
        self._row_log = array("I")
        self._later: _LaterRead | None = None
        #: Copies emitted of each row, over all reads (windows without a primary key).
        self._copies: Counter[int] = Counter()
        self.reads = 0

    def __len__(self) -> int:
        """How many distinct keys (whole rows, without a primary key) are remembered."""
        return len(self._first_keys) + len(self._emitted) + len(self._copies)

    @property
    def nbytes(self) -> int:
        """Bytes held for the window's rows (not counting insertion slack)."""
        held = self._first_keys.nbytes + self._emitted.nbytes
        held += self._row_log.itemsize * len(self._row_log)
        if self._later:
            held += self._later.met.nbytes + self._later.earlier_rows.nbytes
        return held

    def start_read(self) -> None:
        """A read of the window begins (the first, or one after a resubmission)."""
        self.reads += 1
        if self.reads == 1:
            return
        if self._later is None and self.keys:  # the first read is over: one set of keys
            self._emitted, self._first_keys = self._first_keys.merged(), KeysByDay()
        self._later = _LaterRead()
        self._later.earlier_rows.update(self._row_log)

    def admit(
        self, records: list[dict[str, Any]], digests: PageDigests
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The page's records to emit, and the index of a duplicate key if one arrived.

        `digests` are the page's (`RowConverter` computes them with the records).
        """
        if not self.keys:
            return self._admit_unkeyed(records, digests.rows)
        if self._later is None:  # the first read: every key must be new
            days = digests.days or [None] * len(records)
            duplicate = self._first_keys.add_page(days, digests.keys)
            if duplicate is not None:
                return [], duplicate
            self._row_log.extend(digests.rows)
            return records, None
        return self._admit_again(records, digests.keys, digests.rows, self._later)

    def _admit_again(
        self,
        records: list[dict[str, Any]],
        keys: list[int],
        digests: list[int],
        later: _LaterRead,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A read after an expiry: skip rows emitted before, keep new and changed ones."""
        emitted: list[dict[str, Any]] = []
        for index, (record, key, digest) in enumerate(zip(records, keys, digests, strict=True)):
            if not later.met.add(key):
                return [], index
            if not self._emitted.add(key) and digest in later.earlier_rows:
                continue  # emitted by an earlier read, and unchanged since
            emitted.append(record)
            self._row_log.append(digest)
        return emitted, None

    def _admit_unkeyed(
        self, records: list[dict[str, Any]], digests: list[int]
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Rows told apart by all their values, counted: copies beyond the emitted ones."""
        if self._later is None:
            self._copies.update(digests)
            return records, None
        met = self._later.copies
        emitted: list[dict[str, Any]] = []
        for record, digest in zip(records, digests, strict=True):
            met[digest] += 1
            if met[digest] <= self._copies[digest]:
                continue  # an earlier read emitted this copy already
            self._copies[digest] += 1
            emitted.append(record)
        return emitted, None

    def describe(self, record: dict[str, Any]) -> str:
        """The message for a record whose key arrived twice."""
        values = {key: record.get(key) for key in self.keys}
        return (
            f"duplicate primary key {values}: two rows would be merged by the target. "
            "Add the missing dimension to `fields` or set `primary_keys`"
        )

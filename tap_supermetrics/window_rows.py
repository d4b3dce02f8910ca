"""Every row of a window exactly once, and never two rows with one primary key.

A window is read again from its first row when its results expire mid-paging: the
query is submitted anew and its pages come again. Rows identical to ones already
emitted are not emitted twice (append-only targets would keep both); rows whose
values changed in between are emitted (upserting targets keep the newer). Within one
read, two rows with the same primary key fail the window: a target upserting by key
would silently merge them. Memory: 12 bytes a row of the window (`KeyedDigests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tap_supermetrics.row_memory import KeyedDigests, key_digests, raw_row_digests


class WindowRows:
    """The rows of one window, across its reads."""

    def __init__(self, keys: Sequence[str]) -> None:
        """Watch the primary key `keys` (none: rows are told apart by all their values)."""
        self.keys = list(keys)
        self._digests = KeyedDigests()
        self.reads = 0

    def start_read(self) -> None:
        """A read of the window begins (the first, or one after a resubmission)."""
        if self.reads:
            self._digests.new_pass()
        self.reads += 1

    def admit(
        self, records: list[dict[str, Any]], rows: Sequence[Any]
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The page's records to emit, and the index of a duplicate key if one arrived.

        `rows` are the same rows as the API sent them (raw JSON), one per record.
        """
        values = raw_row_digests(rows)
        keys = key_digests(records, self.keys) if self.keys else values
        fresh, duplicate = self._digests.admit(keys, values, keys_unique=bool(self.keys))
        if duplicate is not None:
            return [], duplicate
        if len(fresh) == len(records):
            return records, None
        return [records[index] for index in fresh], None

    def describe(self, record: dict[str, Any]) -> str:
        """The message for a record whose key arrived twice."""
        values = {key: record.get(key) for key in self.keys}
        return (
            f"duplicate primary key {values}: two rows would be merged by the target. "
            "Add the missing dimension to `fields` or set `primary_keys`"
        )

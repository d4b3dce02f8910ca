"""The digests a page's rows leave for the row memory: made by the converter, kept by `read`."""

from __future__ import annotations

from typing import Any, NamedTuple

KEY_BITS = 63


ROW_BITS = 31


class PageDigests(NamedTuple):
    """What the row memory needs of a page, one entry per row, computed with the rows.

    `keys`: 63-bit digests of the primary-key values (empty without a primary key);
    `rows`: digests of the rows' values, 31-bit with a primary key, 63-bit without;
    `days`: each row's value of the day field, when the primary key holds one.
    """

    keys: list[int]
    rows: list[int]
    days: list[Any]

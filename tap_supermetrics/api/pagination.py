"""Result pages: reading one, and walking them with `offset_start` / `offset_end`.

Two points of the API are unconfirmed, so both readings are handled: a header row of
field names may or may not start each page (it is recognised and dropped), and
`offset_end` may be inclusive or exclusive (the next offset is always "first row not
yet received", so either way no row is skipped or read twice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import requests
from singer_sdk.pagination import OffsetPaginator
from typing_extensions import override

from tap_supermetrics.core.errors import ResultShapeError


@dataclass(frozen=True)
class Page:
    """The rows of one answer (header removed) and what `meta` says about the result."""

    rows: Sequence[Sequence[Any]]
    total_rows: int | None
    field_meta: list[dict[str, Any]] | None

    def more_after(self, first: int) -> bool:
        """Whether rows follow this page, when it starts at row `first`.

        Without a `total_rows`, only an empty page proves the end: a page shorter than
        asked for may just mean a smaller server page limit.
        """
        if not self.rows:
            return False
        return self.total_rows is None or first + len(self.rows) < self.total_rows


def read_page(payload: dict[str, Any], header_names: Sequence[Sequence[str]]) -> Page:
    """Split one SUCCESS answer into rows and result facts.

    `header_names` lists the rows that count as a header (field names, field ids).
    """
    meta = payload["meta"]
    data = payload.get("data")
    if data is None:
        data = []
    if not isinstance(data, list):
        msg = "the answer's 'data' is not a list of rows"
        raise ResultShapeError(msg)
    query = meta.get("query") if isinstance(meta.get("query"), dict) else {}
    field_meta = query.get("fields") if isinstance(query.get("fields"), list) else None
    if field_meta:
        header_names = [
            *header_names,
            [str(f.get("field_name")) for f in field_meta],
            [str(f.get("field_id") or f.get("id")) for f in field_meta],
        ]
    first = _DECODER.decode(data[0]) if data and isinstance(data[0], msgspec.Raw) else None
    if first is None and data:
        first = data[0]
    if isinstance(first, list) and any(first == list(names) for names in header_names):
        data = data[1:]
    result = meta.get("result") if isinstance(meta.get("result"), dict) else {}
    total = result.get("total_rows")
    return Page(
        rows=data,
        total_rows=int(total)
        if isinstance(total, (int, float, str)) and str(total).isdigit()
        else None,
        field_meta=field_meta,
    )


_DECODER = msgspec.json.Decoder()


class ResultPaginator(OffsetPaginator):
    """Offsets over a finished query's rows; stops at `total_rows` or at a short page."""

    def __init__(
        self,
        start_value: int,
        page_size: int,
        page_of: Callable[[requests.Response], Page],
        limit: int,
    ) -> None:
        """Start at row `start_value`, asking for `page_size` rows at a time, up to `limit`."""
        super().__init__(start_value, page_size)
        self._page_of = page_of
        self._limit = limit

    @override
    def has_more(self, response: requests.Response) -> bool:
        page = self._page_of(response)
        return page.more_after(self.current_value) and (
            self.current_value + len(page.rows) < self._limit
        )

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Go on past a page whose rows were all emitted before (a window read again)."""
        return bool(self._page_of(response).rows)

    @override
    def get_next(self, response: requests.Response) -> int | None:
        return self.current_value + len(self._page_of(response).rows)

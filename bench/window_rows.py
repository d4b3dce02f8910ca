"""Memory and time of the tap's row memory (`WindowRows`) for one window of ROWS rows.

Run: python -m bench.window_rows ROWS [--traced]   (prints one JSON object)

Rows shaped like the benchmark query's (date, keyword, eight metrics) are made page by
page as raw JSON rows (what the API sends), go through the tap's row converter (records
with the lineage stamp, and their digests) and are dropped after use, as the tap does;
every page goes through `WindowRows.admit`, the tap's two checks in one: the
duplicate-key check and exactly-once tracking (key digests by day, row digests in
arrival order). Reported: bytes held per row (`nbytes`; with --traced also as
tracemalloc counts it, which slows everything down), nanoseconds per row of `admit` (the
digests come with the records and are not counted), and the process's peak RSS (the
tap's modules are imported first, so the process starts from the tap's own footprint).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import tracemalloc
from typing import Any

import msgspec

import tap_supermetrics.tap  # noqa: F401 - start from the tap's footprint
from bench.common import MILLION_ROW_QUERY, peak_rss_mb
from tap_supermetrics.core.digests import PageDigests
from tap_supermetrics.read.window_rows import WindowRows
from tap_supermetrics.schema.conversion import RowConverter
from tap_supermetrics.schema.lineage import LINEAGE_FIELD
from tap_supermetrics.schema.types import json_type

PAGE = 25_000
KEYWORDS = 1_000
FIELDS = tuple(MILLION_ROW_QUERY["fields"])  # the benchmark query's columns
KEYS = ["Date", "Keyword"]
_encode = msgspec.json.Encoder().encode


#: The benchmark query's columns as Supermetrics types them.
DATA_TYPES = (
    "string.time.date",
    "string.text.value",
    *["int.number.value"] * 2,
    *["float.number.value"] * 4,
    "int.number.value",
    "float.number.value",
)
STAMP = "2026-01-01T00:00:00.000000+00:00"
CONVERTER = RowConverter(
    FIELDS, [json_type(t) for t in DATA_TYPES], {LINEAGE_FIELD: STAMP}, KEYS, day_key="Date"
)


def page(first: int, count: int) -> tuple[list[dict[str, Any]], PageDigests]:
    """Rows `first`..`first + count - 1` (one day per 1,000 keywords), as the tap has them.

    The rows are made as the API sends them (raw JSON) and go through the tap's own
    row converter, which returns the records and their digests.
    """
    start = dt.date(2020, 1, 1)
    raw = []
    for index in range(first, first + count):
        day, keyword = divmod(index, KEYWORDS)
        values = (
            (start + dt.timedelta(days=day)).isoformat(),
            f"kw {keyword:04d} shoes",
            index % 10_000,
            index % 977,
            (index % 100_000) / 100,
            (index % 10_000) / 100,
            None if index % 11 == 0 else (index % 9_973) / 100,
            (index % 7_919) / 100,
            index % 5_003,
            (index % 1_009) / 100,
        )
        raw.append(msgspec.Raw(_encode(values)))
    return CONVERTER.convert_page_digested(raw)


def measure(rows: int, *, traced: bool) -> dict[str, float]:
    """Admit `rows` rows page by page (timings are only sound untraced)."""
    window = WindowRows(KEYS)
    window.start_read()
    admit_seconds = 0.0
    if traced:
        tracemalloc.start()
    for first in range(0, rows, PAGE):
        records, digests = page(first, min(PAGE, rows - first))
        started = time.perf_counter()
        emitted, duplicate = window.admit(records, digests)
        admit_seconds += time.perf_counter() - started
        assert duplicate is None
        assert len(emitted) == len(records)
        del records, digests, emitted
    held = tracemalloc.get_traced_memory()[0] if traced else float("nan")
    tracemalloc.stop()

    assert len(window) == rows  # every key held
    return {
        "rows": rows,
        "traced": traced,
        "bytes_per_row_traced": held / rows,
        "bytes_per_row_nbytes": window.nbytes / rows,
        "admit_ns_per_row": admit_seconds / rows * 1e9,
        "peak_rss_mb": peak_rss_mb(os.getpid()),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), traced="--traced" in sys.argv[2:])))

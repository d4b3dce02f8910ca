"""Memory and time of `tap_supermetrics.row_memory` for one window of ROWS rows.

Run: python -m bench.row_memory ROWS [--traced]   (prints one JSON object)

Records shaped like the benchmark query's (date, keyword, eight metrics, the lineage
stamp) are made page by page and dropped after use, as the tap does; both checks run
on every page: the duplicate-key check (`add_page` of `key_digests`) and exactly-once
tracking (`add_new` of `row_digests`). Reported: bytes held per row by the two sets
(`nbytes`; with --traced also as tracemalloc counts it, which slows everything down),
nanoseconds per row for digesting and for the sets, and the process's peak RSS (the
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

import tap_supermetrics.tap  # noqa: F401 - start from the tap's footprint
from bench.common import peak_rss_mb
from tap_supermetrics.row_memory import DigestSet, key_digests, row_digests

PAGE = 25_000
KEYWORDS = 1_000
KEYS = ["Date", "Keyword"]


def page(first: int, count: int) -> list[dict[str, Any]]:
    """Records `first`..`first + count - 1`: one day per 1,000 keywords."""
    start = dt.date(2020, 1, 1)
    records = []
    for index in range(first, first + count):
        day, keyword = divmod(index, KEYWORDS)
        records.append(
            {
                "Date": (start + dt.timedelta(days=day)).isoformat(),
                "Keyword": f"kw {keyword:04d} shoes",
                "Impressions": index % 10_000,
                "Clicks": index % 977,
                "Cost": (index % 100_000) / 100,
                "CTR": (index % 10_000) / 100,
                "Conversions": None if index % 11 == 0 else (index % 9_973) / 100,
                "ConversionRate": (index % 7_919) / 100,
                "VideoViews": index % 5_003,
                "AverageCpc": (index % 1_009) / 100,
                "_sm_extracted_at": "2026-01-01T00:00:00.000000+00:00",
            }
        )
    return records


def measure(rows: int, *, traced: bool) -> dict[str, float]:
    """Fill both sets with `rows` rows, page by page (timings are only sound untraced)."""
    keys, emitted = DigestSet(), DigestSet()
    digest_seconds = set_seconds = 0.0
    if traced:
        tracemalloc.start()
    for first in range(0, rows, PAGE):
        records = page(first, min(PAGE, rows - first))
        started = time.perf_counter()
        key_page, row_page = key_digests(records, KEYS), row_digests(records)
        digested = time.perf_counter()
        duplicate = keys.add_page(key_page)
        fresh = emitted.add_new(row_page)
        set_seconds += time.perf_counter() - digested
        digest_seconds += digested - started
        assert duplicate is None
        assert len(fresh) == len(records)
        del records, key_page, row_page, fresh
    held = tracemalloc.get_traced_memory()[0] if traced else float("nan")
    tracemalloc.stop()
    assert len(keys) == len(emitted) == rows
    return {
        "rows": rows,
        "traced": traced,
        "bytes_per_row_traced": held / rows,
        "bytes_per_row_nbytes": (keys.nbytes + emitted.nbytes) / rows,
        "digest_ns_per_row": digest_seconds / rows * 1e9,
        "sets_ns_per_row": set_seconds / rows * 1e9,
        "peak_rss_mb": peak_rss_mb_self(),
    }


def peak_rss_mb_self() -> float:
    return peak_rss_mb(os.getpid())


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), traced="--traced" in sys.argv[2:])))

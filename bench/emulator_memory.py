"""Peak RSS of the emulator while it serves a million-row result (999,000) page by page.

Run: .venv/bin/python -m bench.emulator_memory   (target: < 150 MB)
"""

from __future__ import annotations

import math
import time

from bench.common import MILLION_ROW_QUERY, call, emulator_process, peak_rss_mb, run_query

PAGE = 50_000
TARGET_MB = 150.0


def main() -> dict[str, float]:
    with emulator_process("--run-seconds", "0.1") as emulator:
        idle = peak_rss_mb(emulator.process.pid)
        schedule_id = run_query(emulator.base_url, MILLION_ROW_QUERY)
        started, rows, offset = time.perf_counter(), 0, 0
        while True:
            page = call(
                emulator.base_url,
                "status",
                {
                    "schedule_id": schedule_id,
                    "offset_start": offset,
                    "offset_end": offset + PAGE - 1,
                },
            )
            received = len(page["data"]) - 1
            rows += received
            offset += received
            if offset >= page["meta"]["result"]["total_rows"] or received == 0:
                break
        seconds = time.perf_counter() - started
        peak = peak_rss_mb(emulator.process.pid)
    print(
        f"emulator served {rows:,} rows in {math.ceil(rows / PAGE)} pages of {PAGE:,} "
        f"in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)"
    )
    print(
        f"emulator peak RSS: {peak:.1f} MB (idle {idle:.1f} MB); target < {TARGET_MB:.0f} MB: "
        f"{'PASS' if peak < TARGET_MB else 'FAIL'}"
    )
    return {"rows": rows, "peak_mb": peak, "rows_per_s": rows / seconds}


if __name__ == "__main__":
    main()

"""All performance figures, measured side by side in one run, printed as one table.

Run: bench/run   (about 3 minutes on 2 cores)

Every figure talks HTTP to the project's emulator, started in its own process.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import API_KEY, MILLION_ROW_QUERY, ROOT, EmulatorProcess, emulator_process
from bench.floor_tap import build_records

PYTHON = sys.executable
CACHE = tempfile.mkdtemp(prefix="bench-schema-cache-")
HUNDRED_K_END = "2020-04-09"  # 100 days x 1,000 keywords
MILLION_END = MILLION_ROW_QUERY["end_date"]


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    stdout_lines: int = 0
    stderr: str = ""


def measure(command: list[str]) -> Measured:
    """Run a command, count its stdout lines, and take its wall time and peak RSS."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        assert process.stdout is not None
        lines = 0
        while chunk := process.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if process.returncode != 0:
        msg = f"{command[:3]} failed:\n{stderr[-3000:]}"
        raise RuntimeError(msg)
    return Measured(seconds, usage.ru_maxrss / 1024, lines, stderr)


def tap_config(emulator: EmulatorProcess, end_date: str, **settings: object) -> Path:
    query = {
        key: value
        for key, value in MILLION_ROW_QUERY.items()
        if key not in {"start_date", "end_date"}
    }
    config = {
        "api_key": API_KEY,
        "base_url": emulator.base_url,
        "start_date": MILLION_ROW_QUERY["start_date"],
        "end_date": end_date,
        "schema_cache_dir": CACHE,
        "queries": [{"name": "keywords", **query}],
        **settings,
    }
    path = Path(tempfile.mkstemp(suffix=".json")[1])
    path.write_text(json.dumps(config))
    return path


def discover(config: Path) -> None:
    """Fill the schema cache, as a scheduled run would find it."""
    subprocess.run(
        [PYTHON, "-m", "tap_supermetrics", "--config", str(config), "--discover"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def run_tap(config: Path) -> Measured:
    return measure([PYTHON, "-m", "tap_supermetrics", "--config", str(config)])


def throughput(emulator: EmulatorProcess) -> list[tuple]:
    config = tap_config(emulator, MILLION_END, window_days=1000)
    discover(config)
    tap = run_tap(config)
    records = 1_000_000
    floor = measure([PYTHON, "-m", "bench.floor_tap", MILLION_END])
    precompute = float(re.search(r"precompute_seconds=([\d.]+)", floor.stderr).group(1))
    _, schema = build_records("2020-01-01")
    default_config = {
        "api_key": API_KEY,
        "base_url": emulator.base_url,
        "page_size": 25_000,
        "schema": schema,
        "query": {**MILLION_ROW_QUERY, "sync_timeout": 0},
    }
    default = measure([PYTHON, "-m", "bench.default_tap", json.dumps(default_config)])
    tap_rate = records / tap.seconds
    floor_rate = records / (floor.seconds - precompute)
    default_rate = records / default.seconds
    assert tap.stdout_lines >= records
    assert default.stdout_lines >= records
    return [
        ("1a throughput vs SDK floor (rec/s)", tap_rate, floor_rate, tap_rate / floor_rate, 0.8),
        (
            "1b throughput vs default SDK tap (rec/s)",
            tap_rate,
            default_rate,
            tap_rate / default_rate,
            2.0,
        ),
    ]


def memory(emulator: EmulatorProcess) -> list[tuple]:
    small = run_tap(tap_config(emulator, HUNDRED_K_END))
    large = run_tap(tap_config(emulator, MILLION_END))
    ratio = large.peak_mb / small.peak_mb
    return [("2  peak RSS 1M rows vs 100k rows (MB)", large.peak_mb, small.peak_mb, ratio, 1.2)]


def many_queries(
    emulator: EmulatorProcess, count: int = 6, run_seconds: float = 3.0
) -> list[tuple]:
    queries = [
        {
            "name": f"q{n}",
            "ds_id": "AW",
            "ds_accounts": ["111-111-1111"],
            "fields": ["Date", "Device", "Clicks"],
        }
        for n in range(count)
    ]
    config = tap_config(emulator, "2024-01-07", start_date="2024-01-01", queries=queries)
    discover(config)
    emulator.configure(run_seconds=0.01, max_running=count)
    paging = run_tap(config).seconds
    emulator.configure(run_seconds=run_seconds)
    slow = run_tap(config).seconds
    emulator.configure(run_seconds=0.1)
    waited = (slow - paging) / run_seconds
    return [
        (
            f"3  {count} queries, T={run_seconds:g}s: (wall - paging) / T",
            waited,
            float(count),
            waited,
            1.3,
        )
    ]


def first_record_latency(emulator: EmulatorProcess, run_seconds: float) -> list[tuple]:
    config = tap_config(
        emulator,
        "2024-01-07",
        start_date="2024-01-01",
        queries=[
            {
                "name": "latency",
                "ds_id": "AW",
                "ds_accounts": ["111-111-1111"],
                "fields": ["Date", "Device", "Clicks"],
            }
        ],
    )
    discover(config)
    emulator.configure(run_seconds=run_seconds)
    process = subprocess.Popen(
        [PYTHON, "-m", "tap_supermetrics", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert process.stdout is not None
    first = None
    for line in process.stdout:
        if first is None and line.startswith(b'{"type":"RECORD"'):
            first = time.monotonic()
    process.wait()
    emulator.configure(run_seconds=0.1)
    stats = emulator.stats()
    query = max(stats["queries"], key=lambda q: q["submitted_at"])
    polls = stats["status_polls"].get(query["schedule_id"], 0)
    latency = (first or float("nan")) - query["finished_at"]
    return [
        (f"4a SUCCESS -> first record, T={run_seconds:g}s (s)", latency, 1.0, latency, 1.0),
        (
            f"4b status polls, T={run_seconds:g}s (vs log2(T) + 2)",
            float(polls),
            math.log2(run_seconds) + 2,
            polls / (math.log2(run_seconds) + 2),
            1.0,
        ),
    ]


def official_client(emulator: EmulatorProcess) -> list[tuple]:
    config = tap_config(emulator, HUNDRED_K_END, window_days=1000)
    discover(config)
    tap = run_tap(config)
    query = {**MILLION_ROW_QUERY, "end_date": HUNDRED_K_END}
    client = measure(
        [
            PYTHON,
            "-m",
            "bench.official_client",
            emulator.base_url,
            API_KEY,
            json.dumps(query),
            "25000",
        ]
    )
    rows = 100_000
    tap_rate, client_rate = rows / tap.seconds, rows / client.seconds
    return [
        (
            "5  vs official supermetrics client, 100k rows (rec/s)",
            tap_rate,
            client_rate,
            tap_rate / client_rate,
            1.0,
        )
    ]


def main() -> int:
    rows: list[tuple] = []
    with emulator_process("--run-seconds", "0.1", "--max-running", "8") as emulator:
        rows += throughput(emulator)
        rows += memory(emulator)
        rows += many_queries(emulator)
        for run_seconds in (4.0, 30.0):
            rows += first_record_latency(emulator, run_seconds)
        rows += official_client(emulator)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print("| figure | tap | baseline | ratio | target | result |\n|---|---:|---:|---:|---:|---|")
    for name, tap, baseline, ratio, target in rows:
        if name.startswith(("2", "3", "4")):
            ok = ratio <= target
            bound = f"<= {target:g}"
        else:
            ok = ratio >= target
            bound = f">= {target:g}"
        print(
            f"| {name} | {tap:,.2f} | {baseline:,.2f} | {ratio:.2f} | {bound} | "
            f"{'pass' if ok else 'FAIL'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Agency scale: many streams whose results live a few seconds, read by the tap alone.

Run: nice -n 19 .venv/bin/python -m bench.scale [--streams 200] [--ttl 5] [--page-delay 0.2]
                                                [--compare-default-lifetime]

The emulator keeps results `--ttl` seconds after a query ends (`result_ttl`), and
every page after a query's first takes `--page-delay` seconds (a `slow` fault), so
reading all streams takes many result lifetimes. The tap runs with `result_lifetime`
set to the same number of seconds and its default `max_requests_per_second`, each
stream one query (a distinct filter) of 3 days x 3 devices, paged 3 rows at a time.

Measured: wall time of the tap process, queries submitted (submits, not lookups),
results that expired (the emulator's count: queries asked for after their results
expired; the tap's count: its "results expired" log lines), the emulator's busiest
second (`peak_requests_per_second`), and the tap's peak RSS (from wait4). A run of one
stream gives the memory baseline. `--compare-default-lifetime` also runs the tap with
`result_lifetime` at its default (3600 s) against the same short-lived results.

Checks (FAIL and exit code 1): every stream's records are exactly the rows the
emulator lays out for its query; nothing expired; one submit per query; the busiest
second stays within `max_requests_per_second` (+1 at a second's edge).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from supermetrics_emulator import EmulatorServer

TAP = Path(sys.executable).parent / "tap-supermetrics"
API_KEY = "bench-scale-key"
FIELDS = ["Date", "Device", "Clicks"]
START, END = "2024-01-01", "2024-01-03"
PAGE_SIZE = 3
MAX_REQUESTS_PER_SECOND = 10.0  # the tap's default


@dataclass
class Outcome:
    """One run of the tap against the emulator."""

    streams: int
    result_lifetime: float
    seconds: float = 0.0
    returncode: int = 0
    submitted: int = 0
    expired_api: int = 0
    expired_tap: int = 0
    requests: int = 0
    peak_rps: int = 0
    peak_rss_mb: float = 0.0
    rows: int = 0
    problems: list[str] = field(default_factory=list)


class _Record(msgspec.Struct):
    type: str
    stream: str | None = None
    record: dict[str, Any] | None = None


def queries(count: int) -> list[dict[str, Any]]:
    """`count` distinct queries over the same days (the filter makes each its own query)."""
    return [
        {
            "name": f"ads_{n:03d}",
            "ds_id": "AW",
            "ds_accounts": ["111-111-1111"],
            "fields": FIELDS,
            "filter": f"Clicks > {n}",
        }
        for n in range(count)
    ]


def expected_rows(emulator: EmulatorServer, query: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows the emulator lays out for one query, as tuples in field order."""
    params = {key: query[key] for key in ("ds_id", "ds_accounts", "fields", "filter")}
    plan = emulator.emulator.plan({**params, "start_date": START, "end_date": END})
    return [tuple(row) for row in plan.rows(0, plan.total_rows - 1)]


def run_tap(
    streams: int, ttl: float, page_delay: float, result_lifetime: float, work: Path
) -> Outcome:
    """One sync of `streams` streams against a fresh emulator."""
    outcome = Outcome(streams, result_lifetime)
    with EmulatorServer(api_key=API_KEY, run_seconds=0.05, result_ttl=ttl) as emulator:
        emulator.add_fault(
            action="slow", endpoint="status", min_offset=1, delay=page_delay, times=0
        )
        configured = queries(streams)
        config = {
            "api_key": API_KEY,
            "base_url": emulator.base_url,
            "start_date": START,
            "end_date": END,
            "page_size": PAGE_SIZE,
            "poll_interval": 0.05,
            "max_poll_interval": 0.5,
            "result_lifetime": result_lifetime,
            "max_requests_per_second": MAX_REQUESTS_PER_SECOND,
            "schema_cache_dir": str(work / "schema-cache"),
            "queries": configured,
        }
        (work / "config.json").write_text(json.dumps(config))
        output, log = work / "output.jsonl", work / "tap.log"
        started = time.perf_counter()
        with output.open("wb") as out, log.open("wb") as err:
            process = subprocess.Popen(
                [str(TAP), "--config", str(work / "config.json")], stdout=out, stderr=err
            )
            _, status, usage = os.wait4(process.pid, 0)
        outcome.seconds = time.perf_counter() - started
        outcome.returncode = os.waitstatus_to_exitcode(status)
        outcome.peak_rss_mb = usage.ru_maxrss / 1024
        check(outcome, emulator, configured, work)
    return outcome


def check(
    outcome: Outcome, emulator: EmulatorServer, configured: list[dict[str, Any]], work: Path
) -> None:
    """Fill in the counts and what is wrong, from the emulator and the tap's files."""
    stats = emulator.stats()
    log_text = (work / "tap.log").read_text(errors="replace")
    output = work / "output.jsonl"
    submits = [e for e in stats["request_log"] if e["endpoint"] == "submit"]
    outcome.submitted = sum(1 for entry in submits if "ds_id" in entry["params"])
    outcome.requests = len(stats["request_log"])
    # An expired query is forgotten the first time it is asked for.
    outcome.expired_api = outcome.submitted - len(stats["queries"])
    outcome.expired_tap = log_text.count("results expired")
    outcome.peak_rps = int(stats["peak_requests_per_second"])
    if outcome.returncode != 0:
        tail = log_text.strip().splitlines()[-3:]
        outcome.problems.append(f"the tap exited {outcome.returncode}: {' | '.join(tail)}")
    records: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    decode = msgspec.json.Decoder(_Record).decode
    with output.open("rb") as lines:
        for line in lines:
            message = decode(line)
            if message.type == "RECORD" and message.stream and message.record is not None:
                records[message.stream].append(tuple(message.record.get(f) for f in FIELDS))
    outcome.rows = sum(len(rows) for name, rows in records.items() if name != "query_runs")
    wrong = [q["name"] for q in configured if records[q["name"]] != expected_rows(emulator, q)]
    if wrong:
        outcome.problems.append(f"{len(wrong)} streams differ from the API's rows: {wrong[:5]}")
    if len(records["query_runs"]) != len(configured):
        outcome.problems.append(
            f"{len(records['query_runs'])} query_runs records for {len(configured)} queries"
        )


def row(label: str, values: list[str], width: int = 30) -> str:
    return f"{label:<34}" + "".join(f"{value:>{width}}" for value in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--ttl", type=float, default=5.0, help="seconds results live")
    parser.add_argument("--page-delay", type=float, default=0.2, help="seconds per later page")
    parser.add_argument("--compare-default-lifetime", action="store_true")
    args = parser.parse_args(argv)

    runs: list[tuple[str, Outcome]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for label, streams, lifetime in (
            (f"{args.streams} streams, lifetime {args.ttl:g} s", args.streams, args.ttl),
            (f"1 stream, lifetime {args.ttl:g} s", 1, args.ttl),
            *(
                [(f"{args.streams} streams, lifetime 3600 s", args.streams, 3600.0)]
                if args.compare_default_lifetime
                else []
            ),
        ):
            work = Path(tmp) / f"run-{len(runs)}"
            work.mkdir()
            runs.append((label, run_tap(streams, args.ttl, args.page_delay, lifetime, work)))
            print(f"  {label}: {runs[-1][1].seconds:.1f} s", flush=True)

    main_run = runs[0][1]
    problems = list(main_run.problems)
    if main_run.expired_api or main_run.expired_tap:
        problems.append(
            f"results expired: {main_run.expired_api} (API), {main_run.expired_tap} (tap log)"
        )
    if main_run.submitted != args.streams:
        problems.append(f"{main_run.submitted} queries submitted for {args.streams} queries")
    if main_run.peak_rps > MAX_REQUESTS_PER_SECOND + 1:
        problems.append(f"busiest second: {main_run.peak_rps} requests")
    problems += [f"1 stream: {p}" for p in runs[1][1].problems]

    print(
        f"\nbench.scale: {args.streams} streams x {main_run.rows // max(args.streams, 1)} rows, "
        f"results live {args.ttl:g} s (emulator result_ttl), {args.page_delay:g} s per later "
        f"page, max_requests_per_second {MAX_REQUESTS_PER_SECOND:g}\n"
    )
    print(row("measured", [label for label, _ in runs]))
    shown = [outcome for _, outcome in runs]
    print(row("wall time, s", [f"{o.seconds:.1f}" for o in shown]))
    print(row("  in result lifetimes", [f"{o.seconds / args.ttl:.1f}x" for o in shown]))
    print(row("rows emitted", [f"{o.rows:,}" for o in shown]))
    print(row("queries submitted", [str(o.submitted) for o in shown]))
    print(
        row(
            "results expired (API / tap log)", [f"{o.expired_api} / {o.expired_tap}" for o in shown]
        )
    )
    print(row("API requests", [str(o.requests) for o in shown]))
    print(row("peak requests/s (emulator)", [str(o.peak_rps) for o in shown]))
    print(row("peak RSS of the tap, MB", [f"{o.peak_rss_mb:.0f}" for o in shown]))
    print(row("exit code", [str(o.returncode) for o in shown]))

    floor = main_run.requests / MAX_REQUESTS_PER_SECOND
    print(
        f"\ntargets (formulas, not measurements): queries submitted = {args.streams} (one per "
        f"query); results expired = 0; peak requests/s <= {MAX_REQUESTS_PER_SECOND:g} (+1 at a "
        f"second's edge); pacing floor = {main_run.requests} requests / "
        f"{MAX_REQUESTS_PER_SECOND:g} per s = {floor:.1f} s"
    )
    base = runs[1][1]
    print(
        f"ratios: wall time / pacing floor {main_run.seconds / floor:.2f}x; "
        f"peak RSS {args.streams} streams / 1 stream "
        f"{main_run.peak_rss_mb / base.peak_rss_mb:.2f}x"
        if base.peak_rss_mb and floor
        else "ratios: n/a"
    )
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

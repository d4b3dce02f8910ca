"""The licence's queue kept full (issue 31), over HTTP to an emulator with a licence queue.

The emulator runs `max_running` queries at once and queues the rest FIFO, as Supermetrics
does. The tap keeps `max_concurrent_queries` of its queries queued or running there, of
every kind and across the windows of one stream and across streams, never more; results
are read before they expire; every row arrives exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests import oracle
from tests.conftest import TapRun, base_config, run_tap

A = "111-111-1111"
FIELDS = ["Date", "CampaignName", "Clicks"]


def config(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    queries = [{"name": "ads", "ds_id": "AW", "ds_accounts": [A], "fields": FIELDS}]
    defaults = {"queries": queries, "end_date": "2024-01-24", "window_days": 3}
    return base_config(emulator, tmp_path, **defaults | overrides)


def most_in_flight(emulator: EmulatorServer) -> int:
    """The most queries submitted and not yet ended at once, from the emulator's own times."""
    events = []
    for query in emulator.stats()["queries"]:
        events.append((query["submitted_at"], 1))
        events.append((query["finished_at"] or float("inf"), -1))
    most = current = 0
    for _, step in sorted(events, key=lambda event: (event[0], event[1])):
        current += step
        most = max(most, current)
    return most


def overlapping(emulator: EmulatorServer) -> int:
    """The most queries running at once."""
    events = []
    for query in emulator.stats()["queries"]:
        if query["started_at"] is not None:
            events.append((query["started_at"], 1))
            events.append((query["finished_at"] or float("inf"), -1))
    most = current = 0
    for _, step in sorted(events, key=lambda event: (event[0], event[1])):
        current += step
        most = max(most, current)
    return most


def exact(run: TapRun, stream: str, end: str) -> bool:
    rows = [{k: v for k, v in r.items() if k != "_sm_extracted_at"} for r in run.records(stream)]
    return rows == oracle.rows("AW", FIELDS, "2024-01-01", end, [A])


def test_never_more_than_max_concurrent_queries_and_windows_of_a_stream_overlap(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(max_running=5, run_seconds=0.5)

    run = run_tap(tmp_path, config(emulator, tmp_path, max_concurrent_queries=3))

    assert run.returncode == 0, run.stderr[-3000:]
    assert exact(run, "ads", "2024-01-24")  # eight windows, every row once, in order
    assert len(emulator.stats()["queries"]) == 8
    assert most_in_flight(emulator) == 3  # the licence runs 5: the tap keeps 3 there
    assert overlapping(emulator) == 3  # windows of one stream run side by side


def test_queries_of_every_stream_share_the_slots(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.configure(max_running=10, run_seconds=0.4)
    extra = ["Impressions", "Cost", "Conversions", "CTR"]  # metrics: the same rows
    fields = {f"s{n}": [*FIELDS, extra[n]] for n in range(4)}  # the streams told apart
    queries = [
        {"name": name, "ds_id": "AW", "ds_accounts": [A], "fields": own}
        for name, own in fields.items()
    ]

    run = run_tap(tmp_path, config(emulator, tmp_path, queries=queries, max_concurrent_queries=4))

    assert run.returncode == 0, run.stderr[-3000:]
    assert all(len(run.records(name)) == len(run.records("s0")) > 0 for name in fields)
    stats = emulator.stats()["queries"]
    assert len(stats) == 32
    assert most_in_flight(emulator) == 4
    by_stream = {name: [q for q in stats if q["fields"] == own] for name, own in fields.items()}
    # Every later stream's first query is out before the stream before it has ended.
    for earlier, later in (("s0", "s1"), ("s1", "s2"), ("s2", "s3")):
        last_end = max(q["finished_at"] for q in by_stream[earlier])
        first_out = min(q["submitted_at"] for q in by_stream[later])
        assert first_out < last_end, (earlier, later)


def test_no_result_expires_unread_under_a_long_queue_and_a_short_lifetime(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # The licence runs 2 at a time, results live 3 s: a tap that queued everything at once
    # would find its later results gone. Queued as far as half the lifetime allows, none is.
    emulator.configure(max_running=2, run_seconds=0.5, result_ttl=3)
    settings = config(emulator, tmp_path, result_lifetime=3, max_concurrent_queries=5)

    run = run_tap(tmp_path, settings)

    assert run.returncode == 0, run.stderr[-3000:]
    assert exact(run, "ads", "2024-01-24")
    attempts = [r["attempts"] for r in run.records("query_runs")]
    assert attempts == [1] * 8, attempts  # no result expired unread: nothing submitted twice
    assert "results expired" not in run.stderr


def test_a_query_waiting_queued_at_supermetrics_holds_back_the_next(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # The licence runs one at a time although the tap may keep five there: once an answer
    # shows a query QUEUED, the tap adds none until a slot frees up.
    emulator.configure(max_running=1, run_seconds=0.5)

    run = run_tap(tmp_path, config(emulator, tmp_path, max_concurrent_queries=5))

    assert run.returncode == 0, run.stderr[-3000:]
    assert exact(run, "ads", "2024-01-24")
    assert most_in_flight(emulator) <= 2  # the running one, and at most one QUEUED


def test_each_finished_window_says_how_far_the_stream_is(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(max_running=5, run_seconds=0.2)

    run = run_tap(tmp_path, config(emulator, tmp_path))

    lines = [line for line in run.stderr.splitlines() if "done (" in line and "window" in line]
    assert len(lines) == 8
    assert "window 1 of 8 done (2024-01-01..2024-01-03)" in lines[0]
    assert "rows so far" in lines[0]
    assert "rows/s; licence queue:" in lines[0]
    assert "left" in lines[0]
    assert lines[-1].endswith("stream done")
    summary = [line for line in run.stderr.splitlines() if "Run done in" in line]
    assert len(summary) == 1
    assert "8 queries sent (0 submitted again)" in summary[0]
    assert "0 deferred to later runs, 0 failures" in summary[0]

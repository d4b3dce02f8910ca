"""Agency scale: many streams with short-lived results, very long queries, request pacing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.api.pacing import RequestPacer
from tests import oracle
from tests.conftest import base_config, run_tap, submissions

FIELDS = ["Date", "Device", "Clicks"]


def test_forty_streams_with_short_lived_results_sync_exactly_without_expiry(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(result_ttl=3.0, run_seconds=0.05)
    # Every page after the first takes 0.1 s: reading all 40 streams takes about 8 s,
    # far longer than a result lives.
    emulator.add_fault(action="slow", endpoint="status", min_offset=1, delay=0.1, times=0)
    queries = [
        {
            "name": f"ads_{n:02d}",
            "ds_id": "AW",
            "ds_accounts": ["111-111-1111"],
            "fields": FIELDS,
            "filter": f"Clicks > {n}",
        }
        for n in range(40)
    ]
    config = base_config(
        emulator,
        tmp_path,
        queries=queries,
        end_date="2024-01-03",
        result_lifetime=3,
        page_size=3,
    )

    run = run_tap(tmp_path, config, timeout=300)

    assert run.returncode == 0, run.stderr[-3000:]
    expected = oracle.rows("AW", FIELDS, "2024-01-01", "2024-01-03", ["111-111-1111"])
    for query in queries:
        assert run.records(query["name"]) == expected, query["name"]
    assert submissions(emulator) == 40  # one per window: nothing expired, nothing resubmitted
    assert "results expired" not in run.stderr
    assert len(run.records("query_runs")) == 40


def test_six_hundred_accounts_go_out_in_groups_of_a_hundred_posted_and_sync_exactly(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Long ids (as some data sources have): a group of 100 makes a URL past 8 KB, so it
    # goes as a POST.
    accounts = [f"9{n:02d}-{n:03d}-{n:04d}-{'0' * 80}" for n in range(600)]
    emulator.configure(extra_accounts={"AW": accounts}, max_url_length=8192)
    fields = ["Date", "profileID", "Clicks"]
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": accounts, "fields": fields}
    config = base_config(emulator, tmp_path, queries=[query], end_date="2024-01-02")

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    expected = oracle.rows("AW", fields, "2024-01-01", "2024-01-02", accounts)
    key = lambda record: (record["Date"], record["profileID"])  # noqa: E731
    assert sorted(run.records("ads"), key=key) == sorted(expected, key=key)
    assert len(expected) == 1200
    log = emulator.stats()["request_log"]
    posted = [entry for entry in log if entry["method"] == "POST"]
    assert [len(entry["params"]["ds_accounts"]) for entry in posted] == [100] * 6
    assert all(len(entry["path"]) < 8192 for entry in log)
    assert all("api_key" not in entry["params"] for entry in posted)


def busiest(log: list[dict[str, Any]], seconds: float) -> int:
    """The most requests the emulator logged within any span shorter than `seconds`."""
    times = sorted(entry["time"] for entry in log)
    most = first = 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


#: Requests of one run that can be on their way at once: the stream's own and the one
#: page its prefetcher sends ahead. Each waits for its answer before its next turn.
IN_FLIGHT = 2


def test_requests_are_paced_at_the_configured_rate(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, page_size=20, max_requests_per_second=4)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    log = emulator.stats()["request_log"]
    assert len(log) >= 20  # 18 pages of 20 rows, the field list, the query: 5 s at 4 a second
    # Turns are 0.25 s apart: at most 4 x 3 (+1 at the edges) fall in any 3 seconds. A
    # busy machine can only delay requests, and a request whose turn came earlier is
    # one that was already on its way: it bunches no more than IN_FLIGHT of them. Not
    # paced, the same run sends all its requests within a second or so.
    assert busiest(log, 3) <= 4 * 3 + 1 + IN_FLIGHT


def test_requests_slow_down_before_the_api_refuses(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(rate_limit_per_second=3)
    config = base_config(emulator, tmp_path, page_size=20, max_requests_per_second=100)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    # An answer that leaves at most 1 of its second's 3 requests holds every later turn
    # back a full second after it, into a later second. Only requests already on their
    # way (IN_FLIGHT at most) can still join its second: counts a slow machine cannot move.
    assert emulator.stats()["peak_requests_per_second"] <= 2 + IN_FLIGHT
    refused = [line for line in run.stderr.splitlines() if "HTTP 429" in line]
    assert len(refused) <= 1  # a prefetched page may already be on its way


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_pacer_spaces_turns_and_holds_back_when_the_budget_is_nearly_spent() -> None:
    time = FakeTime()
    pacer = RequestPacer(4, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        pacer.wait_turn()
    assert time.slept == [0.25, 0.25]

    headers: dict[str, Any] = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "1"}
    pacer.observe(headers)
    pacer.wait_turn()
    assert time.slept[-1] == 1.0
    pacer.observe({"X-RateLimit-Remaining": "15", "X-RateLimit-Limit": "20"})
    pacer.observe({})
    pacer.wait_turn()
    assert time.slept[-1] == 0.25

"""The tap run as a user runs it, against an emulator process, and what its output shows.

Shared by the licence-queue figures (bench/licence_queue.py, bench/licence_scaled.py):
a run waits until the emulator's licence queue is idle (queries of an earlier run would
hold its slots), is timed from start to exit, and is counted afterwards from its stdout
(records per stream, keys seen twice, `query_runs` records, STATE messages and bytes)
and from the emulator (its queries' submit and finish times, its request log).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec

from bench.common import API_KEY, ROOT, call, request_kinds

PYTHON = sys.executable
#: How the tap is run: the command a user runs, as a module of this venv.
TAP = (PYTHON, "-m", "tap_supermetrics")
FINISHED = ("SUCCESS", "FAILURE", "STOPPED")
GROUP = 100  # accounts per query: the API's bound and the tap's default
STATE_LINE = b'{"type":"STATE"'
#: The emulator keeps the latest this many requests in its log.
REQUEST_LOG_SIZE = 10_000


class Emulator(Protocol):
    """What the harness needs of an emulator: a process (bench.common) or a server."""

    @property
    def base_url(self) -> str:
        """The tap's `base_url`."""
        ...

    def configure(self, **settings: Any) -> None:
        """Change settings while running."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters, the request log and the queries."""
        ...


@functools.cache
def tap_settings(command: tuple[str, ...] = TAP) -> frozenset[str]:
    """The settings the tap lists (`tap-supermetrics --about --format=json`)."""
    about = subprocess.run(
        [*command, "--about", "--format=json"],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return frozenset(json.loads(about.stdout)["settings"]["properties"])


class _Message(msgspec.Struct):
    type: str
    stream: str | None = None
    record: dict[str, Any] | None = None
    key_properties: list[str] | None = None


@dataclass
class Output:
    """What a run wrote to stdout, counted."""

    records: Counter[str] = field(default_factory=Counter)
    duplicate_keys: int = 0
    query_runs: list[dict[str, Any]] = field(default_factory=list)
    state_messages: int = 0
    state_bytes: int = 0
    largest_state: int = 0


def read_output(path: Path) -> Output:
    """Records per stream, keys seen twice, `query_runs` records, STATE messages and bytes."""
    decode = msgspec.json.Decoder(_Message).decode
    counted = Output()
    keys: dict[str, list[str]] = {}
    seen: set[tuple[Any, ...]] = set()
    with path.open("rb") as lines:
        for line in lines:
            if line.startswith(STATE_LINE):
                counted.state_messages += 1
                counted.state_bytes += len(line)
                counted.largest_state = max(counted.largest_state, len(line))
                continue
            message = decode(line)
            if message.type == "SCHEMA" and message.stream:
                keys[message.stream] = list(message.key_properties or [])
            elif message.type == "RECORD" and message.stream and message.record is not None:
                counted.records[message.stream] += 1
                if message.stream == "query_runs":
                    counted.query_runs.append(message.record)
                elif keys.get(message.stream):
                    key = (message.stream, *(message.record.get(k) for k in keys[message.stream]))
                    counted.duplicate_keys += key in seen
                    seen.add(key)
    return counted


@dataclass
class TapRun:
    """One run of the tap: its wall time, its output, and what the emulator saw of it."""

    name: str
    output_path: Path
    seconds: float
    exit_code: int
    output: Output
    most_in_flight: int = 0
    #: Queries of this run the emulator no longer knows: it forgets a query whose
    #: results expired when it is asked for it.
    forgotten: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    peak_requests: int = 0  # most API requests in one wall-clock second
    peak_status_requests: int = 0  # most status polls and lookups in one second
    stderr_tail: str = ""
    log_cut: bool = False  # the emulator's request log lost some of this run's requests

    @property
    def queries(self) -> int:
        """Q: the queries the run sent, one `query_runs` record each."""
        return len(self.output.query_runs)

    @property
    def submissions(self) -> int:
        """Submissions, resubmits after expiry included (`attempts`)."""
        return sum(int(run["attempts"]) for run in self.output.query_runs)

    @property
    def expired(self) -> int:
        """Results that expired unread: submissions beyond each query's first."""
        return self.submissions - self.queries

    @property
    def status_requests(self) -> int:
        """Status polls and lookups by `schedule_id` (pages not counted)."""
        return self.requests.get("poll", 0) + self.requests.get("lookup", 0)

    def records(self, stream: str) -> int:
        return self.output.records[stream]

    def promised(self, stream: str) -> int:
        """Rows the API said the stream's successful queries hold (`total_rows`)."""
        runs = [run for run in self.output.query_runs if run["stream"] == stream]
        return sum(int(run["total_rows"] or 0) for run in runs if run["status"] == "SUCCESS")

    def problems(self, expected: dict[str, int], streams: list[str]) -> list[str]:
        """What is wrong: the exit code, rows not exact, keys twice.

        Each stream's records must equal the rows its `query_runs` promise and, where
        `expected` names the stream, the rows the API holds for it.
        """
        found = []
        if self.exit_code != 0:
            found.append(f"{self.name}: exit {self.exit_code}: {self.stderr_tail}")
        for stream in streams:
            got, promised = self.records(stream), self.promised(stream)
            want = expected.get(stream, promised)
            if not got == want == promised or not got:
                found.append(
                    f"{self.name}: {got:,} records of {stream}, the API holds {want:,}, "
                    f"query_runs promise {promised:,}"
                )
        if self.log_cut:
            found.append(f"{self.name}: the emulator's request log lost some of its requests")
        if self.output.duplicate_keys:
            found.append(f"{self.name}: {self.output.duplicate_keys} records repeat a key")
        return found


def most_in_flight(queries: list[dict[str, Any]]) -> int:
    """The most queries queued or running at once (submitted and not yet finished)."""
    events = []
    for query in queries:
        events.append((query["submitted_at"], 1))
        if query["status"] in FINISHED and query["finished_at"] is not None:
            events.append((query["finished_at"], -1))
    most = current = 0
    for _, step in sorted(events):  # a finish sorts before a submit at the same instant
        current += step
        most = max(most, current)
    return most


def busiest_second(log: list[dict[str, Any]]) -> int:
    """The most requests of `log` in one wall-clock second."""
    seconds = Counter(int(entry["time"]) for entry in log)
    return max(seconds.values(), default=0)


class Harness:
    """Runs the tap against one emulator process, with a scratch directory."""

    def __init__(self, emulator: Emulator, work: Path, command: tuple[str, ...] = TAP) -> None:
        """Runs of `command` write their config, stdout and stderr under `work`."""
        self.emulator = emulator
        self.work = work
        self.command = command
        self.cache = work / "schema-cache"

    def write_config(self, name: str, settings: dict[str, Any]) -> Path:
        """A config file: `settings` with the emulator's key and URL and the schema cache."""
        path = self.work / f"{name}.json"
        config = {
            "api_key": API_KEY,
            "base_url": self.emulator.base_url,
            "schema_cache_dir": str(self.cache),
            **settings,
        }
        path.write_text(json.dumps(config))
        return path

    def discover(self, settings: dict[str, Any]) -> None:
        """Fill the schema cache, as a scheduled run would find it (untimed)."""
        config = self.write_config("discover", settings)
        subprocess.run(
            [*self.command, "--config", str(config), "--discover"],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )

    def run(self, name: str, settings: dict[str, Any], state: Path | None = None) -> TapRun:
        """Run the tap once the licence queue is idle; time it and count what it did."""
        self.wait_idle()
        config = self.write_config(name, settings)
        output, log = self.work / f"{name}.out", self.work / f"{name}.log"
        command = [*self.command, "--config", str(config)]
        if state is not None:
            command += ["--state", str(state)]
        since = time.time()
        started = time.perf_counter()
        with output.open("wb") as out, log.open("wb") as err:
            code = subprocess.run(command, stdout=out, stderr=err, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
        run = TapRun(name, output, seconds, code.returncode, read_output(output))
        stats = self.emulator.stats()
        ids = {query["schedule_id"] for query in run.output.query_runs}
        known = [query for query in stats["queries"] if query["schedule_id"] in ids]
        run.most_in_flight = most_in_flight(known)
        run.forgotten = len(ids) - len(known)
        logged = stats["request_log"]
        requests = [entry for entry in logged if entry["time"] >= since]
        run.log_cut = len(logged) >= REQUEST_LOG_SIZE and logged[0]["time"] >= since
        run.requests = request_kinds(requests, since)
        run.peak_requests = busiest_second(requests)
        run.peak_status_requests = busiest_second(
            [entry for entry in requests if _is_status(entry)]
        )
        if code.returncode != 0:
            run.stderr_tail = " | ".join(log.read_text(errors="replace").splitlines()[-3:])
        return run

    def wait_idle(self, timeout: float = 600.0) -> None:
        """Wait until no query of an earlier run is queued or running (they hold slots)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(query["status"] in FINISHED for query in self.emulator.stats()["queries"]):
                return
            time.sleep(0.2)
        msg = "the emulator's licence queue did not drain"
        raise RuntimeError(msg)

    def last_state(self, run: TapRun) -> Path:
        """Write the last STATE value of a run's output to a `--state` file."""
        value, path = None, self.work / f"{run.name}-state.json"
        with run.output_path.open("rb") as lines:
            for line in lines:
                if line.startswith(STATE_LINE):
                    value = json.loads(line)["value"]
        path.write_text(json.dumps(value or {}))
        return path


def _is_status(entry: dict[str, Any]) -> bool:
    """A status poll or a lookup by `schedule_id`, not a page."""
    if entry["endpoint"] == "submit":
        return "ds_id" not in entry["params"]
    return entry["endpoint"] == "status" and int(entry["params"].get("offset_start", 0)) == 0


def rows_of(emulator: Emulator, query: dict[str, Any], start: dt.date, end: dt.date) -> int:
    """Rows the API says one query over the whole range holds (in groups of 100 accounts)."""
    accounts = query.get("ds_accounts") or []
    total = 0
    for first in range(0, max(len(accounts), 1), GROUP):
        params = {
            "ds_id": query["ds_id"],
            "ds_accounts": accounts[first : first + GROUP],
            "fields": query["fields"],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        }
        schedule_id = call(emulator.base_url, "data/json", params)["meta"]["schedule_id"]
        while True:
            page = {"schedule_id": schedule_id, "offset_start": 0, "offset_end": 0}
            answer = call(emulator.base_url, "status", page)
            if answer["meta"]["status_code"] == "SUCCESS":
                total += int(answer["meta"]["result"]["total_rows"])
                break
            time.sleep(0.02)
    return total

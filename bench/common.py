"""Helpers shared by the benchmarks: an emulator in its own process, peak memory, timing."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import requests

from tap_supermetrics.read.reads import StreamReads
from tap_supermetrics.settings.dates import date_range
from tap_supermetrics.settings.queries import query_definitions

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
#: A million rows (999,000: 999 days x 1,000 keywords) of 10 columns, one window. Not
#: 1,000,000: the API cuts a result at 1,000,000 rows and the tap splits a window that
#: reaches `max_rows_per_query` (default 1,000,000), so a full million would be read twice.
MILLION_ROW_QUERY = {
    "ds_id": "AW",
    "ds_accounts": ["111-111-1111"],
    "fields": [
        "Date",
        "Keyword",
        "Impressions",
        "Clicks",
        "Cost",
        "CTR",
        "Conversions",
        "ConversionRate",
        "VideoViews",
        "AverageCpc",
    ],
    "start_date": "2020-01-01",
    "end_date": "2022-09-25",
}


@dataclass
class EmulatorProcess:
    """An emulator started with the `supermetrics-emulator` command."""

    process: subprocess.Popen[str]
    root_url: str

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/enterprise/v2"

    def configure(self, **settings: object) -> None:
        response = requests.post(f"{self.root_url}/_emulator/settings", json=settings, timeout=10)
        response.raise_for_status()  # an unknown setting must not pass unnoticed

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = requests.get(f"{self.root_url}/_emulator/stats", timeout=30).json()
        return stats


@contextmanager
def emulator_process(*args: str) -> Iterator[EmulatorProcess]:
    """Run the emulator in its own process (so its memory and CPU are its own)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "supermetrics_emulator", "--port", "0", "--api-key", API_KEY, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        yield EmulatorProcess(process, line.removeprefix("listening on "))
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(base_url: str, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    response = requests.get(
        f"{base_url}/query/{endpoint}",
        params={"json": json.dumps(params)},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=300,
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def run_query(base_url: str, params: dict[str, Any]) -> str:
    """Submit and wait for SUCCESS; return the schedule id."""
    schedule_id = call(base_url, "data/json", params)["meta"]["schedule_id"]
    while (
        call(base_url, "status", {"schedule_id": schedule_id, "offset_start": 0, "offset_end": 0})[
            "meta"
        ]["status_code"]
        != "SUCCESS"
    ):
        time.sleep(0.05)
    return str(schedule_id)


class _Head(msgspec.Struct):
    """A Singer message's type and stream; the rest is skipped, not decoded."""

    type: str
    stream: str | None = None


class _Message(msgspec.Struct):
    type: str
    stream: str | None = None
    record: dict[str, Any] | None = None


_HEAD = msgspec.json.Decoder(_Head)
_MESSAGE = msgspec.json.Decoder(_Message)


def message_counts(path: Path) -> Counter[str]:
    """Messages in a file of Singer output, by `TYPE` or `TYPE stream` (RECORD, SCHEMA)."""
    counts: Counter[str] = Counter()
    with path.open("rb") as lines:
        for line in lines:
            head = _HEAD.decode(line)
            counts[f"{head.type} {head.stream}" if head.stream else head.type] += 1
    return counts


def singer_records(path: Path, stream: str) -> Iterator[dict[str, Any]]:
    """The records of `stream` in a file of Singer output, in order."""
    with path.open("rb") as lines:
        for line in lines:
            message = _MESSAGE.decode(line)
            if message.type == "RECORD" and message.stream == stream:
                assert message.record is not None
                yield message.record


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """One JSON object per line (the official client's output)."""
    decode = msgspec.json.Decoder(dict[str, Any]).decode
    with path.open("rb") as lines:
        for line in lines:
            yield decode(line)


def compare_records(
    left: Iterable[dict[str, Any]],
    right: Iterable[dict[str, Any]],
    fields: list[str] | None = None,
) -> str | None:
    """None if both sequences hold the same records (on `fields`, if given), else why not."""
    missing: dict[str, Any] = {"<missing>": True}
    pairs = itertools.zip_longest(left, right, fillvalue=missing)
    for index, (one, other) in enumerate(pairs):
        if fields is None or missing in (one, other):
            same = one == other
            shown = (one, other)
        else:
            shown = ({f: one.get(f) for f in fields}, {f: other.get(f) for f in fields})
            same = shown[0] == shown[1]
        if not same:
            return f"record {index} differs: {shown[0]} != {shown[1]}"
    return None


def stream_reads(
    config: dict[str, Any], bookmark: dict[str, Any], today: dt.date, metrics: frozenset[str]
) -> StreamReads:
    """One configured stream's reads as the tap makes them on `today` (no request made)."""
    (definition,) = query_definitions(config)
    return StreamReads(
        definition=definition,
        configured=date_range(definition.effective(config), today),
        settings=config,
        bookmark=bookmark,
        list_accounts=list,
        logger=logging.getLogger("bench"),
        today=today,
        requested_fields=definition.fields,
        metrics=metrics,
    )


def request_kinds(log: list[dict[str, Any]], since: float) -> dict[str, int]:
    """Requests made since `since`, by kind: submit, lookup, poll, page, other."""
    kinds: Counter[str] = Counter()
    for entry in log:
        if entry["time"] < since:
            continue
        params = entry["params"]
        if entry["endpoint"] == "submit":
            kinds["submit" if "ds_id" in params else "lookup"] += 1
        elif entry["endpoint"] == "status":
            kinds["page" if params.get("offset_start", 0) > 0 else "poll"] += 1
        else:
            kinds[str(entry["endpoint"])] += 1
    return dict(kinds)

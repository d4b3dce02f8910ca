"""Helpers shared by the benchmarks: an emulator in its own process, peak memory, timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
#: 1,000 days x 1,000 keywords = 1,000,000 rows of 10 columns.
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
    "end_date": "2022-09-26",
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
        requests.post(f"{self.root_url}/_emulator/settings", json=settings, timeout=10)

    def stats(self) -> dict:
        return requests.get(f"{self.root_url}/_emulator/stats", timeout=30).json()


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


def call(base_url: str, endpoint: str, params: dict) -> dict:
    response = requests.get(
        f"{base_url}/query/{endpoint}",
        params={"json": json.dumps(params)},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=300,
    )
    response.raise_for_status()
    return response.json()


def run_query(base_url: str, params: dict) -> str:
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

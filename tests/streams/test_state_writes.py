"""STATE after windows, a few seconds apart at most, and always at a stream's end (issue 31).

At agency scale a STATE message holds every account's coverage and windows end a second
apart: a STATE less than a few seconds old is enough. A window that ends later than that
after the last STATE writes its own at once, so a run killed there resumes after it.
"""

from __future__ import annotations

from pathlib import Path

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.streams.query import STATE_SECONDS
from tests.conftest import TapRun, base_config, run_tap


def ads_bookmarks(run: TapRun) -> list[str]:
    """The ads bookmark of every STATE message, in order, each change once."""
    values: list[str] = []
    for state in run.states():
        value = state.get("bookmarks", {}).get("ads", {}).get("replication_key_value")
        if value and (not values or values[-1] != value):
            values.append(value)
    return values


def test_windows_close_together_share_a_state_and_the_streams_end_writes_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(run_seconds=0.05)

    run = run_tap(tmp_path, base_config(emulator, tmp_path, window_days=2))

    assert run.returncode == 0, run.stderr[-2000:]
    # Five windows within a second: the first one's STATE, then the stream's last.
    assert ads_bookmarks(run) == ["2024-01-02", "2024-01-10"]


def test_a_window_ending_long_after_the_last_state_writes_its_own(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(run_seconds=STATE_SECONDS + 0.5)
    config = base_config(emulator, tmp_path, window_days=5, max_concurrent_queries=1)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-2000:]
    # One query at a time, each longer than STATE_SECONDS: each window writes STATE when
    # its rows are out, before the next window is read.
    assert ads_bookmarks(run) == ["2024-01-05", "2024-01-10"]
    first = next(
        n
        for n, m in enumerate(run.messages)
        if m["type"] == "STATE"
        and m["value"].get("bookmarks", {}).get("ads", {}).get("replication_key_value")
        == "2024-01-05"
    )
    second_window = [
        n
        for n, m in enumerate(run.messages)
        if m["type"] == "RECORD" and m["stream"] == "ads" and m["record"]["Date"] > "2024-01-05"
    ]
    assert first < second_window[0]

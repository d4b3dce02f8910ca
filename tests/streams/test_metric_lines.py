"""Quiet by default (issue 30, 10): `metric_lines` quiets or samples METRIC lines alone.

The SDK writes a METRIC line per HTTP request; its only switch, the log level, would hide
the tap's own INFO lines too. The same run with `all`, `sampled` and `none` writes the
same lines of its own, and fewer METRIC lines.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from supermetrics_emulator import EmulatorServer
from tests.conftest import TapRun, base_config, run_tap

MARK = "METRIC: "


def metrics(run: TapRun) -> Counter[str]:
    """METRIC lines by metric name."""
    return Counter(
        json.loads(line[line.index(MARK) + len(MARK) :])["metric"]
        for line in run.stderr.splitlines()
        if MARK in line
    )


def own_lines(run: TapRun) -> list[str]:
    """The other log lines, without their time stamps and the run's own timings."""
    return [
        line.split("| ")[-1].split(" (")[0]
        for line in run.stderr.splitlines()
        if MARK not in line and "| INFO" in line and "sub-queries ready" not in line
    ]


def test_metric_lines_thin_out_metric_lines_and_keep_the_taps_own(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    runs = {}
    for mode in ("all", "sampled", "none"):
        config = base_config(
            emulator, tmp_path / mode, end_date="2024-03-31", window_days=7, page_size=200
        )
        config["queries"][0]["ds_accounts"] = ["111-111-1111", "222-222-2222"]
        (tmp_path / mode).mkdir()
        runs[mode] = run_tap(tmp_path / mode, {**config, "metric_lines": mode})
        assert runs[mode].returncode == 0, runs[mode].stderr

    every, sampled = metrics(runs["all"]), metrics(runs["sampled"])
    assert every["http_request_duration"] > 2 * sum(every.values()) // 3  # most of them
    assert sum(every.values()) > len(own_lines(runs["all"]))
    assert metrics(runs["none"]) == Counter()
    for total in ("record_count", "sync_duration", "http_request_count"):
        assert sampled[total] == every[total] > 0
    assert 0 < sampled["http_request_duration"] <= every["http_request_duration"] // 20 + 1
    # The same lines of the tap's own in each run (their order depends on when each query of
    # the licence's queue ends).
    own = [Counter(own_lines(runs[mode])) for mode in ("all", "sampled", "none")]
    assert own[0] == own[1] == own[2]
    assert any("plans" in line for line in own_lines(runs["none"]))

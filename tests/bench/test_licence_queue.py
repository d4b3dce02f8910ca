"""The licence-queue benchmark (bench/licence_queue.py, bench/tap_runs.py) measures what it says.

The floor and the verdicts from made-up runs, counted by hand; then the real tap against
an emulator with five slots, once through a stand-in command whose `--about` lists
`max_concurrent_queries` and once through one whose `--about` does not (both run the
real tap; the one that lists the setting takes it off the config first, so that the
test holds before and after the tap has it), and a run whose first result expires
before it is read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import licence_queue
from bench.common import API_KEY
from bench.licence_queue import SETTING, Outcome, Scenario, Sizes
from bench.tap_runs import Harness, Output, TapRun, most_in_flight
from supermetrics_emulator import EmulatorServer

T = 2.0


def made_up_run(seconds: float, queries: int = 1, attempts: int = 1) -> TapRun:
    """A run of `queries` queries that took `seconds`, each submitted `attempts` times."""
    runs = [{"stream": "s", "attempts": attempts, "total_rows": 1, "status": "SUCCESS"}]
    return TapRun("made-up", Path("/dev/null"), seconds, 0, Output(query_runs=runs * queries))


def made_up_outcome(tap: TapRun, serial: TapRun | None, *, judged: bool = True) -> Outcome:
    scenario = Scenario("a", "made up", [{"name": "s"}], licence_queue.START, licence_queue.START)
    return Outcome(scenario, T, made_up_run(3.0), tap, serial, judged)


def test_the_floor_is_the_one_query_run_and_a_query_time_per_further_round_of_slots() -> None:
    # One-query run 3 s, T = 2 s, 5 slots. 5 queries: one round, 3 s; 10 queries: two
    # rounds, 3 + 1 x 2 = 5 s; 36 queries: 8 rounds, 3 + 7 x 2 = 17 s.
    outcome = made_up_outcome(made_up_run(34.0, queries=36), made_up_run(51.0, queries=36))

    assert outcome.floor(made_up_run(1.0, queries=5)) == pytest.approx(3.0)
    assert outcome.floor(made_up_run(1.0, queries=10)) == pytest.approx(5.0)
    assert outcome.floor(outcome.tap) == pytest.approx(17.0)
    assert outcome.ratio(outcome.tap) == pytest.approx(2.0)
    assert outcome.serial is not None
    assert outcome.ratio(outcome.serial) == pytest.approx(3.0)


def test_expired_results_are_the_submissions_beyond_each_querys_first() -> None:
    run = made_up_run(1.0, queries=4, attempts=2)

    assert (run.queries, run.submissions, run.expired) == (4, 8, 4)


def test_a_ratio_is_judged_against_1_2_only_when_the_outcome_is_judged() -> None:
    # Floor 5 s (10 queries): 6 s is 1.2x, 6.5 s is 1.3x.
    assert made_up_outcome(made_up_run(6.0, queries=10), None).ok is True
    assert made_up_outcome(made_up_run(6.5, queries=10), None).ok is False
    assert made_up_outcome(made_up_run(6.5, queries=10), None, judged=False).ok is None


def test_without_the_setting_the_serial_column_says_n_a() -> None:
    outcome = made_up_outcome(made_up_run(10.0, queries=10), None, judged=False)

    lines = licence_queue.table([outcome], licence_queue.FULL, held=False)

    row = next(line for line in lines if line.startswith("(a)"))
    assert row.split()[-2:] == ["n/a", "n/a"]
    assert "2.00x" in row.split()  # 10 s over a floor of 5 s
    assert f"the tap has no {SETTING}" in lines[0]
    assert "(a) info" in lines[-1]


def test_the_most_queries_in_flight_count_queued_and_running_ones_until_they_finish() -> None:
    queries = [
        {"submitted_at": 0.0, "finished_at": 2.0, "status": "SUCCESS"},
        {"submitted_at": 0.5, "finished_at": 3.0, "status": "SUCCESS"},
        {"submitted_at": 2.0, "finished_at": 4.0, "status": "SUCCESS"},  # as the first ends
        {"submitted_at": 2.5, "finished_at": None, "status": "QUEUED"},
    ]

    assert most_in_flight(queries) == 3  # 2.5 s: the second, third and fourth


# The real tap ------------------------------------------------------------------------------

STAND_IN = """
import json, subprocess, sys
args = sys.argv[1:]
tap = [sys.executable, "-m", "tap_supermetrics"]
if "--about" in args:
    about = json.loads(subprocess.run([*tap, *args], capture_output=True, check=True).stdout)
    properties = about["settings"]["properties"]
    if {lists}:
        properties[{setting!r}] = {{"type": ["integer", "null"]}}
    else:
        properties.pop({setting!r}, None)
    print(json.dumps(about))
    sys.exit(0)
at = args.index("--config") + 1
config = json.loads(open(args[at]).read())
with open({seen!r}, "a") as seen:
    seen.write(json.dumps([args[at], config.get({setting!r})]) + "\\n")
if {lists}:
    config.pop({setting!r}, None)
args[at] = args[at] + ".passed"
open(args[at], "w").write(json.dumps(config))
sys.exit(subprocess.run([*tap, *args]).returncode)
"""

SMALL = Sizes(0.2, windows=2, accounts=150, streams=2, stream_windows=2, judged=True)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator with five slots, accepting the benchmarks' key."""
    with EmulatorServer(api_key=API_KEY, max_running=licence_queue.SLOTS) as server:
        yield server


def stand_in(tmp_path: Path, *, lists: bool) -> tuple[tuple[str, ...], Path]:
    """A tap command whose `--about` lists the setting or not; it logs what it was given."""
    seen = tmp_path / "seen.jsonl"
    script = tmp_path / "stand_in_tap.py"
    script.write_text(STAND_IN.format(lists=lists, setting=SETTING, seen=str(seen)))
    return (sys.executable, str(script)), seen


def given(seen: Path) -> list[tuple[str, Any]]:
    """(config file name, value of the setting) of every run, in order."""
    return [
        (Path(name).stem, value)
        for name, value in map(json.loads, seen.read_text().split("\n")[:-1])
    ]


@pytest.mark.parametrize("lists", [True, False], ids=["tap-lists-it", "tap-lacks-it"])
def test_the_setting_is_passed_only_when_the_tap_lists_it_and_rows_are_exact(
    emulator: EmulatorServer, tmp_path: Path, *, lists: bool
) -> None:
    command, seen = stand_in(tmp_path, lists=lists)
    harness = Harness(emulator, tmp_path, command)
    backfill, daily, _ = licence_queue.scenarios(SMALL)

    first = licence_queue.measure(harness, backfill, SMALL, held=False)
    second = licence_queue.measure(harness, daily, SMALL, held=False)

    slots = licence_queue.SLOTS if lists else None
    serial = [("6a-1", 1)] if lists else []
    assert given(seen) == [
        ("discover", slots),
        ("6a-one-0", slots),
        ("6a-one-1", slots),
        ("6a-tap", slots),
        *serial,
        ("6b-before", None),  # the run before the daily run: the tap's defaults
        ("discover", slots),
        ("6b-one-0", slots),
        ("6b-one-1", slots),
        ("6b-tap", slots),
        *([("6b-1", 1)] if lists else []),
    ]
    for outcome in (first, second):
        assert outcome.problems == []
        assert (outcome.serial is not None) is lists
        assert outcome.judged is lists
        assert outcome.one.queries == 1
    # (a) 2 windows of 7 days x 3 devices; (b) 150 accounts in 2 groups, day 1 again and
    # day 2, one row per account and day.
    assert (first.tap.queries, first.tap.records("backfill")) == (2, 42)
    assert (second.tap.queries, second.tap.records("daily")) == (2, 300)
    assert first.tap.expired == second.tap.expired == 0
    assert 1 <= first.tap.most_in_flight <= 2
    lines = first.tap.output_path.read_bytes().splitlines(keepends=True)
    states = [line for line in lines if line.startswith(b'{"type":"STATE"')]
    assert first.tap.output.state_messages == len(states) > 0
    assert first.tap.output.state_bytes == sum(len(line) for line in states)
    row = next(line for line in licence_queue.table([first], SMALL, held=False) if "(a)" in line)
    assert ("n/a" in row) is not lists


def test_a_result_that_expires_before_it_is_read_is_counted(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    backfill = licence_queue.scenarios(SMALL)[0].one_query()
    emulator.configure(run_seconds=0.05)
    emulator.add_fault(action="expire_early", after_seconds=0, times=1)  # the first query
    harness = Harness(emulator, tmp_path)

    run = harness.run("expiring", backfill.config())

    assert run.problems({"backfill": 21}, ["backfill"]) == []  # 7 days x 3 devices
    assert (run.queries, run.submissions, run.expired) == (1, 2, 1)
    assert run.requests["submit"] == 2

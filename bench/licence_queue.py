"""Figure 6: how long a run takes against the licence's queue, over the floor it allows.

Run: nice -n 19 .venv/bin/python -m bench.licence_queue [--quick] [--hold-lookups]

Supermetrics runs a licence's queries a few at a time and queues the rest in order
(docs/supermetrics-api.md, "Concurrency and latency"). Against an emulator with `SLOTS`
slots (`max_running`) and a fixed query time T (`run_seconds`), a run of Q queries cannot
take less than the *licence-queue floor*: the wall time of a one-query run of the same
shape (start-up, polling and paging included; the best of two, measured in the same
benchmark run) +
(ceil(Q / SLOTS) - 1) x T. Q is counted from the run's `query_runs` records. Three
scenarios (issue 31), with T = 4 s (`--quick`: smaller, T = 0.5 s):

- (a) a 10-window backfill of one stream (7-day windows, one account);
- (b) a 900-account daily run in groups of 100 (`max_accounts_per_query` 100): the run
  before loads day 1 (untimed, quick queries); the timed run reads day 1 again (the
  default lookback) and day 2 from its STATE;
- (c) 12 streams of 3 windows (one account each, 7-day windows).

Each scenario runs with the tap's settings as a user runs it and, when the tap lists
`max_concurrent_queries` (`tap-supermetrics --about --format=json`), with that setting at
SLOTS, then again at 1, in the same benchmark run; before the tap has the setting, that
column says "n/a" (the tap refuses unknown settings). Results live 30 T (`result_ttl`,
and the tap's `result_lifetime` the same): an hour against two-minute queries. Status
lookups are answered at once (`hold_lookups` off: the tap's own polling schedule decides
how soon it sees SUCCESS); `--hold-lookups` takes the other reading of the API.

Counted for every run (bench/tap_runs.py): Q, submissions (`attempts`, resubmits
included), results that expired unread (attempts beyond the first), the most queries
queued or running at once (from the emulator's submit and finish times), STATE messages
and their bytes. Checks (FAIL, exit code 1): the tap exits 0; every stream's records
number the rows the API holds for one query over the whole range (asked of the emulator
directly, in groups of 100 accounts) and the `total_rows` its `query_runs` promise, with
no key twice. Each ratio is held against <= 1.2 once the tap has `max_concurrent_queries`,
at the full sizes; otherwise it is information.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import emulator_process
from bench.figures import Row
from bench.tap_runs import GROUP, TAP, Emulator, Harness, TapRun, rows_of, tap_settings

SLOTS = 5
#: The target of every scenario once the tap keeps the queue full (issue 31).
TARGET = 1.2
#: Results live this many query times: an hour against queries of two minutes.
LIFETIMES_IN_QUERIES = 30
WINDOW_DAYS = 7
FIELDS = ["Date", "Device", "Clicks"]
DAILY_FIELDS = ["Date", "profileID", "Clicks"]
START = dt.date(2024, 1, 1)
SETTING = "max_concurrent_queries"
#: One-query runs per scenario; the floor takes the fastest.
ONE_QUERY_RUNS = 2


@dataclass(frozen=True)
class Sizes:
    """Query time and the size of each scenario."""

    query_seconds: float
    windows: int  # (a)
    accounts: int  # (b)
    streams: int  # (c)
    stream_windows: int  # (c)
    judged: bool  # ratios held against TARGET (once the tap has the setting)


#: Queries of 4 s stand for queries of minutes. The tap's request pacing is not scaled
#: (`max_requests_per_second` 10: a submit and a poll of each query, and its pages, take
#: about 0.3 s of it), so shorter queries would judge the pacing, not the queue.
FULL = Sizes(4.0, 10, 900, 12, 3, judged=True)
QUICK = Sizes(0.5, 4, 300, 3, 2, judged=False)


@dataclass(frozen=True)
class Scenario:
    """One scenario: its streams, the accounts the emulator must hold, and its days."""

    key: str
    label: str
    queries: list[dict[str, Any]]
    start: dt.date
    end: dt.date
    accounts: list[str] = field(default_factory=list)
    #: The days the run before loaded: its STATE is the timed run's input.
    loaded: tuple[dt.date, dt.date] | None = None

    @property
    def streams(self) -> list[str]:
        return [query["name"] for query in self.queries]

    def config(self, **settings: object) -> dict[str, Any]:
        """The tap's settings for this scenario (the API's key and URL added later)."""
        return {
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "window_days": WINDOW_DAYS,
            "queries": self.queries,
            **settings,
        }

    def before(self) -> Scenario:
        """The run before this one, over the days it loaded."""
        first, last = self.loaded or (self.start, self.start)
        return Scenario(self.key, "the run before", self.queries, first, last, self.accounts)

    def one_query(self) -> Scenario:
        """The same shape with one query: the first stream's first window and group."""
        first = dict(self.queries[0])
        first["ds_accounts"] = first["ds_accounts"][:GROUP]
        end = min(self.end, self.start + dt.timedelta(days=WINDOW_DAYS - 1))
        return Scenario(self.key, "one query", [first], self.start, end, self.accounts)


def account(number: int) -> str:
    """Google Ads-shaped ids the emulator is told to hold: `9000-000-0001`, ...."""
    return f"9000-{number // 10_000:03}-{number % 10_000:04}"


def scenarios(sizes: Sizes) -> list[Scenario]:
    """(a), (b) and (c) at these sizes."""
    week = dt.timedelta(days=WINDOW_DAYS)
    day = dt.timedelta(days=1)
    one = {"ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": FIELDS}
    accounts = [account(n) for n in range(1, sizes.accounts + 1)]
    own = [account(n) for n in range(1, sizes.streams + 1)]
    groups = math.ceil(sizes.accounts / GROUP)
    daily = {"name": "daily", "ds_id": "AW", "ds_accounts": accounts, "fields": DAILY_FIELDS}
    return [
        Scenario(
            "a",
            f"{sizes.windows}-window backfill, 1 stream",
            [{"name": "backfill", **one}],
            START,
            START + week * sizes.windows - day,
        ),
        Scenario(
            "b",
            f"{sizes.accounts}-account daily run, {groups} groups",
            [daily],
            START,
            START + day,
            accounts,
            loaded=(START, START),
        ),
        Scenario(
            "c",
            f"{sizes.streams} streams of {sizes.stream_windows} windows",
            [{**one, "name": f"s{n:02d}", "ds_accounts": [acc]} for n, acc in enumerate(own)],
            START,
            START + week * sizes.stream_windows - day,
            own,
        ),
    ]


# A scenario, measured --------------------------------------------------------------------


@dataclass
class Outcome:
    """A scenario's runs: one query, the tap's run and, with the setting, the run at 1."""

    scenario: Scenario
    query_seconds: float
    one: TapRun
    tap: TapRun
    serial: TapRun | None
    judged: bool
    problems: list[str] = field(default_factory=list)

    def floor(self, run: TapRun) -> float:
        """The licence-queue floor of `run`: one-query run + (ceil(Q / SLOTS) - 1) x T."""
        return self.one.seconds + (math.ceil(run.queries / SLOTS) - 1) * self.query_seconds

    def ratio(self, run: TapRun) -> float:
        """Wall time over the floor."""
        return run.seconds / self.floor(run)

    @property
    def ok(self) -> bool | None:
        """Whether the tap's run meets the target; None when it is information only."""
        if not self.judged:
            return None
        return self.ratio(self.tap) <= TARGET and not self.problems


def measure(harness: Harness, scenario: Scenario, sizes: Sizes, *, held: bool) -> Outcome:
    """Time the scenario's runs against an emulator with SLOTS slots and queries of T."""
    emulator, seconds = harness.emulator, sizes.query_seconds
    emulator.configure(
        run_seconds=0.01,
        max_running=SLOTS,
        result_ttl=3600,
        hold_lookups=held,
        extra_accounts={"AW": scenario.accounts},
    )
    expected = {
        query["name"]: rows_of(emulator, query, scenario.start, scenario.end)
        for query in scenario.queries
    }
    name, problems, state = f"6{scenario.key}", [], None
    if scenario.loaded is not None:  # the run before, with quick queries, untimed
        before = harness.run(f"{name}-before", scenario.before().config())
        problems += before.problems({}, scenario.streams)
        state = harness.last_state(before)
    lifetime = LIFETIMES_IN_QUERIES * seconds
    emulator.configure(run_seconds=seconds, result_ttl=lifetime)
    supported = SETTING in tap_settings(harness.command)
    settings: dict[str, object] = {"result_lifetime": lifetime}
    if supported:
        settings[SETTING] = SLOTS
    harness.discover(scenario.config(**settings))
    # The floor rests on the one-query run: the best of a few (the machine is shared).
    ones = [
        harness.run(f"{name}-one-{n}", scenario.one_query().config(**settings))
        for n in range(ONE_QUERY_RUNS)
    ]
    one = min(ones, key=lambda run: run.seconds)
    tap = harness.run(f"{name}-tap", scenario.config(**settings), state)
    serial = None
    if supported:
        serial = harness.run(f"{name}-1", scenario.config(**{**settings, SETTING: 1}), state)
    for single in ones:
        problems += single.problems({}, scenario.one_query().streams)
        if single.queries != 1:
            problems.append(f"{single.name}: {single.queries} queries, want 1")
    for timed in (tap, serial):
        if timed is not None:
            problems += timed.problems(expected, scenario.streams)
    return Outcome(scenario, seconds, one, tap, serial, sizes.judged and supported, problems)


def measure_all(
    emulator: Emulator,
    sizes: Sizes,
    work: Path,
    *,
    held: bool = False,
    command: tuple[str, ...] = TAP,
) -> list[Outcome]:
    """Every scenario, one after another, against `emulator` (its settings are changed)."""
    harness = Harness(emulator, work, command)
    outcomes = []
    for scenario in scenarios(sizes):
        outcomes.append(measure(harness, scenario, sizes, held=held))
        print(f"  ({scenario.key}) {scenario.label}: measured", file=sys.stderr, flush=True)
    return outcomes


# Report ------------------------------------------------------------------------------------


def describe(sizes: Sizes, *, held: bool, supported: bool) -> str:
    """The conditions of the runs, in one line."""
    lifetime = LIFETIMES_IN_QUERIES * sizes.query_seconds
    return (
        f"licence queue of {SLOTS} slots (emulator max_running, FIFO), queries of "
        f"T = {sizes.query_seconds:g} s (run_seconds), results live {lifetime:g} s "
        f"(result_ttl and the tap's result_lifetime), lookups {'held' if held else 'not held'}; "
        + (f"the tap with {SETTING}: {SLOTS}" if supported else f"the tap has no {SETTING}")
    )


def summary(outcome: Outcome, run: TapRun) -> str:
    """One run's counts, for the notes of bench/RESULTS.md."""
    return (
        f"6{outcome.scenario.key} {run.name}: Q {run.queries}, submissions {run.submissions}, "
        f"one-query run {outcome.one.seconds:.1f} s, floor {outcome.floor(run):.1f} s, wall "
        f"{run.seconds:.1f} s ({outcome.ratio(run):.2f}x), expired unread {run.expired} "
        f"(emulator: {run.forgotten} forgotten), most in flight {run.most_in_flight}, "
        f"{run.output.state_messages} STATE messages, {run.output.state_bytes:,} B"
    )


def rows(outcomes: list[Outcome], sizes: Sizes) -> list[Row]:
    """Figure 6's rows of the bench/RESULTS.md table: each scenario, then the same at 1."""
    floor = f"floor: one-query run + (ceil(Q / {SLOTS}) - 1) T"
    later = "at full sizes" if not sizes.judged else f"once the tap has {SETTING}"
    found = []
    for outcome in outcomes:
        key, label, serial = outcome.scenario.key, outcome.scenario.label, outcome.serial
        found += [
            Row(
                f"6{key} {label}, T={sizes.query_seconds:g}s, {SLOTS} slots: wall / "
                "licence-queue floor",
                outcome.ratio(outcome.tap),
                None,
                "<=" if outcome.judged else "",
                TARGET,
                floor if outcome.judged else f"target <= {TARGET:g} {later}",
                output_ok=not outcome.problems,
            ),
            Row(
                f"6{key} the same with {SETTING}: 1: wall / licence-queue floor",
                math.nan if serial is None else outcome.ratio(serial),
                None,
                "",
            ),
        ]
    return found


def table(outcomes: list[Outcome], sizes: Sizes, *, held: bool) -> list[str]:
    """The scenarios side by side, and how to read them."""
    supported = any(outcome.serial is not None for outcome in outcomes)
    serial_label = f"{SETTING}: 1"
    header = (
        f"{'scenario':<40} {'Q':>3} {'sent':>4} {'1 query s':>9} {'floor s':>7} {'wall s':>6} "
        f"{'/floor':>6} {'expired':>7} {'in flight':>9} {'STATEs':>6} {'STATE B':>9}   "
        f"{serial_label + ' s':>27} {'/floor':>6}"
    )
    conditions = describe(sizes, held=held, supported=supported)
    lines = [f"bench.licence_queue: {conditions}", "", header, "-" * len(header)]
    for outcome in outcomes:
        tap, serial = outcome.tap, outcome.serial
        serial_cells = (
            ("n/a", "n/a")
            if serial is None
            else (f"{serial.seconds:.1f}", f"{outcome.ratio(serial):.2f}x")
        )
        lines.append(
            f"({outcome.scenario.key}) {outcome.scenario.label:<36} {tap.queries:>3} "
            f"{tap.submissions:>4} {outcome.one.seconds:>9.1f} {outcome.floor(tap):>7.1f} "
            f"{tap.seconds:>6.1f} {outcome.ratio(tap):>5.2f}x {tap.expired:>7} "
            f"{tap.most_in_flight:>9} {tap.output.state_messages:>6} "
            f"{tap.output.state_bytes:>9,}   {serial_cells[0]:>27} {serial_cells[1]:>6}"
        )
    how = "judged" if sizes.judged and supported else "information"
    verdicts = {True: "pass", False: "FAIL", None: "info"}
    return [
        *lines,
        "",
        (
            f"floor (a formula over a measurement): the one-query run's wall time + "
            f"(ceil(Q / {SLOTS}) - 1) x T; Q: query_runs records; sent: submissions "
            "(resubmits included); expired: results that expired unread; in flight: most "
            "queries queued or running at once (emulator); STATE B: all STATE messages"
        ),
        (
            f"target: wall / floor <= {TARGET:g}, {how} (judged at full sizes once the tap "
            f"lists {SETTING}): "
            + ", ".join(f"({o.scenario.key}) {verdicts[o.ok]}" for o in outcomes)
        ),
        *[f"FAIL: {problem}" for o in outcomes for problem in o.problems],
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure the three scenarios against an emulator of their own; exit 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, T = 0.5 s; info only")
    parser.add_argument("--hold-lookups", action="store_true", help="lookups held open")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with (
        emulator_process("--max-running", str(SLOTS)) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-licence-queue-") as tmp,
    ):
        outcomes = measure_all(emulator, sizes, Path(tmp), held=args.hold_lookups)
    print("\n".join(table(outcomes, sizes, held=args.hold_lookups)))
    return 1 if any(o.problems or o.ok is False for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

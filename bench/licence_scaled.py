"""The 1,000-account daily run against the licence queue, with every API time scaled by 1/10.

Run: nice -n 19 .venv/bin/python -m bench.licence_scaled [--accounts 1000] [--query-seconds 6]
                                                        [--hold-lookups]

The estate of bench/planning.py (`--accounts` accounts with two years in the state: gaps,
new and failed accounts, heavy accounts, refresh 3/1 + 30/7, window_days 30) and its
daily run (a), run by the real tap (`python -m tap_supermetrics --config --state`)
against an emulator with `SLOTS` slots where every query takes `--query-seconds` (6 s,
standing for the 60 s of a real campaign-level query) and results live 60 query times
(360 s for the API's hour). The tap's polling is not scaled: its defaults
(`poll_interval` 0.25 s growing to `max_poll_interval` 5 s, `max_requests_per_second`
10), with lookups answered at once (`--hold-lookups`: held open, the other reading of the
API). The tap gets `max_concurrent_queries` = SLOTS when it lists the setting.

Measured: wall time against the licence-queue floor (a one-query run of the same
emulator, one account and one day, the best of two, + (ceil(Q / SLOTS) - 1) query
times; Q from
`query_runs`), submissions and results that expired unread, the most queries queued or
running at once, STATE messages and bytes (issue 31's goal: <= 1 MB for this run), the
requests by kind (bench/tap_runs.py), status requests (polls and lookups) per second on
average and in the busiest second, and all requests in the busiest second.

Checks (FAIL, exit code 1): the tap exits 0, submits the queries run (a) plans, and emits
one record per planned account-day (the emulator's one row per account and day), as its
`query_runs` promise, with no key twice. The figures themselves are information: the
targets of issue 31 are held by bench/licence_queue.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
from pathlib import Path

from bench import planning
from bench.common import emulator_process
from bench.licence_queue import ONE_QUERY_RUNS, SETTING, SLOTS
from bench.tap_runs import Harness, TapRun, tap_settings

#: Results live this many query times: the API's hour against 60-second queries.
LIFETIMES_IN_QUERIES = 60
#: Real times are this many times the emulator's (the tap's polling excepted).
SCALE = 10
#: Issue 31's goal for the STATE of this run.
STATE_GOAL_BYTES = 1_000_000
#: The tap's default request pace (not scaled).
MAX_REQUESTS_PER_SECOND = 10


def one_query_settings(
    settings: dict[str, object], account: str, end: dt.date
) -> dict[str, object]:
    """One account, one day, no state: a run of one query against the same emulator."""
    config = planning.tap_config([account], end, **settings)
    return {**config, "start_date": end.isoformat()}


def report(run: TapRun, one: TapRun, seconds: float, planned: int, account_days: int) -> list[str]:
    """The run's figures, one a line, and what they are measured against."""
    floor = one.seconds + (math.ceil(run.queries / SLOTS) - 1) * seconds
    status = run.status_requests
    state_goal = "met" if run.output.state_bytes <= STATE_GOAL_BYTES else "not met"
    requests = ", ".join(f"{kind} {count}" for kind, count in sorted(run.requests.items()))
    return [
        f"{'wall time':<44} {run.seconds:,.1f} s ({run.seconds * SCALE / 60:,.1f} min scaled up)",
        (
            f"{'licence-queue floor':<44} {floor:,.1f} s (one-query run {one.seconds:.1f} s + "
            f"(ceil({run.queries} / {SLOTS}) - 1) x {seconds:g} s)"
        ),
        f"{'wall / floor':<44} {run.seconds / floor:.2f}x",
        (
            f"{'queries (Q) / submissions / expired unread':<44} {run.queries} / "
            f"{run.submissions} / {run.expired} (planned {planned}; emulator forgot "
            f"{run.forgotten})"
        ),
        f"{'most queries queued or running at once':<44} {run.most_in_flight}",
        f"{'records':<44} {run.records(planning.STREAM):,} (planned account-days {account_days:,})",
        (
            f"{'STATE messages / bytes in all / largest':<44} {run.output.state_messages} / "
            f"{run.output.state_bytes:,} / {run.output.largest_state:,} (issue 31's goal "
            f"<= {STATE_GOAL_BYTES:,} B a run: {state_goal})"
        ),
        f"{'requests':<44} {requests}",
        (
            f"{'status requests (polls + lookups) per second':<44} "
            f"{status / run.seconds:.2f} on average, {run.peak_status_requests} in the "
            "busiest second"
        ),
        (
            f"{'all requests in the busiest second':<44} {run.peak_requests} "
            f"(max_requests_per_second {MAX_REQUESTS_PER_SECOND})"
        ),
        f"{'exit code':<44} {run.exit_code}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Plan the estate's daily run, run the tap against the scaled queue; exit 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--query-seconds", type=float, default=6.0, help="run_seconds")
    parser.add_argument("--hold-lookups", action="store_true", help="lookups held open")
    args = parser.parse_args(argv)
    seconds = args.query_seconds
    end = dt.datetime.now(tz=dt.UTC).date() - planning.ONE_DAY  # the tap's own as-of day
    estate = planning.build_estate(args.accounts, end, weekly_due=False)
    config = planning.tap_config(estate.accounts, end)
    figures, _, sent = planning.measure_plan("a", config, estate.bookmark, end + planning.ONE_DAY)
    account_days = sum(len(p.accounts) * (p.window.days if p.window else 0) for p in sent)
    lifetime = LIFETIMES_IN_QUERIES * seconds
    settings: dict[str, object] = {"result_lifetime": lifetime}
    supported = SETTING in tap_settings()
    if supported:
        settings[SETTING] = SLOTS
    steady = next(account for account, kind in estate.kinds.items() if kind == "steady")
    with (
        emulator_process("--max-running", str(SLOTS)) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-licence-scaled-") as tmp,
    ):
        emulator.configure(
            run_seconds=seconds,
            result_ttl=lifetime,
            hold_lookups=args.hold_lookups,
            extra_accounts={"AW": estate.accounts},
        )
        harness = Harness(emulator, Path(tmp))
        state = Path(tmp) / "state.json"
        state.write_text(json.dumps({"bookmarks": {planning.STREAM: estate.bookmark}}))
        daily = planning.tap_config(estate.accounts, end, **settings)
        harness.discover(daily)
        ones = [
            harness.run(f"one-query-{n}", one_query_settings(settings, steady, end))
            for n in range(ONE_QUERY_RUNS)
        ]
        run = harness.run("daily", daily, state)
    one = min(ones, key=lambda one: one.seconds)
    problems = [problem for one in ones for problem in one.problems({}, [planning.STREAM])]
    problems += run.problems({planning.STREAM: account_days}, [planning.STREAM])
    if run.queries != figures.queries:
        problems.append(f"the tap sent {run.queries} queries, run (a) plans {figures.queries}")
    lookups = "held" if args.hold_lookups else "not held"
    print(
        f"bench.licence_scaled: {args.accounts:,} accounts, daily run (a) of bench.planning "
        f"({figures.queries} queries planned), as of {end}; licence queue of {SLOTS} slots, "
        f"queries of {seconds:g} s (for {seconds * SCALE:g} s), results live {lifetime:g} s "
        f"(for {lifetime * SCALE / 60:g} min); the tap's polling unscaled (defaults), lookups "
        f"{lookups}; "
        + (f"the tap with {SETTING}: {SLOTS}" if supported else f"the tap has no {SETTING}")
        + "\n"
    )
    print("\n".join(report(run, one, seconds, figures.queries, account_days)))
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

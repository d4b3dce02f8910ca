"""Planning at estate scale: 1,000 accounts x 2 years, with their history in the state.

Run: .venv/bin/python -m bench.planning [--accounts 1000] [--max-rows-per-run 10000000]
                                       [--no-e2e] [--json]

One stream (`AW`; fields Date, profileID, Clicks; refresh tiers 3/1 and 30/7;
window_days 30) over `--accounts` accounts (`9000-000-0001`, ...), start_date 731 days
before end_date (yesterday, UTC). The state is the one a long-running estate has after
yesterday's run: every account loaded from start_date through the day before end_date,
except 5 % with a gap of 5 to 90 days in the middle, 2 % added since and never loaded,
1 % whose last read failed (one day less loaded, listed in `failed`); the rows of the
last read of every loaded account (`rows_read`, so rows a day: most 50-500; 8 %
1,000-5,000; 2 % 20,000-60,000, which sizing must give short windows or groups of their
own); `refreshed` for both tiers (most accounts ran the weekly tier on the same day, the
others on days of their own). Seeded: every run builds the same estate.

Measured with the tap's own `StreamReads` (planner, sizing, grouping; nothing sent):

1. Planning time (constructing `StreamReads` and its `plan`, best of 5), planned
   queries, queries holding more than `max_accounts_per_query` (100) accounts, and
   queries estimated above the sizing share of `max_rows_per_query` (800,000 rows; only
   a single account whose one day is larger may be), for: (a) the daily run as of
   end_date; (a') the same on the day most accounts' weekly tier is due; (b) the daily
   run with `max_rows_per_run` (budgeted ordering, plus the budget's allocation the tap
   makes when the sync starts, timed with it); (c) a first run, no state (nothing
   estimated).
2. STATE size: every planned (not deferred) window is recorded as loaded, as a
   successful run does, and after each one the whole STATE message the tap writes then
   (`{"type":"STATE","value":{"bookmarks":{...}}}`, the SDK's msgspec encoding) is
   encoded: bytes of the last message, of all messages of the run (one per window), and
   the time this bookkeeping (coverage, to_json, encoding) takes per window.
3. Unless `--no-e2e`: the real tap command (`python -m tap_supermetrics --config ...
   --state ...`) for run (a), against the emulator in this process (the accounts added
   to the AW login, one row per account-day, 100 accounts per query at most as the
   API; `max_requests_per_second` 20): STATE messages and their bytes in stdout,
   records, queries submitted, requests, exit code, wall time (about 35 s).

Exit 1 if a structural check fails: a query with more than 100 accounts; an estimate
above 800,000 rows other than a single account whose day alone is larger; the tap's run
failing, or submitting or emitting other than run (a) planned. Times are figures, never
checked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from singer_sdk.contrib.msgspec import encoder

from bench.common import stream_reads
from supermetrics_emulator import EmulatorServer
from tap_supermetrics.core.limits import Limits
from tap_supermetrics.plan.budget import Candidate, RowBudget
from tap_supermetrics.plan.coverage import Coverage, DayRange, DaySet, bookmark_day
from tap_supermetrics.plan.planner import PlannedQuery
from tap_supermetrics.plan.sizing import RowRates
from tap_supermetrics.read.reads import StreamReads

ROOT = Path(__file__).resolve().parent.parent
ONE_DAY = dt.timedelta(days=1)
STREAM = "ads"
FIELDS = ["Date", "profileID", "Clicks"]
METRICS = frozenset({"Clicks"})
TIERS = [{"days": 3, "every": 1}, {"days": 30, "every": 7}]
WINDOW_DAYS = 30
HISTORY_DAYS = 731  # two years, both ends included
REPEATS = 5
SEED = 22
API_KEY = "bench-planning-key"
FAILED_CODE = "ACCESS_DENIED_PERMISSIONS"
#: Shares of the accounts, by what their state says (the rest are steady).
SHARES = {"new": 0.02, "failed": 0.01, "gap": 0.05}
#: Rows a day, by share of the accounts: (share, lowest, highest); the rest: 50-500.
HEAVY = (0.02, 20_000, 60_000)
MEDIUM = (0.08, 1_000, 5_000)
LIGHT = (50, 500)
#: Days the last complete read of a loaded account held: yesterday's run read the three
#: days before its last loaded day, that day and the new day.
LAST_READ_DAYS = 5
#: Accounts that ran the weekly tier on a day of their own (added at other times).
OWN_PHASE = 0.15
LOGGER = logging.getLogger("bench.planning")


# The estate and its state -----------------------------------------------------------


@dataclass(frozen=True)
class Estate:
    """The accounts, the rows a day each really has, and the state yesterday's run left."""

    end: dt.date
    rates: dict[str, float]
    kinds: dict[str, str]
    bookmark: dict[str, Any]

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=HISTORY_DAYS - 1)

    @property
    def accounts(self) -> list[str]:
        return list(self.rates)


def account_id(number: int) -> str:
    """Google Ads-shaped ids: `9000-000-0001`, ...."""
    return f"9000-{number // 10_000:03}-{number % 10_000:04}"


def draw_rate(rng: random.Random) -> float:
    """Rows a day of one account, rounded as the tap stores them."""
    draw = rng.random()
    if draw < HEAVY[0]:
        return round(rng.uniform(*HEAVY[1:]), 1)
    if draw < HEAVY[0] + MEDIUM[0]:
        return round(rng.uniform(*MEDIUM[1:]), 1)
    return round(rng.uniform(*LIGHT), 1)


def draw_kinds(accounts: Sequence[str], rng: random.Random) -> dict[str, str]:
    """What each account's state says: steady, gap, new (never loaded) or failed."""
    shuffled = rng.sample(list(accounts), len(accounts))
    kinds = dict.fromkeys(accounts, "steady")
    first = 0
    for kind, share in SHARES.items():
        count = round(len(accounts) * share)
        kinds.update(dict.fromkeys(shuffled[first : first + count], kind))
        first += count
    return kinds


def tap_config(accounts: Sequence[str], end: dt.date, **settings: object) -> dict[str, Any]:
    """The tap's settings for the estate's one stream (the refresh tiers of Google Ads)."""
    return {
        "start_date": (end - dt.timedelta(days=HISTORY_DAYS - 1)).isoformat(),
        "end_date": end.isoformat(),
        "window_days": WINDOW_DAYS,
        "refresh": TIERS,
        "queries": [
            {"name": STREAM, "ds_id": "AW", "ds_accounts": list(accounts), "fields": FIELDS}
        ],
        **settings,
    }


def build_estate(count: int, end: dt.date, *, weekly_due: bool) -> Estate:
    """The estate after yesterday's run (`end` - 1); `weekly_due`: most run 30/7 today."""
    rng = random.Random(SEED)
    accounts = [account_id(number) for number in range(1, count + 1)]
    rates = {account: draw_rate(rng) for account in accounts}
    kinds = draw_kinds(accounts, rng)
    today = end + ONE_DAY
    current = stream_reads(tap_config(accounts, end), {}, today, METRICS).plan.coverage.fingerprint
    coverage = Coverage(fingerprint=dict(current), known=True)
    start = end - dt.timedelta(days=HISTORY_DAYS - 1)
    for account in accounts:
        phase = rng.randrange(7) if rng.random() < OWN_PHASE else (6 if weekly_due else 2)
        gap_start = start + dt.timedelta(days=rng.randrange(100, HISTORY_DAYS - 150))
        gap = DayRange(gap_start, gap_start + dt.timedelta(days=rng.randrange(5, 91) - 1))
        if kinds[account] != "new":
            _record(coverage, account, kinds[account], DaySet.of(start, end - ONE_DAY), gap)
            read = (round(rates[account] * LAST_READ_DAYS), LAST_READ_DAYS)
            coverage.rows_read[account] = read
            coverage.refreshed[account] = {
                "3/1": (end - ONE_DAY * (2 if kinds[account] == "failed" else 1)).isoformat(),
                "30/7": (end - ONE_DAY * (1 + phase)).isoformat(),
            }
    bookmark: dict[str, Any] = {"replication_key": "Date", "coverage": coverage.to_json()}
    day = bookmark_day(coverage, accounts, start)
    if day is not None:
        bookmark["replication_key_value"] = day
    return Estate(end, rates, kinds, bookmark)


def _record(coverage: Coverage, account: str, kind: str, loaded: DaySet, gap: DayRange) -> None:
    """One loaded account's days (and failure) in the coverage."""
    if kind == "gap":
        loaded -= DaySet([gap])
    if kind == "failed":
        assert loaded.last is not None
        loaded -= DaySet.of(loaded.last, loaded.last)
        coverage.failed[account] = FAILED_CODE
    coverage.accounts[account] = loaded


# Planning ------------------------------------------------------------------------------


@dataclass
class PlanFigures:
    """What one run plans, how long planning takes, and the STATE it writes."""

    run: str
    best_ms: float
    queries: int
    estimated_rows: int
    unestimated_queries: int
    deferred_queries: int
    most_accounts: int
    over_100_accounts: int
    largest_estimate: int | None
    over_sizing_share: int
    state_messages: int = 0
    state_bytes_last: int = 0
    state_bytes_total: int = 0
    bookkeeping_ms_per_window: float = 0.0

    @property
    def problems(self) -> list[str]:
        found = []
        if self.over_100_accounts:
            found.append(f"{self.run}: {self.over_100_accounts} queries hold over 100 accounts")
        if self.over_sizing_share:
            found.append(
                f"{self.run}: {self.over_sizing_share} queries estimated above the sizing share"
            )
        return found


def best_time(plan: Callable[[], object]) -> tuple[float, Any]:
    """The best wall time of REPEATS calls (the machine is shared), and the last result."""
    best, result = float("inf"), None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = plan()
        best = min(best, time.perf_counter() - started)
    return best, result


def oversized(planned: PlannedQuery, rates: RowRates, limits: Limits) -> bool:
    """Estimated above the sizing share, and not a single account whose day alone is."""
    if planned.estimate is None or planned.estimate <= limits.sizing_rows:
        return False
    alone = (
        len(planned.accounts) == 1 and (rates.daily(planned.accounts[0]) or 0) > limits.sizing_rows
    )
    return not alone


def measure_plan(
    run: str, config: dict[str, Any], bookmark: dict[str, Any], today: dt.date
) -> tuple[PlanFigures, StreamReads, list[PlannedQuery]]:
    """Plan `run` REPEATS times (from fresh copies of the state); figures of the plan."""

    # The plan writes into its bookmark: each repeat gets its own, copied untimed.
    copies = [json.loads(json.dumps(bookmark)) for _ in range(REPEATS)]

    def plan() -> tuple[StreamReads, RowBudget]:
        reads = stream_reads(config, copies.pop(), today, METRICS)
        queries = reads.plan.queries
        budget = RowBudget(reads.limits.max_rows_per_run)
        rates = reads.rates
        budget.allocate([Candidate(STREAM, planned, rates) for planned in queries])
        return reads, budget

    seconds, (reads, budget) = best_time(plan)
    queries = reads.plan.queries
    rates = RowRates(dict(reads.plan.coverage.rows_per_day))
    estimates = [planned.estimate for planned in queries if planned.estimate is not None]
    sent = budget.planned_for(STREAM, queries)  # as the budget cut them, deferred ones out
    figures = PlanFigures(
        run=run,
        best_ms=seconds * 1000,
        queries=len(queries),
        estimated_rows=sum(estimates),
        unestimated_queries=len(queries) - len(estimates),
        deferred_queries=len(queries) - len(sent),
        most_accounts=max((len(planned.accounts) for planned in queries), default=0),
        over_100_accounts=sum(
            len(planned.accounts) > reads.limits.max_accounts_per_query for planned in queries
        ),
        largest_estimate=max(estimates, default=None),
        over_sizing_share=sum(oversized(planned, rates, reads.limits) for planned in queries),
    )
    return figures, reads, sent


# STATE ----------------------------------------------------------------------------------


def state_message(bookmark: Mapping[str, Any]) -> bytes:
    """The STATE line the tap writes for this bookmark (the SDK's msgspec encoding)."""
    message = {"type": "STATE", "value": {"bookmarks": {STREAM: bookmark}}}
    return encoder.encode(message) + b"\n"


def record_state(
    figures: PlanFigures,
    reads: StreamReads,
    sent: Sequence[PlannedQuery],
    rates: Mapping[str, float],
) -> None:
    """Load every sent window as a successful run does; size the STATE after each."""
    sizes, seconds = [], 0.0
    for planned in sent:
        assert planned.window is not None
        rows = {
            account: round(rates[account] * planned.window.days) for account in planned.accounts
        }
        started = time.perf_counter()
        reads.loaded_days.window(planned.accounts, planned.window, rows)
        message = state_message(reads.bookmark)
        seconds += time.perf_counter() - started
        sizes.append(len(message))
    figures.state_messages = len(sizes)
    figures.state_bytes_last = sizes[-1] if sizes else 0
    figures.state_bytes_total = sum(sizes)
    figures.bookkeeping_ms_per_window = seconds * 1000 / len(sizes) if sizes else 0.0


def planned_runs(count: int, end: dt.date, budget: int) -> tuple[list[PlanFigures], Estate, int]:
    """Runs (a), (a'), (b) and (c); also the estate of (a) and its planned account-days."""
    today = end + ONE_DAY
    daily = build_estate(count, end, weekly_due=False)
    weekly = build_estate(count, end, weekly_due=True)
    config = tap_config(daily.accounts, end)
    runs = [
        ("a  daily run", config, daily.bookmark),
        ("a' daily run, weekly tier due", config, weekly.bookmark),
        (
            f"b  daily run, max_rows_per_run {budget:,}",
            {**config, "max_rows_per_run": budget},
            daily.bookmark,
        ),
        ("c  first run, no state", config, {}),
    ]
    results: list[PlanFigures] = []
    account_days = 0
    for run, settings, bookmark in runs:
        figures, reads, sent = measure_plan(run, settings, bookmark, today)
        if not results:  # (a): what the tap's own run must read
            account_days = sum(len(p.accounts) * (p.window.days if p.window else 0) for p in sent)
        record_state(figures, reads, sent, daily.rates)
        results.append(figures)
    return results, daily, account_days


# The tap itself -----------------------------------------------------------------------------

#: The tap's request pace for its own run: the API's documented ~20 a second (the tap's
#: default is 10, which makes the run's ~3 requests a query take twice as long).
REQUESTS_PER_SECOND = 20


@dataclass
class TapRun:
    """The real tap's daily run (a) against the emulator, as its stdout shows it."""

    exit_code: int
    wall_seconds: float
    requests: dict[str, int]
    queries_submitted: int
    records: int
    state_messages: int
    state_bytes_largest: int
    state_bytes_total: int

    def problems(self, planned: PlanFigures, account_days: int) -> list[str]:
        """What differs from run (a)'s plan (one row per account-day), or a failed run."""
        found = []
        if self.exit_code != 0:
            found.append(f"the tap exited {self.exit_code}")
        if self.queries_submitted != planned.queries:
            found.append(
                f"the tap submitted {self.queries_submitted} queries, (a) planned {planned.queries}"
            )
        if self.records != account_days:
            found.append(f"the tap emitted {self.records:,} records, (a) plans {account_days:,}")
        return found


#: Issue 31's goal for the STATE the tap writes in the 1,000-account daily run.
STATE_GOAL = 1_000_000


def tap_run(estate: Estate) -> TapRun:
    """Run the tap command from the estate's state against an emulator holding its accounts."""
    with (
        EmulatorServer(
            api_key=API_KEY, run_seconds=0.01, extra_accounts={"AW": estate.accounts}
        ) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-planning-") as tmp,
    ):
        work = Path(tmp)
        settings = {
            "api_key": API_KEY,
            "base_url": emulator.base_url,
            "poll_interval": 0.05,
            "max_poll_interval": 0.5,
            "max_requests_per_second": REQUESTS_PER_SECOND,
        }
        config, state = work / "config.json", work / "state.json"
        config.write_text(json.dumps(tap_config(estate.accounts, estate.end, **settings)))
        state.write_text(json.dumps({"bookmarks": {STREAM: estate.bookmark}}))
        output, log = work / "out.jsonl", work / "tap.log"
        command = [sys.executable, "-m", "tap_supermetrics", "--config", str(config)]
        started = time.perf_counter()
        with output.open("wb") as out, log.open("wb") as err:
            code = subprocess.run(
                [*command, "--state", str(state)], stdout=out, stderr=err, cwd=ROOT, check=False
            ).returncode
        seconds = time.perf_counter() - started
        if code != 0:
            print(log.read_text()[-3000:], file=sys.stderr)
        stats = emulator.emulator.stats()
        states, records = count_output(output)
    return TapRun(
        code,
        seconds,
        dict(stats["requests"]),
        len(stats["queries"]),
        records,
        len(states),
        max(states, default=0),
        sum(states),
    )


def count_output(path: Path) -> tuple[list[int], int]:
    """The bytes of each STATE line, and the stream's records, in the tap's stdout."""
    states, records = [], 0
    record = b'{"type":"RECORD","stream":"' + STREAM.encode() + b'"'
    with path.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"type":"STATE"'):
                states.append(len(line))
            elif line.startswith(record):
                records += 1
    return states, records


# Report ---------------------------------------------------------------------------------------


def table(results: Sequence[PlanFigures]) -> list[str]:
    """The figures, one line per run."""
    header = (
        f"{'run':<42} {'plan ms':>7} {'queries':>7} {'deferred':>8} {'est. rows':>11} "
        f"{'unest.':>6} {'max acc':>7} {'>100':>4} {'max est.':>8} {'>800k':>5} "
        f"{'STATEs':>6} {'B/STATE':>8} {'B/run':>11} {'ms/window':>9}"
    )
    lines = [header, "-" * len(header)]
    for f in results:
        largest = "—" if f.largest_estimate is None else f"{f.largest_estimate:,}"
        lines.append(
            f"{f.run:<42} {f.best_ms:>7.1f} {f.queries:>7,} {f.deferred_queries:>8,} "
            f"{f.estimated_rows:>11,} {f.unestimated_queries:>6,} {f.most_accounts:>7} "
            f"{f.over_100_accounts:>4} {largest:>8} {f.over_sizing_share:>5} "
            f"{f.state_messages:>6,} {f.state_bytes_last:>8,} {f.state_bytes_total:>11,} "
            f"{f.bookkeeping_ms_per_window:>9.2f}"
        )
    return lines


def describe(estate: Estate, budget: int) -> list[str]:
    """What was planned, and how to read the table."""
    kinds = Counter(estate.kinds.values())
    heavy = sum(rate >= HEAVY[1] for rate in estate.rates.values())
    return [
        (
            f"bench.planning: {len(estate.accounts):,} accounts "
            f"({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}; {heavy} with "
            f"{HEAVY[1]:,}-{HEAVY[2]:,} rows a day), {estate.start}..{estate.end} "
            f"({HISTORY_DAYS} days), refresh 3/1 + 30/7, window_days {WINDOW_DAYS}; planned by "
            "tap_supermetrics.read.reads.StreamReads"
        ),
        (
            f"plan ms: StreamReads + plan (+ the budget's allocation in b, {budget:,} rows), "
            f"best of {REPEATS}; >100: queries with more accounts than 100; >800k: queries "
            "estimated above the sizing share of 1,000,000 rows (but single accounts whose "
            "day alone is larger); B/STATE: the last STATE message of the run; B/run: all its "
            "STATE messages if one went out per window sent (the tap writes one at most every "
            "5 s: see its own run below); ms/window: recording a window as loaded and "
            "encoding the STATE"
        ),
    ]


def state_parts(bookmark: Mapping[str, Any]) -> dict[str, int]:
    """Bytes of each part of the coverage in the bookmark (what a STATE message is made of)."""
    coverage = bookmark.get("coverage") or {}
    return {key: len(encoder.encode(value)) for key, value in coverage.items()}


def tap_lines(tap: TapRun | None, planned: PlanFigures, account_days: int) -> list[str]:
    """The real tap's run, beside what (a) planned."""
    if tap is None:
        return []
    requests = ", ".join(f"{kind} {count}" for kind, count in sorted(tap.requests.items()))
    return [
        "",
        (
            f"the tap's own run (a) (python -m tap_supermetrics --config --state; emulator "
            f"in-process, run_seconds 0.01, one row per account-day; max_requests_per_second "
            f"{REQUESTS_PER_SECOND}): exit {tap.exit_code}, {tap.wall_seconds:.1f} s wall; "
            f"{tap.queries_submitted} queries submitted (planned {planned.queries}); requests: "
            f"{requests}; {tap.records:,} records (planned account-days {account_days:,}); "
            f"{tap.state_messages} STATE messages, largest {tap.state_bytes_largest:,} B, "
            f"{tap.state_bytes_total:,} B in all (goal: at most {STATE_GOAL:,} B: "
            f"{'met' if tap.state_bytes_total <= STATE_GOAL else 'NOT met'})"
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Plan the runs, size their STATE, run the tap once; exit 1 if a check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--max-rows-per-run", type=int, default=10_000_000, help="run b's budget")
    parser.add_argument("--no-e2e", action="store_true", help="skip the real tap's run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    end = dt.datetime.now(tz=dt.UTC).date() - ONE_DAY  # yesterday: the tap's own as-of day
    results, estate, account_days = planned_runs(args.accounts, end, args.max_rows_per_run)
    problems = [problem for figures in results for problem in figures.problems]
    tap = None if args.no_e2e else tap_run(estate)
    if tap is not None:
        problems += tap.problems(results[0], account_days)
    parts = state_parts(estate.bookmark)
    if args.json:
        figures = {
            "accounts": args.accounts,
            "start_date": estate.start.isoformat(),
            "end_date": end.isoformat(),
            "runs": [asdict(f) for f in results],
            "state_parts_bytes_before_run_a": parts,
            "tap": tap and asdict(tap),
            "problems": problems,
        }
        print(json.dumps(figures, indent=2))
    else:
        lines = [*describe(estate, args.max_rows_per_run), "", *table(results)]
        lines.append(f"\nthe state before run a, bytes by part of the coverage: {parts}")
        print("\n".join([*lines, *tap_lines(tap, results[0], account_days)]))
        for problem in problems:
            print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

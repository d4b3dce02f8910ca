"""Rows a month of daily runs cost, by refresh setting, computed by the tap's own planner.

Run: .venv/bin/python -m bench.refresh_cost [--accounts 100] [--rows-per-day 50] [--runs 30]

After a backfill, `--runs` daily runs (each one day later, `end_date` left at its
default: yesterday in UTC) of one Google Ads query over `--accounts` accounts with
`--rows-per-day` rows per account and day, once per setting of `SETTINGS`. Each run is
planned by `tap_supermetrics.read.reads.StreamReads` (the planner and the tier bookkeeping
the tap runs) from the state the previous run left, and every planned query is recorded
as loaded, as a run that succeeds does. Nothing is sent: a query's rows are its accounts
x its days x `--rows-per-day`. Prints the rows and queries of every run, the totals side
by side, their ratio and the share of the default fair-use budget (docs/refresh.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from dataclasses import dataclass
from typing import Any

from bench.common import stream_reads
from tap_supermetrics.read.reads import StreamReads

ONE_DAY = dt.timedelta(days=1)
#: Supermetrics' default fair-use budget: rows returned per month per licence.
MONTHLY_BUDGET = 10_000_000
START = dt.date(2024, 1, 1)
#: The backfill reads START..BACKFILL_THROUGH; the daily runs follow it.
BACKFILL_THROUGH = dt.date(2024, 3, 31)
FIELDS = ["Date", "profileID", "Device", "Clicks"]
METRICS = frozenset({"Clicks"})
GOOGLE_ADS = [{"days": 3, "every": 1}, {"days": 30, "every": 7}]
#: The settings compared, by label: the one lookback that catches a month of
#: corrections, and the tiers that catch the same month weekly.
SETTINGS: dict[str, dict[str, Any]] = {
    "lookback_days: 30": {"lookback_days": 30},
    "refresh 3/1 + 30/7": {"refresh": GOOGLE_ADS},
}
LOGGER = logging.getLogger("bench.refresh_cost")


@dataclass(frozen=True)
class Run:
    """What one run read: its as-of day, the queries it sent and their rows."""

    as_of: dt.date
    queries: int
    rows: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Estate:
    """The accounts of the query and how many rows each has a day."""

    accounts: int
    rows_per_day: int

    def account_ids(self) -> list[str]:
        """Google Ads-shaped ids: `100-000-0000`, `100-000-0001`, …."""
        return [f"100-{n // 10_000:03}-{n % 10_000:04}" for n in range(self.accounts)]


def daily_runs(  # noqa: PLR0913 - each input is one fact of the schedule
    settings: dict[str, Any],
    estate: Estate,
    *,
    start: dt.date = START,
    backfill_through: dt.date = BACKFILL_THROUGH,
    runs: int = 30,
    window_days: int = 30,
) -> tuple[Run, list[Run]]:
    """The backfill through `backfill_through`, then `runs` daily runs: what each read.

    The tap's planning runs as it would on the day after each as-of day; the state
    (one stream's bookmark) carries over from run to run.
    """
    config = {
        "start_date": start.isoformat(),
        "window_days": window_days,
        "queries": [
            {"name": "ads", "ds_id": "AW", "ds_accounts": estate.account_ids(), "fields": FIELDS}
        ],
        **settings,
    }
    bookmark: dict[str, Any] = {}
    done = []
    for number in range(runs + 1):
        today = backfill_through + ONE_DAY * (number + 1)
        reads = stream_reads(config, bookmark, today, METRICS)
        done.append(_run(reads, estate))
    return done[0], done[1:]


def _run(reads: StreamReads, estate: Estate) -> Run:
    """Plan one run, count its rows, and record its queries as loaded."""
    rows = 0
    queries = reads.plan.queries
    for planned in queries:
        assert planned.window is not None
        days = (planned.window.end - planned.window.start).days + 1
        rows += len(planned.accounts) * days * estate.rows_per_day
        reads.loaded_days.window(planned.accounts, planned.window)
    reasons = tuple(dict.fromkeys(planned.reason for planned in queries))
    return Run(reads.as_of, len(queries), rows, reasons)


def report(estate: Estate, runs: int) -> list[str]:
    """The lines `main` prints: every run of every setting, then the totals side by side."""
    results = {label: daily_runs(chosen, estate, runs=runs) for label, chosen in SETTINGS.items()}
    labels = list(results)
    width = 26
    lines = [
        (
            f"{estate.accounts} accounts x {estate.rows_per_day} rows a day, start_date {START}, "
            f"backfill through {BACKFILL_THROUGH}, then {runs} daily runs (end_date: yesterday, "
            "window_days 30); planned by tap_supermetrics.read.reads.StreamReads"
        ),
        "",
        f"{'run':>3}  {'as of':<10}" + "".join(f"{label:>{width}}" for label in labels),
        f"{'':>3}  {'':<10}" + f"{'rows  queries':>{width}}" * len(labels),
    ]
    for number in range(runs):
        cells = [results[label][1][number] for label in labels]
        lines.append(
            f"{number + 1:>3}  {cells[0].as_of}"
            + "".join(f"{run.rows:>{width - 9},}{run.queries:>9}" for run in cells)
        )
    rows = {label: sum(run.rows for run in results[label][1]) for label in labels}
    queries = {label: sum(run.queries for run in results[label][1]) for label in labels}
    per_account = estate.accounts * estate.rows_per_day
    backfill = results[labels[0]][0]

    def line(name: str, values: dict[str, str]) -> str:
        return f"{name:<30}" + "".join(f"{values[label]:>{width}}" for label in labels)

    return [
        *lines,
        "",
        f"backfill (not counted below): {backfill.rows:,} rows, {backfill.queries} queries",
        "",
        line("", {label: label for label in labels}),
        line("rows read in the runs", {la: f"{rows[la]:,}" for la in labels}),
        line("days read per account", {la: f"{rows[la] // per_account:,}" for la in labels}),
        line("queries sent", {la: f"{queries[la]:,}" for la in labels}),
        line(
            "share of 10M rows a month",
            {la: f"{rows[la] / MONTHLY_BUDGET:.1%}" for la in labels},
        ),
        "",
        f"ratio {labels[0]} / {labels[1]}: {rows[labels[0]] / rows[labels[1]]:.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the report for the sizes on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--rows-per-day", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    print("\n".join(report(Estate(args.accounts, args.rows_per_day), args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

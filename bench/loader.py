"""End to end into PostgreSQL: the loader settings of meltano.yml against target-postgres' defaults.

Run: nice -n 19 .venv/bin/python -m bench.loader [--rows 999000] [--configs project,defaults]

One query of `--rows` rows (rounded up to whole days of 3,000 rows: Date, profileID,
Keyword, Device and five metrics, plus the tap's `_sm_extracted_at`), read in windows
of WINDOW_DAYS days (90,000 rows each, far below the API's 1,000,000-row cap on one
result), goes from the emulator through `meltano run tap-supermetrics target-postgres`
into a throw-away PostgreSQL (tests/postgres.py), once per loader configuration, each in
its own schema and with its own Meltano system database:

- `project`: target-postgres as meltano.yml configures it;
- `defaults`: target-postgres' own defaults for every loader setting meltano.yml sets
  (read from `target-postgres --about`; `batch_size_rows` unset means the SDK's
  10,000 a batch);
- `metadata-off` (only when asked for): the defaults with `add_record_metadata` and
  `activate_version` off, meltano.yml's loader settings before issue #11.

Each configuration loads the rows twice: a first load into an empty table, then a
re-load of the same rows (`meltano run --full-refresh`, so every row is upserted by
key). Baselines, measured in the same run: the tap alone (its stdout to a file, no
Meltano), and PostgreSQL's own `COPY` of the same rows (dumped from a loaded table
first, not timed) into an empty table with the same columns and key, and for the
re-load `COPY` into a temp table plus `INSERT … ON CONFLICT DO UPDATE`.

Checks (a failed one prints FAIL and the exit code is 1): after every load the table
holds exactly the rows the emulator lays out for the query (counted in the table),
with no duplicate key; after a re-load every row carries the re-load's
`_sm_extracted_at` (so every row was rewritten); the tap's own `query_runs` records
accumulate (one per window and load). Peak RSS of the target process is sampled from
/proc every 0.2 s. The goal, meltano.yml's loader >= 3x as fast as the defaults on both
loads, is judged at the default size (999,000 rows, printed met or NOT met); smaller
`--rows` (bench/run --quick: 21,000) print the ratio as information, since there each
`meltano run` is mostly its fixed start-up cost, the same with either configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psutil
import psycopg
import yaml
from psycopg import sql
from singer_sdk.sinks.core import Sink

from supermetrics_emulator import EmulatorServer
from tests.meltano_project import MELTANO, install_plugins, run_env
from tests.postgres import TemporaryPostgres

ROOT = Path(__file__).resolve().parent.parent
TAP = Path(sys.executable).parent / "tap-supermetrics"
TARGET = ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"
API_KEY = "bench-loader-key"
STREAM = "keywords"
FIELDS = [
    "Date", "profileID", "Keyword", "Device",
    "Impressions", "Clicks", "Cost", "CTR", "Conversions",
]  # fmt: skip
KEYS = FIELDS[:4]  # the tap's key: the date and every dimension
LINEAGE = "_sm_extracted_at"
ACCOUNTS = ["111-111-1111"]
START = dt.date(2023, 1, 1)
#: The tap's `window_days`, set explicitly: the expected rows and `query_runs` records
#: are counted per window.
WINDOW_DAYS = 30
#: The goal: meltano.yml's loader settings load >= 3x as fast as
#: target-postgres' defaults, first load and re-load, at the default size (a million rows,
#: in whole days); smaller runs show the ratio as information.
GOAL_SPEEDUP = 3.0
GOAL_ROWS = 999_000
#: Loader settings that say where to load, not how: never overridden.
CONNECTION = {"host", "port", "user", "password", "database", "default_target_schema"}
CONFIGS = ("project", "defaults", "metadata-off")


def query_params(days: int, first: int = 0) -> dict[str, Any]:
    """The query's parameters as the tap sends them, over `days` days from START + `first`."""
    start = START + dt.timedelta(days=first)
    end = start + dt.timedelta(days=days - 1)
    return {
        "ds_id": "AW",
        "ds_accounts": ACCOUNTS,
        "fields": FIELDS,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }


def expected_rows(emulator: EmulatorServer, days: int) -> int:
    """The rows the tap reads over `days` days: the emulator's layout, window by window.

    Summed per window as the tap queries them: a plan of all days at once would be cut at
    the emulator's `max_result_rows` (the API's 1,000,000) once `--rows` passes it.
    """
    return sum(
        emulator.emulator.plan(query_params(min(WINDOW_DAYS, days - first), first)).total_rows
        for first in range(0, days, WINDOW_DAYS)
    )


def loader_config() -> dict[str, Any]:
    """target-postgres' `config:` in meltano.yml."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres")
    return dict(loader.get("config") or {})


def target_defaults() -> dict[str, Any]:
    """target-postgres' own default for every loader setting meltano.yml sets."""
    about = json.loads(
        subprocess.run(
            [str(TARGET), "--about", "--format=json"], capture_output=True, check=True, text=True
        ).stdout
    )
    properties = about["settings"]["properties"]
    defaults = {}
    for name in sorted(set(loader_config()) - CONNECTION):
        if name == "batch_size_rows":
            defaults[name] = Sink.MAX_SIZE_DEFAULT  # what an unset batch_size_rows means
        else:
            defaults[name] = properties[name]["default"]
    return defaults


def loader_overrides(config: str) -> dict[str, Any]:
    """Loader settings that replace meltano.yml's for one configuration."""
    if config == "project":
        return {}
    defaults = target_defaults()
    if config == "metadata-off":
        defaults.update(add_record_metadata=False, activate_version=False)
    return defaults


# --- measuring processes ---------------------------------------------------------------


class PeakMemory(threading.Thread):
    """Samples the peak RSS (VmHWM) of a process's descendants, by a word in their command."""

    def __init__(self, root: int, words: dict[str, str]) -> None:
        """Watch the descendants of `root`; `words` maps a label to a word of the command."""
        super().__init__(daemon=True)
        self.root = psutil.Process(root)
        self.words = words
        self.peak_mb: dict[str, float] = dict.fromkeys(words, 0.0)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        try:
            children = self.root.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                command = " ".join(child.cmdline())
                status = Path(f"/proc/{child.pid}/status").read_text()
            except (psutil.Error, OSError):
                continue
            peak = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM:")), 0)
            for label, word in self.words.items():
                if word in command:
                    self.peak_mb[label] = max(self.peak_mb[label], int(peak) / 1024)


@dataclass
class Timed:
    """One measured step."""

    seconds: float
    rows: int | None = None
    problems: list[str] = field(default_factory=list)
    peak_mb: float | None = None

    @property
    def rate(self) -> float:
        return (self.rows or 0) / self.seconds if self.seconds else math.nan


# --- the pipeline ----------------------------------------------------------------------


class Bench:
    """The emulator, PostgreSQL and a work directory for one benchmark run."""

    def __init__(self, emulator: EmulatorServer, postgres: TemporaryPostgres, work: Path) -> None:
        """Hold the servers; `work` takes config files, outputs and Meltano databases."""
        self.emulator = emulator
        self.postgres = postgres
        self.work = work

    def tap_settings(self, days: int) -> dict[str, Any]:
        params = query_params(days)
        return {
            "api_key": API_KEY,
            "base_url": self.emulator.base_url,
            "start_date": params["start_date"],
            "end_date": params["end_date"],
            "window_days": WINDOW_DAYS,
            "poll_interval": 0.05,
            "max_poll_interval": 0.5,
            "schema_cache_dir": str(self.work / "schema-cache"),
            "queries": [{"name": STREAM, "ds_id": "AW", "ds_accounts": ACCOUNTS, "fields": FIELDS}],
        }

    def meltano_env(self, days: int, config: str) -> dict[str, str]:
        system_db = self.work / f"meltano-{config}.db"
        env = run_env(self.postgres, system_db, schema_name(config), self.tap_settings(days))
        for name, value in loader_overrides(config).items():
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            env[f"TARGET_POSTGRES_{name.upper()}"] = text
        return env

    def tap_alone(self, days: int) -> tuple[Timed, Path]:
        """The tap writing to a file, no Meltano, no loader."""
        config = self.work / "tap-config.json"
        config.write_text(json.dumps(self.tap_settings(days)))
        output = self.work / "tap-output.jsonl"
        started = time.perf_counter()
        with output.open("wb") as out, (self.work / "tap-alone.log").open("wb") as log:
            process = subprocess.Popen([str(TAP), "--config", str(config)], stdout=out, stderr=log)
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        timed = Timed(seconds, peak_mb=usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            timed.problems.append(f"the tap failed: see {self.work / 'tap-alone.log'}")
        timed.rows = count_records(output, STREAM)
        return timed, output

    def meltano_run(self, days: int, config: str, *, full_refresh: bool) -> Timed:
        """One `meltano run tap-supermetrics target-postgres`, timed from start to exit."""
        command = [str(MELTANO), "run"]
        if full_refresh:
            command.append("--full-refresh")
        command += ["tap-supermetrics", "target-postgres"]
        log = self.work / f"meltano-{config}-{'reload' if full_refresh else 'load'}.log"
        env = self.meltano_env(days, config)
        started = time.perf_counter()
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
            sampler = PeakMemory(process.pid, {"target": str(TARGET)})
            sampler.start()
            code = process.wait()
            sampler.stop()
        timed = Timed(time.perf_counter() - started, peak_mb=sampler.peak_mb["target"])
        if code != 0:
            timed.problems.append(f"meltano run exited {code}: see {log}")
        return timed

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.postgres.dsn, autocommit=True)


def schema_name(config: str) -> str:
    return "bench_" + config.replace("-", "_")


def count_records(path: Path, stream: str) -> int:
    """RECORD messages of `stream` in a file of Singer output."""

    class Head(msgspec.Struct):
        type: str
        stream: str | None = None

    decode = msgspec.json.Decoder(Head).decode
    with path.open("rb") as lines:
        return sum(
            1 for line in lines if (head := decode(line)).type == "RECORD" and head.stream == stream
        )


def table_problems(
    connection: psycopg.Connection[tuple[Any, ...]],
    schema: str,
    expected: int,
    rewritten_since: dt.datetime | None = None,
) -> tuple[int, list[str]]:
    """The rows in the stream's table, and what is wrong with them."""
    table = sql.Identifier(schema, STREAM)
    keys = sql.SQL(", ").join(map(sql.Identifier, KEYS))
    count, distinct = connection.execute(
        sql.SQL("select count(*), count(distinct ({})) from {}").format(keys, table)
    ).fetchone() or (0, 0)
    problems = []
    if count != expected:
        problems.append(f"{schema}.{STREAM} holds {count} rows, the query has {expected}")
    if distinct != count:
        problems.append(f"{schema}.{STREAM}: {count - distinct} duplicate keys")
    if rewritten_since is not None:
        (stale,) = connection.execute(
            sql.SQL("select count(*) from {} where _sm_extracted_at < %s").format(table),
            [rewritten_since],
        ).fetchone() or (0,)
        if stale:
            problems.append(f"{schema}.{STREAM}: {stale} rows were not rewritten by the re-load")
    return count, problems


def query_run_problems(
    connection: psycopg.Connection[tuple[Any, ...]], schema: str, expected: int
) -> list[str]:
    """query_runs must accumulate: one record per window and load."""
    (runs,) = connection.execute(
        sql.SQL("select count(*) from {}").format(sql.Identifier(schema, "query_runs"))
    ).fetchone() or (0,)
    if runs != expected:
        return [f"{schema}.query_runs holds {runs} records, expected {expected}"]
    return []


def copy_baseline(bench: Bench, like: str, expected: int) -> tuple[Timed, Timed]:
    """PostgreSQL's own COPY of the same rows: a first load, then an upsert of them all.

    The rows are dumped (not timed) from `like`'s table, in COPY's text format, into an
    empty table with the same columns and key.
    """
    schema = "bench_copy"
    source, table = sql.Identifier(like, STREAM), sql.Identifier(schema, STREAM)
    columns = [*FIELDS, LINEAGE]  # the lineage stamp last: the re-load replaces it
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    with bench.connect() as connection:
        with connection.cursor().copy(
            sql.SQL("copy (select {} from {}) to stdout").format(listed, source)
        ) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        connection.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        connection.execute(sql.SQL("create table {} (like {} including all)").format(table, source))

        started = time.perf_counter()
        with connection.cursor().copy(
            sql.SQL("copy {} ({}) from stdin").format(table, listed)
        ) as copy:
            copy.write(data)
        first = Timed(time.perf_counter() - started)
        first.rows, first.problems = table_problems(connection, schema, expected)

        # The re-load's rows carry a new stamp, as rows the tap reads again do.
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        stamp = since.isoformat(sep=" ").encode()
        fresh = b"".join(
            row.rsplit(b"\t", 1)[0] + b"\t" + stamp + b"\n" for row in data.splitlines()
        )
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
            for c in columns
            if c not in KEYS
        )
        started = time.perf_counter()
        with connection.transaction():
            connection.execute(
                sql.SQL("create temp table incoming as select {} from {} limit 0").format(
                    listed, table
                )
            )
            with connection.cursor().copy(
                sql.SQL("copy incoming ({}) from stdin").format(listed)
            ) as copy:
                copy.write(fresh)
            connection.execute(
                sql.SQL(
                    "insert into {} ({}) select {} from incoming on conflict ({}) do update set {}"
                ).format(
                    table, listed, listed, sql.SQL(", ").join(map(sql.Identifier, KEYS)), updates
                )
            )
            connection.execute("drop table incoming")
        again = Timed(time.perf_counter() - started)
        again.rows, again.problems = table_problems(connection, schema, expected, since)
    return first, again


# --- reporting -------------------------------------------------------------------------


def line(label: str, first: Timed | None, again: Timed | None, base: tuple[Timed, Timed]) -> str:
    cells = []
    for timed, reference in ((first, base[0]), (again, base[1])):
        if timed is None:
            cells.append(f"{'':>8} {'':>10} {'':>7}")
            continue
        ratio = timed.rate / reference.rate if reference.rate else math.nan
        cells.append(f"{timed.seconds:8.1f} {timed.rate:10,.0f} {ratio:6.2f}x")
    memory = next((t.peak_mb for t in (first, again) if t and t.peak_mb), None)
    shown = f"{memory:8.0f}" if memory else f"{'':>8}"
    return f"{label:<38} {cells[0]}   {cells[1]} {shown}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=GOAL_ROWS,  # a million, in whole days of 3,000 rows
        help="rows, rounded up to days",
    )
    parser.add_argument(
        "--configs",
        default="project,defaults",
        help=f"comma-separated loader configurations among {', '.join(CONFIGS)}",
    )
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(CONFIGS)
    if unknown or not configs:
        parser.error(f"unknown configuration(s) {sorted(unknown)}; choose among {CONFIGS}")
    if not MELTANO.exists():
        parser.error("Meltano is missing: run scripts/bootstrap --meltano")
    install_plugins()

    with (
        EmulatorServer(api_key=API_KEY, run_seconds=0.2) as emulator,
        tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp,
    ):
        per_day = emulator.emulator.plan(query_params(1)).total_rows
        days = max(1, math.ceil(args.rows / per_day))
        expected = expected_rows(emulator, days)
        postgres = TemporaryPostgres().start()
        try:
            with psycopg.connect(postgres.dsn, autocommit=True) as connection:
                # target-postgres' INSERT path stores date-time values in the session's
                # time zone, COPY as given (UTC): with the server in UTC both agree.
                connection.execute("alter database postgres set timezone to 'UTC'")
            return report(Bench(emulator, postgres, Path(tmp)), configs, days, expected)
        finally:
            postgres.stop()


def goal_verdict(speedups: list[float], rows: int) -> str:
    """The 3x goal, judged only at the size it is set for.

    Below GOAL_ROWS each `meltano run` is mostly its fixed cost (Meltano's start-up, the
    target's connection and table checks), the same with either loader setting, so the
    ratio says little about loading and is shown as information.
    """
    goal = f"goal (a target, not a measurement): >= {GOAL_SPEEDUP:g}x for both"
    if rows < GOAL_ROWS:
        return f"{goal}, set for {GOAL_ROWS:,} rows: information at {rows:,}"
    return f"{goal}: {'met' if min(speedups) >= GOAL_SPEEDUP else 'NOT met'}"


def report(bench: Bench, configs: list[str], days: int, expected: int) -> int:
    windows = math.ceil(days / WINDOW_DAYS)
    print(
        f"bench.loader: {expected:,} rows x {len(FIELDS) + 1} columns ({len(FIELDS)} fields + "
        f"_sm_extracted_at), {days} days, {windows} windows, key {'+'.join(KEYS)}",
        flush=True,
    )
    problems: list[str] = []
    tap, output = bench.tap_alone(days)
    problems += tap.problems
    if tap.rows != expected:
        problems.append(f"the tap emitted {tap.rows} records, the query has {expected}")
    output.unlink()

    results: dict[str, tuple[Timed, Timed]] = {}
    for config in configs:
        schema = schema_name(config)
        first = bench.meltano_run(days, config, full_refresh=False)
        with bench.connect() as connection:
            first.rows, found = table_problems(connection, schema, expected)
            first.problems += found
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        again = bench.meltano_run(days, config, full_refresh=True)
        with bench.connect() as connection:
            again.rows, found = table_problems(connection, schema, expected, since)
            again.problems += found
            if config == "project":
                again.problems += query_run_problems(connection, schema, 2 * windows)
        results[config] = (first, again)
        problems += first.problems + again.problems
        print(
            f"  {config}: first load {first.seconds:.1f} s, re-load {again.seconds:.1f} s",
            flush=True,
        )

    copied = copy_baseline(bench, schema_name(configs[0]), expected)
    problems += copied[0].problems + copied[1].problems
    base = results.get("defaults", results[configs[0]])
    labels = {
        "project": "meltano run, meltano.yml loader",
        "defaults": "meltano run, target-postgres defaults",
        "metadata-off": "meltano run, defaults, no metadata",
    }
    print(
        f"\n{'':<38} {'first load (empty table)':^27}   {'re-load (all upserts)':^27} "
        f"{'peak RSS':>8}\n{'measured':<38} {'s':>8} {'rows/s':>10} {'vs dflt':>7}   "
        f"{'s':>8} {'rows/s':>10} {'vs dflt':>7} {'MB':>8}"
    )
    print(line("tap alone (stdout to file)", tap, None, base))
    for config in configs:
        print(line(labels[config], *results[config], base))
    print(line("PostgreSQL COPY (floor)", *copied, base))
    if "project" in results and "defaults" in results:
        project, defaults = results["project"], results["defaults"]
        speedups = [project[i].rate / defaults[i].rate for i in (0, 1)]
        print(
            f"\nmeltano.yml loader vs target-postgres defaults, measured: first load "
            f"{speedups[0]:.2f}x, re-load {speedups[1]:.2f}x; {goal_verdict(speedups, expected)}"
        )
    print("peak RSS: the tap's for the tap alone, target-postgres' for meltano runs")
    print(f"loader settings (meltano.yml): {json.dumps(loader_config())}")
    print(f"target-postgres defaults used: {json.dumps(target_defaults())}")
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

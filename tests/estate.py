"""The estate's parts as meltano.yml declares them, run into a throw-away PostgreSQL.

Shared by tests/e2e/test_parallel.py and tests/e2e/test_shared_tables.py: each part's
queries, the rows the emulator serves for them, and `meltano run` of several jobs started
at one moment with a private system database, schema and schema cache.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT, expected_rows
from tests.meltano_project import MELTANO, comparable, demo_parts, demo_queries, run_env
from tests.postgres import TemporaryPostgres

#: Each part's Meltano job and the extractor it runs (meltano.yml).
PARTS = {
    "agency-a-to-postgres": "tap-supermetrics--agency-a",
    "agency-b-to-postgres": "tap-supermetrics--agency-b",
}
#: The tables every part writes to: the tap's fixed streams.
SHARED_TABLES = ("query_runs", "coverage", "reconciliation")


def install_dbt() -> None:
    """Install dbt-postgres before parts start together: each part's job runs it first.

    (`meltano run` would install it itself, but two runs would then install it at once.)
    """
    subprocess.run(
        [str(MELTANO), "install", "dbt-postgres"], check=True, cwd=ROOT, capture_output=True
    )


def part_queries(plugin: str) -> list[dict[str, Any]]:
    """The queries meltano.yml's demo environment gives one part of the estate."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == plugin)
    assert extractor["inherit_from"] == "tap-supermetrics"
    return demo_queries(plugin)


def state_id(plugin: str) -> str:
    return f"dev:{plugin}-to-target-postgres"


def api_rows(
    emulator: EmulatorServer, query: dict[str, Any], end_date: str
) -> list[tuple[Any, ...]]:
    """The query's fields in every row the emulator serves from 2024-01-01 to end_date."""
    rows = expected_rows(
        emulator, query["ds_id"], query["fields"], "2024-01-01", end_date, query["ds_accounts"]
    )
    return sorted(
        (tuple(comparable(row[name]) for name in query["fields"]) for row in rows), key=repr
    )


@dataclass
class Estate:
    """The project's meltano.yml with a private system database, schema and schema cache."""

    emulator: EmulatorServer
    postgres: TemporaryPostgres
    workdir: Path
    schema: str

    def env(self, end_date: str) -> dict[str, str]:
        # Settings of tap-supermetrics: both parts inherit them; their queries stay theirs.
        shared = {
            "base_url": self.emulator.base_url,
            "api_key": API_KEY,
            "start_date": "2024-01-01",
            "end_date": end_date,
            "poll_interval": 0.02,
            "max_poll_interval": 0.2,
            "schema_cache_dir": str(self.workdir / "schema-cache"),
        }
        env = run_env(self.postgres, self.workdir / "meltano.db", self.schema, shared)
        return {**env, **demo_parts(PARTS.values())}  # each part's demo queries

    def start(self, *args: str, end_date: str, stdin: bool = False) -> subprocess.Popen[str]:
        """`meltano ARGS` started in the project, its output (stdout, stderr) in pipes."""
        return subprocess.Popen(
            [str(MELTANO), *args],
            cwd=ROOT,
            env=self.env(end_date),
            stdin=subprocess.PIPE if stdin else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_jobs(self, *jobs: str, end_date: str) -> dict[str, subprocess.CompletedProcess[str]]:
        """Start `meltano run JOB` for every job at once, then wait for all of them."""
        return finish({job: self.start("run", job, end_date=end_date) for job in jobs})

    def meltano(self, *args: str) -> str:
        return subprocess.run(
            [str(MELTANO), *args],
            cwd=ROOT,
            env=self.env("2024-01-01"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def table(self, query: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The query's fields in every row of its table, comparable with `api_rows`."""
        columns = sql.SQL(", ").join(map(sql.Identifier, query["fields"]))
        with psycopg.connect(self.postgres.dsn) as connection:
            rows = connection.execute(
                sql.SQL("select {} from {}").format(
                    columns, sql.Identifier(self.schema, query["name"])
                )
            ).fetchall()
        return sorted((tuple(comparable(value) for value in row) for row in rows), key=repr)

    def query_run_streams(self) -> list[str]:
        with psycopg.connect(self.postgres.dsn) as connection:
            rows = connection.execute(
                sql.SQL("select stream from {} order by stream").format(
                    sql.Identifier(self.schema, "query_runs")
                )
            ).fetchall()
        return [stream for (stream,) in rows]


def finish(
    started: dict[str, subprocess.Popen[str]],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Wait for every started process: what each printed and its exit code."""
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done

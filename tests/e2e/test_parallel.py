"""One estate split across Meltano jobs that run side by side (docs/running-at-scale.md).

meltano.yml declares `tap-supermetrics--agency-a` and `tap-supermetrics--agency-b`: they
inherit every setting of tap-supermetrics and bring their own queries (here the examples
of meltano.yml's demo environment, each through the part's own TAP_SUPERMETRICS__AGENCY_*
variable), and the jobs `agency-a-to-postgres` and `agency-b-to-postgres` load them with
target-postgres. Here
both jobs run at the same time (two `meltano run` processes started together) against
the emulator into one PostgreSQL schema, each with its own Meltano state.

As docs/running-at-scale.md says for a new warehouse, one part runs alone first:
target-postgres creates a missing schema or table without IF NOT EXISTS, so two first runs
could both try to create the schema (and the shared `query_runs` table) and one would fail.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT, expected_rows
from tests.meltano_project import (  # fixtures postgres, meltano_plugins: conftest
    MELTANO,
    comparable,
    demo_parts,
    demo_queries,
    run_env,
)
from tests.postgres import TemporaryPostgres

pytestmark = pytest.mark.e2e

PARTS = {
    "agency-a-to-postgres": "tap-supermetrics--agency-a",
    "agency-b-to-postgres": "tap-supermetrics--agency-b",
}


def part_queries(plugin: str) -> list[dict[str, Any]]:
    """The queries meltano.yml's demo environment gives one part of the estate."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == plugin)
    assert extractor["inherit_from"] == "tap-supermetrics"
    return demo_queries(plugin)


def state_id(plugin: str) -> str:
    return f"dev:{plugin}-to-target-postgres"


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

    def run_jobs(self, *jobs: str, end_date: str) -> dict[str, subprocess.CompletedProcess[str]]:
        """Start `meltano run JOB` for every job at once, then wait for all of them."""
        env = self.env(end_date)
        started = {
            job: subprocess.Popen(
                [str(MELTANO), "run", job],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for job in jobs
        }
        done = {}
        for job, process in started.items():
            out, err = process.communicate(timeout=300)
            done[job] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        return done

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


def api_rows(
    emulator: EmulatorServer, query: dict[str, Any], end_date: str
) -> list[tuple[Any, ...]]:
    rows = expected_rows(
        emulator, query["ds_id"], query["fields"], "2024-01-01", end_date, query["ds_accounts"]
    )
    return sorted(
        (tuple(comparable(row[name]) for name in query["fields"]) for row in rows), key=repr
    )


def test_two_parts_of_an_estate_load_side_by_side_each_with_its_own_state(
    emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    tmp_path: Path,
) -> None:
    estate = Estate(emulator, postgres, tmp_path, schema="e2e_parallel")
    queries = {job: part_queries(plugin) for job, plugin in PARTS.items()}

    # A new warehouse: one part alone creates the schema and query_runs.
    alone = estate.run_jobs("agency-a-to-postgres", end_date="2024-01-10")["agency-a-to-postgres"]
    assert alone.returncode == 0, alone.stderr[-3000:]

    both = estate.run_jobs(*PARTS, end_date="2024-01-20")  # a's new days, b's first run

    for job, result in both.items():
        assert result.returncode == 0, f"{job}:\n{result.stderr[-3000:]}"
    for job in PARTS:
        for query in queries[job]:
            expected = api_rows(emulator, query, "2024-01-20")
            assert expected, query["name"]
            assert estate.table(query) == expected, query["name"]

    # Each part's state holds its own streams only, under its own state id.
    listed = estate.meltano("state", "list")
    for job, plugin in PARTS.items():
        assert state_id(plugin) in listed
        state = json.loads(estate.meltano("state", "get", state_id(plugin)))
        bookmarks = state["singer_state"]["bookmarks"]
        names = sorted(q["name"] for q in queries[job])
        fixed = {"query_runs", "coverage", "reconciliation"}  # the tap's own streams
        assert sorted(name for name in bookmarks if name not in fixed) == names
        assert {bookmarks[name]["replication_key_value"] for name in names} == {"2024-01-20"}

    # query_runs accumulates both parts' queries in one table.
    streams = estate.query_run_streams()
    assert {q["name"] for job in PARTS for q in queries[job]} == set(streams)
    assert streams.count("agency_a_google_ads_daily") == 2  # alone, then side by side

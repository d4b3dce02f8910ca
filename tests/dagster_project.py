"""Running the Dagster code location (orchestrate/) as a user does, for tests/e2e/test_dagster.py.

Every Dagster command goes through `orchestrate/dagster` (Dagster from .venv-dagster, as
docs/running-on-dagster.md shows it), on a persistent instance under a temp DAGSTER_HOME
whose dagster.yaml is orchestrate/dagster.yaml, with a storage section where a test asks.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from supermetrics_emulator import EmulatorServer
from tests.constants import ROOT

DAGSTER = ROOT / "orchestrate" / "dagster"
DAGSTER_YAML = ROOT / "orchestrate" / "dagster.yaml"
DEFINITIONS = "orchestrate/definitions.py"
#: A step's event in the output of `dagster job execute`: the step, then the event.


@dataclass
class DagsterInstance:
    """A Dagster instance under `home`; its commands run in `env` from the repository."""

    home: Path
    env: dict[str, str]

    @classmethod
    def create(
        cls, home: Path, env: dict[str, str], storage: dict[str, Any] | None = None
    ) -> DagsterInstance:
        """orchestrate/dagster.yaml as the instance's dagster.yaml, with `storage` if given."""
        config = yaml.safe_load(DAGSTER_YAML.read_text(encoding="utf-8"))
        if storage is not None:
            config["storage"] = storage
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        return cls(home, {**env, "DAGSTER_HOME": str(home)})

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """`orchestrate/dagster ARGS` started, its output (stdout and stderr) in one pipe."""
        return subprocess.Popen(
            [str(DAGSTER), *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`orchestrate/dagster ARGS` to its end."""
        process = self.start(*args, **env)
        output, _ = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, output)

    def execute(self, job: str, **env: str) -> subprocess.CompletedProcess[str]:
        """One run of a job of the code location, in this process' terminal, to its end."""
        return self.run("job", "execute", "-f", DEFINITIONS, "-j", job, **env)

    def set_pool(self, pool: str, limit: int) -> None:
        """`dagster instance concurrency set POOL LIMIT`, as the docs show it."""
        done = self.run("instance", "concurrency", "set", pool, str(limit))
        assert done.returncode == 0, done.stdout[-2000:]


def query_times(emulator: EmulatorServer, accounts: set[str]) -> tuple[float, float]:
    """When the emulator ran the queries of these accounts: first start, last finish."""
    ran = [
        query
        for query in emulator.stats()["queries"]
        if set(query["accounts"]) <= accounts and query["started_at"] is not None
    ]
    assert ran, f"the emulator ran no query for {sorted(accounts)}"
    return min(q["started_at"] for q in ran), max(q["finished_at"] for q in ran)


def meltano_runs(system_db: Path, state_id: str) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """Meltano's records of its runs of a state id (start, end, state), oldest first."""
    with sqlite3.connect(system_db) as connection:
        rows = connection.execute(
            "select started_at, ended_at, state from runs where job_name = ? order by started_at",
            (state_id,),
        ).fetchall()
    return [
        (dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end), state)
        for start, end, state in rows
    ]

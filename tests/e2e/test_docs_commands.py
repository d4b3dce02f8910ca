"""The commands of README.md and of every docs page, run as written (tests/docs/test_readme.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supermetrics_emulator import EmulatorServer
from tests.constants import API_KEY
from tests.docs.test_readme import (
    DROPPED_ENV,
    READER_ENVIRONMENT,
    Command,
    Session,
    copy_project,
    every_page,
    require_current_bootstrap,
)
from tests.postgres import TemporaryPostgres


@pytest.fixture(scope="module")
def readme_postgres() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres().start()
    try:
        yield server
    finally:
        server.stop()


def reader_env(
    project: Path, reader_venv: Path, emulator: EmulatorServer, postgres: TemporaryPostgres
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(DROPPED_ENV)}
    paths = [reader_venv / "bin", project / ".venv-meltano" / "bin", project / ".venv" / "bin"]
    tmp = reader_venv.parent / "tmp"
    tmp.mkdir()
    env.update(
        # The pages are written for the reader's own estate, in meltano.yml's default
        # environment; here they run on the demo's values (Session runs `dev:` state ids
        # as `demo:` ones).
        MELTANO_ENVIRONMENT=READER_ENVIRONMENT,
        PATH=os.pathsep.join([*map(str, paths), os.environ.get("PATH", "")]),
        TMPDIR=str(tmp),
        SUPERMETRICS_API_KEY=API_KEY,
        TAP_SUPERMETRICS_API_KEY=API_KEY,
        TAP_SUPERMETRICS_BASE_URL=emulator.base_url,
        PGUSER=postgres.user,
        PGPASSWORD=postgres.password,
        PGHOST=postgres.host,
        PGPORT=str(postgres.port),
        TARGET_POSTGRES_USER=postgres.user,
        TARGET_POSTGRES_PASSWORD=postgres.password,
        TARGET_POSTGRES_HOST=postgres.host,
        TARGET_POSTGRES_PORT=str(postgres.port),
    )
    return env


@pytest.mark.e2e
def test_commands_of_every_page_run_as_written(
    tmp_path: Path, emulator: EmulatorServer, readme_postgres: TemporaryPostgres
) -> None:
    _, commands = every_page()
    project = copy_project(tmp_path / "project")
    require_current_bootstrap(project)
    reader_venv = tmp_path / "reader-venv"  # the reader's own virtualenv: `pip install` goes here
    subprocess.run([sys.executable, "-m", "venv", str(reader_venv)], check=True)
    session = Session(project, reader_env(project, reader_venv, emulator, readme_postgres))
    costs: list[tuple[float, Command]] = []
    try:
        for command in commands:
            if not command.example:
                started = time.perf_counter()
                skipped = session.run(command)
                costs.append((time.perf_counter() - started, command))
                note = f"\n          not run again: {skipped}" if skipped else ""
                print(f"{costs[-1][0]:5.1f} s  {command}{note}")  # noqa: T201
    finally:
        session.stop_servers()
    report_costs(costs)


def report_costs(costs: list[tuple[float, Command]]) -> None:
    """The total, and the costliest commands: where this test's time goes (shown with -s)."""
    total = sum(seconds for seconds, _ in costs)
    print(f"{total:5.1f} s  in all, {len(costs)} commands; the costliest:")  # noqa: T201
    for seconds, command in sorted(costs, key=lambda cost: -cost[0])[:5]:
        print(f"{seconds:5.1f} s  {command}")  # noqa: T201

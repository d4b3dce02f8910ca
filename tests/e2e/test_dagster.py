"""The estate's Meltano jobs as a Dagster code location (orchestrate/, issue 24).

`dagster job execute -f orchestrate/definitions.py` runs as a user runs it (through
`orchestrate/dagster`, on a persistent instance under a temp DAGSTER_HOME made from
orchestrate/dagster.yaml), against the emulator and a throw-away PostgreSQL. What a user
sees is checked: the rows and views in the warehouse, each run's exit code and log, when
the emulator ran each part's queries, and Meltano's own records of its runs.

The first estate runs with the licence's pool at 1, so that its parts run one after the
other; the next one side by side into an empty schema, as the first estate of a new
warehouse does (each part's job first makes the tables both share: docs/running-at-scale.md).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from orchestrate import meltano_project
from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT, expected_rows
from tests.dagster_project import (
    DAGSTER,
    DEFINITIONS,
    DagsterInstance,
    meltano_runs,
    query_times,
)
from tests.estate import install_dbt
from tests.meltano_project import MELTANO, comparable, demo_parts, demo_queries, run_env
from tests.postgres import TemporaryPostgres

pytestmark = pytest.mark.e2e

#: Seconds each query runs in the emulator: long enough for two parts to overlap visibly.
RUN_SECONDS = 3
PARTS = {
    "agency-a-to-postgres": "tap-supermetrics--agency-a",
    "agency-b-to-postgres": "tap-supermetrics--agency-b",
}
SCHEMA = "e2e_dagster"
LICENCE = "licence:main"
STATE_A = "dev:tap-supermetrics--agency-a-to-target-postgres"


def part_queries(plugin: str) -> list[dict[str, Any]]:
    return demo_queries(plugin)  # meltano.yml's examples, given to the parts in run_environment


def part_accounts(plugin: str) -> set[str]:
    return {account for query in part_queries(plugin) for account in query["ds_accounts"]}


def parts_times(emulator: EmulatorServer) -> list[tuple[float, float]]:
    """When the emulator ran each part's queries (first start, last finish)."""
    return [query_times(emulator, part_accounts(plugin)) for plugin in PARTS.values()]


def run_environment(
    emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    workdir: Path,
    end_date: str,
    system_db: str | None = None,
) -> dict[str, str]:
    """Settings of tap-supermetrics (the parts inherit them) and the warehouse's."""
    tap = {
        "base_url": emulator.base_url,
        "api_key": API_KEY,
        "start_date": "2024-01-01",
        "end_date": end_date,
        "poll_interval": 0.02,
        "max_poll_interval": 0.2,
        "schema_cache_dir": str(workdir / "schema-cache"),
    }
    env = {**run_env(postgres, workdir / "meltano.db", SCHEMA, tap), **demo_parts(PARTS.values())}
    if system_db is not None:
        env["MELTANO_DATABASE_URI"] = system_db
    return env


def meltano(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(MELTANO), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout


def create_database(postgres: TemporaryPostgres, name: str) -> str:
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def stored_step_events(postgres: TemporaryPostgres, database: str) -> list[tuple[str, str]]:
    """(step, event) pairs as a Dagster instance on PostgreSQL stored them, in order."""
    dsn = (
        f"host={postgres.host} port={postgres.port} user={postgres.user} "
        f"password={postgres.password} dbname={database}"
    )
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "select step_key, dagster_event_type from event_logs where dagster_event_type in "
            "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id"
        ).fetchall()
    return [(str(step), str(kind)) for step, kind in rows]


def warehouse_rows(postgres: TemporaryPostgres, query: dict[str, Any]) -> list[tuple[Any, ...]]:
    columns = sql.SQL(", ").join(map(sql.Identifier, query["fields"]))
    statement = sql.SQL("select {} from {}").format(columns, sql.Identifier(SCHEMA, query["name"]))
    with psycopg.connect(postgres.dsn) as connection:
        rows = connection.execute(statement).fetchall()
    return sorted((tuple(comparable(value) for value in row) for row in rows), key=repr)


def api_rows(emulator: EmulatorServer, query: dict[str, Any], end: str) -> list[tuple[Any, ...]]:
    fields = query["fields"]
    rows = expected_rows(emulator, query["ds_id"], fields, "2024-01-01", end, query["ds_accounts"])
    return sorted((tuple(comparable(row[f]) for f in fields) for row in rows), key=repr)


def current_views(postgres: TemporaryPostgres) -> set[str]:
    with psycopg.connect(postgres.dsn) as connection:
        rows = connection.execute(
            "select table_name from information_schema.views where table_schema = %s", (SCHEMA,)
        ).fetchall()
    return {name for (name,) in rows if name.endswith("_current")}


@dataclass
class FirstEstate:
    """The first estate, the licence's pool at 1."""

    run: subprocess.CompletedProcess[str]
    times: list[tuple[float, float]]  # when each part's queries ran


@pytest.fixture(scope="module")
def first_estate(
    postgres: TemporaryPostgres, meltano_plugins: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstEstate]:
    workdir = tmp_path_factory.mktemp("dagster-first-estate")
    install_dbt()  # the parts' jobs start with dbt-postgres:shared-tables
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA))
        )
    with EmulatorServer(api_key=API_KEY, run_seconds=RUN_SECONDS) as emulator:
        env = run_environment(emulator, postgres, workdir, end_date="2024-01-05")
        instance = DagsterInstance.create(workdir / "dagster-home", env)
        instance.set_pool(LICENCE, 1)
        run = instance.execute("estate")
        yield FirstEstate(run, parts_times(emulator))


def test_with_a_licence_limit_of_1_the_parts_run_one_after_the_other(
    first_estate: FirstEstate,
) -> None:
    assert first_estate.run.returncode == 0, first_estate.run.stdout[-4000:]
    (a_start, a_end), (b_start, b_end) = first_estate.times

    assert a_end <= b_start or b_end <= a_start
    assert f"Step blocked by limit for pool {LICENCE}" in first_estate.run.stdout


def test_estate_runs_the_parts_side_by_side_then_the_current_relations_on_shared_postgresql(
    first_estate: FirstEstate, postgres: TemporaryPostgres, tmp_path: Path
) -> None:
    assert first_estate.run.returncode == 0, "the first estate failed: see the test before"
    # An empty schema, as a new warehouse's first estate finds it: the parts side by side.
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(SCHEMA)))
        connection.execute(sql.SQL("create schema {}").format(sql.Identifier(SCHEMA)))
    # Dagster's storage and Meltano's system database on PostgreSQL: what workers on several
    # machines share. The licence's pool has the instance's default limit (2).
    meltano_db = create_database(postgres, "meltano_estate")
    uri = (
        f"postgresql+psycopg://{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}"
    )
    storage = {
        "postgres": {
            "postgres_db": {
                "hostname": postgres.host,
                "port": postgres.port,
                "username": postgres.user,
                "password": postgres.password,
                "db_name": create_database(postgres, "dagster_estate"),
            }
        }
    }
    with EmulatorServer(api_key=API_KEY, run_seconds=RUN_SECONDS) as emulator:
        env = run_environment(emulator, postgres, tmp_path, "2024-01-10", f"{uri}/{meltano_db}")
        instance = DagsterInstance.create(tmp_path / "dagster-home", env, storage)
        meltano(env, "state", "list")  # creates the system database before parts start together
        run = instance.execute("estate")
        assert run.returncode == 0, run.stdout[-4000:]
        for plugin in PARTS.values():
            for query in part_queries(plugin):
                expected = api_rows(emulator, query, "2024-01-10")
                assert warehouse_rows(postgres, query) == expected, query["name"]
        (a_start, a_end), (b_start, b_end) = parts_times(emulator)

    assert max(a_start, b_start) < min(a_end, b_end), "the parts' queries did not overlap"
    # From Dagster's own event log (its console output interleaves the step processes').
    events = stored_step_events(postgres, "dagster_estate")
    built = events.index(("estate_postgres_current_relations", "STEP_START"))
    for job in PARTS:
        assert events.index((f"estate_{job.replace('-', '_')}", "STEP_SUCCESS")) < built
    streams = {query["name"] for plugin in PARTS.values() for query in part_queries(plugin)}
    assert current_views(postgres) >= {f"{stream}_current" for stream in streams}
    states = meltano(env, "state", "list").split()
    assert {f"dev:{plugin}-to-target-postgres" for plugin in PARTS.values()} <= set(states)


def test_estate_and_a_parts_own_job_never_run_that_part_at_once_and_a_failed_part_fails_last(
    first_estate: FirstEstate, postgres: TemporaryPostgres, tmp_path: Path
) -> None:
    assert first_estate.run.returncode == 0, "the first estate failed: see the test before"
    with EmulatorServer(api_key=API_KEY, run_seconds=RUN_SECONDS) as emulator:
        env = run_environment(emulator, postgres, tmp_path, "2024-01-10")
        instance = DagsterInstance.create(tmp_path / "dagster-home", env)
        instance.set_pool(LICENCE, 3)  # room for all three: only the state id's pool holds back
        meltano(env, "state", "list")  # creates the system database before runs start together
        estate = instance.start(
            "job", "execute", "-f", DEFINITIONS, "-j", "estate",
            TAP_SUPERMETRICS__AGENCY_B_API_KEY="not-the-key",
        )  # fmt: skip
        own = instance.start("job", "execute", "-f", DEFINITIONS, "-j", "agency_a_to_postgres")
        own_output, _ = own.communicate(timeout=300)
        estate_output, _ = estate.communicate(timeout=300)

    assert own.returncode == 0, own_output[-4000:]
    runs = meltano_runs(tmp_path / "meltano.db", STATE_A)
    assert [state for _, _, state in runs] == ["SUCCESS", "SUCCESS"]
    (_, first_end, _), (second_start, _, _) = runs
    assert first_end <= second_start
    waited = f"pool meltano-state:{STATE_A} (limit 1) is full"
    assert waited in own_output + estate_output
    # agency-b failed: the current relations were built all the same, then the run failed.
    assert estate.returncode == 1, estate_output[-4000:]
    assert "meltano run postgres-current-relations exited with 0" in estate_output
    assert "Failure: estate: agency-b-to-postgres exited with 1" in estate_output


def test_the_code_location_validates_with_a_job_per_meltano_job_and_the_estate(
    tmp_path: Path,
) -> None:
    instance = DagsterInstance.create(tmp_path / "dagster-home", {"PATH": "/usr/bin:/bin"})

    validated = instance.run("definitions", "validate", "-f", DEFINITIONS)
    listed = instance.run("job", "list", "-f", DEFINITIONS)

    assert validated.returncode == 0, validated.stdout[-4000:]
    assert "All code locations passed validation" in validated.stdout
    jobs = {
        "estate", "supermetrics_to_postgres", "agency_a_to_postgres", "agency_b_to_postgres",
        "postgres_current_relations",
    }  # fmt: skip
    assert jobs <= set(listed.stdout.split()), listed.stdout[-2000:]


@pytest.mark.parametrize(
    ("variable", "line"),
    [
        ("MELTANO_PROJECT_ROOT", "no meltano.yml in {tmp}: set MELTANO_PROJECT_ROOT to the"),
        ("MELTANO_BIN", "no Meltano at {tmp}: run scripts/bootstrap --meltano, or set MELTANO_BIN"),
    ],
)
def test_a_missing_meltano_yml_or_meltano_is_one_clear_line(
    tmp_path: Path, variable: str, line: str
) -> None:
    instance = DagsterInstance.create(tmp_path / "dagster-home", {"PATH": "/usr/bin:/bin"})

    done = instance.run("definitions", "validate", "-f", DEFINITIONS, **{variable: str(tmp_path)})

    assert done.returncode == 1
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"orchestrate/definitions.py: {line.format(tmp=tmp_path)}"), last
    assert "Traceback" not in done.stdout


def test_a_missing_dagster_venv_is_one_clear_line(tmp_path: Path) -> None:
    wrapper = tmp_path / "orchestrate" / "dagster"
    wrapper.parent.mkdir()
    shutil.copy2(DAGSTER, wrapper)

    done = subprocess.run(
        [str(wrapper), "dev"], capture_output=True, text=True, check=False, cwd=tmp_path
    )

    assert done.returncode == 1
    assert done.stderr == (
        f"orchestrate/dagster: no Dagster in {tmp_path}/.venv-dagster: "
        "run scripts/bootstrap --dagster\n"
    )
    assert not (tmp_path / ".dagster").exists()


# --- what the code location reads from meltano.yml (no Dagster needed) -------------------


def a_project(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, str]:
    """A copy of meltano.yml in tmp_path (changed by `edit`), and a stand-in for Meltano."""
    declared = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    if edit is not None:
        edit(declared)
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(declared), encoding="utf-8")
    meltano = tmp_path / "meltano"
    meltano.write_text("#!/bin/sh\n")
    meltano.chmod(0o755)
    return {"MELTANO_PROJECT_ROOT": str(tmp_path), "MELTANO_BIN": str(meltano)}


def pools(project: meltano_project.MeltanoProject) -> dict[str, list[str]]:
    return {job.name: [pool.name for pool in job.pools] for job in project.jobs}


def test_every_job_holds_its_licence_its_state_ids_and_the_current_relations(
    tmp_path: Path,
) -> None:
    project = meltano_project.load(a_project(tmp_path))

    assert pools(project) == {
        "supermetrics-to-postgres": [
            LICENCE,
            "current-relations:dbt-postgres",
            "meltano-state:dev:tap-supermetrics-to-target-postgres",
        ],
        "agency-a-to-postgres": [LICENCE, f"meltano-state:{STATE_A}"],
        "agency-b-to-postgres": [
            LICENCE,
            "meltano-state:dev:tap-supermetrics--agency-b-to-target-postgres",
        ],
        "postgres-current-relations": ["current-relations:dbt-postgres"],
    }
    assert [job.name for job in project.parts] == list(PARTS)
    part = project.job("agency-a-to-postgres")
    assert part.dagster_pool == LICENCE
    assert [pool.name for pool in part.own_pools] == [f"meltano-state:{STATE_A}"]
    assert project.current_relations.dagster_pool is None


def test_every_part_makes_the_shared_tables_before_its_loader_starts(tmp_path: Path) -> None:
    project = meltano_project.load(a_project(tmp_path))

    for part in project.parts:
        assert [blocks[0] for blocks in part.tasks] == ["dbt-postgres:shared-tables"], part.name


def test_meltano_environment_names_the_state_ids(tmp_path: Path) -> None:
    project = meltano_project.load({**a_project(tmp_path), "MELTANO_ENVIRONMENT": "prod"})

    assert project.environment == "prod"
    assert pools(project)["agency-a-to-postgres"][1] == (
        "meltano-state:prod:tap-supermetrics--agency-a-to-target-postgres"
    )


def test_a_part_takes_the_licence_its_annotations_name(tmp_path: Path) -> None:
    def second_licence(declared: dict[str, Any]) -> None:
        part = declared["plugins"]["extractors"][2]
        assert part["name"] == "tap-supermetrics--agency-b"
        part["annotations"]["dagster"]["licence"] = "second"
        del declared["plugins"]["extractors"][1]["annotations"]  # agency-a: the default

    project = meltano_project.load(a_project(tmp_path, second_licence))

    assert pools(project)["agency-a-to-postgres"][0] == "licence:main"
    assert pools(project)["agency-b-to-postgres"][0] == "licence:second"


def test_a_part_without_a_job_of_its_own_is_refused(tmp_path: Path) -> None:
    def no_job_for_b(declared: dict[str, Any]) -> None:
        declared["jobs"] = [
            job for job in declared["jobs"] if job["name"] != "agency-b-to-postgres"
        ]

    with pytest.raises(meltano_project.ProjectError) as refused:
        meltano_project.load(a_project(tmp_path, no_job_for_b))

    assert str(refused.value) == (
        "part tap-supermetrics--agency-b needs exactly one job in meltano.yml that runs it "
        "(found: none)"
    )

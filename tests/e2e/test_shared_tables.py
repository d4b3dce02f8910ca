"""Parts started side by side never race on the tables they share (docs/running-at-scale.md).

Every part of the estate loads into one schema and writes the tap's fixed streams into the
same `query_runs`, `coverage` and `reconciliation` tables. target-postgres makes a missing
schema, table or column by looking first and creating it then, without a lock: two parts
that reach the same missing table together both create it, and one fails
(`DuplicateTable: relation "reconciliation" already exists`). Each part's job therefore
starts with `dbt-postgres:shared-tables`, which makes or migrates the shared tables under a
PostgreSQL lock before its loader starts.

Started at the same moment without help, the two parts rarely meet inside target-postgres'
few milliseconds between looking and creating (not once in 30 rounds measured), so a loop
of plain starts proves little. The gate below makes every round a meeting: it holds the
very object both parts are about to create (the schema, a shared table, a column a release
adds) in an open transaction, so that each part finds it missing and then waits to create
it; once both wait, the gate rolls back and lets them go at the same instant. Without the
shared-table step, one of the two parts then fails every time.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT
from tests.estate import (
    PARTS,
    SHARED_TABLES,
    Estate,
    api_rows,
    finish,
    install_dbt,
    part_queries,
)
from tests.meltano_project import MELTANO
from tests.postgres import TemporaryPostgres

pytestmark = pytest.mark.e2e

END_DATE = "2024-01-05"
#: The shared-table step's log line when it made something, and when all was there.
MADE = "created query_runs, created coverage, created reconciliation in"
UP_TO_DATE = "shared tables: query_runs, coverage and reconciliation are up to date in"
#: How long a gate waits for both parts to reach it (Meltano, dbt and the tap start first).
GATE_SECONDS = 240


@pytest.fixture(scope="module")
def dbt_plugin(meltano_plugins: None) -> None:
    install_dbt()


@pytest.fixture(scope="module")
def quick_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(api_key=API_KEY, run_seconds=0.05) as server:
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-tables")


def estate(
    emulator: EmulatorServer, postgres: TemporaryPostgres, workdir: Path, schema: str
) -> Estate:
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema))
        )
    (workdir / schema).mkdir()
    return Estate(emulator, postgres, workdir / schema, schema)


@pytest.fixture(scope="module")
def fixed_streams(
    quick_emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    workdir: Path,
) -> str:
    """The SCHEMA and RECORD messages of the fixed streams, as part a's tap writes them."""
    part = estate(quick_emulator, postgres, workdir, "shared_tables_tap")
    tap = part.start("invoke", PARTS["agency-a-to-postgres"], end_date=END_DATE)
    output, errors = tap.communicate(timeout=300)
    assert tap.returncode == 0, errors[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("{")]
    fixed = [line for line in lines if json.loads(line).get("stream") in SHARED_TABLES]
    assert {json.loads(line)["stream"] for line in fixed} == set(SHARED_TABLES)
    return "\n".join(fixed) + "\n"


def load(part: Estate, messages: str) -> None:
    """target-postgres, as meltano.yml configures it, loading `messages` into part's schema."""
    loader = part.start("invoke", "target-postgres", end_date=END_DATE, stdin=True)
    _, errors = loader.communicate(messages, timeout=300)
    assert loader.returncode == 0, errors[-3000:]


def shared_table_step(part: Estate) -> str:
    done = subprocess.run(
        [str(MELTANO), "run", "dbt-postgres:shared-tables"],
        cwd=ROOT, env=part.env(END_DATE), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    nullable: bool


def shared_tables(postgres: TemporaryPostgres, schema: str) -> dict[str, Any]:
    """Each shared table's columns in order (name, type, nullable) and its primary key."""
    with psycopg.connect(postgres.dsn) as connection:
        columns = connection.execute(
            "select table_name, column_name, data_type, udt_name, is_nullable"
            " from information_schema.columns where table_schema = %s"
            " and table_name = any(%s) order by table_name, ordinal_position",
            (schema, list(SHARED_TABLES)),
        ).fetchall()
        keys = connection.execute(
            "select tc.table_name, kcu.column_name from information_schema.table_constraints tc"
            " join information_schema.key_column_usage kcu"
            " using (constraint_schema, constraint_name, table_name)"
            " where tc.table_schema = %s and tc.constraint_type = 'PRIMARY KEY'"
            " order by tc.table_name, kcu.ordinal_position",
            (schema,),
        ).fetchall()
    found: dict[str, Any] = {}
    for table, name, data_type, udt, nullable in columns:
        column = Column(name, f"{data_type} ({udt})", nullable == "YES")
        found.setdefault(table, {"columns": [], "key": []})["columns"].append(column)
    for table, name in keys:
        if table in found:
            found[table]["key"].append(name)
    return found


@pytest.fixture(scope="module")
def loader_tables(
    quick_emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    workdir: Path,
    fixed_streams: str,
) -> dict[str, Any]:
    """The shared tables as target-postgres makes them on its own, from the tap's schemas."""
    alone = estate(quick_emulator, postgres, workdir, "shared_tables_reference")
    load(alone, fixed_streams)
    return shared_tables(postgres, alone.schema)


def test_the_shared_table_step_makes_the_tables_target_postgres_makes(
    quick_emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    dbt_plugin: None,
    workdir: Path,
    fixed_streams: str,
    loader_tables: dict[str, Any],
) -> None:
    assert sorted(loader_tables) == sorted(SHARED_TABLES)
    stepped = estate(quick_emulator, postgres, workdir, "shared_tables_by_step")

    assert MADE in shared_table_step(stepped)
    made = shared_tables(postgres, stepped.schema)
    assert made == loader_tables, "transform/macros/create_shared_tables.sql is out of step"
    assert UP_TO_DATE in shared_table_step(stepped)  # a second step changes nothing
    load(stepped, fixed_streams)

    # The loader found every table and column in place: it changed nothing (no DDL).
    assert shared_tables(postgres, stepped.schema) == made


class Gate:
    """An open transaction holding what the parts are about to create, until both wait."""

    def __init__(self, holder: psycopg.Connection[Any], watcher: psycopg.Connection[Any]) -> None:
        self.holder = holder
        self.watcher = watcher

    def waiting(self) -> int:
        """Sessions of the warehouse waiting for a lock (the gate's, or each other's)."""
        row = self.watcher.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and datname = current_database() and pid <> %s",
            (self.holder.info.backend_pid,),
        ).fetchone()
        return int(row[0]) if row else 0

    def open_when_waited_on(self, processes: list[subprocess.Popen[str]]) -> int:
        """Roll back once every process waits (or one has ended): how many waited."""
        deadline = time.monotonic() + GATE_SECONDS
        waiting = self.waiting()
        while waiting < len(processes) and time.monotonic() < deadline:
            if any(process.poll() is not None for process in processes):
                break
            time.sleep(0.05)
            waiting = self.waiting()
        self.holder.rollback()
        return waiting


@contextmanager
def gate(postgres: TemporaryPostgres, statement: sql.Composed) -> Iterator[Gate]:
    """`statement` run in a transaction left open: what it creates exists, uncommitted."""
    with (
        psycopg.connect(postgres.dsn) as holder,
        psycopg.connect(postgres.dsn, autocommit=True) as watcher,
    ):
        holder.execute(statement)
        yield Gate(holder, watcher)


def older_release(messages: str, dropped: str) -> str:
    """The fixed streams as a release whose query_runs had no column `dropped` wrote them."""
    older = []
    for line in messages.splitlines():
        message = json.loads(line)
        if message.get("stream") == "query_runs":
            if message["type"] == "SCHEMA":
                del message["schema"]["properties"][dropped]
            elif message["type"] == "RECORD":
                del message["record"][dropped]
        older.append(json.dumps(message))
    return "\n".join(older) + "\n"


#: Where the parts meet: what the schema holds before they start, and what the gate holds
#: back (an SQL statement on schema `{schema}`).
MEETINGS = [
    pytest.param("", "create schema {schema}", id="a-new-warehouse"),
    pytest.param(
        "create schema {schema}",
        "create table {schema}.reconciliation (stream text)",
        id="an-empty-schema",
    ),
    pytest.param(
        "older release",
        "alter table {schema}.query_runs add column error text",
        id="a-release-adds-a-column",
    ),
]


@pytest.mark.parametrize(("before", "held"), MEETINGS)
def test_parts_started_together_load_side_by_side_without_a_ddl_race(
    quick_emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    dbt_plugin: None,
    workdir: Path,
    fixed_streams: str,
    loader_tables: dict[str, Any],
    before: str,
    held: str,
    request: pytest.FixtureRequest,
) -> None:
    schema = f"shared_tables_{request.node.callspec.id.replace('-', '_')}"
    part = estate(quick_emulator, postgres, workdir, schema)
    if before == "older release":
        load(part, older_release(fixed_streams, dropped="error"))
    elif before:
        with psycopg.connect(postgres.dsn, autocommit=True) as connection:
            connection.execute(sql.SQL(before).format(schema=sql.Identifier(schema)))
    part.meltano("state", "list")  # Meltano's system database, before two runs start together

    # Both parts' jobs, as two cron lines of the same minute would start them.
    with gate(postgres, sql.SQL(held).format(schema=sql.Identifier(schema))) as held_back:
        started = {job: part.start("run", job, end_date=END_DATE) for job in PARTS}
        waited = held_back.open_when_waited_on(list(started.values()))
    done = finish(started)

    for job, result in done.items():
        assert result.returncode == 0, f"{job}:\n{result.stderr[-4000:]}"
    assert waited == len(PARTS), "the parts did not both wait at the gate: they never met"
    for plugin in PARTS.values():
        for query in part_queries(plugin):
            assert part.table(query) == api_rows(quick_emulator, query, END_DATE), query["name"]
    streams = {query["name"] for plugin in PARTS.values() for query in part_queries(plugin)}
    assert set(part.query_run_streams()) == streams
    assert shared_tables(postgres, schema) == loader_tables
    # One part's step made (or migrated) the shared tables; the other's found them made.
    assert sorted(UP_TO_DATE in result.stderr for result in done.values()) == [False, True]

"""End to end: emulator → `meltano run tap-supermetrics target-postgres` → real PostgreSQL.

These start everything they need: a PostgreSQL server in a temp directory on a free
loopback port, Meltano (from .venv-meltano, see scripts/bootstrap) running this
repository's meltano.yml, and the emulator. Meltano's state lives in a per-test
SQLite system database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supermetrics_emulator import EmulatorServer
from tests.conftest import API_KEY, ROOT, expected_rows
from tests.postgres import TemporaryPostgres

pytestmark = pytest.mark.e2e

MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
FIELDS = ["Date", "CampaignName", "Device", "Impressions", "Clicks", "Cost", "Conversions"]
STATE_ID = "dev:tap-supermetrics-to-target-postgres"


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def meltano_plugins() -> None:
    if not MELTANO.exists():
        pytest.fail("Meltano is missing: run scripts/bootstrap --meltano")
    subprocess.run(
        [str(MELTANO), "install", "tap-supermetrics", "target-postgres"],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


@dataclass
class Pipeline:
    """One user's project: the same meltano.yml, its own state and target schema."""

    emulator: EmulatorServer
    postgres: TemporaryPostgres
    workdir: Path
    schema: str

    def env(self, **settings: Any) -> dict[str, str]:
        tap = {
            "base_url": self.emulator.base_url,
            "api_key": API_KEY,
            "start_date": "2024-01-01",
            "end_date": "2024-01-20",
            "window_days": 7,
            "lookback_days": 3,
            "poll_interval": 0.02,
            "max_poll_interval": 0.2,
            "schema_cache_dir": str(self.workdir / "schema-cache"),
            "queries": [
                {"name": "ads", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": FIELDS}
            ],
            **settings,
        }
        env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
            "TARGET_POSTGRES_HOST": self.postgres.host,
            "TARGET_POSTGRES_PORT": str(self.postgres.port),
            "TARGET_POSTGRES_USER": self.postgres.user,
            "TARGET_POSTGRES_PASSWORD": self.postgres.password,
            "TARGET_POSTGRES_DATABASE": "postgres",
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": self.schema,
        }
        for name, value in tap.items():
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            env[f"TAP_SUPERMETRICS_{name.upper()}"] = text
        return env

    def run(self, **settings: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MELTANO), "run", "tap-supermetrics", "target-postgres"],
            cwd=ROOT,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def bookmark(self) -> str | None:
        shown = subprocess.run(
            [str(MELTANO), "state", "get", STATE_ID],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        state = json.loads(shown) if shown.strip() else {}
        bookmark = state.get("singer_state", {}).get("bookmarks", {}).get("ads", {})
        value = bookmark.get("replication_key_value")
        return str(value) if value is not None else None

    def rows(self, table: str = "ads") -> list[tuple[Any, ...]]:
        columns = ", ".join(f'"{name}"' for name in FIELDS) if table == "ads" else "*"
        with psycopg.connect(self.postgres.dsn) as connection:
            return connection.execute(
                f'select {columns} from "{self.schema}"."{table}" order by 1, 2, 3'  # noqa: S608
            ).fetchall()


@pytest.fixture
def pipeline(
    emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Pipeline:
    return Pipeline(emulator, postgres, tmp_path, schema=f"e2e_{request.node.name[:40]}")


def warehouse_rows(emulator: EmulatorServer, start: str, end: str) -> list[tuple[Any, ...]]:
    """The emulator's rows as PostgreSQL returns them (date, numeric → Decimal)."""
    rows = [
        (
            dt.date.fromisoformat(row["Date"]),
            row["CampaignName"],
            row["Device"],
            row["Impressions"],
            row["Clicks"],
            Decimal(str(row["Cost"])),
            None if row["Conversions"] is None else Decimal(str(row["Conversions"])),
        )
        for row in expected_rows(emulator, "AW", FIELDS, start, end, ["111-111-1111"])
    ]
    return sorted(rows, key=lambda row: row[:3])


def test_first_run_loads_exactly_the_emulator_rows(pipeline: Pipeline) -> None:
    result = pipeline.run()

    assert result.returncode == 0, result.stderr[-3000:]
    assert pipeline.rows() == warehouse_rows(pipeline.emulator, "2024-01-01", "2024-01-20")
    assert pipeline.bookmark() == "2024-01-20"
    runs = pipeline.rows("query_runs")
    assert len(runs) == 3  # three 7-day windows


def test_lookback_run_rereads_corrections_without_duplicates(pipeline: Pipeline) -> None:
    assert pipeline.run().returncode == 0
    before = {row[:3]: row for row in pipeline.rows()}
    pipeline.emulator.configure(revision=1, revision_from="2024-01-18")

    second = pipeline.run(end_date="2024-01-25")

    assert second.returncode == 0, second.stderr[-3000:]
    after = pipeline.rows()
    assert after == warehouse_rows(pipeline.emulator, "2024-01-01", "2024-01-25")
    assert len({row[:3] for row in after}) == len(after)
    corrected = [key for key, row in before.items() if {r[:3]: r for r in after}[key] != row]
    assert corrected
    assert {key[0].isoformat() for key in corrected} == {"2024-01-18", "2024-01-19", "2024-01-20"}
    assert pipeline.bookmark() == "2024-01-25"
    submitted = [q for q in pipeline.emulator.stats()["queries"] if q["start_date"] >= "2024-01-17"]
    assert min(q["start_date"] for q in submitted) == "2024-01-17"  # bookmark - lookback_days

    third = pipeline.run(end_date="2024-01-22")  # an older end date: re-read, never rewind

    assert third.returncode == 0, third.stderr[-3000:]
    assert pipeline.bookmark() == "2024-01-25"


def test_run_killed_in_a_late_window_resumes_without_loss_or_doubles(pipeline: Pipeline) -> None:
    pipeline.emulator.add_fault(
        action="query_failure", start_date="2024-01-15", code="DS_BROKEN", message="late failure"
    )

    killed = pipeline.run()

    assert killed.returncode != 0
    assert "DS_BROKEN" in killed.stderr
    assert pipeline.bookmark() == "2024-01-14"  # windows 1 and 2 landed, window 3 did not
    assert pipeline.rows() == warehouse_rows(pipeline.emulator, "2024-01-01", "2024-01-14")

    resumed = pipeline.run()

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert pipeline.rows() == warehouse_rows(pipeline.emulator, "2024-01-01", "2024-01-20")
    assert pipeline.bookmark() == "2024-01-20"
    resumed_starts = sorted(
        q["start_date"] for q in pipeline.emulator.stats()["queries"] if q["status"] == "SUCCESS"
    )
    assert "2024-01-11" in resumed_starts  # resumed at bookmark - lookback, not at start_date

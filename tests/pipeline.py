"""The end-to-end pipeline the e2e tests share: PostgreSQL, Meltano plugins, a project run.

Its fixtures are registered in conftest.py, so that one PostgreSQL server and one
plugin install serve every e2e test module of a session.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supermetrics_emulator import EmulatorServer
from tests.constants import API_KEY, ROOT
from tests.meltano_project import MELTANO, install_plugins, run_env
from tests.postgres import TemporaryPostgres

__all__ = [
    "FIELDS",
    "MELTANO",
    "STATE_ID",
    "Pipeline",
    "as_stored",
    "meltano_plugins",
    "pipeline",
    "postgres",
]

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
    install_plugins()


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
        return run_env(self.postgres, self.workdir / "meltano.db", self.schema, tap)

    def run(self, *blocks: str, **settings: Any) -> subprocess.CompletedProcess[str]:
        """`meltano run` the blocks (tap → target-postgres unless given) with `settings`."""
        return subprocess.run(
            [str(MELTANO), "run", *(blocks or ("tap-supermetrics", "target-postgres"))],
            cwd=ROOT,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def bookmarks(self) -> dict[str, Any]:
        """Every stream's bookmark in the job's state, as `meltano state get` shows it."""
        shown = subprocess.run(
            [str(MELTANO), "state", "get", STATE_ID],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        state = json.loads(shown) if shown.strip() else {}
        return dict(state.get("singer_state", {}).get("bookmarks", {}))

    def bookmark(self) -> str | None:
        bookmark = self.bookmarks().get("ads", {})
        value = bookmark.get("replication_key_value")
        return str(value) if value is not None else None

    def rows(self, table: str = "ads") -> list[tuple[Any, ...]]:
        columns = ", ".join(f'"{name}"' for name in FIELDS) if table == "ads" else "*"
        with psycopg.connect(self.postgres.dsn) as connection:
            return connection.execute(
                f'select {columns} from "{self.schema}"."{table}" order by 1, 2, 3'  # noqa: S608
            ).fetchall()

    def table(self, name: str, fields: list[str]) -> list[tuple[Any, ...]]:
        """The table's rows of `fields`, in a fixed order."""
        columns = ", ".join(f'"{field}"' for field in fields)
        with psycopg.connect(self.postgres.dsn) as connection:
            rows = connection.execute(
                f'select {columns} from "{self.schema}"."{name}"'  # noqa: S608 - test names
            ).fetchall()
        return sorted(rows, key=repr)


def as_stored(field: str, value: Any) -> Any:
    """A record value as PostgreSQL returns it (dates as dates, Cost as numeric)."""
    if field == "Date":
        return dt.date.fromisoformat(value)
    if field == "Cost" and value is not None:
        return Decimal(str(value))
    return value


@pytest.fixture
def pipeline(
    emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Pipeline:
    return Pipeline(emulator, postgres, tmp_path, schema=f"e2e_{request.node.name[:40]}")

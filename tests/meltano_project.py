"""Running this repository's Meltano project against a throw-away PostgreSQL.

Shared by the end-to-end tests and `bench/loader.py`, so that a test and a benchmark
run the project the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from tests.constants import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from tests.postgres import TemporaryPostgres

MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
#: meltano.yml's environment of the demo's values: example accounts, dates that never move.
DEMO = "demo"
#: Variables a developer's shell may carry that would change what a run does.
_OWN_PREFIXES = ("MELTANO_", "TAP_SUPERMETRICS_", "TARGET_POSTGRES_")


def install_plugins() -> None:
    """Install the extractor and the loader (Meltano skips what is installed already)."""
    subprocess.run(
        [str(MELTANO), "install", "tap-supermetrics", "target-postgres"],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def run_env(
    postgres: TemporaryPostgres, system_db: Path, schema: str, tap: Mapping[str, Any]
) -> dict[str, str]:
    """The environment of a `meltano run` with `tap` settings, loading into `schema`.

    The inherited environment is kept except for Meltano's, the tap's and the loader's
    own variables; `system_db` is the Meltano system database (SQLite), so that state
    stays with the run's owner.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(_OWN_PREFIXES)}
    env.update(
        MELTANO_DATABASE_URI=f"sqlite:///{system_db}",
        TARGET_POSTGRES_HOST=postgres.host,
        TARGET_POSTGRES_PORT=str(postgres.port),
        TARGET_POSTGRES_USER=postgres.user,
        TARGET_POSTGRES_PASSWORD=postgres.password,
        TARGET_POSTGRES_DATABASE="postgres",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
    )
    for name, value in tap.items():
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        env[f"TAP_SUPERMETRICS_{name.upper()}"] = text
    return env


def demo_queries(plugin: str) -> list[dict[str, Any]]:
    """The queries meltano.yml's demo environment gives `plugin` (a part of the estate)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (environment,) = [env for env in project["environments"] if env["name"] == DEMO]
    extractors = environment["config"]["plugins"]["extractors"]
    (extractor,) = [item for item in extractors if item["name"] == plugin]
    queries: list[dict[str, Any]] = extractor["config"]["queries"]
    return queries


def demo_parts(plugins: Iterable[str]) -> dict[str, str]:
    """The variables that give each part its demo queries in any environment."""
    return {
        f"{plugin.upper().replace('-', '_')}_QUERIES": json.dumps(demo_queries(plugin))
        for plugin in plugins
    }


def comparable(value: object) -> object:
    """A warehouse or API value in one form: dates as ISO text, numbers as exact decimals."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return Decimal(str(value))
    return value

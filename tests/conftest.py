"""Shared fixtures: the emulator on loopback, and running the real tap command against it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from supermetrics_emulator import EmulatorServer
from supermetrics_emulator.catalog import DATA_SOURCES
from tap_supermetrics.schema.lineage import LINEAGE_FIELD
from tests import oracle
from tests.constants import API_KEY, ROOT
from tests.pipeline import meltano_plugins, pipeline, postgres

__all__ = ["API_KEY", "ROOT", "meltano_plugins", "pipeline", "postgres"]  # shared with tests


ADS_FIELDS = [
    "Date",
    "CampaignName",
    "Device",
    "Impressions",
    "Clicks",
    "Cost",
    "CTR",
    "Conversions",
]
GA_FIELDS = ["Date", "Country", "DeviceCategory", "Sessions", "BounceRate", "Revenue"]


#: Where the end-to-end tests live: every test there runs on one worker, in turn.
E2E_FOLDER = "tests/e2e/"


#: End-to-end tests that work in a copy of the project (their own `.meltano`, PostgreSQL
#: and emulator), so they may run beside the others, on the other worker.
IN_A_PROJECT_COPY = ("tests/e2e/test_docs_commands.py",)


def is_end_to_end(nodeid: str) -> bool:
    """Whether a test lives with the end-to-end ones."""
    return nodeid.startswith(E2E_FOLDER)


def runs_meltano(nodeid: str) -> bool:
    """Whether a test runs Meltano in the project directory itself."""
    return is_end_to_end(nodeid) and not nodeid.startswith(IN_A_PROJECT_COPY)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse an end-to-end test that the worker split below would not keep together."""
    marked = [item.nodeid for item in items if item.get_closest_marker("e2e")]
    strays = [nodeid for nodeid in marked if not is_end_to_end(nodeid)]
    if strays:
        msg = f"e2e tests belong in {E2E_FOLDER} (conftest.py keeps them on one worker): {strays}"
        raise pytest.UsageError(msg)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Two workers: the end-to-end tests one after another on one, the rest spread.

    The few that copy the project first (IN_A_PROJECT_COPY) are spread with the rest.

    They share the project directory, where Meltano writes each plugin's config under
    `.meltano/run` as it starts it: two runs of one plugin at once would read each other's
    settings. (pytest-xdist's `loadgroup` would say this with a marker, but it renames node
    ids, which pytest 9 no longer allows; a scope per test does the same.)
    """
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only under xdist

    class MeltanoTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "meltano" if runs_meltano(nodeid) else nodeid

    return MeltanoTogether(config, log)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator with quick queries, accepting API_KEY."""
    with EmulatorServer(api_key=API_KEY, run_seconds=0.05) as server:
        yield server


@dataclass
class TapRun:
    """What one run of the tap command left behind."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str, *, lineage: bool = False) -> list[dict[str, Any]]:
        """The stream's records; without the lineage column unless asked for."""
        records = [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]
        if lineage:
            return records
        return [{k: v for k, v in r.items() if k != LINEAGE_FIELD} for r in records]

    def schemas(self) -> dict[str, dict[str, Any]]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def bookmark(self, stream: str) -> str | None:
        bookmarks = self.states()[-1].get("bookmarks", {}) if self.states() else {}
        value = bookmarks.get(stream, {}).get("replication_key_value")
        return str(value) if value is not None else None

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]


def submissions(emulator: EmulatorServer) -> int:
    """Queries submitted (not lookups of a submitted query by its schedule_id)."""
    log = emulator.stats()["request_log"]
    return sum(1 for entry in log if entry["endpoint"] == "submit" and "ds_id" in entry["params"])


def base_config(emulator: EmulatorServer, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A config reading two queries from the emulator, with a private schema cache."""
    config: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": emulator.base_url,
        "start_date": "2024-01-01",
        "end_date": "2024-01-10",
        "poll_interval": 0.02,
        "max_poll_interval": 0.2,
        # Tests page in tiny pages: pacing is tested on its own (tests/api/test_scale.py).
        "max_requests_per_second": 500,
        "schema_cache_dir": str(tmp_path / "schema-cache"),
        "queries": [
            {
                "name": "ads",
                "ds_id": "AW",
                "ds_accounts": ["111-111-1111"],
                "fields": ADS_FIELDS,
            }
        ],
    }
    config.update(overrides)
    return config


def run_tap(
    tmp_path: Path,
    config: dict[str, Any],
    *args: str,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run `tap-supermetrics` as a user would, and parse what it printed."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_supermetrics", "--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    if catalog is not None:
        catalog_path = tmp_path / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        command += ["--catalog", str(catalog_path)]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
    )
    run = TapRun(completed.returncode, completed.stdout, completed.stderr)
    if "--discover" not in args and "--about" not in args:
        run.messages = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
        assert_records_match_their_schemas(run.messages)
    return run


def _is_date(value: object) -> bool:
    if not isinstance(value, str):  # formats constrain strings only (null is typed apart)
        return True
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return len(str(value)) == len("YYYY-MM-DD")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        dt.datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date")(_is_date)
_FORMATS.checks("date-time")(_is_date_time)


def assert_records_match_their_schemas(messages: list[dict[str, Any]]) -> None:
    """Every RECORD validates against its stream's SCHEMA, formats included.

    The loader runs with `validate_records: false` (meltano.yml) because the tap
    guarantees this; every sync of the test suite goes through here to hold it to that.
    """
    validators: dict[str, Draft7Validator] = {}
    for message in messages:
        if message["type"] == "SCHEMA":
            validators[message["stream"]] = Draft7Validator(
                message["schema"], format_checker=_FORMATS
            )
        elif message["type"] == "RECORD":
            validator = validators[message["stream"]]  # a RECORD before its SCHEMA fails too
            errors = list(validator.iter_errors(message["record"]))
            assert not errors, f"{message['stream']}: {errors[0].message} in {message['record']}"


def expected_rows(
    emulator: EmulatorServer,
    ds_id: str,
    fields: list[str],
    start: str,
    end: str,
    accounts: list[str] | str | dict[str, str],
) -> list[dict[str, Any]]:
    """The rows the emulator serves for this query now, computed by tests/oracle.py.

    The arithmetic is the oracle's, never the emulator's planner; only the live facts
    are read from the emulator: the accounts `accounts` stands for under its logins now
    (it takes every `ds_accounts` form: a list, a comma-separated string, team lists, a
    filter object), their names, and the revision and upstream settings in force. Tests
    that can name those facts call `oracle.rows` with them instead.
    """
    state = emulator.emulator
    source = DATA_SOURCES[ds_id]
    logins = state.logins()
    settings = state.settings
    return oracle.rows(
        ds_id,
        fields,
        start,
        end,
        logins.expand(source, accounts),
        revision=settings.revision,
        revision_from=settings.revision_from,
        renames=settings.renames,
        dropped_rows=settings.dropped_rows,
        account_names={held.account_id: held.account_name for held in logins.accounts(source)},
    )

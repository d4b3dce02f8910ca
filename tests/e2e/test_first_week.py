"""The first real week with Meltano, without traps (issue 30), as a user meets it.

Every test runs the repository's meltano.yml with Meltano 4.4 against the emulator and a
throw-away PostgreSQL (tests/pipeline.py): the default environment holds no demo values,
a bad date fails naming the setting, the tap's errors are errors in Meltano's output,
several mistakes are one line each, and a dry run creates nothing in the warehouse.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.constants import ROOT
from tests.meltano_project import DEMO, MELTANO

if TYPE_CHECKING:
    from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def meltano_lines(done: subprocess.CompletedProcess[str], level: str, text: str) -> list[str]:
    """Meltano's output lines of `level` (error, warning, info) that hold `text`."""
    return [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if text in line and re.search(rf"\[{level}\s*\]", line)
    ]


def config_print(pipeline: Pipeline, *environment: str) -> dict[str, object]:
    """`meltano [--environment=…] config print tap-supermetrics`, without the test's values."""
    env = {k: v for k, v in pipeline.env().items() if not k.startswith("TAP_SUPERMETRICS_")}
    done = subprocess.run(
        [str(MELTANO), *environment, "config", "print", "tap-supermetrics"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    printed: dict[str, object] = json.loads(done.stdout)
    return printed


def test_the_default_environment_pins_no_dates_and_the_demo_environment_does(
    pipeline: Pipeline,
) -> None:
    default = config_print(pipeline)
    dev = config_print(pipeline, "--environment=dev")
    demo = config_print(pipeline, f"--environment={DEMO}")

    for printed in (default, dev):
        assert "end_date" not in printed
        assert "start_date" not in printed
        assert "base_url" not in printed
        assert [q["name"] for q in printed["queries"]] == ["google_ads_daily"]  # type: ignore[attr-defined,index]
    assert demo["end_date"] == "2024-03-31"
    assert demo["start_date"] == "2024-01-01"
    assert demo["base_url"] == "http://127.0.0.1:8080/enterprise/v2"
    assert [q["name"] for q in demo["queries"]] == ["google_ads_daily", "ga4_daily"]  # type: ignore[attr-defined,index]


def test_meltano_config_list_shows_the_required_settings_as_required(pipeline: Pipeline) -> None:
    env = {k: v for k, v in pipeline.env().items() if not k.startswith("TAP_SUPERMETRICS_")}
    done = subprocess.run(
        [str(MELTANO), "config", "list", "tap-supermetrics"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "Required settings: api_key, queries, start_date" in done.stdout
    required = done.stdout.split("Required:")[1].split("Configured:")[0]
    assert "api_key [env: TAP_SUPERMETRICS_API_KEY] current value: None" in required


def test_a_bad_date_and_another_mistake_fail_under_meltano_one_error_line_each(
    pipeline: Pipeline,
) -> None:
    done = pipeline.run(start_date="2024-13-01", window_days=0)

    assert done.returncode != 0
    date = meltano_lines(done, "error", "start_date '2024-13-01' is not a date; use YYYY-MM-DD")
    window = meltano_lines(done, "error", "window_days must be at least 1, got 0")
    assert len(date) == len(window) == 1, done.stderr[-3000:]
    assert pipeline.emulator.stats()["request_log"] == []


def test_a_wrong_key_is_an_error_line_of_meltano_run(pipeline: Pipeline) -> None:
    done = pipeline.run(api_key="not-the-key")

    assert done.returncode != 0
    refused = meltano_lines(done, "error", "rejected the API key")
    assert len(refused) == 1, done.stderr[-3000:]
    assert "tap-supermetrics" in refused[0]  # the tap's own line, at its own level
    assert "not-the-key" not in done.stdout + done.stderr


def test_the_usage_line_stays_one_findable_line(pipeline: Pipeline) -> None:
    done = pipeline.run()

    assert done.returncode == 0, done.stderr[-3000:]
    (usage,) = meltano_lines(done, "info", "tap_supermetrics_usage")
    report = json.loads(usage[usage.index("{") : usage.rindex("}") + 1])
    assert report["event"] == "tap_supermetrics_usage"
    assert report["rows_received"] > 0


def test_a_dry_run_through_meltano_creates_no_schema_and_no_table(pipeline: Pipeline) -> None:
    done = pipeline.run(dry_run=True)

    assert done.returncode == 0, done.stderr[-3000:]
    assert meltano_lines(done, "info", "Dry run: stream 'ads' plans 3 queries")
    assert meltano_lines(done, "info", "Dry run: 3 queries in all")
    assert meltano_lines(done, "info", "tap_supermetrics_usage")
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        schemas = connection.execute(
            "select schema_name from information_schema.schemata where schema_name = %s",
            (pipeline.schema,),
        ).fetchall()
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            (pipeline.schema,),
        ).fetchall()
    assert schemas == []
    assert tables == []

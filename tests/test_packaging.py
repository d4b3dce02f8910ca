"""A non-editable install (what Meltano does for a plain pip_url) carries its schema files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from supermetrics_emulator import EmulatorServer
from tests.conftest import ADS_FIELDS, ROOT, base_config, expected_rows, run_tap


def only_fields(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The query's own fields (not lineage columns that differ between runs)."""
    return [{field: record[field] for field in ADS_FIELDS} for record in records]


def test_wheel_ships_schemas_and_runs_a_sync(emulator: EmulatorServer, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("tap_supermetrics-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tap_supermetrics/schemas/query_runs.json" in names

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(base_config(emulator, tmp_path)))
    code = "import tap_supermetrics.tap as t; print(t.__file__); t.TapSupermetrics.cli()"
    run = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert run.returncode == 0, run.stderr
    first_line, *lines = run.stdout.splitlines()
    assert first_line.startswith(str(site))  # the installed copy ran, not the checkout
    messages = [json.loads(line) for line in lines]
    records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "ads"]
    runs = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "query_runs"]

    assert len(records) == 10 * 12 * 3  # days x campaigns x devices
    assert only_fields(records) == expected_rows(
        emulator, "AW", ADS_FIELDS, "2024-01-01", "2024-01-10", ["111-111-1111"]
    )
    (tmp_path / "checkout").mkdir()
    checkout = run_tap(tmp_path / "checkout", base_config(emulator, tmp_path))
    # The installed copy emits what the checkout does (the same fields and values).
    from_checkout = checkout.records("ads", lineage=True)
    assert [sorted(r) for r in records] == [sorted(r) for r in from_checkout]
    assert only_fields(records) == only_fields(from_checkout)
    assert [(r["stream"], r["status"], r["rows_emitted"]) for r in runs] == [
        ("ads", "SUCCESS", len(records))
    ]

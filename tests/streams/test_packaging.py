"""A non-editable install (what Meltano does for a plain pip_url) carries its schema files.

The wheel is built from the checkout, then installed in a fresh virtualenv with its
dependencies (the entry points exist only there) and on its own (`--target`), and run
against the emulator: what the checkout emits, the installed copy emits.
"""

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


def build_wheel(tmp_path: Path) -> Path:
    """The checkout's wheel, built the way pip builds it for a plain pip_url."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("tap_supermetrics-*.whl")
    return wheel


def test_a_fresh_virtualenv_with_the_wheel_has_both_commands_and_discovers(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(base_config(emulator, tmp_path)))
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path)}

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, check=False, cwd=tmp_path, env=env
        )

    about = command("tap-supermetrics", "--about", "--format=json")
    discovered = command("tap-supermetrics", "--config", str(config_path), "--discover")
    emulator_help = command("supermetrics-emulator", "--help")

    assert about.returncode == 0, about.stderr
    assert json.loads(about.stdout)["name"] == "tap-supermetrics"
    assert discovered.returncode == 0, discovered.stderr
    streams = {s["tap_stream_id"]: s for s in json.loads(discovered.stdout)["streams"]}
    assert set(streams) == {"ads", "query_runs", "coverage", "reconciliation"}
    assert set(ADS_FIELDS) < set(streams["ads"]["schema"]["properties"])
    assert emulator_help.returncode == 0, emulator_help.stderr


def test_wheel_ships_schemas_and_runs_a_sync(emulator: EmulatorServer, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
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

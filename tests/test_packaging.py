"""A non-editable install (what Meltano does for a plain pip_url) carries its schema files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from supermetrics_emulator import EmulatorServer
from tests.conftest import ROOT, base_config


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
    first_line, *messages = run.stdout.splitlines()
    assert first_line.startswith(str(site))  # the installed copy ran, not the checkout
    streams = {json.loads(line).get("stream") for line in messages}
    assert "query_runs" in streams

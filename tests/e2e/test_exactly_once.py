"""Exactly once through Meltano into an append-only target (target-jsonl)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests import oracle
from tests.constants import ROOT
from tests.meltano_project import MELTANO
from tests.pipeline import Pipeline
from tests.read.test_exactly_once import FIELDS


@pytest.mark.e2e
def test_an_append_only_target_gets_each_row_once_after_an_expiry_mid_paging(
    pipeline: Pipeline,
) -> None:
    subprocess.run(
        [str(MELTANO), "install", "target-jsonl"], check=True, cwd=ROOT, capture_output=True
    )
    emulator, output = pipeline.emulator, pipeline.workdir / "jsonl"
    emulator.add_fault(action="expire_early", after_pages=3)
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": FIELDS}
    env = pipeline.env(queries=[query], end_date="2024-01-05", window_days=30, page_size=20)
    env["TARGET_JSONL_DESTINATION_PATH"] = str(output)
    output.mkdir()

    result = subprocess.run(
        [str(MELTANO), "run", "tap-supermetrics", "target-jsonl"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "results expired" in result.stderr
    loaded = [json.loads(line) for line in (output / "ads.jsonl").read_text().splitlines()]
    for record in loaded:
        record.pop("_sm_extracted_at")
    expected = oracle.rows("AW", FIELDS, "2024-01-01", "2024-01-05", ["111-111-1111"])
    assert loaded == expected  # each row once, in order: none twice after the second read
    assert len(expected) == 5 * 12 * 3

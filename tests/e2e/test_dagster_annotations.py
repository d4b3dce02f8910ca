"""The licence annotation of meltano.yml, as the Dagster code location reads it (issue 30, 11).

The project spells it "licence"; an annotation spelled `license` would be ignored and the
part would silently share the default licence's pool, so it is refused with a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrate import meltano_project
from tests.constants import ROOT

pytestmark = pytest.mark.e2e


def project_with(tmp_path: Path, annotations: dict[str, str]) -> dict[str, str]:
    """meltano.yml with agency-b's Dagster annotations replaced, and a stand-in for Meltano."""
    declared = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (part,) = [p for p in declared["plugins"]["extractors"] if p["name"].endswith("agency-b")]
    part["annotations"] = {"dagster": annotations}
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(declared), encoding="utf-8")
    meltano = tmp_path / "meltano"
    meltano.write_text("#!/bin/sh\n")
    meltano.chmod(0o755)
    return {"MELTANO_PROJECT_ROOT": str(tmp_path), "MELTANO_BIN": str(meltano)}


def test_a_license_annotation_is_refused_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(meltano_project.ProjectError) as refused:
        meltano_project.load(project_with(tmp_path, {"license": "second"}))

    assert str(refused.value) == (
        "tap-supermetrics--agency-b: annotations.dagster.license is not read: spell it "
        "`licence`, as the pools are named (licence: second)"
    )


def test_the_licence_annotation_names_the_pool(tmp_path: Path) -> None:
    project = meltano_project.load(project_with(tmp_path, {"licence": "second"}))

    assert project.job("agency-b-to-postgres").dagster_pool == "licence:second"

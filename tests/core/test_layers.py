"""The packages keep their order: lint-imports fails on an import against it.

The contracts live in pyproject.toml (`[tool.importlinter]`) and `scripts/test` runs
`lint-imports`; these tests show, on a copy of the package, that a wrong import breaks
them, a type-only one included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.constants import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_copy(tmp_path: Path, module: str, added: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports over a copy of the packages with `added` appended to `module`."""
    for package in ("tap_supermetrics", "supermetrics_emulator"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "tap_supermetrics" / module
    path.write_text(path.read_text() + "\n" + added + "\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_packages_as_they_are_keep_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path, "core/clock.py", "")

    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        (
            "plan/sizing.py",
            "from tap_supermetrics.api.client import STATUS_PATH",
            ["The tap's packages import only downwards", "Planning is pure"],
        ),
        (
            "read/stream_windows.py",
            "if TYPE_CHECKING:\n    from tap_supermetrics.check.reconciler import WindowCheck",
            ["The tap's packages import only downwards"],
        ),
        (
            "plan/budget.py",
            "import requests",
            ["Planning is pure"],
        ),
    ],
    ids=["plan imports api", "read imports check for a type", "plan imports requests"],
)
def test_an_import_against_the_order_breaks_a_contract(
    tmp_path: Path, module: str, added: str, broken: list[str]
) -> None:
    result = lint_copy(tmp_path, module, added)

    assert result.returncode == 1
    for name in broken:
        assert f"{name}" in result.stdout
        assert any(name in line and "BROKEN" in line for line in result.stdout.splitlines())

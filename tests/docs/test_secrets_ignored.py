"""Secrets stay out of git (issue 30, 2).

`meltano config set tap-supermetrics api_key …` writes the key into `.env` in the project
root, and the README's `config.json` for the tap on its own holds it too: git ignores
both, wherever they are, and the docs say so.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.constants import ROOT


@pytest.mark.parametrize("path", [".env", "config.json", "transform/.env", "configs/config.json"])
def test_git_ignores_the_files_that_hold_the_key(path: str) -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", path], cwd=ROOT, check=False
    )

    assert ignored.returncode == 0, f"git does not ignore {path}"


def test_a_file_of_the_project_is_not_ignored() -> None:
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", "meltano.yml"], cwd=ROOT, check=False
    )

    assert kept.returncode == 1


def test_the_docs_say_where_the_key_is_kept() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_run = (ROOT / "docs" / "first-real-run.md").read_text(encoding="utf-8")

    assert "stored in .env, which git ignores" in readme
    assert "git ignores `config.json`" in readme
    assert "git ignores it, and `config.json` too" in first_run

"""The settings table in README, meltano.yml and the config schema stay in step."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tap_supermetrics.settings.config_schema import CONFIG_SCHEMA, QUERY_SCHEMA
from tests.conftest import ROOT

#: Settings the SDK adds by itself (stream maps, flattening): Meltano declares what it uses.
SDK_SETTINGS = {"stream_maps", "stream_map_config", "faker_config"}


def _tap_plugin() -> dict:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-supermetrics"]
    return tap


def test_meltano_declares_every_setting_of_the_config_schema_and_no_other() -> None:
    declared = {setting["name"] for setting in _tap_plugin()["settings"]}
    assert {name for name in declared if _ours(name)} == {
        name for name in CONFIG_SCHEMA["properties"] if _ours(name)
    }


def _ours(name: str) -> bool:
    """A setting of the tap's own (the SDK may add its built-in ones to the schema in place)."""
    return name not in SDK_SETTINGS and not name.startswith("flattening_")


def test_readme_settings_table_is_what_about_prints() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_supermetrics", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ours = [
        line
        for line in about.splitlines()
        if line.startswith("| ")
        and line.split(" | ")[0][2:] in CONFIG_SCHEMA["properties"]
        and _ours(line.split(" | ")[0][2:])
    ]
    readme = (ROOT / "README.md").read_text().splitlines()
    assert ours
    assert all(line in readme for line in ours), [line for line in ours if line not in readme]


def test_readme_queries_table_names_every_query_key() -> None:
    section = _section((ROOT / "README.md").read_text(), "Queries")
    missing = [key for key in QUERY_SCHEMA.to_dict()["properties"] if f"`{key}`" not in section]
    assert not missing, f"README 'Queries' does not name {missing}"


def _section(text: str, title: str) -> str:
    """The section under the heading `title`, up to the next heading of its level or higher."""
    headings = [
        (number, len(found.group(1)), found.group(2).strip())
        for number, found in _headings(text.splitlines())
    ]
    ((start, level),) = [(number, depth) for number, depth, name in headings if name == title]
    ends = [number for number, depth, _ in headings if number > start and depth <= level]
    lines = text.splitlines()
    return "\n".join(lines[start : ends[0] if ends else len(lines)])


def _headings(lines: list[str]) -> list[tuple[int, re.Match[str]]]:
    """Markdown headings with their line index, outside fenced code blocks."""
    found, fenced = [], False
    for number, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"(#{1,6}) (.+)", line)):
            found.append((number, heading))
    return found

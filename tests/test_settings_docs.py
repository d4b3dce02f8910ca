"""The settings table in README, meltano.yml and the config schema stay in step."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tap_supermetrics.config import CONFIG_SCHEMA, QUERY_SCHEMA
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
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Queries") : readme.index("## Types")]
    for key in QUERY_SCHEMA.to_dict()["properties"]:
        assert f"`{key}`" in section, key

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


#: The README's second table: how the tap talks to the API (HTTP, polling) and its limits.
TUNING = {
    "max_rows_per_query",
    "max_accounts_per_query",
    "max_rows_per_run",
    "page_size",
    "sync_timeout",
    "poll_interval",
    "max_poll_interval",
    "query_timeout",
    "max_resubmits",
    "max_request_attempts",
    "max_retry_after",
    "request_timeout",
    "max_concurrent_queries",
    "result_lifetime",
    "max_requests_per_second",
}


def _table_rows(section: str) -> list[str]:
    """The first cell of every row of the section's tables (headers left out)."""
    return [
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith(("| Setting ", "| key "))
    ]


def test_readme_settings_lead_with_the_common_case_and_put_tuning_second() -> None:
    readme = (ROOT / "README.md").read_text()
    settings = _section(readme, "Settings")
    first = _table_rows(settings.split("### ")[0])
    queries = _table_rows(_section(readme, "Queries"))
    tuning = _table_rows(_section(readme, "Tuning: HTTP, polling, limits"))
    ours = {name for name in CONFIG_SCHEMA["properties"] if _ours(name)}

    assert first[:3] == ["api_key", "start_date", "queries"]
    assert queries[:4] == ["name", "ds_id", "ds_accounts", "fields"]
    assert set(tuning) == TUNING
    assert sorted(first + tuning) == sorted(ours)  # each setting in one of the two tables


def test_meltano_yml_says_what_is_required_and_describes_every_setting() -> None:
    tap = _tap_plugin()
    declared = {setting["name"]: setting for setting in tap["settings"]}
    defaults = {
        name: schema["default"]
        for name, schema in CONFIG_SCHEMA["properties"].items()
        if "default" in schema
    }

    assert tap["settings_group_validation"] == [["api_key", "start_date", "queries"]]
    assert "structured-logging" in tap["capabilities"]
    assert [name for name, setting in declared.items() if not setting.get("description")] == []
    restated = [name for name, setting in declared.items() if "value" in setting]
    assert restated == [], f"meltano.yml restates the tap's defaults of {restated}"
    assert {name: declared[name]["kind"] for name in ("start_date", "end_date")} == {
        "start_date": "string",  # Meltano's date_iso8601 rewrites 2024-13-01 as 2024-01-13
        "end_date": "string",
    }
    seconds = [name for name, default in defaults.items() if isinstance(default, float)]
    seconds += ["query_timeout", "max_retry_after", "request_timeout", "result_lifetime"]
    assert {declared[name]["kind"] for name in seconds} == {"string"}  # not decimal
    reconcile = declared["reconcile"]
    assert reconcile["kind"] == "options"
    assert [option["value"] for option in reconcile["options"]] == [
        False,
        True,
        "false",
        "true",
        "strict",
    ]
    assert {option["value"] for option in declared["metric_lines"]["options"]} == set(
        CONFIG_SCHEMA["properties"]["metric_lines"]["enum"]
    )


def test_meltano_yml_keeps_the_demos_values_in_the_demo_environment() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = _tap_plugin()
    (demo,) = [env for env in project["environments"] if env["name"] == "demo"]
    demo_tap = demo["config"]["plugins"]["extractors"][0]

    assert project["default_environment"] == "dev"
    assert "end_date" not in tap["config"]
    assert "start_date" not in tap["config"]
    assert "base_url" not in tap["config"]
    assert demo_tap["name"] == "tap-supermetrics"
    assert demo_tap["config"]["end_date"] == "2024-03-31"
    parts = [p for p in project["plugins"]["extractors"] if p.get("inherit_from")]
    assert parts
    assert all("queries" not in (part.get("config") or {}) for part in parts)
    top_level = (ROOT / "meltano.yml").read_text().split("\nplugins:\n")[1]
    assert "# EXAMPLE" in top_level.split("- name: tap-supermetrics--agency-a")[0]


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

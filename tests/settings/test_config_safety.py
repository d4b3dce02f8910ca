"""Config values that become file names and SQL identifiers are refused before any request."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.core.errors import problem_lines
from tap_supermetrics.settings.identifiers import sql_column_name
from tap_supermetrics.settings.queries import ConfigError, query_definitions
from tests.conftest import API_KEY, base_config, run_tap

STREAM_RULE = "use letters, digits and underscore only, not starting with a digit, at most 63"
DS_ID_RULE = "use letters, digits and underscore only"


def _query(**overrides: Any) -> dict[str, Any]:
    query: dict[str, Any] = {
        "name": "ads",
        "ds_id": "AW",
        "ds_accounts": ["111-111-1111"],
        "fields": ["Date", "Clicks"],
    }
    query.update(overrides)
    return query


BAD_QUERIES = {
    "path in name": (_query(name="../../etc"), "stream name '../../etc' is not allowed: "),
    "sql in name": (
        _query(name="Ads;DROP TABLE x"),
        "stream name 'Ads;DROP TABLE x' is not allowed: ",
    ),
    "space in name": (_query(name="google ads"), "stream name 'google ads' is not allowed"),
    "quote in name": (_query(name='ads"x'), "stream name 'ads\"x' is not allowed"),
    "leading digit": (_query(name="1ads"), "stream name '1ads' is not allowed"),
    "too long": (_query(name="a" * 64), f"stream name '{'a' * 64}' is not allowed"),
    "non-ascii name": (_query(name="mainos_ä"), "stream name 'mainos_ä' is not allowed"),
    "path in ds_id": (_query(ds_id="../../x"), "ds_id '../../x' is not allowed: "),
    "slash in ds_id": (_query(ds_id="AW/x"), "ds_id 'AW/x' is not allowed: "),
    "case collision": (
        _query(fields=["Date", "Cost", "cost"]),
        "fields 'Cost' and 'cost' would land in one PostgreSQL column ('cost')",
    ),
    "normalised collision": (
        _query(fields=["Date", "Conversion.Rate", "Conversion_Rate"]),
        "fields 'Conversion.Rate' and 'Conversion_Rate' would land in one PostgreSQL column",
    ),
    "63-byte collision": (
        _query(fields=["Date", "x" * 63 + "_clicks", "x" * 63 + "_impressions"]),
        "would land in one PostgreSQL column",
    ),
}


@pytest.mark.parametrize(("query", "message"), BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_unsafe_names_are_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, query: dict[str, Any], message: str, mode: str
) -> None:
    config = base_config(emulator, tmp_path, queries=[query])
    args = ["--discover"] if mode == "discover" else []

    run = run_tap(tmp_path, config, *args)

    assert run.returncode == 1
    assert message in run.stderr
    # Counted, not timed: the API (the emulator logs every request to its endpoints) was
    # never asked, so nothing was retried or waited for either.
    assert emulator.stats()["request_log"] == []
    assert emulator.stats()["requests"] == {}
    assert "Backing off" not in run.stderr
    assert API_KEY not in run.stdout + run.stderr
    assert run.stdout == ""
    refusal = [line for line in run.stderr.splitlines() if message[:20] in line]
    assert len(refusal) == 1


def test_stream_names_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    config = {"queries": [_query(name="Ads"), _query(name="ads")]}
    with pytest.raises(ConfigError, match=r"stream name 'ads' is used twice \(as 'Ads'"):
        query_definitions(config)
    with pytest.raises(ConfigError, match="coverage, query_runs, reconciliation are reserved"):
        query_definitions({"queries": [_query(name="Query_Runs")]})
    with pytest.raises(ConfigError, match="coverage, query_runs, reconciliation are reserved"):
        query_definitions({"queries": [_query(name="Coverage")]})


def test_a_stream_named_like_another_streams_current_relation_is_refused() -> None:
    with pytest.raises(ConfigError, match="taken by the current relation of stream 'ads'"):
        query_definitions({"queries": [_query(name="ads"), _query(name="ads_current")]})
    assert query_definitions({"queries": [_query(name="ads_current")]})


def test_safe_names_and_distinct_columns_are_accepted() -> None:
    fields = ["Date", "CampaignName", "Cost", "CTR", "ga:sessions", "x" * 63]
    definitions = query_definitions(
        {"queries": [_query(name="_google_ads_2024", ds_id="GA_4", fields=fields)]}
    )
    assert definitions[0].name == "_google_ads_2024"
    assert sql_column_name("Conversion.Rate-All 2") == "conversion_rate_all_2"
    assert sql_column_name("7DayClicks") == "hdayclicks"


_ALPHABET = string.ascii_letters + string.digits + "_-./\\ ;'\"\n\t:äé日\x00%$"


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 70)))


def test_random_names_are_either_safe_or_refused_in_one_line(tmp_path: Path) -> None:
    rng = random.Random(20261129)  # noqa: S311 - reproducible fuzzing, not secrets
    destination = tmp_path / "destination"
    destination.mkdir()
    accepted = refused = 0
    for _ in range(400):
        name, ds_id = _random_text(rng), _random_text(rng)
        if rng.random() < 0.3:  # keep some valid values in the mix
            name = rng.choice(string.ascii_letters) + "".join(filter(str.isalnum, name))[:10]
            ds_id = "".join(filter(str.isalnum, ds_id))[:5] or "AW"
        try:
            definition = query_definitions({"queries": [_query(name=name, ds_id=ds_id)]})[0]
        except ConfigError as error:
            refused += 1
            lines = problem_lines(error)  # one per refused value, each a line of its own
            assert all("\n" not in line for line in lines)
            assert all(
                STREAM_RULE in line or DS_ID_RULE in line or line.endswith("is required")
                for line in lines
            )
            continue
        accepted += 1
        target_file = (destination / f"{definition.name}.jsonl").resolve()
        assert target_file.parent == destination.resolve()
        assert definition.name.isidentifier()
        assert len(definition.name.encode()) <= 63
        assert definition.ds_id.replace("_", "").isalnum()
        assert definition.ds_id.isascii()
    assert accepted > 20
    assert refused > 200

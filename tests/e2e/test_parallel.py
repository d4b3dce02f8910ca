"""One estate split across Meltano jobs that run side by side (docs/running-at-scale.md).

meltano.yml declares `tap-supermetrics--agency-a` and `tap-supermetrics--agency-b`: they
inherit every setting of tap-supermetrics and bring their own queries (here the examples
of meltano.yml's demo environment, each through the part's own TAP_SUPERMETRICS__AGENCY_*
variable), and the jobs `agency-a-to-postgres` and `agency-b-to-postgres` load them with
target-postgres. Here
both jobs run at the same time (two `meltano run` processes started together) against
the emulator into one PostgreSQL schema, each with its own Meltano state: a new warehouse
(each job's first step makes the tables both parts share, so neither has to run alone
first); then one part on its own reads its next days.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supermetrics_emulator import EmulatorServer
from tests.estate import PARTS, Estate, api_rows, install_dbt, part_queries, state_id
from tests.postgres import TemporaryPostgres

pytestmark = pytest.mark.e2e


def test_two_parts_of_an_estate_load_side_by_side_each_with_its_own_state(
    emulator: EmulatorServer,
    postgres: TemporaryPostgres,
    meltano_plugins: None,
    tmp_path: Path,
) -> None:
    estate = Estate(emulator, postgres, tmp_path, schema="e2e_parallel")
    queries = {job: part_queries(plugin) for job, plugin in PARTS.items()}
    install_dbt()
    estate.meltano("state", "list")  # Meltano's system database, before both start

    # A new warehouse (no schema yet), both parts at once; then part a on its own.
    ends = {"agency-a-to-postgres": "2024-01-20", "agency-b-to-postgres": "2024-01-10"}
    both = estate.run_jobs(*PARTS, end_date="2024-01-10")
    alone = estate.run_jobs("agency-a-to-postgres", end_date=ends["agency-a-to-postgres"])
    for job, result in [*both.items(), *alone.items()]:
        assert result.returncode == 0, f"{job}:\n{result.stderr[-3000:]}"

    for job in PARTS:
        for query in queries[job]:
            expected = api_rows(emulator, query, ends[job])
            assert expected, query["name"]
            assert estate.table(query) == expected, query["name"]

    # Each part's state holds its own streams only, under its own state id.
    listed = estate.meltano("state", "list")
    for job, plugin in PARTS.items():
        assert state_id(plugin) in listed
        state = json.loads(estate.meltano("state", "get", state_id(plugin)))
        bookmarks = state["singer_state"]["bookmarks"]
        names = sorted(q["name"] for q in queries[job])
        fixed = {"query_runs", "coverage", "reconciliation"}  # the tap's own streams
        assert sorted(name for name in bookmarks if name not in fixed) == names
        assert {bookmarks[name]["replication_key_value"] for name in names} == {ends[job]}

    # query_runs accumulates both parts' queries in one table.
    streams = estate.query_run_streams()
    assert {q["name"] for job in PARTS for q in queries[job]} == set(streams)
    assert streams.count("agency_a_google_ads_daily") == 2  # side by side, then alone

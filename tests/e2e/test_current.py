"""End to end: the job `supermetrics-to-postgres` builds the `<stream>_current` views.

Emulator → `meltano run supermetrics-to-postgres` (tap-supermetrics, target-postgres,
then `dbt-postgres:current`) → PostgreSQL, twice, with a campaign renamed and a row gone
upstream in between. The raw tables keep both versions; the current views hold, per day
(and account), the rows of the latest successful query that read it (none when it
answered none), so that they match what the emulator reports now.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections import defaultdict
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import yaml

from tests import oracle
from tests.conftest import ROOT
from tests.meltano_project import comparable
from tests.pipeline import FIELDS, MELTANO, Pipeline

pytestmark = pytest.mark.e2e

ACCOUNT_FIELDS = ["Date", "profileID", "CampaignName", "Device", "Impressions", "Cost"]
TABLE_FIELDS = ["CampaignName", "Impressions", "Clicks", "Cost"]
METRICS = {"Impressions", "Clicks", "Cost", "Conversions"}
ONE, TWO, THREE = "111-111-1111", "222-222-2222", "333-333-3333"
RENAMED = {"ds_id": "AW", "field": "CampaignName", "from": "Brand #0", "to": "Brand Zero"}
GONE = {"Date": "2024-01-18", "CampaignName": "Generic #2", "Device": "Mobile"}


def queries(accounts: list[str]) -> list[dict[str, Any]]:
    """Three streams: days only; days and accounts; full table (no date field)."""
    return [
        {"name": "ads", "ds_id": "AW", "ds_accounts": [ONE], "fields": FIELDS},
        {
            "name": "ads_by_account",
            "ds_id": "AW",
            "ds_accounts": accounts,
            "fields": ACCOUNT_FIELDS,
        },
        {"name": "campaigns", "ds_id": "AW", "ds_accounts": [ONE], "fields": TABLE_FIELDS},
    ]


@pytest.fixture(scope="session")
def dbt_plugin(meltano_plugins: None) -> None:
    subprocess.run(
        [str(MELTANO), "install", "dbt-postgres"], check=True, cwd=ROOT, capture_output=True
    )


def run_job(pipeline: Pipeline, **settings: Any) -> subprocess.CompletedProcess[str]:
    """Run the declared job (what the daily schedule runs)."""
    return pipeline.run("supermetrics-to-postgres", **settings)


def tail(streams: list[dict[str, Any]], *spans: tuple[str, str]) -> list[dict[str, Any]]:
    """A `reread` of the last days: a run on the same as-of day re-reads them no other way.

    Each run names them in other spans, since a requested re-read is read once.
    """
    return [
        {"stream": stream["name"], "start_date": first, "end_date": last}
        for stream in streams
        for first, last in spans
    ]


def select(pipeline: Pipeline, table: str, fields: list[str]) -> list[tuple[Any, ...]]:
    """The table's (or view's) `fields`, made `comparable` as `emulator_rows` returns them."""
    columns = ", ".join(f'"{name}"' for name in fields)
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        found = connection.execute(
            f'select {columns} from "{pipeline.schema}"."{table}"'  # noqa: S608
        ).fetchall()
    return sorted(tuple(comparable(value) for value in row) for row in found)


def emulator_rows(
    fields: list[str], accounts: list[str], days: list[str], **knobs: Any
) -> list[tuple[Any, ...]]:
    """What the emulator reports for these (consecutive) days under `knobs`, normalised.

    The rows come from tests/oracle.py; `knobs` are the emulator settings in force.
    """
    rows = oracle.rows("AW", fields, days[0], days[-1], accounts, **knobs)
    return sorted(tuple(comparable(row[name]) for name in fields) for row in rows)


def days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(n)).isoformat() for n in range((end - start).days + 1)]


def read_by_second_run(pipeline: Pipeline, first_run: set[str]) -> dict[str, set[tuple[str, ...]]]:
    """Per stream, the (day, account) pairs the second run's queries read (from query_runs)."""
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        runs = connection.execute(
            "select stream, schedule_id, start_date, end_date, accounts, account_field "  # noqa: S608
            f'from "{pipeline.schema}".query_runs'
        ).fetchall()
    read: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for stream, schedule_id, start, end, accounts, account_field in runs:
        if schedule_id in first_run:
            continue
        for day in days(start.isoformat(), end.isoformat()):
            for account in accounts if account_field else [None]:
                read[stream].add((day, account) if account else (day,))
    return read


def schedule_ids(pipeline: Pipeline) -> set[str]:
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        found = connection.execute(f'select schedule_id from "{pipeline.schema}".query_runs')  # noqa: S608
        return {row[0] for row in found.fetchall()}


def sums_per_day(rows: list[tuple[Any, ...]], fields: list[str]) -> dict[str, dict[str, Decimal]]:
    """Per day, the sum of every metric (NULL counts as nothing, as SQL's sum does)."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        record = dict(zip(fields, row, strict=True))
        for name in METRICS & set(fields):
            if record[name] is not None:
                sums[record["Date"]][name] += Decimal(record[name])
    return {day: dict(values) for day, values in sums.items()}


def test_current_views_follow_renames_and_vanished_rows(
    pipeline: Pipeline,
    dbt_plugin: None,
) -> None:
    emulator = pipeline.emulator
    first = run_job(pipeline, queries=queries([ONE, TWO]))

    assert first.returncode == 0, first.stderr[-3000:]
    all_days = days("2024-01-01", "2024-01-20")
    before = {
        "ads": emulator_rows(FIELDS, [ONE], all_days),
        "ads_by_account": emulator_rows(ACCOUNT_FIELDS, [ONE, TWO], all_days),
    }
    assert select(pipeline, "ads", FIELDS) == before["ads"]
    assert select(pipeline, "ads_current", FIELDS) == before["ads"]
    assert select(pipeline, "ads_by_account_current", ACCOUNT_FIELDS) == before["ads_by_account"]
    # Rows loaded before the lineage column existed carry NULL, and the tap that loaded
    # them wrote no query_runs.extracted_at: they stay current until a newer query reads
    # their day.
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        connection.execute(f'update "{pipeline.schema}".ads set _sm_extracted_at = null')  # noqa: S608
        connection.execute(
            f"update \"{pipeline.schema}\".query_runs set extracted_at = null where stream = 'ads'"  # noqa: S608
        )
    first_run = schedule_ids(pipeline)

    upstream = {"renames": [RENAMED], "dropped_rows": [{"ds_id": "AW", "match": GONE}]}
    emulator.configure(**upstream)
    # The second run also adds an account: it reads that one from start_date, the others
    # only for the re-read days, so only a partition by account keeps the others' rows.
    second_queries = queries([ONE, TWO, THREE])
    second = run_job(
        pipeline, queries=second_queries, reread=tail(second_queries, ("2024-01-17", "2024-01-20"))
    )

    assert second.returncode == 0, second.stderr[-3000:]
    read = read_by_second_run(pipeline, first_run)
    assert read["ads"] == {(day,) for day in days("2024-01-17", "2024-01-20")}  # re-read
    assert {day for day, account in read["ads_by_account"] if account == THREE} == set(all_days)

    # Raw: both versions of the re-read days, and the vanished row.
    raw = select(pipeline, "ads", FIELDS)
    assert {("2024-01-18", "Brand #0"), ("2024-01-18", "Brand Zero")} <= {row[:2] for row in raw}
    assert (GONE["Date"], GONE["CampaignName"], GONE["Device"]) in {row[:3] for row in raw}

    # Current: the emulator's rows now for the days the second run read, the first run's
    # rows for the others; per-day sums equal the emulator's for every day.
    expected = [
        row
        for row in emulator_rows(FIELDS, [ONE], all_days, **upstream)
        if (row[0],) in read["ads"]
    ] + [row for row in before["ads"] if (row[0],) not in read["ads"]]
    current = select(pipeline, "ads_current", FIELDS)
    assert current == sorted(expected)
    assert (GONE["Date"], GONE["CampaignName"], GONE["Device"]) not in {row[:3] for row in current}
    assert sums_per_day(current, FIELDS) == sums_per_day(
        emulator_rows(FIELDS, [ONE], all_days, **upstream), FIELDS
    )
    assert sums_per_day(raw, FIELDS) != sums_per_day(current, FIELDS)  # raw counts twice

    now = emulator_rows(ACCOUNT_FIELDS, [ONE, TWO, THREE], all_days, **upstream)
    by_account = select(pipeline, "ads_by_account_current", ACCOUNT_FIELDS)
    expected = [row for row in now if row[:2] in read["ads_by_account"]] + [
        row for row in before["ads_by_account"] if row[:2] not in read["ads_by_account"]
    ]
    assert by_account == sorted(expected)
    assert sums_per_day(by_account, ACCOUNT_FIELDS) == sums_per_day(now, ACCOUNT_FIELDS)

    # Full table (no date field): the current view is the latest query's rows.
    campaigns = oracle.rows("AW", TABLE_FIELDS, "2024-01-01", "2024-01-20", [ONE], **upstream)
    expected_campaigns = sorted(
        tuple(comparable(r[name]) for name in TABLE_FIELDS) for r in campaigns
    )
    assert select(pipeline, "campaigns_current", TABLE_FIELDS) == expected_campaigns
    assert len(select(pipeline, "campaigns", TABLE_FIELDS)) > len(expected_campaigns)

    # Same columns as the raw tables; no view for query_runs.
    columns_of = table_columns(pipeline)
    for stream in ("ads", "ads_by_account", "campaigns"):
        assert columns_of[f"{stream}_current"] == columns_of[stream]
    assert "query_runs_current" not in columns_of

    views_follow_new_columns(pipeline, by_account)


def views_follow_new_columns(pipeline: Pipeline, by_account: list[tuple[Any, ...]]) -> None:
    """Run 3, after runs 1 and 2 of the test above: the views follow the tables' columns."""
    # A field added to a stream: its view gains the column in place, so views built on
    # current views survive. A view whose columns no longer lead the table's (here made
    # by hand) is dropped and created again.
    schema = pipeline.schema
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        connection.execute(
            f'create view "{schema}".campaign_report as '  # noqa: S608
            f'select "CampaignName", "Cost" from "{schema}".campaigns_current'
        )
        connection.execute(f'drop view "{schema}".ads_by_account_current')
        connection.execute(
            f'create view "{schema}".ads_by_account_current as '  # noqa: S608
            f'select "Cost", "Date" from "{schema}".ads_by_account'
        )
    more = queries([ONE, TWO, THREE])
    more[2]["fields"] = [*TABLE_FIELDS, "Conversions"]
    third = run_job(pipeline, queries=more)

    assert third.returncode == 0, third.stderr[-3000:]
    columns_of = table_columns(pipeline)
    assert "campaign_report" in columns_of
    assert columns_of["campaigns"].endswith(",Conversions")
    for stream in ("ads", "ads_by_account", "campaigns"):
        assert columns_of[f"{stream}_current"] == columns_of[stream]
    assert select(pipeline, "ads_by_account_current", ACCOUNT_FIELDS) == by_account


def table_columns(pipeline: Pipeline) -> dict[str, str]:
    """Per table or view of the pipeline's schema, its column names in order."""
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        columns = connection.execute(
            "select table_name, string_agg(column_name, ',' order by ordinal_position) "
            "from information_schema.columns where table_schema = %s group by table_name",
            [pipeline.schema],
        ).fetchall()
    return dict(columns)


#: The account column of the tests below: Google Ads' account id, as in `ds_accounts`.
ACCOUNT = "profileID"
PER_ACCOUNT = ["Date", ACCOUNT, "CampaignName", "Device", "Impressions", "Cost"]
VANISHED = [("2024-01-18", TWO), ("2024-01-19", TWO)]


def test_current_view_shows_no_rows_where_the_latest_query_answered_none(
    pipeline: Pipeline,
    dbt_plugin: None,
) -> None:
    emulator = pipeline.emulator
    query = [
        {"name": "by_account", "ds_id": "AW", "ds_accounts": [ONE, TWO], "fields": PER_ACCOUNT}
    ]
    first = run_job(pipeline, queries=query)

    assert first.returncode == 0, first.stderr[-3000:]
    all_days = days("2024-01-01", "2024-01-20")
    before = emulator_rows(PER_ACCOUNT, [ONE, TWO], all_days)
    assert select(pipeline, "by_account_current", PER_ACCOUNT) == before

    # Every row of one account vanishes upstream for two of the days the next run re-reads.
    vanished = {
        "dropped_rows": [{"ds_id": "AW", "match": {"Date": d, ACCOUNT: a}} for d, a in VANISHED]
    }
    emulator.configure(**vanished)
    second = run_job(pipeline, queries=query, reread=tail(query, ("2024-01-17", "2024-01-20")))

    assert second.returncode == 0, second.stderr[-3000:]
    (reread,) = [
        run for run in query_runs(pipeline, "by_account") if "requested re-read" in run["reason"]
    ]
    assert (reread["start_date"], reread["end_date"]) == ("2024-01-17", "2024-01-20")
    assert (reread["status"], reread["accounts"]) == ("SUCCESS", [ONE, TWO])
    stale = [row for row in before if row[:2] in VANISHED]
    assert stale
    assert set(stale) <= set(select(pipeline, "by_account", PER_ACCOUNT))  # raw keeps them
    current = select(pipeline, "by_account_current", PER_ACCOUNT)
    assert current == emulator_rows(PER_ACCOUNT, [ONE, TWO], all_days, **vanished)
    assert current == [row for row in before if row[:2] not in VANISHED]
    assert stamps(pipeline, "by_account", ("2024-01-17", ONE)) == {reread["extracted_at"]}

    current_keeps_rows_a_newer_load_replaced(pipeline, current)
    current_kept_when_a_query_failed(pipeline, query, current, vanished)


def current_keeps_rows_a_newer_load_replaced(
    pipeline: Pipeline, current: list[tuple[Any, ...]]
) -> None:
    """A newer load replaced some of a day's rows, and its query_runs record is not there.

    It comes last in a run (or the run died): the day still shows all its rows.
    """
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        connection.execute(
            f'update "{pipeline.schema}".by_account '  # noqa: S608
            "set _sm_extracted_at = _sm_extracted_at + interval '1 millisecond' "
            f"""where "Date" = '2024-01-17' and "{ACCOUNT}" = %s and "Device" = 'Mobile' """,
            [ONE],
        )
    assert len(stamps(pipeline, "by_account", ("2024-01-17", ONE))) == 2
    assert select(pipeline, "by_account_current", PER_ACCOUNT) == current


def current_kept_when_a_query_failed(
    pipeline: Pipeline,
    query: list[dict[str, Any]],
    current: list[tuple[Any, ...]],
    upstream: dict[str, Any],
) -> None:
    """Run 3, after the test above: a query that failed for an account changes none of its days.

    `upstream` holds the emulator's upstream settings the test above left in force.
    """
    emulator = pipeline.emulator
    emulator.configure(renames=[RENAMED])
    upstream = {**upstream, "renames": [RENAMED]}
    emulator.add_fault(action="query_failure", account=TWO, times=0)
    spans = ("2024-01-17", "2024-01-18"), ("2024-01-19", "2024-01-20")
    third = run_job(pipeline, queries=query, reread=tail(query, *spans))

    assert third.returncode != 0
    assert f"account '{TWO}'" in third.stderr
    runs = [run for run in query_runs(pipeline, "by_account") if run["start_date"] == "2024-01-17"]
    outcomes = {(run["status"], tuple(run["accounts"])) for run in runs}
    assert {("FAILURE", (ONE, TWO)), ("SUCCESS", (ONE,)), ("FAILURE", (TWO,))} <= outcomes
    reread = days("2024-01-17", "2024-01-20")
    # ONE: its re-read days under the new name; TWO: its rows as the run before left them,
    # none on the vanished days, although the failed queries read those days again.
    renamed = emulator_rows(PER_ACCOUNT, [ONE], reread, **upstream)
    assert any(RENAMED["to"] in row for row in renamed)
    expected = [row for row in current if not (row[1] == ONE and row[0] in reread)] + renamed
    assert select(pipeline, "by_account_current", PER_ACCOUNT) == sorted(expected)


def query_runs(pipeline: Pipeline, stream: str) -> list[dict[str, Any]]:
    """The stream's query_runs records, dates and stamps as the tap emitted them."""
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        cursor = connection.execute(
            "select start_date, end_date, accounts, reason, status, extracted_at "  # noqa: S608
            f'from "{pipeline.schema}".query_runs where stream = %s',
            [stream],
        )
        names = [column.name for column in cursor.description or []]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for run in found:
        run["start_date"], run["end_date"] = (
            comparable(run["start_date"]),
            comparable(run["end_date"]),
        )
    return found


def stamps(pipeline: Pipeline, table: str, day_and_account: tuple[str, str]) -> set[Any]:
    """The `_sm_extracted_at` values the raw rows of one day and account carry."""
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        found = connection.execute(
            f'select distinct _sm_extracted_at from "{pipeline.schema}"."{table}" '  # noqa: S608
            f'where "Date" = %s and "{ACCOUNT}" = %s',
            list(day_and_account),
        )
        return {row[0] for row in found.fetchall()}


def test_dbt_connects_where_target_postgres_loads() -> None:
    """dbt-postgres' settings default to target-postgres' variables and defaults."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = project["plugins"]
    target = next(p for p in plugins["loaders"] if p["name"] == "target-postgres")
    dbt = next(p for p in plugins["utilities"] if p["name"] == "dbt-postgres")
    dbt_values = {setting["name"]: setting.get("value") for setting in dbt["settings"]}
    target_setting = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "dbname": "database",
        "schema": "default_target_schema",
    }
    profile = (ROOT / "transform" / "profiles.yml").read_text()
    for ours, theirs in target_setting.items():
        assert dbt_values[ours] == f"$TARGET_POSTGRES_{theirs.upper()}"
        default = target["config"].get(theirs)
        found = re.search(
            rf"env_var\('DBT_POSTGRES_{ours.upper()}', ''\)(?: or '([^']*)')?", profile
        )
        assert found, ours
        assert found.group(1) == (None if default is None else str(default)), ours
    assert "tap-supermetrics target-postgres dbt-postgres:current" in project["jobs"][0]["tasks"]

"""End to end: a correction inside the long refresh tier lands when that tier next runs.

Emulator → `meltano run tap-supermetrics target-postgres` → PostgreSQL, one run a day
with `end_date` advancing over past days (so each run's as-of day is its `end_date`).
The query sets its own tiers (they win over the pipeline's top-level `lookback_days`):
the short tier reads the day before the last loaded day every run, the long one six
days every three as-of days. After the backfill the source corrects days upstream
(the emulator's `revision`, from `revision_from` on); the days only the long tier
reads keep their old values in the table until the run where that tier is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests import oracle
from tests.meltano_project import comparable
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e

ACCOUNT = "111-111-1111"
FIELDS = ["Date", "profileID", "Device", "Clicks", "Cost"]
SHORT = {"days": 1, "every": 1}
LONG = {"days": 6, "every": 3}
START = dt.date(2024, 1, 1)
BACKFILL_END = dt.date(2024, 1, 10)
ONE_DAY = dt.timedelta(days=1)
# A tier never run counts as run on the last loaded day (the backfill's end): the long
# tier is first due `every` as-of days later, and reads the `days` days before the last
# loaded day (the day before its as-of day, in daily runs).
LONG_DUE = BACKFILL_END + LONG["every"] * ONE_DAY  # 2024-01-13
LONG_FROM = LONG_DUE - ONE_DAY - LONG["days"] * ONE_DAY  # 2024-01-06
# The first run after the backfill reads again from here (the short tier): later days
# are read by every run, earlier ones by the long tier only.
SHORT_FROM = BACKFILL_END - SHORT["days"] * ONE_DAY  # 2024-01-09
Row = tuple[Any, ...]


def query() -> dict[str, Any]:
    return {
        "name": "ads",
        "ds_id": "AW",
        "ds_accounts": [ACCOUNT],
        "fields": FIELDS,
        "refresh": [SHORT, LONG],
    }


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


def upstream(first: dt.date, last: dt.date, **knobs: Any) -> dict[Row, Row]:
    """The source's rows of these days (tests/oracle.py), by key, as the table holds them."""
    rows = oracle.rows("AW", FIELDS, first.isoformat(), last.isoformat(), [ACCOUNT], **knobs)
    found = {}
    for row in rows:
        values = tuple(comparable(row[name]) for name in FIELDS)
        found[values[:3]] = values
    return found


def table(pipeline: Pipeline) -> dict[Row, Row]:
    """The `ads` table in PostgreSQL, by key (Date, profileID, Device)."""
    columns = ", ".join(f'"{name}"' for name in FIELDS)
    with psycopg.connect(pipeline.postgres.dsn) as connection:
        rows = connection.execute(
            f'select {columns} from "{pipeline.schema}"."ads"'  # noqa: S608
        ).fetchall()
    found = {}
    for row in rows:
        values = tuple(comparable(value) for value in row)
        found[values[:3]] = values
    return found


def run(pipeline: Pipeline, end: dt.date) -> None:
    result = pipeline.run(end_date=end.isoformat(), window_days=60, queries=[query()])
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_correction_in_the_long_tier_lands_when_that_tier_runs_and_not_before(
    pipeline: Pipeline,
) -> None:
    run(pipeline, BACKFILL_END)
    assert table(pipeline) == upstream(START, BACKFILL_END)
    correction = {"revision": 1, "revision_from": LONG_FROM.isoformat()}
    pipeline.emulator.configure(**correction)
    old = upstream(LONG_FROM, SHORT_FROM - ONE_DAY)
    new = upstream(LONG_FROM, SHORT_FROM - ONE_DAY, **correction)
    assert old.keys() == new.keys()
    assert all(old[key] != new[key] for key in old)  # every such row is corrected upstream

    for end in days(BACKFILL_END + ONE_DAY, LONG_DUE - ONE_DAY):  # long tier not due
        run(pipeline, end)
        # Days read since the correction have the new values; the long tier's own
        # days (2024-01-06..08) still hold the old ones.
        expected = upstream(START, SHORT_FROM - ONE_DAY) | upstream(SHORT_FROM, end, **correction)
        assert table(pipeline) == expected, end
        assert {key: table(pipeline)[key] for key in old} == old

    run(pipeline, LONG_DUE)

    assert table(pipeline) == upstream(START, LONG_DUE, **correction)
    assert {key: table(pipeline)[key] for key in new} == new

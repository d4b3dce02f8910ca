"""Issue 23's reconciliation through Meltano, target-postgres and PostgreSQL.

With one campaign's rows dropped on one day from answers split by campaign (the totals
keep them), the `reconciliation` table flags exactly that day for each account and
matches every other (day, account, metric); the current relations still build, and
ignore the totals queries.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.e2e.test_current import dbt_plugin  # noqa: F401 - the fixture
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e

A, B = "111-111-1111", "222-222-2222"
FIELDS = ["Date", "profileID", "CampaignName", "Device", "Clicks", "Cost", "CTR"]
DROP = {"ds_id": "AW", "match": {"Date": "2024-01-05", "CampaignName": "Generic #2"}}


@pytest.mark.usefixtures("dbt_plugin")
def test_the_reconciliation_table_flags_exactly_the_day_with_missing_rows(
    pipeline: Pipeline,
) -> None:
    pipeline.emulator.configure(dropped_rows=[DROP])
    query = {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": FIELDS}
    done = pipeline.run(
        "supermetrics-to-postgres",
        queries=[{**query, "reconcile": True}],
        end_date="2024-01-07",
    )
    assert done.returncode == 0, done.stderr[-3000:]

    with psycopg.connect(pipeline.postgres.dsn) as connection:
        checks = connection.execute(
            "select date::text, account, metric, matched, loaded, source "  # noqa: S608
            f'from "{pipeline.schema}"."reconciliation" order by 1, 2, 3'
        ).fetchall()
        views = connection.execute(
            "select table_name from information_schema.views where table_schema = %s",
            (pipeline.schema,),
        ).fetchall()
    assert len(checks) == 7 * 2 * 2  # days x accounts x (Clicks, Cost); CTR is a ratio
    wrong = {(day, account) for day, account, _, matched, _, _ in checks if not matched}
    assert wrong == {("2024-01-05", A), ("2024-01-05", B)}
    assert all(loaded < source for day, _, _, matched, loaded, source in checks if not matched)
    assert views == [("ads_current",)]

"""Run the main job on the embedded default and show what landed (see scripts/demo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from supermetrics_emulator import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DEMO_KEY = "demo-api-key"
ENVIRONMENT = "demo"
PIPELINE = ["tap-supermetrics", "target-duckdb", "dbt-duckdb:current"]

# What changes upstream between the two runs: a campaign renamed (Supermetrics then
# reports every day, past ones too, under the new name) and a row that vanishes.
RENAMED = {"ds_id": "AW", "field": "CampaignName", "from": "Brand #0", "to": "Brand Zero"}
DROPPED = {
    "ds_id": "AW",
    "match": {"Date": "2024-03-30", "CampaignName": "Generic #2", "Device": "Mobile"},
}

REPORT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute(
    "select table_name, table_type from information_schema.tables "
    "where table_schema = 'supermetrics' order by table_name"
).fetchall()
for table, kind in tables:
    count = con.execute(f'select count(*) from supermetrics."{table}"').fetchone()[0]
    print(f"\\n== supermetrics.{table} ({kind.lower()}): {count} rows")
    cursor = con.execute(f'select * from supermetrics."{table}" limit 3')
    print(" | ".join(column[0] for column in cursor.description))
    for row in cursor.fetchall():
        print(" | ".join(str(value) for value in row))
"""

SIDE_BY_SIDE = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
raw, current = "supermetrics.google_ads_daily", "supermetrics.google_ads_daily_current"
print(f"\\n== {raw} (raw, keeps history) beside {current} (view)")
print("Date       | raw rows | current rows | raw Cost     | current Cost")
for day, raw_rows, raw_cost, cur_rows, cur_cost in con.execute(f'''
    with r as (select "Date" as day, count(*) as n, sum("Cost") as cost from {raw} group by 1),
         c as (select "Date" as day, count(*) as n, sum("Cost") as cost from {current} group by 1)
    select r.day, r.n, r.cost, c.n, c.cost from r join c using (day)
    where r.day >= '2024-03-26' order by 1''').fetchall():
    print(f"{day} | {raw_rows:8} | {cur_rows:12} | {raw_cost:12.2f} | {cur_cost:12.2f}")
query = '''select "CampaignName", "Cost", _sm_extracted_at from {} where "Date" = '2024-03-31'
    and "profileID" = '111-111-1111' and "Device" = 'Desktop' and "CampaignName" like 'Brand%'
    order by _sm_extracted_at, 1'''
for name, relation in (("raw", raw), ("current", current)):
    print(f"\\n{name}: 2024-03-31, 111-111-1111, Desktop, campaigns named Brand…")
    for campaign, cost, extracted in con.execute(query.format(relation)).fetchall():
        print(f"  {campaign:12} | Cost {cost:10.2f} | _sm_extracted_at {extracted}")
"""


def meltano(*args: str, env: dict[str, str], capture: bool = False) -> str:
    """Run one Meltano command from the project root; fail the demo if it fails."""
    return subprocess.run(
        [str(MELTANO), "--log-level=warning", *args],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=capture,
        text=True,
    ).stdout


def main() -> int:
    """Start the emulator, run the pipeline twice, report the tables."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir()
    with EmulatorServer(api_key=DEMO_KEY, run_seconds=0.5) as emulator:
        print(f"emulator: {emulator.base_url}", flush=True)
        env = {
            **os.environ,
            # meltano.yml's demo environment: example accounts, dates that never move.
            "MELTANO_ENVIRONMENT": ENVIRONMENT,
            "MELTANO_DATABASE_URI": f"sqlite:///{OUTPUT / 'meltano.db'}",
            "TAP_SUPERMETRICS_BASE_URL": emulator.base_url,
            "TAP_SUPERMETRICS_API_KEY": DEMO_KEY,
            # dbt's own files (manifest, logs) stay with the demo's output.
            "DBT_TARGET_PATH": str(OUTPUT / "dbt" / "target"),
            "DBT_LOG_PATH": str(OUTPUT / "dbt" / "logs"),
        }
        meltano("install", "tap-supermetrics", "target-duckdb", "dbt-duckdb", env=env)
        started = time.monotonic()
        meltano("run", *PIPELINE, env=env)
        print(f"run 1: {' '.join(PIPELINE)} ({time.monotonic() - started:.1f} s)", flush=True)
        emulator.configure(renames=[RENAMED], dropped_rows=[DROPPED])
        print(
            f"upstream: campaign {RENAMED['from']!r} renamed {RENAMED['to']!r}; "
            f"row {json.dumps(DROPPED['match'], ensure_ascii=False)} gone",
            flush=True,
        )
        started = time.monotonic()
        # The next day's run: one as-of day later, the lookback tier is due again.
        meltano("run", *PIPELINE, env={**env, "TAP_SUPERMETRICS_END_DATE": "2024-04-01"})
        print(
            f"run 2, the next day's incremental run ({time.monotonic() - started:.1f} s): "
            "reads 2024-04-01 and re-reads 2024-03-28..2024-03-31, the last loaded day and the "
            "3 days before it (lookback_days 3): below, the raw table's extra rows on those 4 "
            "days are the renamed campaign's, kept as history",
            flush=True,
        )
        state = meltano(
            "state",
            "get",
            f"{ENVIRONMENT}:tap-supermetrics-to-target-duckdb",
            env=env,
            capture=True,
        )
    database = OUTPUT / "warehouse.duckdb"
    python = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
    print(f"\nloaded into {database.relative_to(ROOT)}")
    subprocess.run([str(python), "-c", REPORT, str(database)], check=True)
    subprocess.run([str(python), "-c", SIDE_BY_SIDE, str(database)], check=True)
    bookmarks = json.loads(state)["singer_state"]["bookmarks"]
    print("\nstate saved by Meltano:")
    for stream, bookmark in sorted(bookmarks.items()):
        if "replication_key_value" in bookmark:
            print(
                f"  {stream}: {bookmark['replication_key']} = {bookmark['replication_key_value']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

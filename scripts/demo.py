"""Run the main job on the embedded default and show what landed (see scripts/demo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from supermetrics_emulator import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
DEMO_KEY = "demo-api-key"

REPORT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute(
    "select table_name from information_schema.tables where table_schema = 'supermetrics' "
    "order by table_name"
).fetchall()
for (table,) in tables:
    count = con.execute(f'select count(*) from supermetrics."{table}"').fetchone()[0]
    print(f"\\n== supermetrics.{table}: {count} rows")
    cursor = con.execute(f'select * from supermetrics."{table}" limit 3')
    print(" | ".join(column[0] for column in cursor.description))
    for row in cursor.fetchall():
        print(" | ".join(str(value) for value in row))
"""


def main() -> int:
    """Start the emulator, run the pipeline, report the tables."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir()
    with EmulatorServer(api_key=DEMO_KEY, run_seconds=0.5) as emulator:
        print(f"emulator: {emulator.base_url}", flush=True)
        env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{OUTPUT / 'meltano.db'}",
            "TAP_SUPERMETRICS_BASE_URL": emulator.base_url,
            "TAP_SUPERMETRICS_API_KEY": DEMO_KEY,
        }
        meltano = [str(MELTANO), "--log-level=warning"]
        subprocess.run(
            [*meltano, "install", "tap-supermetrics", "target-duckdb"],
            check=True,
            env=env,
            cwd=ROOT,
        )
        subprocess.run(
            [*meltano, "run", "tap-supermetrics", "target-duckdb"], check=True, env=env, cwd=ROOT
        )
        state = subprocess.run(
            [*meltano, "state", "get", "dev:tap-supermetrics-to-target-duckdb"],
            check=True,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
    database = OUTPUT / "warehouse.duckdb"
    python = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
    print(f"\nloaded into {database.relative_to(ROOT)}")
    subprocess.run([str(python), "-c", REPORT, str(database)], check=True)
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

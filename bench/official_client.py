"""The official `supermetrics` client reading the same result: execute, get_results, pages.

Writes each row as a JSON line, like a tap's RECORD stream would carry it.
"""

from __future__ import annotations

import json
import sys
import time

from supermetrics import SupermetricsClient


def main(base_url: str, api_key: str, query_json: str, page_size: int) -> None:
    query = json.loads(query_json)
    out = sys.stdout
    with SupermetricsClient(api_key=api_key, base_url=base_url) as client:
        first = client.queries.execute(**query, sync_timeout=0)
        schedule_id = first.meta.schedule_id
        while True:
            result = client.queries.get_results(query_id=schedule_id)
            if result.meta.status_code == "SUCCESS":
                break
            time.sleep(0.25)
        fields = query["fields"]
        offset = 0
        while True:
            page = client.queries.execute(
                **query,
                schedule_id=schedule_id,
                offset_start=offset,
                offset_end=offset + page_size - 1,
            )
            rows = page.data[1:]
            for row in rows:
                out.write(json.dumps(dict(zip(fields, row, strict=True))) + "\n")
            offset += len(rows)
            if not rows or offset >= page.meta.result.total_rows:
                break


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

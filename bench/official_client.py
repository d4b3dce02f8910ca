"""The official `supermetrics` client reading the same result: execute, get_results, pages.

Writes each row as a JSON line, like a tap's RECORD stream would carry it. The answer
that says SUCCESS already holds the first rows (up to the API's page size): they are
written, and only the rows after them are asked for, page by page, as a careful user of
the client would. Prints the requests it made to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from supermetrics import SupermetricsClient


def main(base_url: str, api_key: str, query_json: str, page_size: int) -> None:
    query = json.loads(query_json)
    fields = query["fields"]
    out = sys.stdout
    requests: Counter[str] = Counter()

    def write(rows: list[Any]) -> int:
        for row in rows:
            out.write(json.dumps(dict(zip(fields, row, strict=True))) + "\n")
        return len(rows)

    with SupermetricsClient(api_key=api_key, base_url=base_url) as client:
        # The client's models mark every field optional (Unset); the emulator sets them all.
        first: Any = client.queries.execute(**query, sync_timeout=0)
        requests["submit"] += 1
        assert first is not None
        schedule_id = first.meta.schedule_id
        while True:
            result: Any = client.queries.get_results(query_id=schedule_id)
            requests["get_results"] += 1
            assert result is not None
            if result.meta.status_code == "SUCCESS":
                break
            time.sleep(0.25)
        total = result.meta.result.total_rows
        offset = write(result.data[1:])  # the header row first, then rows
        while offset < total:
            page: Any = client.queries.execute(
                **query,
                schedule_id=schedule_id,
                offset_start=offset,
                offset_end=offset + page_size - 1,
            )
            requests["page"] += 1
            assert page is not None
            received = write(page.data[1:])
            if not received:
                break
            offset += received
    out.flush()
    print(", ".join(f"{kind} {count}" for kind, count in requests.items()), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

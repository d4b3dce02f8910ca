"""The "SDK floor": a minimal SDK tap yielding the benchmark's records from memory.

Fastest SDK settings (msgspec writer, no type conformance). Prints the seconds spent
building the records to stderr, so the benchmark can leave them out.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.conform import TypeConformanceLevel

from bench.common import MILLION_ROW_QUERY
from supermetrics_emulator.catalog import DATA_SOURCES
from supermetrics_emulator.rows import ResultPlan
from tap_supermetrics.fields import FieldSpec, record_schema


def build_records(end_date: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    query = MILLION_ROW_QUERY
    source = DATA_SOURCES[query["ds_id"]]
    plan = ResultPlan(
        source,
        query["fields"],
        dt.date.fromisoformat(query["start_date"]),
        dt.date.fromisoformat(end_date),
        query["ds_accounts"],
    )
    fields = query["fields"]
    records = [dict(zip(fields, row, strict=True)) for row in plan.rows(0, plan.total_rows - 1)]
    specs = [FieldSpec(f.field_id, f.field_name, f.field_type, f.data_type) for f in plan.fields]
    return records, record_schema(specs)


class MemoryStream(Stream):
    name = "floor"
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    records: list[dict[str, Any]] = []

    def get_records(self, context: Any) -> Any:
        yield from self.records


class FloorTap(Tap):
    name = "tap-floor"
    message_writer_class = MsgSpecWriter

    def discover_streams(self) -> list[Stream]:
        return [MemoryStream(self, schema=self.config["schema"])]


def main() -> None:
    started = time.perf_counter()
    records, schema = build_records(sys.argv[1])
    MemoryStream.records = records
    print(f"precompute_seconds={time.perf_counter() - started:.3f}", file=sys.stderr)
    FloorTap(config={"schema": schema}).sync_all()


if __name__ == "__main__":
    main()

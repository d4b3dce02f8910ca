"""Emission alone: the SDK emitting the tap's own records from memory, with the tap's tricks.

Run: python -m bench.emission_tap TAP_OUTPUT STREAM

Not a floor for the tap (that is `bench/floor_tap.py`, which reads the same result over
HTTP): this measures only what emission costs, with no HTTP, no decoding and no row
building, while the emulator is idle. The records (and SCHEMA) of STREAM are read
from a file of the tap's Singer output first; that time is printed to stderr
(`precompute_seconds=`) so the benchmark can leave it out. Then a minimal SDK tap emits
exactly those records with the tap's writer and per-record hooks (`floor_tap.TRICKS`,
taken from the tap's classes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from singer_sdk import Stream, Tap

from bench.floor_tap import TRICKS_IN_USE
from tap_supermetrics.tap import TapSupermetrics


class _Message(msgspec.Struct):
    type: str
    stream: str | None = None
    record: dict[str, Any] | None = None
    schema: dict[str, Any] | None = None


def load(path: Path, stream: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The schema and the records of `stream` in a file of Singer messages."""
    decode = msgspec.json.Decoder(_Message).decode
    schema: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    with path.open("rb") as lines:
        for line in lines:
            message = decode(line)
            if message.stream != stream:
                continue
            if message.type == "RECORD" and message.record is not None:
                records.append(message.record)
            elif message.type == "SCHEMA" and schema is None:
                schema = message.schema
    if schema is None:
        msg = f"no SCHEMA for stream {stream!r} in {path}"
        raise SystemExit(msg)
    return schema, records


def emission_tap(stream_name: str, schema: dict[str, Any], records: list[dict[str, Any]]) -> Tap:
    """A tap with one stream yielding `records`, built with the tap's writer and tricks."""

    def get_records(_stream: Stream, _context: object) -> Any:
        yield from records

    stream_class = type(
        "MemoryStream",
        (Stream,),
        {"name": stream_name, "get_records": get_records, **TRICKS_IN_USE},
    )

    class EmissionTap(Tap):
        name = "tap-emission"
        message_writer_class = TapSupermetrics.message_writer_class

        def discover_streams(self) -> list[Stream]:
            return [stream_class(self, schema=schema)]

    return EmissionTap(config={})


def main(path: str, stream: str) -> None:
    """Load the records, then emit them through the SDK."""
    started, cpu = time.perf_counter(), time.process_time()
    schema, records = load(Path(path), stream)
    print(f"precompute_seconds={time.perf_counter() - started:.3f}", file=sys.stderr)
    print(f"precompute_cpu_seconds={time.process_time() - cpu:.3f}", file=sys.stderr)
    tap = emission_tap(stream, schema, records)
    print(f"records_loaded={len(records)}", file=sys.stderr)
    print(f"tricks={','.join(sorted(TRICKS_IN_USE)) or 'none'}", file=sys.stderr)
    writer = TapSupermetrics.message_writer_class.__name__
    print(f"writer={writer}", file=sys.stderr)
    tap.sync_all()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

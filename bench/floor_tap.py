"""The "SDK floor": the SDK emitting the tap's own records from memory, with the tap's tricks.

Run: python -m bench.floor_tap TAP_OUTPUT STREAM

The records (and SCHEMA) of STREAM are read from a file of the tap's Singer output
first; that time is printed to stderr (`precompute_seconds=`) so the benchmark can
leave it out. Then a minimal SDK tap emits exactly those records, with everything the
tap does to make emission cheap, taken from the tap's own classes rather than copied,
so that the floor follows the tap when it changes:

- the tap's message writer (`TapSupermetrics.message_writer_class`: msgspec, 64 KiB
  blocks, flushed at STATE);
- every per-record hook the tap overrides on `QueryStream` (`TRICKS`: no type
  conformance, no child contexts, no per-record state, the lean record path without the
  deselection walk).

The floor does no HTTP, no decoding and no row conversion: what separates the tap from
it is the tap's own work per row.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from singer_sdk import Stream, Tap

from tap_supermetrics.streams import QueryStream
from tap_supermetrics.tap import TapSupermetrics

#: Attributes of the per-record path that a stream can override.
TRICKS = (
    "TYPE_CONFORMANCE_LEVEL",
    "post_process",
    "generate_child_contexts",
    "_generate_record_messages",
    "_all_properties_selected",
    "_increment_stream_state",
)


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


def tap_tricks() -> dict[str, Any]:
    """The per-record attributes the tap's query stream takes from the tap, not the SDK."""
    tricks: dict[str, Any] = {}
    for name in TRICKS:
        owner = next(cls for cls in QueryStream.__mro__ if name in vars(cls))
        if owner.__module__.startswith("tap_supermetrics."):
            tricks[name] = vars(owner)[name]
    return tricks


def floor_tap(stream_name: str, schema: dict[str, Any], records: list[dict[str, Any]]) -> Tap:
    """A tap with one stream yielding `records`, built with the tap's writer and tricks."""

    def get_records(_stream: Stream, _context: object) -> Any:
        yield from records

    stream_class = type(
        "MemoryStream",
        (Stream,),
        {"name": stream_name, "get_records": get_records, **TRICKS_IN_USE},
    )

    class FloorTap(Tap):
        name = "tap-floor"
        message_writer_class = TapSupermetrics.message_writer_class

        def discover_streams(self) -> list[Stream]:
            return [stream_class(self, schema=schema)]

    return FloorTap(config={})


TRICKS_IN_USE = tap_tricks()


def main(path: str, stream: str) -> None:
    """Load the records, then emit them through the SDK."""
    started, cpu = time.perf_counter(), time.process_time()
    schema, records = load(Path(path), stream)
    print(f"precompute_seconds={time.perf_counter() - started:.3f}", file=sys.stderr)
    print(f"precompute_cpu_seconds={time.process_time() - cpu:.3f}", file=sys.stderr)
    tap = floor_tap(stream, schema, records)
    print(f"records_loaded={len(records)}", file=sys.stderr)
    print(f"tricks={','.join(sorted(TRICKS_IN_USE)) or 'none'}", file=sys.stderr)
    writer = TapSupermetrics.message_writer_class.__name__
    print(f"writer={writer}", file=sys.stderr)
    tap.sync_all()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

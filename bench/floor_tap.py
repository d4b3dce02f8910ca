"""The "SDK floor": a minimal SDK tap doing the tap's job at the least cost the SDK allows.

Run: python -m bench.floor_tap CONFIG_JSON
     (`base_url`, `api_key`, `page_size`, `schema`, `query`: see `bench/run_all.py`)

It reads the same query's result from the same emulator over HTTP as the tap does,
and does nothing the job does not need:

- submits the query with `sync_timeout`, so the answer comes when the query has ended
  (it polls `/query/status` if the query is still running after that);
- pages through the result with `offset_start` / `offset_end` (`ResultPages`, an
  `OffsetPaginator` with `has_more` on `total_rows`), the tap's page size, through the
  SDK's own request path (`request_records`);
- decodes each page once with msgspec (`meta.result.total_rows`, the field names of
  the header row, the rows as tuples; everything else skipped), no JSONPath;
- builds `dict(zip(field_ids, row))` per row: no type conversion, no duplicate-key or
  exactly-once check, no lineage stamp, no state.

It emits with every trick the tap uses, taken from the tap's classes rather than
copied, so that the floor follows the tap when it changes:

- the tap's message writer (`TapSupermetrics.message_writer_class`: msgspec, 64 KiB
  blocks, flushed at STATE);
- every per-record hook the tap overrides on `QueryStream` (`TRICKS`: no type
  conformance, no child contexts, no per-record state, the lean record path without the
  deselection walk);
- the tap's `PrefetchingSession`: the next page travels while this one is written
  (unpaced: the floor spends no time on the request budget);
- the tap's allocator setting (`allocator.py`: glibc's mmap threshold fixed).

Prints `allocator=`, `writer=`, `tricks=` and `requests=` to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from functools import cached_property
from typing import Any

import msgspec
import requests
from singer_sdk import Stream, Tap
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext

from tap_supermetrics.api.client import PrefetchingSession
from tap_supermetrics.api.pacing import RequestPacer
from tap_supermetrics.streams.allocator import keep_large_buffers_out_of_the_heap
from tap_supermetrics.streams.query import QueryStream
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


def tap_tricks() -> dict[str, Any]:
    """The per-record attributes the tap's query stream takes from the tap, not the SDK."""
    tricks: dict[str, Any] = {}
    for name in TRICKS:
        owner = next(cls for cls in QueryStream.__mro__ if name in vars(cls))
        if owner.__module__.startswith("tap_supermetrics."):
            tricks[name] = vars(owner)[name]
    return tricks


TRICKS_IN_USE = tap_tricks()


class _Result(msgspec.Struct):
    total_rows: int


class _Field(msgspec.Struct):
    field_name: str


class _Query(msgspec.Struct):
    fields: list[_Field]


class _Meta(msgspec.Struct):
    result: _Result
    query: _Query


class _Page(msgspec.Struct):
    """One result page: only what paging and records need; the rest is skipped."""

    meta: _Meta
    data: list[tuple[Any, ...]]  # tuples of plain values leave the cyclic GC; lists stay


_PAGE = msgspec.json.Decoder(_Page)


class ResultPages(OffsetPaginator):
    """Offsets over the result's rows, until `total_rows`."""

    def __init__(self, stream: FloorStream) -> None:
        super().__init__(0, stream.page_size)
        self._stream = stream

    def has_more(self, response: requests.Response) -> bool:
        return self.current_value + self._stream.rows_in(response) < self._stream.total_rows


class FloorStream(RESTStream[int]):
    """The result of one query, page by page."""

    path = "/query/status"

    def __init__(self, tap: Tap, name: str, schema: dict[str, Any]) -> None:
        super().__init__(tap, name=name, schema=schema)
        self.field_ids: list[str] = list(self.config["query"]["fields"])
        self.page_size = int(self.config["page_size"])
        self.schedule_id = ""
        self.total_rows = 0
        self._rows: tuple[requests.Response | None, int] = (None, 0)
        self._pages = ResultPages(self)
        self.calls = self.pages = 0

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"])

    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @cached_property
    def requests_session(self) -> PrefetchingSession:
        return PrefetchingSession(RequestPacer(0))

    def get_new_paginator(self) -> ResultPages:
        self._pages = ResultPages(self)
        return self._pages

    def get_url_params(self, context: Any, next_page_token: int | None) -> dict[str, Any]:
        first = next_page_token or 0
        last = first + self.page_size - 1
        spec = {"schedule_id": self.schedule_id, "offset_start": first, "offset_end": last}
        return {"json": json.dumps(spec)}

    def rows_in(self, response: requests.Response) -> int:
        answer, rows = self._rows
        assert answer is response  # parse_response has read it
        return rows

    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        page = _PAGE.decode(response.content)
        rows = page.data
        if rows and rows[0] == tuple(field.field_name for field in page.meta.query.fields):
            del rows[0]  # the header row
        self.total_rows = page.meta.result.total_rows
        self._rows = (response, len(rows))
        self.pages += 1
        following = self._pages.current_value + len(rows)
        if rows and following < self.total_rows:
            self._prefetch(following)
        fields = self.field_ids
        return [dict(zip(fields, row, strict=False)) for row in rows]  # no width check

    def _prefetch(self, first: int) -> None:
        """Send the request the SDK's paging makes next, built the way it builds it."""
        request = self.get_http_request(page=PageContext(None, first))
        prepared = self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )
        self.requests_session.prefetch(
            self.authenticator(prepared), timeout=self.timeout, allow_redirects=True
        )

    def call(self, endpoint: str, spec: dict[str, Any]) -> dict[str, Any]:
        """One request outside paging (submit, status)."""
        self.calls += 1
        response = self.requests_session.get(
            f"{self.url_base}/query/{endpoint}",
            params={"json": json.dumps(spec)},
            auth=self.authenticator,
            timeout=self.timeout,
        )
        response.raise_for_status()
        answer: dict[str, Any] = msgspec.json.decode(response.content)
        return answer

    def get_records(self, context: Any) -> Any:
        query = {**self.config["query"], "sync_timeout": 60, "offset_start": 0, "offset_end": 0}
        meta = self.call("data/json", query)["meta"]
        self.schedule_id = meta["schedule_id"]
        while meta["status_code"] != "SUCCESS":
            time.sleep(0.05)
            spec = {"schedule_id": self.schedule_id, "offset_start": 0, "offset_end": 0}
            meta = self.call("status", spec)["meta"]
        yield from self.request_records(context)


def floor_tap(config: dict[str, Any]) -> Tap:
    """A tap with one `FloorStream`, built with the tap's writer and per-record tricks."""
    stream_class = type("FloorStream", (FloorStream,), dict(TRICKS_IN_USE))

    class FloorTap(Tap):
        name = "tap-floor"
        message_writer_class = TapSupermetrics.message_writer_class

        def discover_streams(self) -> list[Stream]:
            return [stream_class(self, self.config["stream"], self.config["schema"])]

    return FloorTap(config=config)


def main(config: dict[str, Any]) -> None:
    allocator = keep_large_buffers_out_of_the_heap()  # the tap's allocator setting too
    tap = floor_tap(config)
    print(f"allocator={'mmap-threshold-fixed' if allocator else 'unchanged'}", file=sys.stderr)
    print(f"tricks={','.join(sorted(TRICKS_IN_USE)) or 'none'}", file=sys.stderr)
    print(f"writer={TapSupermetrics.message_writer_class.__name__}", file=sys.stderr)
    tap.sync_all()
    stream = tap.streams[config["stream"]]
    assert isinstance(stream, FloorStream)
    print(f"requests=submit+status:{stream.calls},pages:{stream.pages}", file=sys.stderr)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

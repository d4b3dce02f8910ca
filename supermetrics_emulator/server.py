"""The emulator's HTTP server: the documented query endpoints plus a control plane.

API endpoints (under `/enterprise/v2`) take their parameters as one URL-encoded JSON
object in the `json` query parameter and authenticate with `Authorization: Bearer` or
with `api_key` inside that object, as documented. Control endpoints (under
`/_emulator`) take JSON bodies and need no key: they exist for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from supermetrics_emulator.faults import FaultBook, FaultRule
from supermetrics_emulator.queries import WAITING, Query, QueryStore
from supermetrics_emulator.rows import Revision
from supermetrics_emulator.validation import ApiError, build_plan

API_PREFIX = "/enterprise/v2"
_LOOKUP_KEYS = frozenset({"schedule_id", "api_key", "offset_start", "offset_end", "sync_timeout"})


@dataclass
class EmulatorSettings:
    """Every behaviour knob; README "Running the emulator by hand" lists them."""

    api_key: str = "emulator-key"
    run_seconds: float = 0.2
    schedule_seconds: float = 0.0
    max_running: int = 5
    result_ttl: float = 3600.0
    max_page_size: int = 100_000
    header_row: bool = True
    numbers_as_strings: bool = False
    async_status_code: int = 200
    max_sync_timeout: float = 60.0
    rate_limit_per_second: int = 0
    revision: int = 0
    revision_from: str = "0001-01-01"
    hold_lookups: bool = True
    report_total_rows: bool = True

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, refusing unknown names and wrong types."""
        known = {item.name: item for item in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                msg = f"unknown emulator setting {name!r}"
                raise ValueError(msg)
            current = getattr(self, name)
            if isinstance(current, bool) != isinstance(value, bool) or not isinstance(
                value, (type(current), int) if isinstance(current, float) else type(current)
            ):
                msg = f"setting {name!r} must be {type(current).__name__}"
                raise ValueError(msg)
            setattr(self, name, type(current)(value))


class Emulator:
    """The emulator's state: settings, queries, faults and request statistics."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        """Start empty, with the given or default settings."""
        self.initial = dataclasses.replace(settings or EmulatorSettings())
        self.settings = dataclasses.replace(self.initial)
        self.faults = FaultBook()
        self.store = QueryStore(
            max_running=lambda: self.settings.max_running,
            schedule_seconds=lambda: self.settings.schedule_seconds,
        )
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.reset_stats()

    def reset_stats(self) -> None:
        """Forget request counters and the request log."""
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.status_polls: Counter[str] = Counter()
            self.request_log: deque[dict[str, Any]] = deque(maxlen=10_000)
            self._second = 0
            self._in_second = 0

    def reset(self) -> None:
        """Back to the state at start: initial settings, no queries, faults or stats."""
        self.settings = dataclasses.replace(self.initial)
        self.store.clear()
        self.faults.clear()
        self.reset_stats()

    def next_request_id(self) -> str:
        """Return a unique request id for `meta.request_id`."""
        return f"req_{next(self._request_ids):08d}"

    def note_request(self, endpoint: str, params: dict[str, Any], raw_path: str) -> None:
        """Count a request, and refuse it with 429 when over the configured rate."""
        safe = {key: value for key, value in params.items() if key != "api_key"}
        with self._lock:
            self.requests[endpoint] += 1
            if endpoint == "status" and "schedule_id" in params:
                self.status_polls[str(params["schedule_id"])] += 1
            self.request_log.append(
                {"endpoint": endpoint, "params": safe, "path": raw_path, "time": time.time()}
            )
            limit = self.settings.rate_limit_per_second
            second = int(time.monotonic())
            if second != self._second:
                self._second, self._in_second = second, 0
            self._in_second += 1
            over = bool(limit) and self._in_second > limit
        if over:
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Too many requests", retry_after="1")

    def stats(self) -> dict[str, Any]:
        """Return counters, recent requests, queries and faults."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "status_polls": dict(self.status_polls),
                "request_log": list(self.request_log),
                "queries": self.store.summaries(),
                "faults": self.faults.describe(),
            }

    # The API -----------------------------------------------------------------

    def submit(self, params: dict[str, Any]) -> Query:
        """Create a query from submitted parameters, with any query faults applied."""
        fired = self.faults.take_query(params)
        duplicate = next((r.row for r in fired if r.action == "duplicate_row"), None)
        revision = Revision(
            self.settings.revision, dt.date.fromisoformat(self.settings.revision_from)
        )
        plan = build_plan(params, revision=revision, duplicate_row=duplicate)
        query = Query(
            schedule_id=str(params.get("schedule_id") or self.store.new_id()),
            params={key: value for key, value in params.items() if key != "api_key"},
            plan=plan,
            submitted_at=self.store.now(),
            run_seconds=self.settings.run_seconds,
            result_ttl=self.settings.result_ttl,
            accounts=len(params.get("ds_accounts") or []) or 1,
        )
        for rule in fired:
            _apply_query_fault(query, rule)
        self.store.add(query)
        return query

    def wait_for(self, query: Query, seconds: float) -> Query | None:
        """Hold the request until the query finishes or `seconds` pass (`sync_timeout`)."""
        deadline = time.monotonic() + min(max(seconds, 0.0), self.settings.max_sync_timeout)
        current = self.store.get(query.schedule_id)
        while current is not None and current.status in (*WAITING, "RUNNING"):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
            current = self.store.get(query.schedule_id)
        return current

    def answer(self, query: Query, params: dict[str, Any], base_url: str) -> tuple[int, Any]:
        """Build the documented answer for a query's current state (and rows, once done)."""
        now = self.store.now()
        meta: dict[str, Any] = {
            "request_id": self.next_request_id(),
            "schedule_id": query.schedule_id,
            "status_code": query.extra.get("status_override", query.status),
            "progress": query.progress(now),
            "workflow": self.store.workflow(),
        }
        if query.status in (*WAITING, "RUNNING"):
            return self.settings.async_status_code, {"meta": meta, "data": []}
        if query.status != "SUCCESS":
            error = query.error or {"code": query.status, "message": f"Query {query.status}"}
            return 200, {"meta": meta, "error": error, "data": []}
        return 200, self._page(query, params, meta, base_url)

    def _page(
        self, query: Query, params: dict[str, Any], meta: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        plan = query.plan
        total = plan.total_rows
        first = _int_param(params, "offset_start", 0)
        limit = self.settings.max_page_size
        last = _int_param(params, "offset_end", first + limit - 1)
        last = min(last, first + limit - 1, total - 1)
        rows = list(plan.rows(first, last)) if first <= last else []
        if self.settings.numbers_as_strings:
            rows = [[_as_text(cell) for cell in row] for row in rows]
        settings = query.params.get("settings") or {}
        header = self.settings.header_row and not settings.get("no_headers")
        data: list[list[Any]] = [[f.field_name for f in plan.fields]] if header else []
        data.extend(rows)
        paginate: dict[str, str] = {}
        size = last - first + 1 if first <= last else limit
        if first + len(rows) < total:
            paginate["next"] = _status_url(base_url, query.schedule_id, last + 1, last + size)
        if first > 0:
            previous = max(0, first - size)
            paginate["prev"] = _status_url(base_url, query.schedule_id, previous, first - 1)
        meta["query"] = {
            "fields": [
                {
                    "id": f.field_id,
                    "field_id": f.field_id,
                    "field_name": f.field_name,
                    "field_type": f.field_type,
                    "data_type": f.data_type,
                    "data_column": column,
                    "visible": True,
                    "field_split": "",
                }
                for column, f in enumerate(plan.fields)
            ]
        }
        meta["result"] = {
            "total_rows": total,
            "total_columns": len(plan.fields),
            "run_seconds": query.run_seconds,
            "data_sampled": False,
            "cache_used": False,
            "cache_time": None,
        }
        meta["paginate"] = paginate
        if not self.settings.report_total_rows:
            del meta["result"]["total_rows"]
        self.store.page_served(query)
        return {"meta": meta, "data": data}


def _apply_query_fault(query: Query, rule: FaultRule) -> None:
    if rule.action == "query_failure":
        query.outcome = "FAILURE"
        query.error = {
            "code": rule.code or "QUERY_FAILED",
            "message": rule.message or "The data source returned an error",
            "description": "Injected by the emulator",
        }
    elif rule.action == "query_stopped":
        query.outcome = "STOPPED"
        query.error = {"code": rule.code or "QUERY_STOPPED", "message": "The query was aborted"}
    elif rule.action == "never_finish":
        query.outcome = "NEVER"
    elif rule.action == "unknown_status":
        query.outcome = "NEVER"
        query.extra["status_override"] = rule.code or "PAUSED"
    elif rule.action == "expire_early":
        query.expire_after_pages = rule.after_pages
        if rule.after_seconds is not None:
            query.result_ttl = rule.after_seconds


_LIST_PARAMS = frozenset({"fields", "ds_accounts", "ds_segments", "ds_users"})
_NUMBER_PARAMS = frozenset(
    {"offset_start", "offset_end", "max_rows", "sync_timeout", "cache_minutes"}
)


def _flat_params(fields: dict[str, list[str]]) -> dict[str, Any]:
    """Parameters sent as plain query parameters (as the official Python client does)."""
    params: dict[str, Any] = {}
    for name, values in fields.items():
        if name in _LIST_PARAMS:
            params[name] = values if len(values) > 1 else values[0]
        elif name in _NUMBER_PARAMS:
            try:
                params[name] = float(values[-1]) if "." in values[-1] else int(values[-1])
            except ValueError:
                params[name] = values[-1]
        else:
            params[name] = values[-1]
    return params


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(400, "PARAMETER_INVALID", f"{name} must be a non-negative integer")
    return value


def _as_text(cell: object) -> object:
    return str(cell) if isinstance(cell, (int, float)) and not isinstance(cell, bool) else cell


def _status_url(base_url: str, schedule_id: str, first: int, last: int) -> str:
    spec = {"schedule_id": schedule_id, "offset_start": first, "offset_end": last}
    return f"{base_url}/query/status?{urlencode({'json': json.dumps(spec)})}"


def _malform(body: Any, kind: str) -> Any:  # noqa: ANN401 - any JSON document
    """Break an answer the way a faulty API might: drop `meta`, or spoil the last row."""
    if kind == "no_meta":
        return {key: value for key, value in body.items() if key != "meta"}
    rows = body.get("data") or []
    if len(rows) > 1:
        if kind == "short_row":
            rows[-1] = rows[-1][:-1]
        elif kind == "bad_value":
            rows[-1] = [*rows[-1][:-1], "n/a"]
    return body


def _encode(body: Any) -> bytes:  # noqa: ANN401 - any JSON document
    """Encode an answer; msgspec (installed with the tap) is several times faster."""
    try:
        import msgspec.json  # noqa: PLC0415 - optional
    except ImportError:  # pragma: no cover - the stdlib will do
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return msgspec.json.encode(body)


def error_document(error: ApiError, request_id: str) -> dict[str, Any]:
    """Return the documented error body."""
    return {
        "meta": {"request_id": request_id},
        "error": {
            "code": error.code,
            "message": error.message,
            "description": error.description,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request; keeps connections alive like a real API front end."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """Stay quiet: the stats endpoint tells what was asked."""

    def do_GET(self) -> None:
        """Serve the API endpoints (and the stats endpoint)."""
        parts = urlsplit(self.path)
        if parts.path == "/_emulator/stats":
            self._send(200, self.server.emulator.stats())
            return
        emulator = self.server.emulator
        endpoint = {
            f"{API_PREFIX}/query/data/json": "submit",
            f"{API_PREFIX}/query/status": "status",
        }.get(parts.path)
        try:
            fault, status, body = self._api(endpoint, parts.path, parts.query)
        except ApiError as error:
            document = error_document(error, emulator.next_request_id())
            headers = {"Retry-After": error.retry_after} if error.retry_after else {}
            self._send(error.status, document, headers=headers)
            return
        self._send(status, body, fault=fault)

    def _api(
        self, endpoint: str | None, path: str, query_string: str
    ) -> tuple[FaultRule | None, int, Any]:
        emulator = self.server.emulator
        if endpoint is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No endpoint at {path}")
        params = self._params(query_string)
        emulator.note_request(endpoint, params, self.path)
        self._authenticate(params)
        fault = emulator.faults.take_http(endpoint, params)
        if fault and fault.action == "slow":
            time.sleep(fault.delay)
        if fault and fault.action == "http_error":
            raise ApiError(
                fault.status,
                fault.code or HTTPStatus(fault.status).phrase.upper().replace(" ", "_"),
                fault.message or "Injected by the emulator",
                retry_after=fault.retry_after,
            )
        status, body = self._serve(endpoint, params)
        if fault and fault.action == "malform" and len(body.get("data") or []) < 2:  # noqa: PLR2004
            emulator.faults.give_back(fault)  # spoil an answer with rows, not a poll
            fault = None
        return fault, status, body

    def do_POST(self) -> None:
        """Serve the control plane."""
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if path == "/_emulator/faults":
                specs = body if isinstance(body, list) else [body]
                rules = [dataclasses.asdict(emulator.faults.add(spec)) for spec in specs]
                self._send(201, {"rules": rules})
            elif path == "/_emulator/settings":
                emulator.settings.update(body)
                self._send(200, dataclasses.asdict(emulator.settings))
            elif path == "/_emulator/reset":
                emulator.reset()
                self._send(200, {"reset": True})
            else:
                self._send(404, {"error": f"no control endpoint {path}"})
        except (ValueError, TypeError) as error:
            self._send(400, {"error": str(error)})

    def do_DELETE(self) -> None:
        """Remove all faults."""
        if urlsplit(self.path).path == "/_emulator/faults":
            self.server.emulator.faults.clear()
            self._send(200, {"rules": []})
        else:
            self._send(404, {"error": "not found"})

    def _params(self, query_string: str) -> dict[str, Any]:
        fields = parse_qs(query_string)
        if "json" not in fields and fields:
            return _flat_params(fields)
        raw = fields.get("json", ["{}"])[-1]
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ApiError(
                400, "REQUEST_INVALID_JSON", "Parameter json is not valid JSON", str(error)
            ) from None
        if not isinstance(params, dict):
            raise ApiError(400, "REQUEST_INVALID_JSON", "Parameter json must be a JSON object")
        return params

    def _authenticate(self, params: dict[str, Any]) -> None:
        header = self.headers.get("Authorization", "")
        key = header.removeprefix("Bearer ").strip() if header else params.get("api_key")
        if not key:
            raise ApiError(401, "AUTH_API_KEY_MISSING", "No API key was given")
        if key != self.server.emulator.settings.api_key:
            raise ApiError(401, "AUTH_API_KEY_INVALID", "The API key is not valid")

    def _serve(self, endpoint: str, params: dict[str, Any]) -> tuple[int, Any]:
        emulator = self.server.emulator
        base_url = f"http://{self.headers.get('Host', 'localhost')}{API_PREFIX}"
        known = "schedule_id" in params and emulator.store.get(str(params["schedule_id"]))
        if endpoint == "submit" and not known and not set(params) <= _LOOKUP_KEYS:
            query: Query | None = emulator.submit(params)
            sync_timeout = params.get("sync_timeout", 0)
            if not isinstance(sync_timeout, (int, float)) or isinstance(sync_timeout, bool):
                raise ApiError(400, "PARAMETER_INVALID", "sync_timeout must be a number")
            assert query is not None  # noqa: S101 - submit always returns a query
            query = emulator.wait_for(query, float(sync_timeout)) or query
        else:
            schedule_id = params.get("schedule_id")
            if not schedule_id:
                raise ApiError(400, "SCHEDULE_ID_MISSING", "Parameter schedule_id is required")
            query = emulator.store.get(str(schedule_id))
            if query is None:
                raise ApiError(
                    404,
                    "STATUS_NOT_FOUND",
                    f"No query with schedule_id {schedule_id!r}",
                    "Results expire after the query has ended; submit the query again.",
                )
            hold = params.get("sync_timeout")
            if (
                endpoint == "submit"
                and isinstance(hold, (int, float))
                and emulator.settings.hold_lookups
            ):
                query = emulator.wait_for(query, float(hold)) or query
        return emulator.answer(query, params, base_url)

    def _send(
        self,
        status: int,
        body: Any,  # noqa: ANN401 - any JSON document
        *,
        headers: dict[str, str] | None = None,
        fault: FaultRule | None = None,
    ) -> None:
        if fault and fault.action == "malform":
            body = _malform(body, fault.kind)
        payload = _encode(body)
        if fault and fault.action == "truncate":
            payload = payload[: max(1, len(payload) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if fault and fault.action == "drop":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


class EmulatorServer:
    """A running emulator on loopback, usable as a context manager from tests.

    Example:
        with EmulatorServer(run_seconds=0.1) as emulator:
            base_url = emulator.base_url
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:  # noqa: ANN401
        """Bind the socket now so that the port is known before the server starts."""
        initial = EmulatorSettings()
        initial.update(settings)
        self.emulator = Emulator(initial)
        self._server = _Server((host, port), self.emulator)
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        """`http://HOST:PORT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The API base URL, the value of the tap's `base_url` setting."""
        return f"{self.root_url}{API_PREFIX}"

    @property
    def api_key(self) -> str:
        """The key the emulator accepts."""
        return self.emulator.settings.api_key

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        """Start serving."""
        return self.start()

    def __exit__(self, *_: object) -> None:
        """Stop serving."""
        self.stop()

    def add_fault(self, **spec: Any) -> FaultRule:  # noqa: ANN401
        """Add a fault rule (see README "Fault injection")."""
        return self.emulator.faults.add(spec)

    def configure(self, **settings: Any) -> None:  # noqa: ANN401
        """Change settings while running."""
        self.emulator.settings.update(settings)

    def stats(self) -> dict[str, Any]:
        """Counters, request log, queries and faults."""
        return self.emulator.stats()

    def reset(self) -> None:
        """Back to the initial settings with no queries, faults or stats."""
        self.emulator.reset()

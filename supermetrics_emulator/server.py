"""The emulator's HTTP server: the documented API endpoints plus a control plane.

API endpoints (under `/enterprise/v2`) take their parameters as one URL-encoded JSON
object in the `json` query parameter (or, for `/query/data/json`, as a POSTed JSON
body) and authenticate with `Authorization: Bearer` or with `api_key` inside that
object, as documented. Control endpoints (under `/_emulator`) take JSON bodies and
need no key: they exist for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from supermetrics_emulator.accounts import accounts_answer
from supermetrics_emulator.emulator import Emulator
from supermetrics_emulator.faults import FaultRule
from supermetrics_emulator.field_list import fields_answer
from supermetrics_emulator.queries import Query
from supermetrics_emulator.settings import EmulatorSettings
from supermetrics_emulator.validation import ApiError

__all__ = ["API_PREFIX", "Emulator", "EmulatorServer", "EmulatorSettings", "error_document"]

API_PREFIX = "/enterprise/v2"
_ENDPOINTS = {
    f"{API_PREFIX}/query/data/json": "submit",
    f"{API_PREFIX}/query/status": "status",
    f"{API_PREFIX}/query/fields": "fields",
    f"{API_PREFIX}/query/accounts": "accounts",
}
#: Endpoints that also take a POSTed JSON body (Supermetrics' own n8n node posts queries).
_POST_ENDPOINTS = frozenset({"submit"})
_LOOKUP_KEYS = frozenset({"schedule_id", "api_key", "offset_start", "offset_end", "sync_timeout"})
_LOGGED_PATH = 300  # characters of an over-long URL kept in the request log
LICENCE_CODE_PREFIX = "LICENSE_"  # the API's spelling


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


def _json_object(raw: str | bytes, where: str) -> dict[str, Any]:
    try:
        params = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(
            400, "REQUEST_INVALID_JSON", f"{where} is not valid JSON", str(error)
        ) from None
    if not isinstance(params, dict):
        raise ApiError(400, "REQUEST_INVALID_JSON", f"{where} must be a JSON object")
    return params


def _malform(body: Any, kind: str) -> Any:  # noqa: ANN401 - any JSON document
    """Break an answer the way a faulty API might: drop `meta`, or spoil the last row."""
    if kind == "no_meta":
        return {key: value for key, value in body.items() if key != "meta"}
    rows = body.get("data") or []
    if len(rows) > 1 and isinstance(rows[-1], list):
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


def error_document(error: ApiError, request_id: str, shape: str = "documented") -> dict[str, Any]:
    """Return the documented error body, or (for a 429) a shape seen in official mocks.

    `shape` is the `rate_limit_body` setting: `documented`, `empty` (`{}`) or
    `message_only` (`{"error": {"message": ...}}`, no `meta`). A licence's 429 (the
    daily query quota) always has the documented body: its code is what tells a quota
    that no retry lifts from a rate limit.
    """
    rate_limited = error.status == HTTPStatus.TOO_MANY_REQUESTS and not error.code.startswith(
        LICENCE_CODE_PREFIX
    )
    if rate_limited and shape == "empty":
        return {}
    if rate_limited and shape == "message_only":
        return {"error": {"message": error.message}}
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
        if urlsplit(self.path).path == "/_emulator/stats":
            self._send(200, self.server.emulator.stats())
            return
        self._api("GET", b"")

    def do_POST(self) -> None:
        """Serve `/query/data/json` with a JSON body, and the control plane."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)  # read first, so that the connection stays usable
        if urlsplit(self.path).path.startswith(f"{API_PREFIX}/"):
            self._api("POST", body)
        else:
            self._control(body)

    def do_DELETE(self) -> None:
        """Remove all faults."""
        if urlsplit(self.path).path == "/_emulator/faults":
            self.server.emulator.faults.clear()
            self._send(200, {"rules": []})
        else:
            self._send(404, {"error": "not found"})

    # The API -----------------------------------------------------------------

    def _api(self, method: str, body: bytes) -> None:
        emulator = self.server.emulator
        headers: dict[str, str] = {}
        try:
            fault, status, answer = self._api_answer(method, body, headers)
        except ApiError as error:
            if error.retry_after:
                headers["Retry-After"] = error.retry_after
            document = error_document(
                error, emulator.next_request_id(), emulator.settings.rate_limit_body
            )
            self._send(error.status, document, headers=headers)
            return
        self._send(status, answer, headers=headers, fault=fault)

    def _api_answer(
        self, method: str, body: bytes, headers: dict[str, str]
    ) -> tuple[FaultRule | None, int, Any]:
        """Answer one API request; `headers` collects the rate-limit headers to send."""
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        endpoint = _ENDPOINTS.get(parts.path)
        if endpoint is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No endpoint at {parts.path}")
        limit = emulator.settings.max_url_length
        if len(self.path.encode()) > limit:
            verdict = emulator.note_request(endpoint, {}, self.path[:_LOGGED_PATH] + "…", method)
            headers.update(verdict.headers)
            raise ApiError(
                414,
                "URI_TOO_LONG",
                f"The request URL is longer than {limit} bytes",
                "Send the query as a POST with a JSON body instead.",
            )
        if method == "POST" and endpoint not in _POST_ENDPOINTS:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{parts.path} answers GET only")
        params = self._body_params(body) if method == "POST" else self._params(parts.query)
        verdict = emulator.note_request(endpoint, params, self.path, method)
        headers.update(verdict.headers)
        if verdict.over:
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Too many requests", retry_after="1")
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
        status, answer = self._serve(endpoint, params)
        if fault and fault.action == "malform" and len(answer.get("data") or []) < 2:  # noqa: PLR2004
            emulator.faults.give_back(fault)  # spoil an answer with rows, not a poll
            fault = None
        return fault, status, answer

    def _params(self, query_string: str) -> dict[str, Any]:
        fields = parse_qs(query_string)
        if "json" not in fields and fields:
            return _flat_params(fields)
        return _json_object(fields.get("json", ["{}"])[-1], "Parameter json")

    def _body_params(self, body: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(
                415,
                "CONTENT_TYPE_INVALID",
                "A POSTed query must be a JSON body with Content-Type: application/json",
            )
        return _json_object(body or b"{}", "The request body")

    def _authenticate(self, params: dict[str, Any]) -> None:
        header = self.headers.get("Authorization", "")
        key = header.removeprefix("Bearer ").strip() if header else params.get("api_key")
        if not key:
            raise ApiError(401, "AUTH_API_KEY_MISSING", "No API key was given")
        if key != self.server.emulator.settings.api_key:
            raise ApiError(401, "AUTH_API_KEY_INVALID", "The API key is not valid")

    def _serve(self, endpoint: str, params: dict[str, Any]) -> tuple[int, Any]:
        emulator = self.server.emulator
        if endpoint == "fields":
            return 200, fields_answer(params, emulator.next_request_id())
        if endpoint == "accounts":
            return 200, accounts_answer(params, emulator.logins(), emulator.next_request_id())
        base_url = f"http://{self.headers.get('Host', 'localhost')}{API_PREFIX}"
        known = "schedule_id" in params and emulator.store.get(str(params["schedule_id"]))
        if endpoint == "submit" and not known and not set(params) <= _LOOKUP_KEYS:
            sync_timeout = params.get("sync_timeout", 0)
            if not isinstance(sync_timeout, (int, float)) or isinstance(sync_timeout, bool):
                raise ApiError(400, "PARAMETER_INVALID", "sync_timeout must be a number")
            query = emulator.submit(params)
            query = emulator.wait_for(query, float(sync_timeout)) or query
        else:
            query = self._lookup(endpoint, params)
        return emulator.answer(query, params, base_url)

    def _lookup(self, endpoint: str, params: dict[str, Any]) -> Query:
        """Find a submitted query by `schedule_id`, holding a submit-style lookup if asked."""
        emulator = self.server.emulator
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
        return query

    # The control plane -------------------------------------------------------

    def _control(self, raw: bytes) -> None:
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw or b"{}")
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

    def handle_error(self, request: object, client_address: object) -> None:
        """Say nothing of a client that hung up mid-answer; print anything else.

        A tap stopped or killed while a page travels is the client's doing, not an error of
        the API: the traceback would only bury the test output that matters.
        """
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


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
        """Add a fault rule (see docs/emulator.md "Fault injection")."""
        return self.emulator.faults.add(spec)

    def configure(self, **settings: Any) -> None:  # noqa: ANN401
        """Change settings while running (checked; a refused change changes nothing)."""
        self.emulator.settings.update(settings)

    def stats(self) -> dict[str, Any]:
        """Counters, request log, busiest second, queries and faults."""
        return self.emulator.stats()

    def reset(self) -> None:
        """Back to the initial settings with no queries, faults or stats."""
        self.emulator.reset()

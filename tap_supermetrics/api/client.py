"""The base stream: URL, Bearer auth, the `json` request parameter, errors and retries.

Every request of the tap (submit, poll, page, probe) goes through the SDK's retrying
request path (`request_decorator`), so 429, 5xx, dropped connections, read timeouts
and truncated bodies are retried in one place, honouring `Retry-After`.
"""

from __future__ import annotations

import copy
import email.utils
import functools
import json
import math
import random
import re
import time
import weakref
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import msgspec
import requests
from singer_sdk import metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest
from typing_extensions import override

from tap_supermetrics.api.licence import licence_refusal, remedy
from tap_supermetrics.api.pacing import RequestPacer, pacer_for
from tap_supermetrics.core.errors import (
    ApiErrorInfo,
    AuthenticationError,
    ResultsExpiredError,
    ResultShapeError,
    SupermetricsError,
)
from tap_supermetrics.settings.config_schema import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

STATUS_PATH = "/query/status"
SUBMIT_PATH = "/query/data/json"
#: Longest GET URL the tap sends (bytes); longer queries go as a POST with a JSON body.
MAX_GET_URL_LENGTH = 6_000

_DECODER = msgspec.json.Decoder()
#: A request's query string, cut from connection errors: it holds the whole query.
_QUERY_STRING = re.compile(r"\?json=[^\s)'\"]*")
#: Decoded bodies, keyed by response: decoded once in `validate_response` (so that a
#: truncated body is retried), read again by the paginator and `parse_response`.
_PAYLOADS: weakref.WeakKeyDictionary[requests.Response, Any] = weakref.WeakKeyDictionary()


class _Envelope(msgspec.Struct):
    """An answer's top level. Rows stay raw JSON until the stream's converter reads them."""

    meta: Any = None
    error: Any = None
    data: list[msgspec.Raw] | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def payload_of(response: requests.Response) -> Any:  # noqa: ANN401 - decoded JSON
    """Return the decoded body: `meta` and `error` decoded, `data` as raw rows.

    Raises:
        msgspec.DecodeError: the body is not JSON (a truncated answer, say).
    """
    if response not in _PAYLOADS:
        content = response.content
        try:
            envelope = _ENVELOPE.decode(content)
            payload: Any = {
                "meta": envelope.meta,
                "error": envelope.error,
                "data": envelope.data,
            }
        except msgspec.ValidationError:  # JSON, but not of the documented shape
            payload = _DECODER.decode(content)
        _PAYLOADS[response] = payload
    return _PAYLOADS[response]


def retry_after_seconds(response: requests.Response | None, now: float) -> float | None:
    """Read `Retry-After` as seconds (a number, or an HTTP date), or None if absent/unreadable."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class PrefetchingSession(requests.Session):
    """A session that can send the next page's request before the SDK asks for it.

    While the tap converts and writes page N, page N+1 travels (a socket read releases
    the GIL). The SDK's own request path then finds the answer waiting: `send` hands
    back the prefetched response for the same URL, and everything else (retries,
    `validate_response`) happens as usual. A prefetch that failed is sent again.
    """

    def __init__(self, pacer: RequestPacer) -> None:
        """Start with one background sender and nothing in flight; pace every request."""
        super().__init__()
        self._pacer = pacer
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-prefetch")
        self._ahead: dict[str, Future[requests.Response]] = {}

    def prefetch(self, request: requests.PreparedRequest, **kwargs: Any) -> None:  # noqa: ANN401
        """Start sending `request` in the background."""
        if request.url and request.url not in self._ahead:
            send = functools.partial(self._paced_send, request, **kwargs)
            self._ahead[request.url] = self._sender.submit(send)

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        future = self._ahead.pop(request.url or "", None)
        if future is not None:
            try:
                return future.result()
            except requests.exceptions.RequestException:
                pass  # send it again in the foreground, under the SDK's retry policy
        return self._paced_send(request, **kwargs)

    def _paced_send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # noqa: ANN401
        self._pacer.wait_turn()
        response = super().send(request, **kwargs)
        self._pacer.observe(response.headers)
        return response

    @override
    def close(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        self._sender.shutdown(wait=False)
        super().close()


class SupermetricsStream(RESTStream[int]):
    """Base for the tap's HTTP streams."""

    path = STATUS_PATH
    # Values are converted to their schema types in fields.py, once per cell; the SDK's
    # generic per-record conformance would only repeat that work.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    #: First wait of the exponential backoff used when there is no `Retry-After`.
    backoff_base_seconds = 1.0

    @property
    @override
    def url_base(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    @cached_property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    def __init__(self, tap: Tap, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - the SDK's
        """Join the run's shared request pacer."""
        super().__init__(tap, *args, **kwargs)
        per_second = float(self.config.get("max_requests_per_second", 10))
        self.pacer = pacer_for(tap, per_second)

    @cached_property
    @override
    def requests_session(self) -> PrefetchingSession:
        return PrefetchingSession(self.pacer)

    def _prepare(self, http_request: HTTPRequest) -> requests.PreparedRequest:
        return self.build_prepared_request(
            method=http_request.method,
            url=http_request.url,
            params=http_request.encode_params(),
            headers=http_request.headers,
            json=http_request.data,
        )

    def prefetch(self, http_request: HTTPRequest) -> None:
        """Start sending a request that the SDK's paging will make next."""
        prepared = self._prepare(http_request)
        self.requests_session.prefetch(
            self.authenticator(prepared), timeout=self.timeout, allow_redirects=self.allow_redirects
        )

    @property
    @override
    def timeout(self) -> int:
        return math.ceil(float(self.config.get("request_timeout", 300)))

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_request_attempts", 6))

    @override
    def backoff_jitter(self, value: float) -> float:
        # Jitter is applied in backoff_wait_generator, never on top of a Retry-After.
        return value

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Wait what `Retry-After` says (clamped), else exponentially with full jitter."""
        ceiling = float(self.config.get("max_retry_after", 300))
        attempt = 0
        exception = yield 0.0
        while True:
            attempt += 1
            response = getattr(exception, "response", None)
            told = retry_after_seconds(response, time.time())
            if told is not None:
                wait = min(told, ceiling)
            else:
                exponential = min(ceiling, self.backoff_base_seconds * 2 ** (attempt - 1))
                wait = exponential / 2 + random.uniform(0, exponential / 2)  # noqa: S311
            exception = yield wait

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Map the documented error answers; decode the body so a truncated one is retried."""
        status = response.status_code
        payload = None
        try:
            payload = payload_of(response)
        except msgspec.DecodeError:
            if status < HTTPStatus.BAD_REQUEST or self._is_retriable(status):
                msg = f"{self._where(response)}: the body is not valid JSON (truncated?)"
                raise RetriableAPIError(msg, response) from None
        info = ApiErrorInfo.from_payload(payload)
        code = info.code or ""
        if is_licence_code(code):
            msg = (
                f"{self._where(response)}: the Supermetrics licence refused the request "
                f"(HTTP {status}, {info}): {remedy(code)}; retrying in this run would not help"
            )
            raise licence_refusal(msg, info)
        if self._is_retriable(status):
            msg = f"{self._where(response)}: HTTP {status}: {info}"
            raise RetriableAPIError(msg, response)
        # An error can also come at HTTP 200: it is judged by its code like the others.
        failed = status >= HTTPStatus.BAD_REQUEST or _error_envelope(payload)
        if status == HTTPStatus.UNAUTHORIZED or (failed and is_key_code(code)):
            msg = (
                f"Supermetrics rejected the API key (HTTP {status}, {info}). "
                "Check the api_key setting and the key's IP and permission settings."
            )
            raise AuthenticationError(msg)
        if info.code == "STATUS_NOT_FOUND":
            msg = f"{self._where(response)}: results are no longer available: {info}"
            raise ResultsExpiredError(msg)
        if failed:
            msg = f"{self._where(response)}: HTTP {status}: {info}"
            raise FatalAPIError(msg)
        if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
            msg = f"{self._where(response)}: the answer has no 'meta' object"
            raise ResultShapeError(msg)

    def _is_retriable(self, status: int) -> bool:
        return status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR

    @staticmethod
    def _where(response: requests.Response) -> str:
        # The path only: the query string carries the whole query (never the key, but long).
        path = urlsplit(response.url).path
        return f"GET {path}"

    @override
    def response_error_message(self, response: requests.Response) -> str:
        info = ApiErrorInfo.from_payload(_safe_payload(response))
        return f"{self._where(response)}: HTTP {response.status_code}: {info}"

    def request_for(self, endpoint: str, params: dict[str, Any]) -> HTTPRequest:
        """Build a request: parameters travel as one JSON object in the `json` parameter.

        A query too long for a GET URL (hundreds of accounts, long filters: servers
        refuse URLs past about 8 KB with HTTP 414) is submitted as a POST with the same
        object as its JSON body, as Supermetrics' own connectors do. The API key stays
        in the Authorization header either way.
        """
        encoded = json.dumps(params, separators=(",", ":"))
        url = f"{self.url_base}{endpoint}"
        if endpoint == SUBMIT_PATH and len(url) + len(quote(encoded)) > MAX_GET_URL_LENGTH:
            return HTTPRequest(url=url, method="POST", headers=self.http_headers, data=params)
        return HTTPRequest(url=url, params={"json": encoded}, headers=self.http_headers)

    def call_api(
        self, endpoint: str, params: dict[str, Any], context: Context | None, describe: str
    ) -> dict[str, Any]:
        """Send one request through the SDK's retrying path and return its decoded body.

        The same steps as the SDK's paging requests, from public parts: the
        authenticator, the session's `send` (so a prefetched page is picked up),
        `validate_response`, the request-duration metric, all retried by
        `request_decorator`.
        """

        def send_once(
            request: requests.PreparedRequest, request_context: Context | None
        ) -> requests.Response:
            response = self.requests_session.send(
                self.authenticator(request),
                timeout=self.timeout,
                allow_redirects=self.allow_redirects,
            )
            self._log_duration(endpoint, response, request_context)
            self.validate_response(response)
            return response

        prepared = self._prepare(self.request_for(endpoint, params))
        try:
            response = self.request_decorator(send_once)(prepared, context)
        except (FatalAPIError, RetriableAPIError, requests.exceptions.RequestException) as error:
            raise self.explain(error, describe) from None
        payload: dict[str, Any] = payload_of(response)
        return payload

    def _log_duration(
        self, endpoint: str, response: requests.Response, context: Context | None
    ) -> None:
        """Log the `http_request_duration` METRIC line the SDK logs for its own requests."""
        tags: dict[str, Any] = {
            metrics.Tag.STREAM: self.name,
            metrics.Tag.ENDPOINT: endpoint,
            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
            metrics.Tag.STATUS: metrics.Status.SUCCEEDED
            if response.status_code < HTTPStatus.BAD_REQUEST
            else metrics.Status.FAILED,
        }
        if context:
            tags[metrics.Tag.CONTEXT] = context
        point = metrics.Point(
            "timer",
            metric=metrics.Metric.HTTP_REQUEST_DURATION,
            value=response.elapsed.total_seconds(),
            tags=tags,
        )
        metrics.log(self.metrics_logger, point)

    def explain(self, error: Exception, describe: str) -> Exception:
        """Say which stream and window failed, and why, once retries are spent.

        Expired results pass through unchanged: the caller submits the query again.
        """
        if isinstance(error, ResultsExpiredError):
            return error
        if isinstance(error, RetriableAPIError):
            text = f"gave up after {self.backoff_max_tries()} tries: {error}"
        elif isinstance(error, requests.exceptions.RequestException):
            reason = _QUERY_STRING.sub("", str(error))[:300]
            text = (
                f"gave up after {self.backoff_max_tries()} tries: {type(error).__name__}: {reason}"
            )
        else:
            text = str(error)
        if text.startswith(describe):
            return error
        if isinstance(error, SupermetricsError):  # keep its kind and what it carries
            explained = copy.copy(error)
            explained.args = (f"{describe}: {text}",)
            return explained
        return SupermetricsError(f"{describe}: {text}")


#: Codes about the key itself (documented at 401 and 403): no stream can go on without it.
KEY_CODES = frozenset(
    {
        "ACCESS_TOKEN_INVALID",
        "ACCESS_DENIED_IP",
        "ACCESS_DENIED_PERMISSIONS",
        "API_KEY_DISABLED",
        "API_KEY_INVALID",
        "API_KEY_REQUIRED",
    }
)


def is_key_code(code: str) -> bool:
    """Whether an error code is about the API key (the whole run), not one data source.

    A 403 with any other code (a data source login that lost access, say) is about
    one stream or account and is isolated to it.
    """
    return code.upper() in KEY_CODES or code.upper().startswith("API_KEY")


def is_licence_code(code: str) -> bool:
    """Whether an error code is the licence's (`LICENSE_*`, at any HTTP status).

    Includes 429 `LICENSE_DAILY_QUERY_LIMIT_EXCEEDED`: a daily quota that no retry
    within the run can cure.
    """
    return code.upper().startswith("LICENSE_")


def _error_envelope(payload: object) -> bool:
    """An answer that carries a top-level `error` and no query status (seen at HTTP 200)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return False
    meta = payload.get("meta")
    return not (isinstance(meta, dict) and meta.get("status_code"))


def _safe_payload(response: requests.Response) -> Any:  # noqa: ANN401 - decoded JSON
    try:
        return payload_of(response)
    except msgspec.DecodeError:
        return None

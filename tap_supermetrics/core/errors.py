"""Errors the tap raises, each carrying a message a user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from singer_sdk.exceptions import FatalAPIError


@dataclass(frozen=True)
class ApiErrorInfo:
    """The documented error body: `error.code`, `error.message`, `meta.request_id`."""

    code: str | None = None
    message: str | None = None
    description: str | None = None
    request_id: str | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> ApiErrorInfo:  # noqa: ANN401 - any decoded JSON
        """Read what is there; a body of another shape gives empty fields, not an error."""
        if not isinstance(payload, dict):
            return cls()
        meta = payload.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        error = payload.get("error") or meta.get("error")  # tolerate it inside meta
        error = error if isinstance(error, dict) else {}
        return cls(
            code=_text(error.get("code")),
            message=_text(error.get("message")),
            description=_text(error.get("description")),
            request_id=_text(meta.get("request_id")),
        )

    def __str__(self) -> str:
        """`CODE: message (description) [request_id req_1]`, leaving out what is missing."""
        text = self.code or "no error code"
        if self.message:
            text += f": {self.message}"
        if self.description:
            text += f" ({self.description})"
        if self.request_id:
            text += f" [request_id {self.request_id}]"
        return text


class ConfigError(ValueError):
    """A setting is wrong; the message is one line a user can act on."""


class ConfigMistakesError(ConfigError):
    """Several settings mistakes found together: the message holds one line per mistake."""

    def __init__(self, lines: Iterable[str]) -> None:
        """Keep the lines apart, so that each is reported as a line of its own."""
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def problem_lines(error: ConfigError) -> list[str]:
    """The lines of a settings error: one per mistake."""
    return list(error.lines) if isinstance(error, ConfigMistakesError) else [str(error)]


class Problems:
    """Collects settings mistakes, so that a config with five reports five, not one.

    Each check still raises `ConfigError` at its first finding; running the checks
    that do not depend on one another inside `collect` gathers what each of them
    found. A line reported twice (a top-level mistake seen again by every query) is
    kept once.
    """

    def __init__(self) -> None:
        """Start with no mistake."""
        self.lines: list[str] = []

    def __bool__(self) -> bool:
        """Whether any mistake was found."""
        return bool(self.lines)

    def add(self, *lines: str) -> None:
        """Record mistakes, each once."""
        self.lines += [line for line in dict.fromkeys(lines) if line not in self.lines]

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a check; its `ConfigError` is recorded instead of raised."""
        try:
            yield
        except ConfigError as error:
            self.add(*problem_lines(error))

    def raise_if_any(self) -> None:
        """Raise every recorded mistake at once (one line each)."""
        if self.lines:
            raise ConfigMistakesError(self.lines)


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)[:500]


class SupermetricsError(FatalAPIError):
    """Base of the tap's own failures: none of them is retried by the SDK's backoff."""


class RunWideError(SupermetricsError):
    """An answer about the key or the licence, not one stream: it stops the run at once.

    Every other API error is about one data source, login or account, and is isolated
    to its stream or account (the other streams still load and save their state).
    """


class AuthenticationError(RunWideError):
    """The API rejected the key: any 401, or a key-wide 403 code (`ACCESS_DENIED_IP`, …)."""


class LicenceError(RunWideError):
    """The licence refused the request (`LICENSE_*`, the daily quota): final for this run."""


class ResubmitError(SupermetricsError):
    """The query's results cannot be read any more; submitting it again may succeed."""

    #: What happened, for "… 3 times (max_resubmits=2)".
    what: ClassVar[str] = "results lost"


class ResultsExpiredError(ResubmitError):
    """STATUS_NOT_FOUND: the query's results are gone; the query must be submitted again."""

    what = "results expired"


class ProcessExitedError(ResubmitError):
    """PROCESS_EXITED: the query's process ended without a result (final for that run)."""

    what = "status PROCESS_EXITED"


class QueryFailedError(SupermetricsError):
    """The query ended FAILURE or STOPPED, or reported a status the tap does not know."""

    def __init__(
        self, message: str, *, status: str | None = None, info: ApiErrorInfo | None = None
    ) -> None:
        """Keep the final status and the API's error, to tell account failures apart."""
        super().__init__(message)
        self.status = status
        self.info = info or ApiErrorInfo()


class ResultCutError(QueryFailedError):
    """A result reached `max_rows_per_query`: it may be cut, so the window is split."""

    def __init__(self, message: str, *, rows: int, cap: int) -> None:
        """Keep the result's rows (or those reached) and the cap, for the split's message."""
        super().__init__(message, status="SUCCESS", info=ApiErrorInfo(code="MAX_ROWS_PER_QUERY"))
        self.rows = rows
        self.cap = cap


class WindowRefusedError(SupermetricsError):
    """The licence refused one window's days (`LICENSE_HISTORICAL_RANGE_EXCEEDED`).

    About the window, not the stream: the stream's newer windows and the other streams
    still load; the window's days stay missing until the licence or start_date changes.
    """


class LicenceAccountsError(QueryFailedError):
    """The licence refused a query's accounts (`LICENSE_ACCOUNT_LIMIT_EXCEEDED`).

    About some of the query's accounts: the window is split by accounts like a query
    that ended FAILURE, until the refused accounts stand alone and are reported.
    """


class QueryTimeoutError(SupermetricsError):
    """The query did not finish within `query_timeout`."""


class ResultShapeError(SupermetricsError):
    """An answer lacks what the documentation promises, or a cell has the wrong type."""


class DuplicateKeyError(SupermetricsError):
    """Two rows share a primary key: a target would silently merge them."""


class RunStopping(Exception):  # noqa: N818 - a signal, not a failure of its own
    """The run stops for an answer about the key or the licence met for another stream.

    Raised where the sync waits for the licence's queue; the stream being read ends where
    it is, and the answer itself is raised by the stream it came for.
    """

    def __init__(self, stream: str) -> None:
        """Name the stream the answer came for."""
        super().__init__(f"the run stops: an answer about stream {stream!r}'s query")
        self.stream = stream

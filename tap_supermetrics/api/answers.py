"""What a status answer says about a query: its status, its result, or why it ended.

Every status has an explicit branch. SCHEDULED/QUEUED/RUNNING are pending; SUCCESS
carries the result's facts (rows, run time, sampling) into the `query_runs` record;
FAILURE and STOPPED fail with the API's own error (a `LICENSE_*` code in a FAILURE is
the licence's, not an account's, and is raised as a licence refusal); PROCESS_EXITED
(final in Supermetrics' own CLI) is raised for the caller to submit again, like expired
results; anything else fails loudly rather than being taken for "no rows".
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from tap_supermetrics.api.licence import licence_refusal, remedy
from tap_supermetrics.core.errors import ApiErrorInfo, ProcessExitedError, QueryFailedError

if TYPE_CHECKING:
    from tap_supermetrics.api.lifecycle import QueryRun

PENDING = frozenset({"SCHEDULED", "QUEUED", "RUNNING"})


def utc_now(timespec: str = "milliseconds") -> str:
    """The wall clock in UTC, as `query_runs` and the lineage stamp write it."""
    return dt.datetime.now(tz=dt.UTC).isoformat(timespec=timespec)


def status_of(answer: dict[str, Any]) -> str:
    """`meta.status_code`, upper-cased (the documented codes are; tolerate any case)."""
    return str(answer["meta"].get("status_code") or "").upper()


def note(run: QueryRun, answer: dict[str, Any]) -> None:
    """Keep the request id and status of any answer (an empty one keeps the last)."""
    meta = answer["meta"]
    run.request_id = str(meta.get("request_id") or "") or run.request_id
    run.status = str(meta.get("status_code") or "") or run.status


def succeeded(
    run: QueryRun, answer: dict[str, Any], describe: str, logger: logging.Logger, stamp: str
) -> None:
    """Record a SUCCESS answer's result in `run`; a sampled result is said as a WARNING."""
    result = _object(answer["meta"].get("result"))
    run.finished_at = utc_now()
    run.extracted_at = stamp
    run.total_rows = _int_or_none(result.get("total_rows"))
    run.run_seconds = _float_or_none(result.get("run_seconds"))
    run.data_sampled = _bool_or_none(result.get("data_sampled"))
    run.cache_used = _bool_or_none(result.get("cache_used"))
    logger.info(
        "%s: SUCCESS, %s rows (schedule_id %s, %d status polls)",
        describe,
        run.total_rows,
        run.schedule_id,
        run.status_polls,
    )
    if run.data_sampled:
        logger.warning("%s: Supermetrics says the data is sampled", describe)


def raise_if_ended(run: QueryRun, describe: str, status: str, answer: dict[str, Any]) -> None:
    """Raise for a status that ends the query without a result (or is unknown)."""
    if status in PENDING:
        return
    info = ApiErrorInfo.from_payload(answer)
    if status in {"FAILURE", "STOPPED", "PROCESS_EXITED"}:
        run.finished_at = utc_now()
        run.error = f"PROCESS_EXITED: {info}" if status == "PROCESS_EXITED" else str(info)
    if status == "FAILURE" and (info.code or "").upper().startswith("LICENSE_"):
        msg = (
            f"{describe}: query {run.schedule_id} ended with FAILURE because the "
            f"Supermetrics licence refused it ({info}): {remedy(info.code)}; retrying in "
            "this run would not help"
        )
        raise licence_refusal(msg, info)
    if status in {"FAILURE", "STOPPED"}:
        what = "was aborted (STOPPED)" if status == "STOPPED" else "ended with FAILURE"
        msg = f"{describe}: query {run.schedule_id} {what}: {info}"
        raise QueryFailedError(msg, status=status, info=info)
    if status == "PROCESS_EXITED":
        msg = (
            f"{describe}: query {run.schedule_id} ended with status PROCESS_EXITED "
            f"(its process exited without a result; {info})"
        )
        raise ProcessExitedError(msg)
    msg = (
        f"{describe}: the API reported status {status!r}, which the tap does not know "
        f"({info}); stopping rather than guessing"
    )
    run.status = status or None
    raise QueryFailedError(msg)


def log_progress(logger: logging.Logger, describe: str, status: str, meta: dict[str, Any]) -> None:
    """One INFO line while the query waits: its sub-queries and the licence's queue."""
    progress = _object(meta.get("progress"))
    workflow = _object(meta.get("workflow"))
    logger.info(
        "%s: %s, %s/%s sub-queries ready; licence queue: %s scheduled, %s running",
        describe,
        status,
        progress.get("queries_ready", "?"),
        progress.get("queries_total", "?"),
        workflow.get("tasks_scheduled", "?"),
        workflow.get("tasks_running", "?"),
    )


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _float_or_none(value: object) -> float | None:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int_or_none(value: object) -> int | None:
    number = _float_or_none(value)
    return int(number) if number is not None and number.is_integer() else None


def _bool_or_none(value: object) -> bool | None:
    return value if isinstance(value, bool) else None

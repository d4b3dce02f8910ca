"""Checking a submitted query's `json` parameters, or answering with a 4xx error."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supermetrics_emulator.catalog import DATA_SOURCES, DataSource

if TYPE_CHECKING:  # accounts.py imports this module: only the type is needed here
    from supermetrics_emulator.accounts import Logins


@dataclass
class ApiError(Exception):
    """An error answer in the documented shape: HTTP status, code, message, description."""

    status: int
    code: str
    message: str
    description: str = ""
    retry_after: str | None = None


@dataclass(frozen=True)
class QuerySpec:
    """A submitted query, checked: what its result is made of."""

    source: DataSource
    field_ids: list[str]
    start: dt.date
    end: dt.date
    accounts: list[str]
    max_rows: int | None
    settings: dict[str, Any]


def as_list(value: Any, name: str) -> list[str]:  # noqa: ANN401 - raw JSON
    """Accept a list of ids or a comma-separated string, as the API does."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ApiError(400, "PARAMETER_INVALID", f"{name} must be a list or a comma-separated string")


_RELATIVE = re.compile(r"^(?P<n>\d+) days? ago$")


def parse_day(value: Any, name: str, today: dt.date) -> dt.date:  # noqa: ANN401 - raw JSON
    """Parse a fixed `YYYY-MM-DD` date or a relative one (`today`, `yesterday`, `N days ago`)."""
    if not isinstance(value, str):
        raise ApiError(400, "DATE_INVALID", f"{name} must be a string")
    text = value.strip().lower()
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    if match := _RELATIVE.match(text):
        return today - dt.timedelta(days=int(match["n"]))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, "DATE_INVALID", f"{name} {value!r} is not a date", "Use YYYY-MM-DD."
        ) from None


def _known(names: list[str], known: Collection[str], kind: str, ds_id: str) -> list[str]:
    """Refuse an empty list, or a name the data source does not have."""
    what = f"{kind.lower()}s of {ds_id}"
    if not names:
        raise ApiError(400, f"{kind}S_MISSING", f"At least one of the {what} is required")
    for name in names:
        if name not in known:
            raise ApiError(400, f"{kind}_NOT_FOUND", f"{name!r} is not one of the {what}")
    return names


def source_of(params: dict[str, Any]) -> DataSource:
    """Return the data source named by `ds_id`, or the documented 400 error."""
    ds_id = params.get("ds_id")
    if not ds_id:
        raise ApiError(400, "DS_ID_MISSING", "Parameter ds_id is required")
    source = DATA_SOURCES.get(ds_id) if isinstance(ds_id, str) else None
    if source is None:
        raise ApiError(400, "DATASOURCE_NOT_FOUND", f"Unknown data source {ds_id!r}")
    return source


@dataclass(frozen=True)
class QueryLimits:
    """The API's hard limits on one query; 0 turns a limit off (docs/emulator.md, Settings)."""

    max_accounts: int = 0
    row_parameter_bound: int = 0


def row_parameter(params: dict[str, Any], name: str, default: int, bound: int = 0) -> int:
    """Read `max_rows`, `offset_start` or `offset_end`: a non-negative int, at most `bound`.

    An absent (or null) parameter means `default`, which the bound does not apply to:
    a page's default end may lie past the bound, as a result's end does.

    Raises:
        ApiError: 400 `PARAMETER_INVALID`, as the API answers a value outside its spec.
    """
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(400, "PARAMETER_INVALID", f"{name} must be a non-negative integer")
    _check_bound(name, value, bound)
    return value


def _check_bound(name: str, value: object, bound: int) -> None:
    if bound and isinstance(value, int) and not isinstance(value, bool) and value > bound:
        raise ApiError(
            400,
            "PARAMETER_INVALID",
            f"{name} must be at most {bound:,}, got {value:,}",
            "Ask for fewer rows per query: split it by dates or by accounts.",
        )


def _check_account_count(accounts: list[str], limit: int) -> None:
    if limit and len(accounts) > limit:
        raise ApiError(
            400,
            "ACCOUNTS_INVALID",
            f"a query takes at most {limit} accounts, got {len(accounts)}",
            "Split the accounts over several queries.",
        )


def parse_query(
    params: dict[str, Any], *, logins: Logins, limits: QueryLimits = QueryLimits()
) -> QuerySpec:
    """Check a submitted query; `logins` expands `ds_accounts` to the accounts it means.

    `limits` are the API's hard limits: the account count is checked after expansion
    (team lists and filters count the accounts they stand for), and the spec's bound on
    `max_rows` and the offsets applies. An offset of another type is left to the page
    request that reads it, as before the bound existed.

    Raises:
        ApiError: 400 with the documented code for the first problem found.
    """
    source = source_of(params)
    ds_id = source.ds_id
    field_ids = _known(as_list(params.get("fields", []), "fields"), source.fields, "FIELD", ds_id)
    accounts = logins.expand(source, params.get("ds_accounts"))
    _check_account_count(accounts, limits.max_accounts)
    today = dt.datetime.now(tz=dt.UTC).date()
    start = parse_day(params.get("start_date", "yesterday"), "start_date", today)
    end = parse_day(params.get("end_date", "yesterday"), "end_date", today)
    if end < start:
        raise ApiError(400, "DATE_RANGE_INVALID", f"end_date {end} is before start_date {start}")
    max_rows = params.get("max_rows")
    if max_rows is not None:
        row_parameter(params, "max_rows", 0, limits.row_parameter_bound)
    for offset in ("offset_start", "offset_end"):
        _check_bound(offset, params.get(offset), limits.row_parameter_bound)
    settings = params.get("settings") or {}
    if not isinstance(settings, dict):
        raise ApiError(400, "PARAMETER_INVALID", "settings must be an object")
    return QuerySpec(source, field_ids, start, end, accounts, max_rows, settings)

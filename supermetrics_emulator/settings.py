"""Every behaviour knob of the emulator, checked as it is set.

docs/emulator.md "Settings" lists the settings. Structured ones (accounts,
team lists, upstream changes) are checked here when set, so that a typo fails the
control call that made it rather than some later query.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supermetrics_emulator.accounts import (
    parse_extra_accounts,
    parse_removed,
    parse_team_lists,
)
from supermetrics_emulator.upstream import parse_dropped_rows, parse_renames

#: Shapes of a 429 answer: the documented error body, or those of official mocks.
RATE_LIMIT_BODIES = ("documented", "empty", "message_only")
#: What `meta.result.total_rows` of a result cut at `max_result_rows` says: the cap, or nothing.
CUT_TOTAL_ROWS = ("cap", "absent")
#: States of the licence: active, or refusing every submit with the documented 403.
LICENCE_STATES = ("active", "expired", "suspended")
#: The OpenAPI spec's bound on `max_rows`, `offset_start` and `offset_end`, and the fair-usage
#: policy's cap on the rows of one query's result.
SPEC_MAX_ROWS = 1_000_000


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], object]:
    def check(value: Any) -> object:  # noqa: ANN401 - raw JSON
        if value not in choices:
            msg = f"must be one of {', '.join(choices)}"
            raise ValueError(msg)
        return value

    return check


def _positive(value: Any) -> object:  # noqa: ANN401 - raw JSON
    if value <= 0:
        msg = "must be positive"
        raise ValueError(msg)
    return value


def _not_negative(value: Any) -> object:  # noqa: ANN401 - raw JSON
    if value < 0:
        msg = "must be 0 (off) or positive"
        raise ValueError(msg)
    return value


#: Extra checks beyond the type, per setting.
_CHECKS: dict[str, Callable[[Any], object]] = {
    "extra_accounts": parse_extra_accounts,
    "removed_accounts": parse_removed,
    "team_lists": parse_team_lists,
    "renames": parse_renames,
    "dropped_rows": parse_dropped_rows,
    "rate_limit_body": _one_of(RATE_LIMIT_BODIES),
    "max_url_length": _positive,
    "max_result_rows": _not_negative,
    "cut_total_rows": _one_of(CUT_TOTAL_ROWS),
    "row_parameter_bound": _not_negative,
    "max_accounts_per_query": _not_negative,
    "licence_rows_per_month": _not_negative,
    "licence_daily_queries": _not_negative,
    "licence_history_days": _not_negative,
    "licence_max_accounts": _not_negative,
    "licence_state": _one_of(LICENCE_STATES),
}


@dataclass
class EmulatorSettings:
    """Every behaviour knob; docs/emulator.md "Settings" lists them."""

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
    rate_limit_body: str = "documented"
    revision: int = 0
    revision_from: str = "0001-01-01"
    hold_lookups: bool = True
    report_total_rows: bool = True
    pending_data_null: bool = False
    max_url_length: int = 8192
    extra_accounts: dict[str, list[Any]] = field(default_factory=dict)
    removed_accounts: dict[str, list[str]] = field(default_factory=dict)
    team_lists: dict[str, list[str]] = field(default_factory=dict)
    renames: list[dict[str, Any]] = field(default_factory=list)
    dropped_rows: list[dict[str, Any]] = field(default_factory=list)
    # Hard limits of the API (issue 22); 0 turns a limit off.
    max_result_rows: int = SPEC_MAX_ROWS
    cut_total_rows: str = "cap"
    row_parameter_bound: int = SPEC_MAX_ROWS
    max_accounts_per_query: int = 100
    # The licence (issue 22); 0 turns a limit off.
    licence_rows_per_month: int = 0
    licence_daily_queries: int = 0
    licence_history_days: int = 0
    licence_max_accounts: int = 0
    licence_state: str = "active"

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, refusing unknown names, wrong types and bad shapes.

        Every change is checked before any is applied, so a refused update changes
        nothing. Structured values are copied: a caller mutating its own list later
        does not change the emulator behind its back.
        """
        known = {item.name: item for item in dataclasses.fields(self)}
        checked: dict[str, Any] = {}
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
            if name in _CHECKS:
                try:
                    _CHECKS[name](value)
                except (ValueError, TypeError, AttributeError) as error:
                    msg = f"setting {name!r}: {error}"
                    raise ValueError(msg) from None
            checked[name] = copy.deepcopy(type(current)(value))
        for name, value in checked.items():
            setattr(self, name, value)

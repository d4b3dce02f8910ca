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


#: Extra checks beyond the type, per setting.
_CHECKS: dict[str, Callable[[Any], object]] = {
    "extra_accounts": parse_extra_accounts,
    "removed_accounts": parse_removed,
    "team_lists": parse_team_lists,
    "renames": parse_renames,
    "dropped_rows": parse_dropped_rows,
    "rate_limit_body": _one_of(RATE_LIMIT_BODIES),
    "max_url_length": _positive,
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

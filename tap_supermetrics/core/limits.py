"""The API's hard limits and the licence's budget, as settings the run plans by.

Supermetrics caps a query's result at 1,000,000 rows (`max_rows`, `offset_start`,
`offset_end` <= 1,000,000) and bounds its accounts at 100; a licence returns 10,000,000
rows a month unless its order form says otherwise. Whether a result past the row cap is
refused or silently cut is not documented, so the tap assumes the worst: a window whose
result reaches `max_rows_per_query` is never taken as complete (`splitting.py`), and
windows are sized from what earlier runs returned so that they stay below it
(`sizing.py`). `max_rows_per_run` is the run's own share of the month (`budget.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_supermetrics.core.errors import ConfigError

#: The API's own cap on a query's result rows (and on `offset_end`).
API_MAX_ROWS_PER_QUERY = 1_000_000
#: The most accounts the API's spec allows in one query (`meta.query.ds_accounts`).
API_MAX_ACCOUNTS_PER_QUERY = 100
#: Windows are sized to this share of `max_rows_per_query`, leaving room for an account
#: that grows between runs: a window planned at 80 % is not cut by a 25 % busier month.
SIZING_SHARE = 0.8


@dataclass(frozen=True)
class Limits:
    """The limits one run plans within."""

    max_rows_per_query: int = API_MAX_ROWS_PER_QUERY
    max_accounts_per_query: int = API_MAX_ACCOUNTS_PER_QUERY
    #: None: no budget (every planned query is sent).
    max_rows_per_run: int | None = None

    @property
    def sizing_rows(self) -> float:
        """The rows a window is planned to stay under."""
        return self.max_rows_per_query * SIZING_SHARE

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """Read and check the three settings; a bad value is one ConfigError line."""
        rows = _capped(
            config, "max_rows_per_query", API_MAX_ROWS_PER_QUERY, "cap on one query's rows"
        )
        accounts = _capped(
            config,
            "max_accounts_per_query",
            API_MAX_ACCOUNTS_PER_QUERY,
            "bound on one query's accounts",
        )
        budget = None
        if config.get("max_rows_per_run") is not None:
            budget = _whole(config, "max_rows_per_run", 0)
        return cls(rows, accounts, budget)


def _capped(config: Mapping[str, Any], name: str, api_limit: int, what: str) -> int:
    """A positive whole number setting no larger than the API's own limit (its default)."""
    value = _whole(config, name, api_limit)
    if value > api_limit:
        msg = f"{name} must be at most {api_limit:,} (the API's {what}), got {value:,}"
        raise ConfigError(msg)
    return value


def _whole(config: Mapping[str, Any], name: str, default: int) -> int:
    """A positive whole number setting (JSON Schema checks the type, this the sign)."""
    value = config.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive whole number, got {value!r}"
        raise ConfigError(msg)
    return value

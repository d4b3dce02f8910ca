"""What to do about each of the licence's refusals (`LICENSE_*` codes).

Most licence answers are about the whole licence (expired, suspended, the month's rows or
the day's queries spent): they stop the run at once, since every further query would be
refused alike. Two are about one query: `LICENSE_HISTORICAL_RANGE_EXCEEDED` refuses a
window's days (newer windows still load) and `LICENSE_ACCOUNT_LIMIT_EXCEEDED` some of
its accounts (the window is split until they stand alone). Either way the line says which
limit was hit and what to change: the setting where one exists, otherwise the licence.
"""

from __future__ import annotations

from tap_supermetrics.core.errors import (
    ApiErrorInfo,
    LicenceAccountsError,
    LicenceError,
    SupermetricsError,
    WindowRefusedError,
)

#: Documented codes → the limit, and the remedy.
REMEDIES: dict[str, str] = {
    "LICENSE_ROW_LIMIT_EXCEEDED": (
        "the licence's monthly row limit (10,000,000 rows unless the order form says "
        "otherwise) is spent: set or lower max_rows_per_run so that daily runs spread the "
        "backfill over the month (docs/limits-and-budget.md), or raise the licence's limit"
    ),
    "LICENSE_DAILY_QUERY_LIMIT_EXCEEDED": (
        "the licence's daily query quota is spent: send fewer queries per run (a larger "
        "window_days or max_accounts_per_query, fewer refresh tiers, max_rows_per_run), or "
        "run again tomorrow"
    ),
    "LICENSE_HISTORICAL_RANGE_EXCEEDED": (
        "the licence does not reach back that far: move start_date (or the query's own "
        "start_date) later, or extend the licence's history"
    ),
    "LICENSE_ACCOUNT_LIMIT_EXCEEDED": (
        "the licence's number of accounts is reached: read fewer accounts (ds_accounts, a "
        "narrower filter), or raise the licence's account limit"
    ),
    "LICENSE_EXPIRED": "the licence has expired: renew it with Supermetrics",
    "LICENSE_QUERIES_SUSPENDED": (
        "Supermetrics has suspended the licence's queries: check the licence with "
        "Supermetrics (billing, fair-usage notices)"
    ),
}


def remedy(code: str | None) -> str:
    """The limit behind a licence code and what to do about it (any code gets a line)."""
    known = REMEDIES.get((code or "").upper())
    if known is not None:
        return known
    return f"the licence refused the query ({code}): check the licence with Supermetrics"


def licence_refusal(message: str, info: ApiErrorInfo) -> SupermetricsError:
    """The error a licence answer raises: about one window, some accounts, or the run."""
    code = (info.code or "").upper()
    if code == "LICENSE_HISTORICAL_RANGE_EXCEEDED":
        return WindowRefusedError(message)
    if code == "LICENSE_ACCOUNT_LIMIT_EXCEEDED":
        return LicenceAccountsError(message, status="FAILURE", info=info)
    return LicenceError(message)

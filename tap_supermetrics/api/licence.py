"""What to do about each of the licence's refusals (`LICENSE_*` codes).

A licence error stops the run at once: no retry in this run can cure it, and every
further query would be refused alike. The line says which limit was hit and what to
change: the setting to lower where one exists, otherwise the licence to check.
"""

from __future__ import annotations

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

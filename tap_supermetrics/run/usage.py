"""The run's usage in one structured log line: what each stream cost and what it left.

Schedulers and log pipelines read one JSON object instead of scraping prose: per stream
the queries sent, the rows received (what the licence's monthly limit counts), what the
row budget deferred and which accounts failed; in a dry run, the estimates instead.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tap_supermetrics.run.failures import AccountFailure

if TYPE_CHECKING:
    import logging

    from tap_supermetrics.plan.budget import RowBudget
    from tap_supermetrics.run.sync_run import SyncRun

#: The `event` of the line, to find it among the others.
USAGE_EVENT = "tap_supermetrics_usage"


def usage_report(run: SyncRun, *, dry_run: bool) -> dict[str, Any]:
    """The usage object of one run."""
    budget = run.pool.budget
    streams: dict[str, dict[str, Any]] = {}
    for name, usage in budget.usage.items():
        failed = sorted(
            {
                failure.account
                for failure in run.failures.failures
                if isinstance(failure, AccountFailure) and failure.stream == name
            }
        )
        streams[name] = {
            "queries": sum(1 for q in run.runs if q.stream == name and q.schedule_id),
            "rows_received": usage.rows_received,
            "planned_queries": usage.planned_queries,
            "estimated_rows": usage.planned_rows,
            "unestimated_queries": usage.unestimated_queries,
            "deferred_queries": len(usage.deferred),
            "deferred_rows": usage.deferred_rows,
            "totals_queries": usage.totals_planned,
            "totals_skipped": usage.totals_skipped,
            "confirmations": usage.confirmations,
            "failed_accounts": failed,
        }
    return {
        "event": USAGE_EVENT,
        "dry_run": dry_run,
        **budget.summary(),
        "queries": sum(1 for q in run.runs if q.schedule_id),
        "streams": streams,
    }


def usage_line(run: SyncRun, *, dry_run: bool) -> str:
    """The usage object as one line of JSON."""
    return json.dumps(usage_report(run, dry_run=dry_run), sort_keys=True)


def dry_run_total(run: SyncRun) -> str:
    """The dry run's last line: every stream's queries and estimated rows against the budget.

    Data queries and totals queries are counted apart, as the real run's usage line does:
    a totals query that does not fit is skipped, never deferred.
    """
    budget = run.pool.budget
    usages = budget.usage.values()
    queries = sum(usage.planned_queries for usage in usages)
    rows = sum(usage.planned_rows for usage in usages)
    unestimated = sum(usage.unestimated_queries for usage in usages)
    deferred = sum(len(usage.deferred) for usage in usages)
    totals = sum(usage.totals_planned for usage in usages)
    text = f"Dry run: {queries} {'query' if queries == 1 else 'queries'} in all"
    if totals:
        text += f" and {totals} totals {'query' if totals == 1 else 'queries'}"
    confirmations = sum(usage.confirmations for usage in usages)
    if confirmations:
        text += f", plus up to {confirmations} to confirm empty accounts"
    text += f", ~{rows + sum(usage.totals_rows for usage in usages):,} rows estimated"
    if unestimated:
        text += f" ({unestimated} without an estimate: their streams were never read)"
    if budget.limit is None:
        return text + "; no max_rows_per_run"
    text += f", against max_rows_per_run={budget.limit:,}"
    if deferred:
        text += f": {deferred} would be deferred to later runs"
    return text


def log_deferred(logger: logging.Logger, budget: RowBudget, stream: str, *, dry_run: bool) -> None:
    """One line: what the row budget left to a stream's next runs, or why it cannot move.

    When not one day of one account fits in what the budget leaves the stream after the
    classes ranked before it, later runs would not read its deferred days either: that is
    a WARNING naming the smallest `max_rows_per_run` that lets the stream progress.
    """
    usage = budget.of(stream)
    if not usage.deferred:
        return
    prefix = "Dry run: " if dry_run else ""
    days = sum(query.window.days for query in usage.deferred if query.window)
    what = (
        f"{len(usage.deferred)} {'query' if len(usage.deferred) == 1 else 'queries'} "
        f"(~{usage.deferred_rows:,} rows estimated, {days} window-days)"
    )
    stall = usage.stall
    if stall is not None:
        logger.warning(
            "%sStream %r: max_rows_per_run=%s leaves %s rows for its %s after what is ranked "
            "before them, less than one day of one account (~%s rows): %s %s, and later runs "
            "cannot read them either; set max_rows_per_run to at least %s for the stream to "
            "progress",
            prefix,
            stream,
            f"{budget.limit:,}",
            f"{max(0, (budget.limit or 0) - stall.floor):,}",
            stall.what,
            f"{stall.unit:,}",
            what,
            "would not be read" if dry_run else "not read",
            f"{stall.needed:,}",
        )
        return
    logger.info(
        "%sStream %r: %s %s by max_rows_per_run=%s; their days stay missing and the next "
        "runs read them",
        prefix,
        stream,
        what,
        "would be deferred" if dry_run else "deferred",
        f"{budget.limit:,}" if budget.limit is not None else None,
    )

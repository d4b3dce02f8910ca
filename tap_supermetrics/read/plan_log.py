"""The plan of one stream, told in the log: why each query is read and what it costs.

Every run (and every dry run, which stops there) says per stream how many queries it
plans, their estimated rows, one line per query with its reason, and the days it reads
without recording them (not complete yet) or does not read (not happened anywhere yet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_supermetrics.plan.coverage import DaySet
from tap_supermetrics.plan.refresh import describe as describe_tiers

if TYPE_CHECKING:
    from tap_supermetrics.read.reads import StreamReads


def log_plan(reads: StreamReads, *, dry_run: bool) -> None:
    """One line per planned query, and a summary line for the stream."""
    queries = reads.plan.queries
    prefix = "Dry run: " if dry_run else ""
    estimated = sum(planned.estimate or 0 for planned in queries)
    unestimated = sum(planned.estimate is None for planned in queries)
    reads.logger.info(
        "%sstream %r plans %d %s, ~%s rows estimated%s (as of %s; %s)",
        prefix,
        reads.definition.name,
        len(queries),
        "query" if len(queries) == 1 else "queries",
        f"{estimated:,}",
        f", {unestimated} without an estimate (never read)" if unestimated else "",
        reads.as_of,
        describe_tiers(reads.definition.tiers),
    )
    for planned in queries:
        rows = "rows unknown" if planned.estimate is None else f"~{planned.estimate:,} rows"
        reads.logger.info(
            "%sstream %r: %s, %s", prefix, reads.definition.name, planned.describe(), rows
        )
    unfinished = reads.wanted - DaySet.of(reads.configured.start, reads.last_complete_day)
    if queries and unfinished and reads.definition.date_field is not None:
        reads.logger.info(
            "%sstream %r: days %s are not complete yet (after %s, yesterday in UTC): they "
            "are read but not recorded as loaded, so the next run reads them again",
            prefix,
            reads.definition.name,
            ", ".join(map(str, unfinished)),
            reads.last_complete_day,
        )
    if reads.configured.end > reads.last_readable_day:
        reads.logger.info(
            "%sstream %r: days after %s (end_date %s) have not happened anywhere yet: not read",
            prefix,
            reads.definition.name,
            reads.last_readable_day,
            reads.configured.end,
        )

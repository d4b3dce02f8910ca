"""The lineage column: which Supermetrics query execution produced a record.

Every record of a query stream carries `_sm_extracted_at`, the moment Supermetrics
finished the query that produced it (UTC, microseconds). It is one value per query
execution and window: when results expire and the query is submitted again, the
window keeps the stamp of its first execution, so rows emitted before and after the
resubmission belong together; so do the parts of a window split by accounts.
`query_runs.extracted_at` carries the same stamp, with the accounts and days each
execution covered. The current relations (`<stream>_current`, built by dbt) keep, per
day and account, the rows of the latest successful query that covered them (none if it
answered none).

It is a record property rather than the targets' `_sdc_extracted_at`, because that one
exists only with `add_record_metadata`, which costs target-postgres a third of its speed.
"""

from __future__ import annotations

from typing import Any

LINEAGE_FIELD = "_sm_extracted_at"

LINEAGE_SCHEMA: dict[str, Any] = {
    "type": ["string", "null"],
    "format": "date-time",
    "title": "Extracted at",
    "description": "When Supermetrics finished the query execution that produced this row "
    "(UTC; one value per query and window, as in query_runs.extracted_at). The current "
    "relations keep, per day and account, the rows of the latest query that covered them.",
}


def with_lineage(schema: dict[str, Any]) -> dict[str, Any]:
    """The stream schema with the lineage property added after the configured fields."""
    properties = dict(schema.get("properties", {}))
    properties[LINEAGE_FIELD] = dict(LINEAGE_SCHEMA)
    return {**schema, "properties": properties}

"""`GET /query/fields`: a data source's field list, in the documented shape.

Clients discover a stream's schema from this answer without running a query (no
licence queue, no wait), so every entry carries what typing needs: dimension or
metric, and the dotted `data_type` that query answers use too.
"""

from __future__ import annotations

from typing import Any

from supermetrics_emulator.catalog import Field
from supermetrics_emulator.validation import source_of


def field_entry(item: Field) -> dict[str, Any]:
    """Describe one field as `/query/fields` does.

    Metrics say whether they can be summed over rows (`is_non_aggregatable`: ratios
    cannot), so that a client knows which ones a totals query can check.
    """
    metric = item.field_type == "met"
    entry = {
        "@type": "ds_metric" if metric else "ds_dimension",
        "field_id": item.field_id,
        "field_name": item.field_name,
        "field_type": item.field_type,
        "data_type": item.data_type,
        "description": item.description,
        "group_name": item.group_name,
        "is_filterable": item.is_filterable,
    }
    if metric:
        entry["is_non_aggregatable"] = item.ratio_of is not None
    return entry


def fields_answer(params: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Build the whole `/query/fields` answer for the requested data source."""
    source = source_of(params)
    return {
        "meta": {"request_id": request_id},
        "data": [field_entry(item) for item in source.fields.values()],
    }

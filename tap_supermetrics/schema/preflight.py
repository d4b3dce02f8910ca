"""Checks that need the fields' metadata, run after discovery and before any data query.

The settings checks in `config.py` run before any request; some mistakes only show
once discovery knows the fields' types (from `/query/fields`, the schema cache, the
input catalog, or a probe). They are refused here, in one line per query, the way
unknown field ids are (`field_catalog.unknown_fields_message`).

The one check today: a `date_field` must be a day. The sync cuts the date range into
day windows keyed by the date field and replaces what each window read. A month,
week or year field (`YearMonth`, `string.time.month`) read in day windows answers a
part of the month per window, and each part would overwrite the month's total under
the same key. A `string.time.datetime` is no day key either: its values are instants,
the bookmark and the windows speak in days. So only a day type is accepted: a dotted
`…time.date`, or the legacy bare `date`; these are exactly the types whose column is
typed `{"format": "date"}` (`fields.known_json_type`), so the rule and the column
agree. A query with a month field and no day field has no date_field and is read as
a full table, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tap_supermetrics.core.errors import ConfigMistakesError
from tap_supermetrics.schema.types import FieldSpec, known_json_type
from tap_supermetrics.settings.queries import QueryDefinition

#: The data_type a date field is expected to have, named in refusals.
DAY_TYPE = "string.time.date"


class DateFieldTypeError(ConfigMistakesError):
    """A query's `date_field` is not a day (a month, week, year, timestamp or text field)."""


def is_day_type(data_type: str | None) -> bool:
    """Whether a field of this Supermetrics `data_type` holds days (`YYYY-MM-DD`).

    True for `string.time.date` (and other dotted `…time.date` strings) and the legacy
    `date`; False for `…time.month`, `…time.week`, `…time.year`, `int.time.year`,
    `…time.datetime`, plain strings and unknown types.
    """
    schema = known_json_type(data_type)
    return schema is not None and schema.get("format") == "date"


def date_field_refusal(definition: QueryDefinition, fields: Sequence[FieldSpec]) -> str | None:
    """One line refusing the query's date_field when it is not a day, else None.

    Args:
        definition: The query; one without a date_field passes (a full-table query).
        fields: The query's fields as discovery typed them.
    """
    date_field = definition.date_field
    spec = next((item for item in fields if item.field_id == date_field), None)
    if date_field is None or spec is None or is_day_type(spec.data_type):
        return None
    return (
        f"stream {definition.name!r}: date_field {date_field!r} has data_type "
        f"{spec.data_type!r}, not a day ({DAY_TYPE!r}): synced in day windows, each window's "
        "part of a month, week or year would overwrite its total. Use a day field such as "
        "Date as date_field, or neither date_field nor Date to read the query as a full table"
    )


def date_field_refusals(
    definitions: Sequence[QueryDefinition], fields: Mapping[str, Sequence[FieldSpec]]
) -> list[str]:
    """The date_field refusals of the queries `fields` has typed (by stream name), in order."""
    refusals = []
    for definition in definitions:
        typed = fields.get(definition.name)
        refusal = date_field_refusal(definition, typed) if typed is not None else None
        if refusal:
            refusals.append(refusal)
    return refusals

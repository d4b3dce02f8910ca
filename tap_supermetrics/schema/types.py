"""Supermetrics field metadata → JSON Schema: the type of every column.

A column's type is decided once, from the field's `data_type`, and never changes
between runs: target-postgres cannot alter a column's type and silently rounds numbers
into an integer column. Unknown `data_type` values become strings, with a warning. The
mapping table is docs/types.md; the values are converted by `conversion.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOGGER = logging.getLogger(__name__)


#: Bare type names seen in older answers and in the seed document.
_LEGACY_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "year": {"type": "integer"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "percent": {"type": "number"},
    "currency": {"type": "number"},
    "duration": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "month": {"type": "string"},
    "time": {"type": "string"},
}


_LEADING_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "string": "string"}


def json_type(data_type: str | None) -> dict[str, Any]:
    """Map a Supermetrics `data_type` to a JSON Schema type (always nullable).

    Dotted types (`float.currency.value`, `string.time.date`) map on their leading
    part, refined by a `time.date` / `time.datetime` qualifier; bare legacy names map
    by the table above; anything else becomes a string, with a warning.
    """
    schema = known_json_type(data_type)
    if schema is None:
        LOGGER.warning("Unknown Supermetrics data_type %r: the field is typed as string", data_type)
        return _nullable({"type": "string"})
    return schema


def known_json_type(data_type: str | None) -> dict[str, Any] | None:
    """Like `json_type`, but None (and no warning) for a type the tap does not know.

    For comparisons that must not repeat `json_type`'s warning on every answer.
    """
    text = (data_type or "").strip().lower()
    parts = text.split(".")
    if len(parts) > 1 and parts[0] in _LEADING_TYPES:
        base: dict[str, Any] = {"type": _LEADING_TYPES[parts[0]]}
        if "time" in parts[1:] and parts[0] == "string":
            if "datetime" in parts:
                base["format"] = "date-time"
            elif "date" in parts:
                base["format"] = "date"
        return _nullable(base)
    if text in _LEGACY_TYPES:
        return _nullable(dict(_LEGACY_TYPES[text]))
    return None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    schema["type"] = [schema["type"], "null"]
    return schema


@dataclass(frozen=True)
class FieldSpec:
    """One field as the API describes it (`/query/fields`, or a query answer's meta).

    `description` is None when the source had none (a probe's answer never has one):
    the schema then leaves it out rather than inventing a text.
    """

    field_id: str
    field_name: str
    field_type: str  # "dim" or "met"
    data_type: str
    description: str | None = None
    #: False when `/query/fields` marks the metric `is_non_aggregatable` (it cannot be
    #: summed over rows); None when the source did not say.
    aggregatable: bool | None = None

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this field's values, titled and described as the API does."""
        schema = json_type(self.data_type)
        if self.field_name:
            schema["title"] = self.field_name
        if self.description:
            schema["description"] = self.description
        return schema

    def to_dict(self) -> dict[str, Any]:
        """Return the cacheable form (`description` only when there is one)."""
        cached: dict[str, Any] = {
            "field_id": self.field_id,
            "field_name": self.field_name,
            "field_type": self.field_type,
            "data_type": self.data_type,
        }
        if self.description:
            cached["description"] = self.description
        if self.aggregatable is not None:
            cached["is_non_aggregatable"] = not self.aggregatable
        return cached

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> FieldSpec:
        """Read one field entry of `/query/fields` or of `meta.query.fields`.

        Tolerates `id` for `field_id`, and takes the dimension/metric kind from
        `@type` (`ds_dimension`/`ds_metric`) when `field_type` is missing.
        """
        field_type = meta.get("field_type")
        if not field_type:
            field_type = "dim" if meta.get("@type") == "ds_dimension" else "met"
        description = str(meta.get("description") or "").strip()
        non_aggregatable = meta.get("is_non_aggregatable")
        return cls(
            field_id=str(meta.get("field_id") or meta.get("id") or ""),
            field_name=str(meta.get("field_name") or meta.get("field_id") or ""),
            field_type=str(field_type),
            data_type=str(meta.get("data_type") or "string"),
            description=description or None,
            aggregatable=None if non_aggregatable is None else not bool(non_aggregatable),
        )


def record_schema(fields: Sequence[FieldSpec]) -> dict[str, Any]:
    """Build the stream schema: one property per configured field id, in order."""
    return {
        "type": "object",
        "properties": {spec.field_id: spec.schema for spec in fields},
        "additionalProperties": False,
    }


def base_type(schema: dict[str, Any]) -> str:
    """Return the non-null JSON type of a property schema (plus its format, if any)."""
    types = schema.get("type", "string")
    if isinstance(types, list):
        types = next((item for item in types if item != "null"), "string")
    fmt = schema.get("format")
    return f"{types}:{fmt}" if fmt else str(types)

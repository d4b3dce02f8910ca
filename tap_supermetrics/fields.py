"""Supermetrics field metadata → JSON Schema, and result rows → typed records.

Supermetrics does no type casting: a number may arrive as a JSON number or as a
string, an empty cell as "" or null. Every value is converted here, once, to the type
its schema promises, so the SDK's own per-record conformance can stay switched off.
The mapping table is README "Types".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LOGGER = logging.getLogger("tap_supermetrics.fields")

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
    LOGGER.warning("Unknown Supermetrics data_type %r: the field is typed as string", data_type)
    return _nullable({"type": "string"})


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    schema["type"] = [schema["type"], "null"]
    return schema


@dataclass(frozen=True)
class FieldSpec:
    """One configured field as the API describes it."""

    field_id: str
    field_name: str
    field_type: str  # "dim" or "met"
    data_type: str

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this field's values."""
        return json_type(self.data_type)

    def to_dict(self) -> dict[str, str]:
        """Return the cacheable form."""
        return {
            "field_id": self.field_id,
            "field_name": self.field_name,
            "field_type": self.field_type,
            "data_type": self.data_type,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> FieldSpec:
        """Read one entry of `meta.query.fields` (tolerating `id` for `field_id`)."""
        return cls(
            field_id=str(meta.get("field_id") or meta.get("id") or ""),
            field_name=str(meta.get("field_name") or meta.get("field_id") or ""),
            field_type=str(meta.get("field_type") or "met"),
            data_type=str(meta.get("data_type") or "string"),
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


class ValueConversionError(ValueError):
    """A cell does not parse as its declared type."""


def _to_integer(value: Any) -> int | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueConversionError(value)
    if isinstance(value, int):
        return value
    number = float(value)
    if not number.is_integer():
        raise ValueConversionError(value)
    return int(number)


def _to_number(value: Any) -> float | int | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueConversionError(value)
    if isinstance(value, (int, float)):
        number: float | int = value
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueConversionError(value)
    return number


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _to_boolean(value: Any) -> bool | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueConversionError(value)


def _to_date(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) != 10 or text[4] != "-" or text[7] != "-":  # noqa: PLR2004 - YYYY-MM-DD
        raise ValueConversionError(value)
    return text


def _to_string(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _to_optional_string(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "string:date": _to_date,
    "string:date-time": _to_optional_string,
    "string": _to_string,
}


def converter_for(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """Return the function that turns a raw cell into a value of this schema."""
    return _CONVERTERS.get(base_type(schema), _to_string)


class RowConverter:
    """Turns result rows (lists of cells) into records, checking their shape.

    The conversion is compiled into one function per stream (a dict display with one
    call per typed column), because it runs for every row and a generic loop costs
    several times more.
    """

    def __init__(self, keys: Sequence[str], schemas: Sequence[dict[str, Any]]) -> None:
        """Compile the conversion for columns `keys` typed by `schemas`."""
        self.keys = tuple(keys)
        self.converters = tuple(converter_for(schema) for schema in schemas)
        namespace: dict[str, Any] = {f"c{n}": conv for n, conv in enumerate(self.converters)}
        items = ", ".join(f"{key!r}: c{n}(row[{n}])" for n, key in enumerate(self.keys))
        source = f"def convert(row):\n    return {{{items}}}\n"
        exec(compile(source, "<tap_supermetrics row converter>", "exec"), namespace)  # noqa: S102 - keys are repr()-quoted
        self._convert: Callable[[Sequence[Any]], dict[str, Any]] = namespace["convert"]
        self.width = len(self.keys)

    def convert(self, row: Sequence[Any]) -> dict[str, Any]:
        """Convert one row, or raise ValueConversionError saying which cell is wrong."""
        if len(row) != self.width:
            msg = f"expected {self.width} cells, got {len(row)}: {list(row)!r}"
            raise ValueConversionError(msg)
        try:
            return self._convert(row)
        except (ValueError, TypeError):
            raise ValueConversionError(self._explain(row)) from None

    def _explain(self, row: Sequence[Any]) -> str:
        for key, conv, value in zip(self.keys, self.converters, row, strict=True):
            try:
                conv(value)
            except (ValueError, TypeError):
                kind = conv.__name__.removeprefix("_to_")
                return f"field {key!r}: {value!r} is not a valid {kind}"
        return f"could not convert {list(row)!r}"  # pragma: no cover

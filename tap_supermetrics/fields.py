"""Supermetrics field metadata → JSON Schema, and result rows → typed records.

Supermetrics does no type casting: a number may arrive as a JSON number or as a
string, an empty cell as "" or null. Every value is converted here, once, to the type
its schema promises, so the SDK's own per-record conformance can stay switched off.
The mapping table is README "Types".
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from tap_supermetrics.row_memory import KEY_BITS, ROW_BITS, PageDigests

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

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this field's values, titled and described as the API does."""
        schema = json_type(self.data_type)
        if self.field_name:
            schema["title"] = self.field_name
        if self.description:
            schema["description"] = self.description
        return schema

    def to_dict(self) -> dict[str, str]:
        """Return the cacheable form (`description` only when there is one)."""
        cached = {
            "field_id": self.field_id,
            "field_name": self.field_name,
            "field_type": self.field_type,
            "data_type": self.data_type,
        }
        if self.description:
            cached["description"] = self.description
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
        return cls(
            field_id=str(meta.get("field_id") or meta.get("id") or ""),
            field_name=str(meta.get("field_name") or meta.get("field_id") or ""),
            field_type=str(field_type),
            data_type=str(meta.get("data_type") or "string"),
            description=description or None,
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
    """A cell does not parse as its declared type; `index` is its row in the page."""

    def __init__(self, message: object, index: int = 0) -> None:
        """Keep the row's position in its page."""
        super().__init__(message)
        self.index = index


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
    if not _ISO_DAY.fullmatch(text):
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


#: Inline tests for cells that already have their schema's type (the common case):
#: only the others pay for a function call.
_FAST_PATHS = {
    "integer": "type({v}) is int",
    "number": "type({v}) is float",
    "boolean": "type({v}) is bool",
    "string:date": "type({v}) is str and is_day({v})",
    "string:date-time": "type({v}) is str and {v}",
    "string": "type({v}) is str",
}

#: The cell types msgspec checks (in C, while decoding) on the fast path. Lax mode
#: also takes numbers and booleans written as strings, exactly as the converters above
#: would; anything else (`""` in a number column, a bad date) fails the fast path and
#: the page goes through the converters instead.
#: Dates are decoded as ten-character strings; their digits are checked once per
#: distinct value of a page (`_days_are_dates`), not once per cell: a regex in the
#: decoder cost more than the rest of the decoding.
_DAY = Annotated[str, msgspec.Meta(min_length=10, max_length=10)]
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TYPED_CELLS: dict[str, Any] = {
    "integer": int | None,
    "number": float | None,
    "boolean": bool | None,
    "string:date": _DAY | None,
    "string:date-time": Annotated[str, msgspec.Meta(min_length=1)] | None,
    "string": str | None,
}


_PageBuilder = Callable[..., list[dict[str, Any]]]
_ENCODE = msgspec.json.Encoder().encode


class RowConverter:
    """Turns result pages into records, checking their shape and types.

    Two compiled paths, because this runs for every row: the fast one decodes a page's
    rows straight into typed tuples with msgspec and only builds the dicts; when a
    page has anything msgspec does not take as is, the page is decoded generically and
    each cell goes through an inline type test, calling a converter only when needed.
    Both give the same records.
    """

    def __init__(
        self,
        keys: Sequence[str],
        schemas: Sequence[dict[str, Any]],
        constants: Mapping[str, Any] | None = None,
        primary_key: Sequence[str] = (),
        day_key: str | None = None,
    ) -> None:
        """Compile the conversion for columns `keys` typed by `schemas`.

        `constants` are added to every record (the lineage stamp of the window). Each
        converter also computes, while each row is at hand, what the window's row memory
        needs (`PageDigests`): reading the records again costs a cache miss per record on
        pages of tens of thousands of rows. Its key digest is the hash of the values of
        `primary_key` (columns among `keys`; their JSON encoding unless they are all
        strings, whose hashes have no collisions by construction), its row digest the
        hash of the row's typed values, and its day the value of `day_key`.
        """
        self.keys = tuple(keys)
        self.primary_key = tuple(primary_key)
        missing = set(self.primary_key) - set(self.keys)
        if missing:
            msg = f"primary key fields {sorted(missing)} are not among the columns"
            raise ValueError(msg)
        self.day_key = day_key if day_key in self.primary_key else None
        self.width = len(self.keys)
        types = [base_type(schema) for schema in schemas]
        self._date_columns = [n for n, kind in enumerate(types) if kind == "string:date"]
        self.converters: tuple[Callable[[Any], Any], ...] = tuple(
            _CONVERTERS.get(kind, _to_string) for kind in types
        )
        typed_cells = tuple(_TYPED_CELLS.get(kind, str | None) for kind in types)
        row_type: Any = tuple.__class_getitem__(typed_cells)  # tuple[int | None, str, ...]
        self._typed = msgspec.json.Decoder(list[row_type], strict=False)
        namespace: dict[str, Any] = {f"c{n}": conv for n, conv in enumerate(self.converters)}
        namespace["is_day"] = _ISO_DAY.fullmatch
        namespace["encode"] = _ENCODE
        converted = []
        for n, kind in enumerate(types):
            test = _FAST_PATHS.get(kind, _FAST_PATHS["string"]).format(v=f"v{n}")
            converted.append(f"        x{n} = v{n} if {test} else c{n}(v{n})\n")
        stamped = []
        for n, (key, value) in enumerate((constants or {}).items()):
            namespace[f"k{n}"] = value
            stamped.append(f"{key!r}: k{n}")
        unpack = ", ".join(f"v{n}" for n in range(self.width))
        columns = [self.keys.index(key) for key in self.primary_key]

        def record_cells(cell: str) -> list[str]:
            return [f"{key!r}: {cell}{n}" for n, key in enumerate(self.keys)]

        string_keys = all(types[n].startswith("string") for n in columns)
        row_mask = (1 << (ROW_BITS if self.primary_key else KEY_BITS)) - 1
        source = ""
        # The fast path's rows are the typed tuples themselves: `hash(row)` is the hash of
        # its values, as the checked path computes it from the converted ones.
        converted_values = "({})".format("".join(f"x{n}, " for n in range(self.width)))
        for name, cell, convert, row_values in (
            ("convert_page", "x", converted, converted_values),
            ("build_page", "v", [], "row"),
        ):
            key_values = "".join(f"{cell}{n}, " for n in columns)
            key_digest = f"hash(({key_values}))" if string_keys else f"hash(encode(({key_values})))"
            source += (
                f"def {name}(rows, out, keys, digests, days):\n"
                "    append, add_key, add_digest, add_day = "
                "out.append, keys.append, digests.append, days.append\n"
                "    for row in rows:\n"
                f"        {unpack}, = row\n"
                + "".join(convert)
                + f"        append({{{', '.join([*record_cells(cell), *stamped])}}})\n"
                f"        add_digest(hash({row_values}) & {row_mask})\n"
                + (f"        add_key({key_digest} & {(1 << KEY_BITS) - 1})\n" if columns else "")
                + (
                    f"        add_day({cell}{self.keys.index(self.day_key)})\n"
                    if self.day_key
                    else ""
                )
                + "    return out\n"
            )
        exec(compile(source, "<tap_supermetrics row converter>", "exec"), namespace)  # noqa: S102 - keys are repr()-quoted
        self._convert_page: _PageBuilder = namespace["convert_page"]
        self._build_page: _PageBuilder = namespace["build_page"]

    def convert_page(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """The page's records (see `convert_page_digested`)."""
        return self.convert_page_digested(rows)[0]

    def convert_page_digested(
        self, rows: Sequence[Any]
    ) -> tuple[list[dict[str, Any]], PageDigests]:
        """The page's records, and their digests for the row memory.

        Raises ValueConversionError naming the row and cell. `rows` holds either decoded
        rows (lists of cells) or each row's raw JSON (`msgspec.Raw`): the fast path.
        """
        digests = PageDigests([], [], [])
        if rows and isinstance(rows[0], msgspec.Raw):
            blob = b"[" + b",".join(rows) + b"]"
            try:
                typed = self._typed.decode(blob)
                if self._days_are_dates(typed):
                    return self._build_page(typed, [], *digests), digests
                rows = _DECODER.decode(blob)  # the converters name the bad cell
            except msgspec.ValidationError:
                rows = _DECODER.decode(blob)
        out: list[dict[str, Any]] = []
        try:
            return self._convert_page(rows, out, *digests), digests
        except (ValueError, TypeError):
            index = len(out)
            raise ValueConversionError(self._explain(rows[index]), index) from None

    def _days_are_dates(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Whether every date cell is YYYY-MM-DD, checking each distinct value once."""
        for column in self._date_columns:
            for value in {row[column] for row in rows}:
                if value is not None and not _ISO_DAY.fullmatch(value):
                    return False
        return True

    def convert(self, row: Sequence[Any]) -> dict[str, Any]:
        """Convert one decoded row (see `convert_page`)."""
        return self.convert_page([row])[0]

    def _explain(self, row: Sequence[Any]) -> str:
        if not isinstance(row, (list, tuple)) or len(row) != self.width:
            size = len(row) if isinstance(row, (list, tuple)) else "no"
            return f"expected {self.width} cells, got {size}: {row!r}"
        for key, conv, value in zip(self.keys, self.converters, row, strict=True):
            try:
                conv(value)
            except (ValueError, TypeError):
                kind = conv.__name__.removeprefix("_to_")
                return f"field {key!r}: {value!r} is not a valid {kind}"
        return f"could not convert {list(row)!r}"  # pragma: no cover


_DECODER = msgspec.json.Decoder()

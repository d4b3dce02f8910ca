"""Result rows → typed records, each value converted once to its column's type.

Supermetrics does no type casting: a number may arrive as a JSON number or as a
string, an empty cell as "" or null. Every value is converted here, once, to the type
its schema promises, so the SDK's own per-record conformance can stay switched off.
The mapping from `data_type` to column types (`types.py`) is docs/types.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from tap_supermetrics.core.digests import KEY_BITS, ROW_BITS, PageDigests
from tap_supermetrics.schema.types import base_type


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
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)  # exact at any size; float() rounds past 2**53
    number = float(value)
    if not number.is_integer():
        raise ValueConversionError(value)
    return int(number)


def _to_number(value: Any) -> float | None:  # noqa: ANN401 - a raw JSON cell
    """Always a float, as msgspec decodes a `number` cell (12 gives 12.0).

    One type per column keeps the key digests of the two paths equal (they hash the
    JSON encoding, `12` or `12.0`). Integers past 2**53 lose precision, as they do on
    the fast path: Supermetrics types these fields as floats.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueConversionError(value)
    try:
        number = float(_number_of_text(value) if isinstance(value, str) else value)
    except OverflowError:
        raise ValueConversionError(value) from None
    if not math.isfinite(number):
        raise ValueConversionError(value)
    return number


def _number_of_text(text: str) -> int | float:
    """A number written as a string, read as msgspec reads it: "-0" is 0, not -0.0."""
    try:
        return int(text)
    except ValueError:
        return float(text)


_TRUE = frozenset({"true", "1", "yes"})


#: "-0" because msgspec's lax mode reads it as false.
_FALSE = frozenset({"false", "0", "-0", "no"})


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


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@functools.lru_cache(maxsize=1 << 12)
def _is_day(text: str) -> bool:
    """Whether `text` is a calendar day written YYYY-MM-DD, as a `date` column needs.

    A day a target cannot store (2024-02-30) is refused here, naming its row. Cached:
    a window holds few distinct days, and the checked path asks once per cell.
    """
    if not _ISO_DAY.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _to_date(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    if value is None or value == "":
        return None
    if isinstance(value, str) and _is_day(value):
        return value
    raise ValueConversionError(value)


_ENCODE = msgspec.json.Encoder().encode


def _to_string(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    """A string as is; any other JSON value as its JSON text (`true`, not Python's `True`)."""
    if value is None:
        return None
    return value if isinstance(value, str) else _ENCODE(value).decode()


def _to_optional_string(value: Any) -> str | None:  # noqa: ANN401 - a raw JSON cell
    """Like `_to_string`, but "" is null (a date-time column)."""
    if value == "":
        return None
    return _to_string(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "string:date": _to_date,
    "string:date-time": _to_optional_string,
    "string": _to_string,
}


def _column_kind(schema: dict[str, Any]) -> str:
    """The `_CONVERTERS` key of a column: its type and format, else its type, else string."""
    kind = base_type(schema)
    if kind in _CONVERTERS:
        return kind
    plain = kind.partition(":")[0]
    return plain if plain in _CONVERTERS else "string"


#: Inline tests, on the checked path, for cells that already have their schema's type
#: (the common case): only the others pay for a converter call.
_INLINE_TESTS = {
    "integer": "type({v}) is int",
    "number": "type({v}) is float",
    "boolean": "type({v}) is bool",
    "string:date": "type({v}) is str and is_day({v})",
    "string:date-time": "type({v}) is str and {v}",
    "string": "type({v}) is str",
}


#: The cell types msgspec checks (in C, while decoding) on the fast path. Lax mode
#: also takes numbers and booleans written as strings, as the converters above do;
#: anything else (`""` in a number column, a bad date) fails the fast path and the page
#: goes through the converters instead. Numbers are bounded to refuse the "nan" and
#: "inf" strings lax mode would otherwise take (JSON has no place for them); the
#: bounds cost nothing measurable. Dates are decoded as ten-character strings; their
#: digits are checked once per distinct value of a page (`_days_are_dates`), not once
#: per cell: a regex in the decoder cost more than the rest of the decoding.
_FINITE = msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)


_DAY = Annotated[str, msgspec.Meta(min_length=10, max_length=10)]


_TYPED_CELLS: dict[str, Any] = {
    "integer": int | None,
    "number": Annotated[float, _FINITE] | None,
    "boolean": bool | None,
    "string:date": _DAY | None,
    "string:date-time": Annotated[str, msgspec.Meta(min_length=1)] | None,
    "string": str | None,
}


def _typed_rows_decoder(kinds: Sequence[str]) -> msgspec.json.Decoder[Any]:
    """The fast path's decoder: a page's rows straight into tuples of typed cells."""
    row_type: Any = tuple.__class_getitem__(tuple(_TYPED_CELLS[kind] for kind in kinds))
    return msgspec.json.Decoder(list[row_type], strict=False)


@dataclass(frozen=True)
class _PagePlan:
    """What the generated page functions need to know of a converter's columns."""

    keys: tuple[str, ...]
    kinds: tuple[str, ...]
    #: The constant fields' keys, in order (their values are `k0`, `k1`... in the code).
    constants: tuple[str, ...]
    #: Positions of the primary key's columns.
    key_columns: tuple[int, ...]
    day_column: int | None

    @property
    def row_mask(self) -> int:
        """Row digests are 31-bit beside a key digest; alone, they are the key."""
        return (1 << (ROW_BITS if self.key_columns else KEY_BITS)) - 1

    def key_digest(self, cell: str) -> str:
        """The expression of a row's key digest, from cell variables named `cell`0, 1...

        Strings are hashed as they are (no two strings share a hash by construction of
        the tuple); any other key is hashed by its JSON encoding, which tells apart what
        a target tells apart (`hash(-1) == hash(-2)`, but not their encodings).
        """
        values = "".join(f"{cell}{n}, " for n in self.key_columns)
        if all(self.kinds[n].startswith("string") for n in self.key_columns):
            return f"hash(({values}))"
        return f"hash(encode(({values})))"

    def record(self, cell: str) -> str:
        """The expression of a record: the columns' cells, then the constants."""
        items = [f"{key!r}: {cell}{n}" for n, key in enumerate(self.keys)]
        items += [f"{key!r}: k{n}" for n, key in enumerate(self.constants)]
        return "{" + ", ".join(items) + "}"


def _conversion_lines(kinds: Sequence[str]) -> list[str]:
    """The checked path's per-cell lines: `x<n>` is cell `v<n>` converted to its type."""
    return [
        f"x{n} = v{n} if {_INLINE_TESTS[kind].format(v=f'v{n}')} else c{n}(v{n})"
        for n, kind in enumerate(kinds)
    ]


def _page_function(plan: _PagePlan, name: str, *, checked: bool) -> str:
    """The source of one page function: records and digests of a page's rows.

    `checked` converts each cell first (rows decoded generically); otherwise the rows
    are msgspec's typed tuples, used as they are. Both hash the same values the same
    way: the fast path's `hash(row)` is the hash of the tuple of its typed cells.
    """
    cell = "x" if checked else "v"
    width = len(plan.keys)
    row_values = "({})".format("".join(f"x{n}, " for n in range(width))) if checked else "row"
    body = [
        "for row in rows:",
        "    " + "".join(f"v{n}, " for n in range(width)) + "= row",
        *("    " + line for line in (_conversion_lines(plan.kinds) if checked else [])),
        f"    append({plan.record(cell)})",
        f"    add_digest(hash({row_values}) & {plan.row_mask})",
    ]
    if plan.key_columns:
        body.append(f"    add_key({plan.key_digest(cell)} & {(1 << KEY_BITS) - 1})")
    if plan.day_column is not None:
        body.append(f"    add_day({cell}{plan.day_column})")
    head = [
        f"def {name}(rows, out, keys, digests, days):",
        "    append, add_key = out.append, keys.append",
        "    add_digest, add_day = digests.append, days.append",
    ]
    return "\n".join([*head, *("    " + line for line in body), "    return out", ""])


_PageBuilder = Callable[..., list[dict[str, Any]]]


def _compile_page_functions(
    plan: _PagePlan,
    converters: Sequence[Callable[[Any], Any]],
    constants: Sequence[Any],
) -> tuple[_PageBuilder, _PageBuilder]:
    """Compile the checked and the fast page functions of `plan`, in that order."""
    namespace: dict[str, Any] = {f"c{n}": conv for n, conv in enumerate(converters)}
    namespace.update({f"k{n}": value for n, value in enumerate(constants)})
    namespace.update(is_day=_is_day, encode=_ENCODE)
    source = _page_function(plan, "convert_page", checked=True)
    source += _page_function(plan, "build_page", checked=False)
    exec(compile(source, "<tap_supermetrics row converter>", "exec"), namespace)  # noqa: S102 - keys are repr()-quoted
    return namespace["convert_page"], namespace["build_page"]


class RowConverter:
    """Turns result pages into records, checking their shape and types.

    Two compiled paths, because this runs for every row: the fast one decodes a page's
    rows straight into typed tuples with msgspec and only builds the dicts; when a
    page has anything msgspec does not take as is, the page is decoded generically and
    each cell goes through an inline type test, calling a converter only when needed.
    Both give the same records and digests: which one a page takes shows only in
    `checked_pages`, and in time (measured on 25,000-row pages of the benchmark query:
    about 1.4 µs a row fast, 2.3 µs checked, decoding included).

    A page goes the checked way when one of its cells is not of its column's type as
    msgspec's lax mode reads it: `""` for null outside text columns, spaces around a
    number, a boolean other than true/false/1/0 (as JSON or text), a number or boolean
    in a text column, a date that is not a YYYY-MM-DD day, a row of the wrong width.
    Numbers and booleans written as strings, and integers in number columns, stay fast.
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
        kinds = tuple(_column_kind(schema) for schema in schemas)
        self._date_columns = [n for n, kind in enumerate(kinds) if kind == "string:date"]
        self.converters = tuple(_CONVERTERS[kind] for kind in kinds)
        self._typed = _typed_rows_decoder(kinds)
        constants = dict(constants or {})
        plan = _PagePlan(
            keys=self.keys,
            kinds=kinds,
            constants=tuple(constants),
            key_columns=tuple(self.keys.index(key) for key in self.primary_key),
            day_column=self.keys.index(self.day_key) if self.day_key else None,
        )
        self._convert_page, self._build_page = _compile_page_functions(
            plan, self.converters, tuple(constants.values())
        )
        #: Pages converted cell by cell (the checked path); a performance hint only.
        self.checked_pages = 0

    def convert_page_digested(
        self, rows: Sequence[Any]
    ) -> tuple[list[dict[str, Any]], PageDigests]:
        """The page's records, and their digests for the row memory.

        `rows` holds each row's raw JSON (`msgspec.Raw`, as the tap reads pages): the
        fast path, unless a cell needs converting; or decoded rows (lists of cells),
        which take the checked path. Raises ValueConversionError naming the row and cell.
        """
        digests = PageDigests([], [], [])
        if rows and isinstance(rows[0], msgspec.Raw):
            blob = b"[" + b",".join(rows) + b"]"
            typed = self._typed_page(blob)
            if typed is not None:
                return self._build_page(typed, [], *digests), digests
            rows = self._decoded_page(rows, blob)
        self.checked_pages += 1
        out: list[dict[str, Any]] = []
        try:
            return self._convert_page(rows, out, *digests), digests
        except (ValueError, TypeError):
            index = len(out)
            raise ValueConversionError(self._explain(rows[index]), index) from None

    def _typed_page(self, blob: bytes) -> list[tuple[Any, ...]] | None:
        """The page as typed tuples, or None when a cell needs the checked path."""
        try:
            typed: list[tuple[Any, ...]] = self._typed.decode(blob)
        except msgspec.ValidationError:
            return None
        return typed if self._days_are_dates(typed) else None

    def _days_are_dates(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Whether every date cell is a YYYY-MM-DD day, checking each distinct value once."""
        for column in self._date_columns:
            for value in {row[column] for row in rows}:
                if value is not None and not _is_day(value):
                    return False
        return True

    def _decoded_page(self, rows: Sequence[msgspec.Raw], blob: bytes) -> list[Any]:
        """The page's rows as Python values, for the checked path.

        A number beyond a float's range has no Python value (msgspec refuses it where
        `json` would give infinity): its row is refused here, naming the field.
        """
        try:
            decoded: list[Any] = _DECODER.decode(blob)
        except msgspec.ValidationError:
            for index, row in enumerate(rows):
                try:
                    _DECODER.decode(row)
                except msgspec.ValidationError:
                    raise ValueConversionError(self._explain_undecodable(row), index) from None
            raise  # pragma: no cover - the page failed, so one of its rows does
        return decoded

    def _explain(self, row: Sequence[Any]) -> str:
        if not isinstance(row, (list, tuple)) or len(row) != self.width:
            size = len(row) if isinstance(row, (list, tuple)) else "no"
            return f"expected {self.width} cells, got {size}: {row!r}"
        for key, conv, value in zip(self.keys, self.converters, row, strict=True):
            try:
                conv(value)
            except (ValueError, TypeError):
                return _not_valid(key, conv, repr(value))
        return f"could not convert {list(row)!r}"  # pragma: no cover

    def _explain_undecodable(self, row: msgspec.Raw) -> str:
        text = bytes(row).decode()
        try:
            cells = _RAW_CELLS.decode(row)
        except msgspec.ValidationError as error:
            return f"{error}: {text}"
        for key, conv, cell in zip(self.keys, self.converters, cells, strict=False):
            try:
                _DECODER.decode(cell)
            except msgspec.ValidationError:
                return _not_valid(key, conv, bytes(cell).decode())
        return f"expected {self.width} cells, got {len(cells)}: {text}"


def _not_valid(key: str, converter: Callable[[Any], Any], shown: str) -> str:
    kind = converter.__name__.removeprefix("_to_").removeprefix("optional_")
    return f"field {key!r}: {shown} is not a valid {kind}"


_DECODER = msgspec.json.Decoder()


_RAW_CELLS = msgspec.json.Decoder(list[msgspec.Raw])

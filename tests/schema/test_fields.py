"""Type mapping and value conversion: what a user sees in the warehouse's column types."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests

from tap_supermetrics.api.client import payload_of
from tap_supermetrics.api.pagination import read_page
from tap_supermetrics.core.digests import KEY_BITS, ROW_BITS, PageDigests
from tap_supermetrics.schema.cache import SOURCE_FORMAT, SchemaCache
from tap_supermetrics.schema.conversion import RowConverter, ValueConversionError
from tap_supermetrics.schema.field_catalog import (
    read_field_list,
    suggestions,
    type_disagreements,
    unknown_fields_message,
)
from tap_supermetrics.schema.types import FieldSpec, json_type, record_schema
from tap_supermetrics.settings.queries import QueryDefinition
from tests.conftest import assert_records_match_their_schemas


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        ("string.text.value", {"type": ["string", "null"]}),
        ("string.time.date", {"type": ["string", "null"], "format": "date"}),
        ("string.time.datetime", {"type": ["string", "null"], "format": "date-time"}),
        ("string.time.month", {"type": ["string", "null"]}),
        ("int.number.value", {"type": ["integer", "null"]}),
        ("float.currency.value", {"type": ["number", "null"]}),
        ("float.percent.value", {"type": ["number", "null"]}),
        ("bool.boolean.value", {"type": ["boolean", "null"]}),
        ("int", {"type": ["integer", "null"]}),
        ("percent", {"type": ["number", "null"]}),
        ("currency", {"type": ["number", "null"]}),
        ("date", {"type": ["string", "null"], "format": "date"}),
        ("datetime", {"type": ["string", "null"], "format": "date-time"}),
        ("year", {"type": ["integer", "null"]}),
        ("duration", {"type": ["number", "null"]}),
    ],
)
def test_data_types_map_to_json_schema(data_type: str, expected: dict) -> None:
    assert json_type(data_type) == expected


def test_unknown_data_type_becomes_string_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert json_type("geo.point.value") == {"type": ["string", "null"]}
    assert "Unknown Supermetrics data_type 'geo.point.value'" in caplog.text


# Result rows → records: the fast path (raw JSON decoded by msgspec) and the checked
# path (cell by cell) must give a user the same records, and the row memory the same
# digests, whichever a page takes.

COLUMNS = ["Date", "Name", "Clicks", "Cost", "Active"]
DATA_TYPES = [
    "string.time.date",
    "string.text.value",
    "int.number.value",
    "float.currency.value",
    "bool.boolean.value",
]


def converter(primary_key: list[str] | None = None) -> RowConverter:
    return RowConverter(
        COLUMNS,
        [json_type(t) for t in DATA_TYPES],
        {"_stamp": "s"},
        primary_key or [],
        day_key="Date",
    )


def answer(rows: list[str]) -> bytes:
    """A query answer's body, rows given as their JSON text."""
    return b'{"meta": {"result": {}}, "data": [' + ",".join(rows).encode() + b"]}"


def raw_rows(body: bytes) -> list[msgspec.Raw]:
    """The answer's rows as the tap reads them: `payload_of`, then `read_page`."""
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body)
    rows = read_page(payload_of(response), []).rows
    assert all(isinstance(row, msgspec.Raw) for row in rows)
    return list(rows)


def decoded_rows(body: bytes) -> list[list[Any]]:
    """The same rows as Python lists: what the checked path reads."""
    return msgspec.json.decode(body)["data"]


def records(convert: RowConverter, rows: list[Any]) -> list[dict[str, Any]]:
    return convert.convert_page_digested(rows)[0]


def as_emitted(value: object) -> bytes:
    """What a target reads: the JSON of a record (12 and 12.0, true and "True" differ)."""
    return msgspec.json.encode(value)


def assert_valid(columns: list[str], data_types: list[str], rows: list[dict[str, Any]]) -> None:
    schema = record_schema(
        [FieldSpec(c, c, "dim", t) for c, t in zip(columns, data_types, strict=True)]
    )
    schema["properties"]["_stamp"] = {"type": "string"}
    stream = [{"type": "SCHEMA", "stream": "s", "schema": schema}]
    assert_records_match_their_schemas(
        stream + [{"type": "RECORD", "stream": "s", "record": row} for row in rows]
    )


#: A path's records, each as emitted, and their digests; or its error.
Outcome = tuple[list[bytes], PageDigests] | str


def both_paths(
    make: Callable[[], RowConverter], body: bytes
) -> tuple[Outcome, Outcome, RowConverter]:
    """Each path's outcome, fast then checked, and the converter of the fast one."""
    outcomes: list[Outcome] = []
    fast = make()
    for convert, rows in ((fast, raw_rows(body)), (make(), decoded_rows(body))):
        try:
            converted, digests = convert.convert_page_digested(rows)
        except ValueConversionError as error:
            outcomes.append(f"row {error.index}: {error}")
        else:
            outcomes.append(([as_emitted(record) for record in converted], digests))
    return outcomes[0], outcomes[1], fast


def test_cells_are_converted_once_to_their_schema_types() -> None:
    convert = RowConverter(COLUMNS, [json_type(t) for t in DATA_TYPES])
    rows = [
        ["2024-01-01", "Été", "12", "3.50", "true"],
        ["2024-01-01", "", 12.0, 3, False],
        ["2024-01-01", None, "", None, ""],
    ]
    assert records(convert, rows) == [
        {"Date": "2024-01-01", "Name": "Été", "Clicks": 12, "Cost": 3.5, "Active": True},
        {"Date": "2024-01-01", "Name": "", "Clicks": 12, "Cost": 3.0, "Active": False},
        {"Date": "2024-01-01", "Name": None, "Clicks": None, "Cost": None, "Active": None},
    ]
    assert as_emitted(records(convert, rows)[1]["Cost"]) == b"3.0"  # a number column


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["2024-01-01", "x", "1.5", "1", "true"], "field 'Clicks': '1.5' is not a valid integer"),
        (["2024-01-01", "x", "1", "abc", "true"], "field 'Cost': 'abc' is not a valid number"),
        (["2024-01-01", "x", "1", "nan", "true"], "field 'Cost': 'nan' is not a valid number"),
        (["2024-01-01", "x", "1", "1", "maybe"], "field 'Active': 'maybe' is not a valid boolean"),
        (["01/02/2024", "x", "1", "1", "true"], "field 'Date': '01/02/2024' is not a valid date"),
        (["2024-02-30", "x", "1", "1", "true"], "field 'Date': '2024-02-30' is not a valid date"),
        (["2024-01-01", "x", "1", "1"], "expected 5 cells, got 4: ['2024-01-01', 'x', '1', '1']"),
    ],
)
def test_a_cell_that_does_not_parse_is_refused_with_its_field(row: list, message: str) -> None:
    good = ["2024-01-01", "x", "1", "1", "true"]
    body = answer([json.dumps(good), json.dumps(row)])

    fast, checked, _ = both_paths(converter, body)

    assert fast == checked
    assert fast == f"row 1: {message}"


#: A cell, as JSON text, and the value its record holds, for each type (None: null).
AGREED_CELLS = [
    ("int.number.value", "12", 12),
    ("int.number.value", '"12"', 12),
    ("int.number.value", "12.0", 12),
    ("int.number.value", '"12.0"', 12),
    ("int.number.value", "1e3", 1000),
    ("int.number.value", '" 12 "', 12),
    ("int.number.value", "-1", -1),
    ("int.number.value", "-2", -2),
    ("int.number.value", "9007199254740993", 2**53 + 1),
    ("int.number.value", '"9007199254740993"', 2**53 + 1),
    ("int.number.value", "123456789012345678901234567890", 123456789012345678901234567890),
    ("int.number.value", '""', None),
    ("int.number.value", "null", None),
    ("float.currency.value", "12", 12.0),
    ("float.currency.value", '"12"', 12.0),
    ("float.currency.value", "12.5", 12.5),
    ("float.currency.value", '"12.5"', 12.5),
    ("float.currency.value", '"1e3"', 1000.0),
    ("float.currency.value", "-1", -1.0),
    ("float.currency.value", "-2", -2.0),
    ("float.currency.value", '"-0"', 0.0),
    ("float.currency.value", "-0.0", -0.0),
    ("float.currency.value", '" 12 "', 12.0),
    ("float.currency.value", "9007199254740993", 9007199254740992.0),  # a float's precision
    ("float.currency.value", '""', None),
    ("float.currency.value", "null", None),
    ("bool.boolean.value", "true", True),
    ("bool.boolean.value", "false", False),
    ("bool.boolean.value", '"TRUE"', True),
    ("bool.boolean.value", '"0"', False),
    ("bool.boolean.value", '"-0"', False),
    ("bool.boolean.value", "1", True),
    ("bool.boolean.value", '"yes"', True),
    ("bool.boolean.value", '""', None),
    ("string.time.date", '"2024-02-29"', "2024-02-29"),
    ("string.time.date", '""', None),
    ("string.time.date", "null", None),
    ("string.time.datetime", '"2024-01-01T10:00:00Z"', "2024-01-01T10:00:00Z"),
    ("string.time.datetime", '""', None),
    ("string.text.value", '"12"', "12"),
    ("string.text.value", '"012"', "012"),
    ("string.text.value", '"-1"', "-1"),
    ("string.text.value", '"1e3"', "1e3"),
    ("string.text.value", '"nan"', "nan"),
    ("string.text.value", "12", "12"),
    ("string.text.value", "true", "true"),
    ("string.text.value", '""', ""),
    ("string.text.value", "null", None),
]

#: Cells each path refuses, with the same message.
REFUSED_CELLS = [
    ("int.number.value", '"12.5"', "'12.5' is not a valid integer"),
    ("int.number.value", "true", "True is not a valid integer"),
    ("float.currency.value", '"nan"', "'nan' is not a valid number"),
    ("float.currency.value", '"inf"', "'inf' is not a valid number"),
    ("float.currency.value", '"-Infinity"', "'-Infinity' is not a valid number"),
    ("float.currency.value", "1" + "0" * 400, f"{10**400} is not a valid number"),
    ("float.currency.value", "false", "False is not a valid number"),
    ("bool.boolean.value", "2", "2 is not a valid boolean"),
    ("bool.boolean.value", '"maybe"', "'maybe' is not a valid boolean"),
    ("string.time.date", '"2024-13-01"', "'2024-13-01' is not a valid date"),
    # fullwidth digits: `\d` would take them, a target would not
    ("string.time.date", '"\uff12\uff10\uff12\uff14-01-01"', "is not a valid date"),
    ("string.time.date", '"20240101"', "'20240101' is not a valid date"),
    ("string.time.date", "20240101", "20240101 is not a valid date"),
]


def cell_converter(data_type: str) -> Callable[[], RowConverter]:
    """Columns Date and Cell, both in the primary key: the cell is in every digest."""
    schemas = [json_type("string.time.date"), json_type(data_type)]
    return lambda: RowConverter(["Date", "Cell"], schemas, {}, ["Date", "Cell"], day_key="Date")


@pytest.mark.parametrize(("data_type", "cell", "expected"), AGREED_CELLS)
def test_both_paths_give_a_cell_the_same_value_and_digests(
    data_type: str, cell: str, expected: object
) -> None:
    body = answer([f'["2024-01-01", {cell}]', '["2024-01-02", null]'])

    fast, checked, _ = both_paths(cell_converter(data_type), body)
    converted = records(cell_converter(data_type)(), raw_rows(body))

    assert fast == checked  # records as emitted, key digests, row digests, days
    assert as_emitted(converted[0]["Cell"]) == as_emitted(expected)
    assert_valid(["Date", "Cell"], ["string.time.date", data_type], converted)


@pytest.mark.parametrize(("data_type", "cell", "message"), REFUSED_CELLS)
def test_both_paths_refuse_a_cell_alike(data_type: str, cell: str, message: str) -> None:
    body = answer(['["2024-01-01", null]', f'["2024-01-01", {cell}]'])

    fast, checked, _ = both_paths(cell_converter(data_type), body)

    assert fast == checked
    assert isinstance(fast, str)
    assert fast.startswith("row 1: field 'Cell': ")
    assert fast.endswith(message)


@pytest.mark.parametrize(
    ("data_type", "kind"),
    [("int.number.value", "integer"), ("float.currency.value", "number"), ("string", "string")],
)
def test_a_number_beyond_any_float_is_refused_by_name(data_type: str, kind: str) -> None:
    """1e400 has no Python value (msgspec refuses it, `json` would make it infinity)."""
    rows = raw_rows(answer(['["2024-01-01", 1]', '["2024-01-01", 1e400]']))

    with pytest.raises(
        ValueConversionError, match=r"^field 'Cell': 1e400 is not a valid "
    ) as error:
        cell_converter(data_type)().convert_page_digested(rows)

    assert str(error.value).endswith(kind)
    assert error.value.index == 1


@pytest.mark.parametrize(
    ("row", "checked"),
    [
        ('["2024-01-01", "a", 3, 1.5, true]', False),  # every cell of its type
        ('["2024-01-01", "a", "3", "1.5", "true"]', False),  # numbers, booleans as strings
        ('["2024-01-01", "a", 3.0, 2, "0"]', False),  # integral float, integer number
        ('["2024-01-01", "a", 3, "", true]', True),  # "" for a null number
        ('["2024-01-01", "", "", null, ""]', True),  # "" for a null integer and boolean
        ('["2024-01-01", "a", " 3 ", 1.5, true]', True),  # spaces around a number
        ('["2024-01-01", "a", 3, 1.5, "yes"]', True),  # a boolean msgspec does not know
        ('["2024-01-01", 7, 3, 1.5, true]', True),  # a number in a string column
        ('["2024-02-30", "a", 3, 1.5, true]', True),  # not a day: refused, by name
        ('["2024-01-01", "a", 3, 1.5]', True),  # a cell missing: refused
    ],
)
def test_a_page_falls_back_to_the_checked_path_only_for_cells_msgspec_does_not_take(
    row: str, *, checked: bool
) -> None:
    typed = '["2024-01-02", "b", 4, 2.5, false]'
    body = answer([typed, row])

    fast, slow, convert = both_paths(lambda: converter(["Date", "Name"]), body)

    assert convert.checked_pages == int(checked)
    assert fast == slow


def test_the_path_a_page_takes_does_not_change_its_other_rows() -> None:
    typed = [f'["2024-01-0{day}", "n{n}", {n}, {n}.5, true]' for day in (1, 2) for n in range(3)]
    odd = '["2024-01-03", "odd", "", "", ""]'
    alone = converter(["Date", "Name"])
    mixed = converter(["Date", "Name"])

    fast_records, fast_digests = alone.convert_page_digested(raw_rows(answer(typed)))
    mixed_records, mixed_digests = mixed.convert_page_digested(raw_rows(answer([*typed, odd])))

    assert (alone.checked_pages, mixed.checked_pages) == (0, 1)
    assert as_emitted(mixed_records[:-1]) == as_emitted(fast_records)
    assert [digest[:-1] for digest in mixed_digests] == list(fast_digests)


#: Cells per column type, as JSON text: typed ones, ones msgspec takes in lax mode,
#: and ones only the checked path takes ("" for null, spaces, numbers in text).
GENERATED_CELLS = {
    "string.time.date": ['"2024-01-01"', '"2024-02-29"', '"2023-12-31"', "null", '""'],
    "string.text.value": ['"a"', '"Été"', '"12"', '"1.0"', '""', "null", "12", "true"],
    "int.number.value": [
        *["0", "-1", "-2", "7", '"7"', "7.0", '"-2"', "9007199254740993"],
        *['"9007199254740993"', "null", '""', '" 3"'],
    ],
    "float.currency.value": [
        *["0", "-1", "-2", "12", "12.0", "0.1", '"12"', '"0.30"', "-0.0", '"-0"', "1e20"],
        *["9007199254740993", "null", '""', '" 1.5 "'],
    ],
    "bool.boolean.value": [
        *["true", "false", '"true"', '"FALSE"', '"1"', "0", "null", '""', '"yes"', '"no"'],
    ],
    "string.time.datetime": ['"2024-01-01T00:00:00Z"', '"2024-01-01 10:00:00"', "null", '""'],
}


def test_generated_pages_agree_on_both_paths_and_row_by_row() -> None:
    data_types = list(GENERATED_CELLS)
    columns = [f"c{n}" for n in range(len(data_types))]
    schemas = [json_type(t) for t in data_types]
    rng = random.Random(20240101)  # noqa: S311 - reproducible test data

    def make() -> RowConverter:
        return RowConverter(columns, schemas, {}, columns[:4], day_key="c0")

    def pick(cells: list[str]) -> list[str]:  # some pages draw typed cells only
        return rng.sample(cells, k=rng.randint(1, len(cells)))

    checked_pages = 0
    for size in [1, 2, 5, 40] * 25:
        pool = {data_type: pick(cells) for data_type, cells in GENERATED_CELLS.items()}
        rows = [f"[{', '.join(rng.choice(pool[t]) for t in data_types)}]" for _ in range(size)]
        fast, checked, convert = both_paths(make, answer(rows))
        checked_pages += convert.checked_pages

        assert fast == checked
        assert not isinstance(fast, str)  # no generated cell is refused
        for index, row in enumerate(rows):  # each row alone, on whichever path it takes
            alone = both_paths(make, answer([row]))[0]
            assert not isinstance(alone, str)
            assert alone[0] == [fast[0][index]]
            assert [column[0] for column in alone[1]] == [column[index] for column in fast[1]]
    assert 0 < checked_pages < 100  # both paths were taken


def keyed_converter(primary_key: list[str]) -> RowConverter:
    columns = ["Date", "Name", "Clicks", "Cost", "Active"]
    types = ["string.time.date", "string.text.value", "int.number.value"]
    types += ["float.currency.value", "bool.boolean.value"]
    schemas = [json_type(t) for t in types]
    return RowConverter(columns, schemas, {"_stamp": "s"}, primary_key, day_key="Date")


@pytest.mark.parametrize("primary_key", [["Date", "Name"], ["Date", "Clicks"], []])
def test_both_paths_give_a_row_the_same_digests(primary_key: list[str]) -> None:
    rows = [
        ["2024-01-01", "a", 3, 1.5, True],
        ["2024-01-01", "b", -1, 2.0, False],
        ["2024-01-02", "a", -2, None, None],
    ]
    raw = [msgspec.Raw(msgspec.json.encode(row)) for row in rows]
    fast, fast_digests = keyed_converter(primary_key).convert_page_digested(raw)
    checked, checked_digests = keyed_converter(primary_key).convert_page_digested(rows)

    assert fast == checked
    assert fast_digests == checked_digests
    assert len(set(fast_digests.rows)) == len(rows)
    if primary_key:
        assert len(set(fast_digests.keys)) == len(rows)  # -1 and -2 apart: keys are exact
        assert fast_digests.days == ["2024-01-01", "2024-01-01", "2024-01-02"]
    else:
        assert fast_digests.keys == []


@pytest.mark.parametrize(
    ("data_type", "one", "other"),
    [
        ("int.number.value", -1, -2),
        ("float.number.value", 0.1 + 0.2, 0.3),
        ("string.text.value", None, "null"),
        ("string.text.value", "1", "1.0"),
    ],
    ids=["python-hash-equal", "float-bits", "null-str", "str"],
)
def test_key_digests_tell_apart_values_a_target_tells_apart(
    data_type: str, one: object, other: object
) -> None:
    schemas = [json_type("string.time.date"), json_type(data_type)]
    convert = RowConverter(["Date", "Id"], schemas, {}, ["Date", "Id"]).convert_page_digested
    rows = [["2024-01-01", one], ["2024-01-01", other]]
    raw = [msgspec.Raw(msgspec.json.encode(row)) for row in rows]

    for page in (rows, raw):  # the checked path, the fast path
        keys = convert(page)[1].keys
        assert keys[0] != keys[1]


def test_digests_fit_their_width_and_key_digests_ignore_other_fields() -> None:
    rows = [["2024-01-01", "Mobile", n % 2] for n in range(2000)]
    schemas = [json_type(t) for t in ("string.time.date", "string.text.value")]
    schemas.append(json_type("int.number.value"))
    columns = ["Date", "Device", "Clicks"]
    keyed = RowConverter(columns, schemas, {}, ["Date", "Device"], day_key="Date")
    unkeyed = RowConverter(columns, schemas, {})

    keys, digests, days = keyed.convert_page_digested(rows)[1]
    _, whole_rows, no_days = unkeyed.convert_page_digested(rows)[1]

    assert len(set(keys)) == 1  # one Date and Device: one key, whatever the clicks
    assert len(set(digests)) == 2
    assert all(0 <= d < 1 << ROW_BITS for d in digests)
    assert all(0 <= d < 1 << KEY_BITS for d in keys + whole_rows)
    assert set(days) == {"2024-01-01"}
    assert no_days == []


def test_a_primary_key_outside_the_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="Missing"):
        keyed_converter(["Date", "Missing"])


def test_field_ids_with_quotes_are_safe_keys() -> None:
    odd = RowConverter(['it\'s "odd"', "x\ny"], [json_type("int"), json_type("string")])
    assert records(odd, [["1", "a"]]) == [{'it\'s "odd"': 1, "x\ny": "a"}]


# Field lists from /query/fields ---------------------------------------------------

FIELD_LIST = [
    {
        "@type": "ds_dimension",
        "field_id": "CampaignName",
        "field_name": "Campaign name",
        "field_type": "dim",
        "data_type": "string.text.value",
        "description": "The name of the campaign.",
        "group_name": "Campaign",
        "is_filterable": True,
    },
    {
        "@type": "ds_metric",
        "field_id": "Clicks",
        "field_name": "Clicks",
        "data_type": "int.number.value",
        "description": "",
    },
    {"@type": "ds_metric", "field_name": "no id, skipped"},
    "not an object",
]


def test_a_field_list_gives_types_titles_and_descriptions() -> None:
    fields = read_field_list([msgspec.Raw(json.dumps(item).encode()) for item in FIELD_LIST])

    assert list(fields) == ["CampaignName", "Clicks"]
    assert fields["Clicks"].field_type == "met"  # from @type when field_type is missing
    assert record_schema(list(fields.values()))["properties"] == {
        "CampaignName": {
            "type": ["string", "null"],
            "title": "Campaign name",
            "description": "The name of the campaign.",
        },
        "Clicks": {"type": ["integer", "null"], "title": "Clicks"},  # empty text: left out
    }
    assert read_field_list(FIELD_LIST) == fields  # decoded entries work the same
    assert read_field_list(None) == {}


def test_cached_form_keeps_the_description_only_when_there_is_one() -> None:
    described = FieldSpec("Cost", "Cost", "met", "float.currency.value", "Spend.")
    probed = FieldSpec("Cost", "Cost", "met", "float.currency.value")

    assert FieldSpec(**described.to_dict()) == described
    assert "description" not in probed.to_dict()
    assert "description" not in probed.schema


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Campaignnme", ["CampaignName"]),
        ("campaignname", ["CampaignName"]),  # ids are case-sensitive; suggested in their case
        ("clicks", ["Clicks"]),
        ("Xyzzy", []),
    ],
)
def test_an_unknown_field_id_gets_the_closest_known_ones(typed: str, expected: list[str]) -> None:
    known = ["Date", "CampaignName", "CampaignStartTime", "Clicks", "Cost", "CTR"]
    assert suggestions(typed, known)[: len(expected) or None] == expected


def test_unknown_fields_are_named_with_the_stream_in_one_line() -> None:
    definition = QueryDefinition(
        name="ads",
        ds_id="AW",
        fields=("Date", "Campaignnme", "Xyzzy"),
        ds_accounts=None,
        date_field="Date",
        primary_keys=None,
    )
    known = {
        field_id: FieldSpec(field_id, field_id, "dim", "string")
        for field_id in ("Date", "CampaignName")
    }

    message = unknown_fields_message(definition, known)

    assert message is not None
    assert "\n" not in message
    assert message.startswith("stream 'ads': unknown field id(s) for data source 'AW': ")
    assert "'Campaignnme' (did you mean 'CampaignName'?)" in message
    assert "'Xyzzy' (no similar field id)" in message
    assert (
        unknown_fields_message(
            definition, {**known, "Campaignnme": known["Date"], "Xyzzy": known["Date"]}
        )
        is None
    )


# Declared types against an answer's types -----------------------------------------

DECLARED = {
    "Date": {"type": ["string", "null"], "format": "date", "title": "Date"},
    "Clicks": {"type": ["integer", "null"]},
    "Cost": {"type": ["null", "number"], "description": "Spend."},
}


def test_types_that_agree_give_no_message() -> None:
    meta = [
        {"field_id": "Date", "data_type": "string.time.date"},
        {"id": "Clicks", "data_type": "int"},  # legacy name, `id` for field_id
        {"field_id": "Cost", "data_type": "float.currency.value"},
        {"field_id": "NotDeclared", "data_type": "bool.boolean.value"},
        {"field_id": "Clicks"},  # no data_type: nothing to compare
    ]
    assert type_disagreements(DECLARED, meta) == []


def test_a_changed_type_is_reported_and_the_declared_type_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    meta = [
        {"field_id": "Date", "data_type": "string.time.datetime"},
        {"field_id": "Clicks", "data_type": "float.number.value"},
        {"field_id": "Cost", "data_type": "geo.point.value"},  # unknown: string, no warning
    ]

    with caplog.at_level(logging.WARNING):
        messages = type_disagreements(DECLARED, meta)

    template = (
        "field {!r}: the API now answers data_type {!r} ({}), the declared schema says {}; "
        "keeping {} for this run (a target cannot change a column's type)"
    )
    assert messages == [
        template.format("Date", "string.time.datetime", "string:date-time", *["string:date"] * 2),
        template.format("Clicks", "float.number.value", "number", "integer", "integer"),
        template.format("Cost", "geo.point.value", "string", "number", "number"),
    ]
    assert caplog.text == ""  # pure: the caller logs


# Schema cache paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    "ds_id", ["../../x", "AW/../../../etc", "/etc/passwd", "..", "a\\b", "", "x" * 300]
)
def test_cache_files_stay_inside_the_cache_directory(tmp_path: Path, ds_id: str) -> None:
    directory = tmp_path / "cache" / "inner"
    cache = SchemaCache(directory, "https://api.example.com/enterprise/v2")
    definition = QueryDefinition(ds_id, ds_id, ("Date",), None, "Date", None)
    spec = FieldSpec("Date", "Date", "dim", "string.time.date", "Day.")

    cache.save(definition, [spec])
    cache.save_source(ds_id, [spec])

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(written) == 2
    assert all(path.parent == directory for path in written)
    assert cache.load(definition) == [spec]
    assert cache.load_source(ds_id) == {"Date": spec}


def test_a_cache_entry_that_links_outside_is_neither_read_nor_written(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"format": SOURCE_FORMAT, "ds_id": "AW", "fields": []}))
    cache = SchemaCache(directory, "https://api.example.com/enterprise/v2")
    cache.source_path("AW").symlink_to(outside)

    assert cache.load_source("AW") is None
    cache.save_source("AW", [FieldSpec("Date", "Date", "dim", "string.time.date")])

    assert json.loads(outside.read_text())["fields"] == []


def test_distinct_data_sources_never_share_a_cache_file(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path, "https://api.example.com/enterprise/v2")
    assert cache.source_path("A/B") != cache.source_path("A_B")
    other_host = SchemaCache(tmp_path, "https://other.example.com/enterprise/v2")
    assert cache.source_path("AW") != other_host.source_path("AW")

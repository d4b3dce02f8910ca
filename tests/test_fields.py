"""Type mapping and value conversion: what a user sees in the warehouse's column types."""

from __future__ import annotations

import logging

import pytest

from tap_supermetrics.fields import RowConverter, ValueConversionError, json_type


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


def converter() -> RowConverter:
    return RowConverter(
        ["Date", "Name", "Clicks", "Cost", "Active"],
        [
            json_type(t)
            for t in (
                "string.time.date",
                "string.text.value",
                "int.number.value",
                "float.currency.value",
                "bool.boolean.value",
            )
        ],
    )


def test_cells_are_converted_once_to_their_schema_types() -> None:
    convert = converter().convert
    assert convert(["2024-01-01", "Été", "12", "3.50", "true"]) == {
        "Date": "2024-01-01",
        "Name": "Été",
        "Clicks": 12,
        "Cost": 3.5,
        "Active": True,
    }
    assert convert(["2024-01-01", "", 12.0, 3, False]) == {
        "Date": "2024-01-01",
        "Name": "",
        "Clicks": 12,
        "Cost": 3,
        "Active": False,
    }
    assert convert(["2024-01-01", None, "", None, ""]) == {
        "Date": "2024-01-01",
        "Name": None,
        "Clicks": None,
        "Cost": None,
        "Active": None,
    }


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["2024-01-01", "x", "1.5", "1", "true"], "field 'Clicks': '1.5' is not a valid integer"),
        (["2024-01-01", "x", "1", "abc", "true"], "field 'Cost': 'abc' is not a valid number"),
        (["2024-01-01", "x", "1", "nan", "true"], "field 'Cost': 'nan' is not a valid number"),
        (["2024-01-01", "x", "1", "1", "maybe"], "field 'Active': 'maybe' is not a valid boolean"),
        (["01/02/2024", "x", "1", "1", "true"], "field 'Date': '01/02/2024' is not a valid date"),
        (["2024-01-01", "x", "1", "1"], "expected 5 cells, got 4"),
    ],
)
def test_a_cell_that_does_not_parse_is_refused_with_its_field(row: list, message: str) -> None:
    with pytest.raises(ValueConversionError, match=message.replace("(", r"\(")):
        converter().convert(row)


def test_field_ids_with_quotes_are_safe_keys() -> None:
    odd = RowConverter(['it\'s "odd"', "x\ny"], [json_type("int"), json_type("string")])
    assert odd.convert(["1", "a"]) == {'it\'s "odd"': 1, "x\ny": "a"}

"""Type mapping and value conversion: what a user sees in the warehouse's column types."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import msgspec
import pytest

from tap_supermetrics.config import QueryDefinition
from tap_supermetrics.field_catalog import (
    read_field_list,
    suggestions,
    type_disagreements,
    unknown_fields_message,
)
from tap_supermetrics.fields import (
    FieldSpec,
    RowConverter,
    ValueConversionError,
    json_type,
    record_schema,
)
from tap_supermetrics.row_memory import KEY_BITS, ROW_BITS
from tap_supermetrics.schema_cache import SchemaCache


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
    assert odd.convert(["1", "a"]) == {'it\'s "odd"': 1, "x\ny": "a"}


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
    outside.write_text(json.dumps({"format": 2, "ds_id": "AW", "fields": []}))
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

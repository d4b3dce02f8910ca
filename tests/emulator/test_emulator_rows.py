"""Rows over real HTTP: sums over accounts, renamed values and dropped rows, all lazy."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from supermetrics_emulator import EmulatorServer
from supermetrics_emulator.dropped import Skips, matching_indexes
from tests.conftest import expected_rows
from tests.emulator.test_emulator import call, wait_done

ACCOUNTS = ["111-111-1111", "222-222-2222", "333-333-3333"]
DIMENSIONS = ["Date", "CampaignName"]
METRICS = ["Impressions", "Clicks", "Cost", "CTR", "Conversions", "VideoViews"]


def read(emulator: EmulatorServer, **query: Any) -> dict[str, Any]:
    """Submit an AW query, wait for it, and return its first page."""
    params = {
        "ds_id": "AW",
        "ds_accounts": ACCOUNTS,
        "start_date": "2024-01-01",
        "end_date": "2024-01-10",
        **query,
    }
    submitted = call(emulator, "data/json", params)
    assert submitted.status_code == 200, submitted.text
    page = {k: params[k] for k in ("offset_start", "offset_end") if k in params}
    return wait_done(emulator, submitted.json()["meta"]["schedule_id"], **page)


def records(body: dict[str, Any], fields: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(fields, row, strict=True)) for row in body["data"][1:]]


def cents(value: float) -> int:
    """An amount in hundredths: exact for every value the emulator serves."""
    return round(value * 100)


# Sums over accounts ------------------------------------------------------------


def test_without_the_account_field_metrics_are_summed_over_the_accounts(
    emulator: EmulatorServer,
) -> None:
    per_account = records(
        read(emulator, fields=[*DIMENSIONS, "profileID", *METRICS]),
        [*DIMENSIONS, "profileID", *METRICS],
    )
    summed = records(read(emulator, fields=[*DIMENSIONS, *METRICS]), [*DIMENSIONS, *METRICS])

    assert len(summed) * 3 == len(per_account) == 10 * 12 * 3
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in per_account:
        groups.setdefault((row["Date"], row["CampaignName"]), []).append(row)
    saw_partial_null = False
    for row in summed:
        parts = groups[row["Date"], row["CampaignName"]]
        assert [part["profileID"] for part in parts] == ACCOUNTS
        assert row["Impressions"] == sum(part["Impressions"] for part in parts)
        assert row["VideoViews"] == sum(part["VideoViews"] for part in parts)
        assert cents(row["Cost"]) == sum(cents(part["Cost"]) for part in parts)  # exactly
        # A ratio is recomputed from the sums (in hundredths, rounded half up), not averaged.
        clicks, impressions = row["Clicks"], row["Impressions"]
        assert clicks == sum(part["Clicks"] for part in parts)
        assert row["CTR"] == (20_000 * clicks + impressions) // (2 * impressions) / 100
        conversions = [part["Conversions"] for part in parts if part["Conversions"] is not None]
        if not conversions:
            assert row["Conversions"] is None
        else:
            saw_partial_null |= len(conversions) < 3
            assert cents(row["Conversions"]) == sum(cents(value) for value in conversions)
    assert saw_partial_null  # a null that counts as 0 next to other accounts' values


def test_a_sum_of_several_accounts_never_grows_float_noise(emulator: EmulatorServer) -> None:
    summed = records(read(emulator, fields=["Date", "Cost"]), ["Date", "Cost"])
    assert all(row["Cost"] == round(row["Cost"], 2) for row in summed)


def test_one_account_without_the_account_field_has_that_accounts_values(
    emulator: EmulatorServer,
) -> None:
    fields = [*DIMENSIONS, "Device", *METRICS]
    with_field = records(
        read(emulator, fields=["profileID", *fields], ds_accounts=["222-222-2222"]),
        ["profileID", *fields],
    )
    without = records(read(emulator, fields=fields, ds_accounts=["222-222-2222"]), fields)

    assert [{k: v for k, v in row.items() if k != "profileID"} for row in with_field] == without


def test_a_metric_value_does_not_depend_on_the_other_columns(emulator: EmulatorServer) -> None:
    wide = records(
        read(emulator, fields=["Device", "Date", "Clicks", "Cost"], ds_accounts=["111-111-1111"]),
        ["Device", "Date", "Clicks", "Cost"],
    )
    narrow = records(
        read(emulator, fields=["Date", "Device", "Cost"], ds_accounts=["111-111-1111"]),
        ["Date", "Device", "Cost"],
    )
    assert {(r["Date"], r["Device"]): r["Cost"] for r in wide} == {
        (r["Date"], r["Device"]): r["Cost"] for r in narrow
    }


def test_summed_results_stay_lazy_and_deterministic(emulator: EmulatorServer) -> None:
    emulator.configure(max_result_rows=0, row_parameter_bound=0)  # past the API's caps
    started = time.monotonic()
    query = {
        "fields": ["Date", "Keyword", "Device", "CampaignName", "Clicks", "Conversions"],
        "start_date": "2020-01-01",
        "end_date": "2020-05-19",
        "offset_start": 4_999_990,
        "offset_end": 5_000_009,
    }
    first = read(emulator, **query)
    again = read(emulator, **query)

    assert first["meta"]["result"]["total_rows"] == 140 * 1000 * 3 * 12
    assert first["data"] == again["data"]
    assert len(first["data"]) == 21
    assert time.monotonic() - started < 5


def test_expected_rows_match_what_is_served_for_summed_queries(emulator: EmulatorServer) -> None:
    fields = ["Date", "Device", *METRICS]
    served = records(read(emulator, fields=fields), fields)
    assert served == expected_rows(emulator, "AW", fields, "2024-01-01", "2024-01-10", ACCOUNTS)


# Renamed values ----------------------------------------------------------------

RENAME = {"ds_id": "AW", "field": "CampaignName", "from": "Brand #0", "to": "Brand #0 (2024)"}


def test_a_rename_reports_every_day_under_the_new_name_with_the_same_metrics(
    emulator: EmulatorServer,
) -> None:
    fields = ["Date", "CampaignName", "Device", "Clicks", "Cost"]
    before = records(read(emulator, fields=fields), fields)
    emulator.configure(renames=[RENAME])
    after = records(read(emulator, fields=fields), fields)

    assert len(after) == len(before)
    renamed = [row for row in after if row["CampaignName"] == "Brand #0 (2024)"]
    assert len(renamed) == 10 * 3  # every day, the past ones too
    assert not any(row["CampaignName"] == "Brand #0" for row in after)
    for old, new in zip(before, after, strict=True):
        if old["CampaignName"] == "Brand #0":
            assert new == {**old, "CampaignName": "Brand #0 (2024)"}
        else:
            assert new == old
    assert after == expected_rows(emulator, "AW", fields, "2024-01-01", "2024-01-10", ACCOUNTS)


def test_renames_chain_and_reach_accounts_and_other_data_sources_only_when_named(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(
        renames=[
            RENAME,
            {**RENAME, "from": "Brand #0 (2024)", "to": "Brand #0 (final)"},
            {"ds_id": "AW", "field": "profile", "from": "Acme Shoes FI", "to": "Acme Finland"},
            {"ds_id": "GAWA", "field": "Country", "from": "", "to": "(not set)"},
        ]
    )
    ads = read(
        emulator,
        fields=["profileID", "profile", "CampaignName", "Clicks"],
        ds_accounts=ACCOUNTS[:1],
    )
    ga = read(
        emulator, ds_id="GAWA", ds_accounts=["properties/1001"], fields=["Country", "Sessions"]
    )

    assert {(row[0], row[1]) for row in ads["data"][1:]} == {("111-111-1111", "Acme Finland")}
    assert ads["data"][1][2] == "Brand #0 (final)"
    assert "(not set)" in {row[0] for row in ga["data"][1:]}
    assert "" not in {row[0] for row in ga["data"][1:]}


def test_a_query_keeps_the_values_in_force_when_it_was_submitted(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(run_seconds=0.3)
    query = {
        "ds_id": "AW",
        "ds_accounts": ACCOUNTS[:1],
        "fields": ["Date", "CampaignName", "Clicks"],
        "start_date": "2024-01-05",
        "end_date": "2024-01-05",
    }
    early = call(emulator, "data/json", query).json()["meta"]["schedule_id"]
    emulator.configure(
        renames=[RENAME],
        dropped_rows=[{"ds_id": "AW", "match": {"CampaignName": "Generic #2"}}],
    )
    late = call(emulator, "data/json", query).json()["meta"]["schedule_id"]

    early_names = [row[1] for row in wait_done(emulator, early)["data"][1:]]
    late_names = [row[1] for row in wait_done(emulator, late)["data"][1:]]
    assert "Brand #0" in early_names
    assert "Generic #2" in early_names
    assert len(early_names) == 12
    assert "Brand #0 (2024)" in late_names
    assert "Generic #2" not in late_names
    assert len(late_names) == 11


# Dropped rows ------------------------------------------------------------------

DROP = {"ds_id": "AW", "match": {"Date": "2024-01-05", "CampaignName": "Generic #2"}}


def test_dropped_rows_are_gone_and_totals_and_pages_shrink(emulator: EmulatorServer) -> None:
    fields = ["Date", "CampaignName", "Device", "Clicks"]
    before = records(read(emulator, fields=fields), fields)
    emulator.configure(dropped_rows=[DROP])
    body = read(emulator, fields=fields)
    after = records(body, fields)

    gone = [r for r in before if (r["Date"], r["CampaignName"]) == ("2024-01-05", "Generic #2")]
    assert len(gone) == 3
    assert after == [row for row in before if row not in gone]
    assert body["meta"]["result"]["total_rows"] == len(before) - 3
    pages = [
        row
        for first in range(0, len(after), 7)
        for row in read(emulator, fields=fields, offset_start=first, offset_end=first + 6)["data"][
            1:
        ]
    ]
    assert pages == [list(row.values()) for row in after]
    assert after == expected_rows(emulator, "AW", fields, "2024-01-01", "2024-01-10", ACCOUNTS)


def test_drop_rules_match_renamed_values_attributes_and_accounts(emulator: EmulatorServer) -> None:
    emulator.configure(
        renames=[RENAME],
        dropped_rows=[
            {"ds_id": "AW", "match": {"CampaignName": "Brand #0 (2024)"}},
            {"ds_id": "AW", "match": {"CampaignIsActive": False, "Device": "Tablet"}},
            {"ds_id": "AW", "match": {"profileID": "333-333-3333", "Date": "2024-01-02"}},
        ],
    )
    fields = ["Date", "profileID", "CampaignName", "CampaignIsActive", "Device", "Clicks"]
    rows = records(read(emulator, fields=fields), fields)

    assert not any(row["CampaignName"].startswith("Brand #0") for row in rows)
    assert not any(row["Device"] == "Tablet" and not row["CampaignIsActive"] for row in rows)
    assert not any(
        (row["profileID"], row["Date"]) == ("333-333-3333", "2024-01-02") for row in rows
    )
    dropped_campaign = 10 * 3 * 3
    inactive_tablets = 10 * 3 * (4 - 1)  # campaigns 0, 3, 6, 9 are inactive; #0 already gone
    account_day = 11 * 3 - 3  # that account's day, less what the rules above took
    assert len(rows) == 10 * 3 * 12 * 3 - dropped_campaign - inactive_tablets - account_day


def test_totals_keep_a_campaign_day_that_answers_split_by_campaign_drop(
    emulator: EmulatorServer,
) -> None:
    # The way to make totals not reconcile (docs/emulator-arithmetic.md): the rule needs
    # Date and CampaignName, which a totals query (Date, account, metrics) does not hold.
    split_fields = ["Date", "profileID", "CampaignName", "Clicks", "Cost"]
    totals_fields = ["Date", "profileID", "Clicks", "Cost"]
    whole = records(read(emulator, fields=split_fields), split_fields)
    totals_before = records(read(emulator, fields=totals_fields), totals_fields)
    emulator.configure(dropped_rows=[DROP])
    split = records(read(emulator, fields=split_fields), split_fields)
    totals = records(read(emulator, fields=totals_fields), totals_fields)

    assert totals == totals_before
    sums: dict[tuple[str, str], list[int]] = {}
    for row in split:
        amounts = sums.setdefault((row["Date"], row["profileID"]), [0, 0])
        amounts[0] += row["Clicks"]
        amounts[1] += cents(row["Cost"])
    gone = {
        (row["Date"], row["profileID"]): [row["Clicks"], cents(row["Cost"])]
        for row in whole
        if (row["Date"], row["CampaignName"]) == ("2024-01-05", "Generic #2")
    }
    assert len(gone) == len(ACCOUNTS)
    for row in totals:
        key = (row["Date"], row["profileID"])
        missing = gone.get(key, [0, 0])
        assert sums[key] == [row["Clicks"] - missing[0], cents(row["Cost"]) - missing[1]]
    assert len(totals) == 10 * len(ACCOUNTS)


def test_a_drop_rule_only_applies_to_queries_that_hold_its_fields(
    emulator: EmulatorServer,
) -> None:
    emulator.configure(dropped_rows=[DROP])
    without_date = read(emulator, fields=["CampaignName", "Clicks"])
    other_source = read(
        emulator, ds_id="GAWA", ds_accounts=["properties/1001"], fields=["Date", "Sessions"]
    )
    assert without_date["meta"]["result"]["total_rows"] == 12
    assert other_source["meta"]["result"]["total_rows"] == 10


def test_dropped_rows_in_a_huge_result_stay_lazy(emulator: EmulatorServer) -> None:
    emulator.configure(
        max_result_rows=0,  # a 5,004,000-row result, past the API's caps
        row_parameter_bound=0,
        dropped_rows=[
            {"ds_id": "AW", "match": {"Date": "2020-01-01"}},
            {"ds_id": "AW", "match": {"Date": "2020-05-19", "Keyword": "kw 0999 shoes"}},
        ],
    )
    started = time.monotonic()
    fields = ["Date", "Keyword", "Device", "CampaignName", "Clicks"]
    body = read(
        emulator,
        fields=fields,
        ds_accounts=ACCOUNTS[:1],
        start_date="2020-01-01",
        end_date="2020-05-19",
        offset_start=5_003_960,
        offset_end=5_004_100,
    )

    total = 140 * 1000 * 3 * 12 - 1000 * 3 * 12 - 3 * 12
    assert body["meta"]["result"]["total_rows"] == total
    tail = body["data"][1:]
    assert len(tail) == total - 5_003_960
    assert tail[0][0] == "2020-05-19"
    assert tail[-1][1] == "kw 0998 shoes"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "settings",
    [
        {"renames": [{"ds_id": "AW", "field": "Clicks", "from": 1, "to": 2}]},
        {"renames": [{"ds_id": "AW", "field": "Date", "from": "2024-01-01", "to": "x"}]},
        {"renames": [{"ds_id": "XX", "field": "CampaignName", "from": "a", "to": "b"}]},
        {"renames": [{"ds_id": "AW", "field": "CampaignName", "from": "a"}]},
        {"renames": [{**RENAME, "to": ["b"]}]},
        {"dropped_rows": [{"ds_id": "AW", "match": {}}]},
        {"dropped_rows": [{"ds_id": "AW", "match": {"Nope": 1}}]},
        {"dropped_rows": [{"ds_id": "AW", "match": {"Date": "2024-01-01"}, "extra": 1}]},
        {"dropped_rows": {"ds_id": "AW"}},
    ],
)
def test_malformed_upstream_changes_are_refused(
    emulator: EmulatorServer, settings: dict[str, Any]
) -> None:
    response = requests.post(f"{emulator.root_url}/_emulator/settings", json=settings, timeout=5)
    assert response.status_code == 400
    assert next(iter(settings)) in response.json()["error"]
    assert emulator.emulator.settings.renames == []
    assert emulator.emulator.settings.dropped_rows == []


# The renumbering around dropped rows, on its own --------------------------------


def test_skips_renumber_visible_rows_around_dropped_ones() -> None:
    skips = Skips([2, 3, 7, 3])
    visible = [n for n in range(12) if n not in {2, 3, 7}]

    assert len(skips) == 3
    assert [skips.natural(v) for v in range(len(visible))] == visible
    for first in range(len(visible)):
        for count in range(len(visible) - first + 1):
            runs = list(skips.runs(first, count))
            assert [n for start, size in runs for n in range(start, start + size)] == visible[
                first : first + count
            ]


def test_matching_indexes_enumerate_the_allowed_positions() -> None:
    sizes = [2, 3, 4]
    allowed: list[set[int] | None] = [None, {1}, {0, 3}]
    expected = [
        a * 12 + b * 4 + c
        for a in range(2)
        for b in range(3)
        for c in range(4)
        if b == 1 and c in {0, 3}
    ]
    assert sorted(matching_indexes(sizes, allowed)) == expected

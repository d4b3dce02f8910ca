"""The data sources the emulator serves, with fields of every data type we know.

Field metadata follows the shape of the official client's models (`field_id`,
`field_name`, `field_type` dim/met, dotted `data_type`). Dimension values come from
fixed lists so that rows are reproducible; unicode, empty strings and nulls are in
there on purpose, because real marketing data has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATE = "string.time.date"
DATETIME = "string.time.datetime"
TEXT = "string.text.value"
INT = "int.number.value"
FLOAT = "float.number.value"
PERCENT = "float.percent.value"
CURRENCY = "float.currency.value"
BOOL = "bool.boolean.value"


@dataclass(frozen=True)
class Field:
    """One field a data source offers.

    `values` enumerates a dimension. `attribute_of` names the dimension this one
    describes (a campaign's start time belongs to the campaign): such a field adds no
    rows of its own, it is looked up from its parent's value index.
    """

    field_id: str
    field_name: str
    field_type: str  # "dim" or "met"
    data_type: str
    values: tuple[object, ...] = ()
    attribute_of: str | None = None
    is_date: bool = False
    is_account: bool = False


@dataclass(frozen=True)
class DataSource:
    """A data source (`ds_id`) with its fields and the accounts a key may read."""

    ds_id: str
    name: str
    accounts: tuple[str, ...]
    fields: dict[str, Field] = field(default_factory=dict)


def _campaign_names(count: int) -> tuple[str, ...]:
    stems = ("Brand", "Été — Soldes ☀", "Generic", "日本語キャンペーン", "Retargeting", "")
    return tuple(f"{stems[i % len(stems)]} #{i}".strip() for i in range(count))


_CAMPAIGNS = _campaign_names(12)
_KEYWORDS = tuple(f"kw {i:04d} {'naïve café' if i % 7 == 0 else 'shoes'}" for i in range(1000))
_COUNTRIES = ("Finland", "Côte d'Ivoire", "日本", "United States", "", "Ελλάδα")
_PAGES = tuple(f"/p/{i:04d}{'/ü' if i % 11 == 0 else ''}" for i in range(1000))


def _fields(*items: Field) -> dict[str, Field]:
    return {item.field_id: item for item in items}


GOOGLE_ADS = DataSource(
    ds_id="AW",
    name="Google Ads",
    accounts=("111-111-1111", "222-222-2222", "333-333-3333"),
    fields=_fields(
        Field("Date", "Date", "dim", DATE, is_date=True),
        Field("profile", "Account name", "dim", TEXT, is_account=True),
        Field("CampaignName", "Campaign name", "dim", TEXT, values=_CAMPAIGNS),
        Field(
            "CampaignStartTime",
            "Campaign start time",
            "dim",
            DATETIME,
            values=tuple(f"2023-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00Z" for i in range(12)),
            attribute_of="CampaignName",
        ),
        Field(
            "CampaignIsActive",
            "Campaign is active",
            "dim",
            BOOL,
            values=tuple(i % 3 != 0 for i in range(12)),
            attribute_of="CampaignName",
        ),
        Field("Device", "Device", "dim", TEXT, values=("Desktop", "Mobile", "Tablet")),
        Field("Keyword", "Keyword", "dim", TEXT, values=_KEYWORDS),
        Field("Impressions", "Impressions", "met", INT),
        Field("Clicks", "Clicks", "met", INT),
        Field("Cost", "Cost", "met", CURRENCY),
        Field("CTR", "CTR", "met", PERCENT),
        Field("Conversions", "Conversions", "met", FLOAT),
        Field("ConversionRate", "Conversion rate", "met", PERCENT),
        Field("VideoViews", "Video views", "met", INT),
        Field("AverageCpc", "Avg. CPC", "met", CURRENCY),
    ),
)

GA4 = DataSource(
    ds_id="GAWA",
    name="Google Analytics 4",
    accounts=("properties/1001", "properties/1002"),
    fields=_fields(
        Field("Date", "Date", "dim", DATE, is_date=True),
        Field("property", "Property", "dim", TEXT, is_account=True),
        Field("Country", "Country", "dim", TEXT, values=_COUNTRIES),
        Field("DeviceCategory", "Device category", "dim", TEXT, values=("desktop", "mobile")),
        Field("PagePath", "Page path", "dim", TEXT, values=_PAGES),
        Field("Sessions", "Sessions", "met", INT),
        Field("Users", "Total users", "met", INT),
        Field("BounceRate", "Bounce rate", "met", PERCENT),
        Field("EngagementDuration", "User engagement duration", "met", FLOAT),
        Field("Conversions", "Conversions", "met", FLOAT),
        Field("Revenue", "Total revenue", "met", CURRENCY),
    ),
)

DATA_SOURCES: dict[str, DataSource] = {source.ds_id: source for source in (GOOGLE_ADS, GA4)}

"""The data sources the emulator serves, with fields of every data type we know.

Field metadata follows the shape of the official client's models (`field_id`,
`field_name`, `field_type` dim/met, dotted `data_type`) and of `/query/fields`
(`description`, `group_name`, `is_filterable`, and `is_non_aggregatable` on ratios).
Dimension values come from fixed lists so that rows are reproducible; unicode, empty
strings and nulls are in there on purpose, because real marketing data has them.

Metrics come in two kinds (docs/emulator-arithmetic.md "Metrics"): additive ones (counts,
money, fractional amounts), which sum over any dimension left out of a query, and ratios
(`ratio_of`), which are recomputed from a row's own additive values and never summed. An
additive metric with `parts` is their sum in every row (impressions are the clicked ones
plus the others), so that a ratio of a part to its whole stays at most 100%.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATE = "string.time.date"
DATETIME = "string.time.datetime"
MONTH = "string.time.month"
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
    rows of its own, it is looked up from its parent's value index. An attribute of
    the account field (`is_account`, which holds account ids) reports the account's
    name, as `/query/accounts` lists it. `description`, `group_name` and
    `is_filterable` are what `/query/fields` tells a client.

    A metric is additive unless `ratio_of` names its numerator and denominator (additive
    metrics of the same data source, a hidden one allowed): such a ratio is recomputed per
    row and `/query/fields` marks it `is_non_aggregatable`. An additive metric with
    `parts` is the sum of those metrics (of its own data type, hidden ones allowed).
    """

    field_id: str
    field_name: str
    field_type: str  # "dim" or "met"
    data_type: str
    values: tuple[object, ...] = ()
    attribute_of: str | None = None
    is_date: bool = False
    is_account: bool = False
    description: str = ""
    group_name: str = ""
    is_filterable: bool = True
    ratio_of: tuple[str, str] | None = None
    parts: tuple[str, ...] = ()

    @property
    def is_weighted(self) -> bool:
        """Whether rows split by this dimension share a metric out by weights.

        Every enumerated dimension does: the date and the account have their own rules
        and an attribute rides on its parent.
        """
        return (
            self.field_type == "dim"
            and not (self.is_date or self.is_account)
            and self.attribute_of is None
        )


@dataclass(frozen=True)
class Account:
    """One account a login can read, as `/query/accounts` lists it."""

    account_id: str
    account_name: str
    group_name: str = ""


@dataclass(frozen=True)
class DataSource:
    """A data source (`ds_id`) with its fields, and the login whose accounts a key reads.

    Real keys may hold several logins per data source; one is enough to exercise
    every client path, so each data source has exactly one (`ds_user`).
    `account_seed` names the account in seed labels (see `metrics.py`) when it is not the
    account field's id: Google Ads keeps `profile`, the field that carried the account id
    before `profileID` did, so that its rows kept their values. `hidden_metrics` are
    additive metrics no query can ask for, parts of others or of ratios (GA4's bounced
    sessions, behind its sessions and its bounce rate).
    """

    ds_id: str
    name: str
    accounts: tuple[Account, ...]
    fields: dict[str, Field] = field(default_factory=dict)
    ds_user: str = ""
    display_name: str = ""
    account_seed: str = ""
    hidden_metrics: dict[str, Field] = field(default_factory=dict)

    def metric(self, field_id: str) -> Field:
        """Return a metric by id, a hidden one included."""
        found = self.fields.get(field_id) or self.hidden_metrics.get(field_id)
        if found is None or found.field_type != "met":
            msg = f"{self.ds_id} has no metric {field_id!r}"
            raise KeyError(msg)
        return found

    @property
    def weighted_dimensions(self) -> tuple[str, ...]:
        """The dimensions a metric is shared out over (see `Field.is_weighted`)."""
        return tuple(item.field_id for item in self.fields.values() if item.is_weighted)

    @property
    def account_ids(self) -> tuple[str, ...]:
        """The catalogue's account ids, in listing order."""
        return tuple(account.account_id for account in self.accounts)

    @property
    def account_field(self) -> Field | None:
        """The dimension that carries the account id (`profileID`, `property`), if any."""
        return next((item for item in self.fields.values() if item.is_account), None)

    @property
    def account_seed_name(self) -> str:
        """The middle part of an account's seed label `<ds_id>:<this>:<account id>`."""
        if self.account_seed:
            return self.account_seed
        account = self.account_field
        return account.field_id if account else "account"


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
    ds_user="ads.team@acme.example",
    display_name="Acme Ads Team",
    account_seed="profile",
    accounts=(
        Account("111-111-1111", "Acme Shoes FI", "Acme Group MCC"),
        Account("222-222-2222", "Acme Shoes SE", "Acme Group MCC"),
        Account("333-333-3333", "Nordic Outdoor Oy", "Nordic Outdoor MCC"),
    ),
    fields=_fields(
        Field(
            "Date",
            "Date",
            "dim",
            DATE,
            is_date=True,
            description="The day the ads ran, in the account's time zone.",
            group_name="Time",
        ),
        Field(
            "profile",
            "Account name",
            "dim",
            TEXT,
            attribute_of="profileID",
            description="The name of the Google Ads account the row belongs to; it can change.",
            group_name="Account",
        ),
        Field(
            "profileID",
            "Account ID",
            "dim",
            TEXT,
            is_account=True,
            description="The id of the Google Ads account the row belongs to, such as "
            "111-111-1111.",
            group_name="Account",
        ),
        Field(
            "CampaignName",
            "Campaign name",
            "dim",
            TEXT,
            values=_CAMPAIGNS,
            description="The campaign's name as it is set in Google Ads.",
            group_name="Campaign",
        ),
        Field(
            "CampaignStartTime",
            "Campaign start time",
            "dim",
            DATETIME,
            values=tuple(f"2023-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00Z" for i in range(12)),
            attribute_of="CampaignName",
            description="When the campaign was scheduled to start showing ads.",
            group_name="Campaign",
            is_filterable=False,
        ),
        Field(
            "CampaignIsActive",
            "Campaign is active",
            "dim",
            BOOL,
            values=tuple(i % 3 != 0 for i in range(12)),
            attribute_of="CampaignName",
            description="Whether the campaign is enabled today.",
            group_name="Campaign",
        ),
        Field(
            "Device",
            "Device",
            "dim",
            TEXT,
            values=("Desktop", "Mobile", "Tablet"),
            description="The kind of device the ad was shown on.",
            group_name="Segments",
        ),
        Field(
            "Keyword",
            "Keyword",
            "dim",
            TEXT,
            values=_KEYWORDS,
            description="The search keyword that triggered the ad.",
            group_name="Keyword",
        ),
        Field(
            "Impressions",
            "Impressions",
            "met",
            INT,
            description="How many times the ads were shown.",
            group_name="Performance",
            parts=("Clicks", "UnclickedImpressions"),
        ),
        Field(
            "Clicks",
            "Clicks",
            "met",
            INT,
            description="How many times people clicked the ads.",
            group_name="Performance",
        ),
        Field(
            "Cost",
            "Cost",
            "met",
            CURRENCY,
            description="What the clicks and impressions cost, in the account's currency.",
            group_name="Cost",
        ),
        Field(
            "CTR",
            "CTR",
            "met",
            PERCENT,
            description="Clicks divided by impressions, as a percentage.",
            group_name="Performance",
            ratio_of=("Clicks", "Impressions"),
        ),
        Field(
            "Conversions",
            "Conversions",
            "met",
            FLOAT,
            description="Conversions credited to the ads; fractional under data-driven "
            "attribution.",
            group_name="Conversions",
        ),
        Field(
            "ConversionRate",
            "Conversion rate",
            "met",
            PERCENT,
            description="Conversions divided by clicks, as a percentage.",
            group_name="Conversions",
            ratio_of=("Conversions", "Clicks"),
        ),
        Field(
            "VideoViews",
            "Video views",
            "met",
            INT,
            description="How many times people watched a video ad past its first seconds.",
            group_name="Video",
        ),
        Field(
            "AverageCpc",
            "Avg. CPC",
            "met",
            CURRENCY,
            description="The average amount paid for one click.",
            group_name="Cost",
            is_filterable=False,
            ratio_of=("Cost", "Clicks"),
        ),
        # A month key, not a day: a plain dimension over a fixed list of months (not
        # derived from the query's dates), for queries that must not be day-windowed.
        Field(
            "YearMonth",
            "Year & month",
            "dim",
            MONTH,
            values=tuple(f"2024-{month:02d}" for month in range(1, 13)),
            description="The calendar month the ads ran in, as YYYY-MM.",
            group_name="Time",
        ),
    ),
    hidden_metrics=_fields(
        Field(
            "UnclickedImpressions",
            "Impressions without a click",
            "met",
            INT,
            description="How many times the ads were shown and not clicked.",
            group_name="Performance",
        ),
    ),
)

GA4 = DataSource(
    ds_id="GAWA",
    name="Google Analytics 4",
    ds_user="analytics@acme.example",
    display_name="Acme Analytics",
    accounts=(
        Account("properties/1001", "acme-shoes.fi (GA4)", "Acme Shoes"),
        Account("properties/1002", "nordic-outdoor.com (GA4)", "Nordic Outdoor"),
    ),
    fields=_fields(
        Field(
            "Date",
            "Date",
            "dim",
            DATE,
            is_date=True,
            description="The day of the visits, in the property's time zone.",
            group_name="Time",
        ),
        Field(
            "property",
            "Property",
            "dim",
            TEXT,
            is_account=True,
            description="The Google Analytics 4 property the row belongs to.",
            group_name="Property",
        ),
        Field(
            "Country",
            "Country",
            "dim",
            TEXT,
            values=_COUNTRIES,
            description="The country the visitor was in, as told by their IP address.",
            group_name="Geography",
        ),
        Field(
            "DeviceCategory",
            "Device category",
            "dim",
            TEXT,
            values=("desktop", "mobile"),
            description="The kind of device the visitor used: desktop or mobile.",
            group_name="Platform / device",
        ),
        Field(
            "PagePath",
            "Page path",
            "dim",
            TEXT,
            values=_PAGES,
            description="The path of the page viewed, without the host name.",
            group_name="Page / screen",
        ),
        Field(
            "Sessions",
            "Sessions",
            "met",
            INT,
            description="How many sessions began on the site.",
            group_name="Session",
            parts=("BouncedSessions", "EngagedSessions"),
        ),
        Field(
            "Users",
            "Total users",
            "met",
            INT,
            description="How many distinct visitors triggered at least one event.",
            group_name="User",
        ),
        Field(
            "BounceRate",
            "Bounce rate",
            "met",
            PERCENT,
            description="The share of sessions that were not engaged, as a percentage.",
            group_name="Session",
            ratio_of=("BouncedSessions", "Sessions"),
        ),
        Field(
            "EngagementDuration",
            "User engagement duration",
            "met",
            FLOAT,
            description="How long, in seconds, visitors had the site in the foreground.",
            group_name="Engagement",
            is_filterable=False,
        ),
        Field(
            "Conversions",
            "Conversions",
            "met",
            FLOAT,
            description="How many key events the visitors triggered.",
            group_name="Key events",
        ),
        Field(
            "Revenue",
            "Total revenue",
            "met",
            CURRENCY,
            description="Revenue from purchases, subscriptions and ads, in the property's "
            "currency.",
            group_name="Ecommerce",
        ),
    ),
    hidden_metrics=_fields(
        Field(
            "BouncedSessions",
            "Bounced sessions",
            "met",
            INT,
            description="How many sessions were not engaged: the bounce rate's numerator.",
            group_name="Session",
        ),
        Field(
            "EngagedSessions",
            "Engaged sessions",
            "met",
            INT,
            description="How many sessions were engaged: sessions less the bounced ones.",
            group_name="Session",
        ),
    ),
)

DATA_SOURCES: dict[str, DataSource] = {source.ds_id: source for source in (GOOGLE_ADS, GA4)}

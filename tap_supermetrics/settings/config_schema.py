"""The tap's settings as JSON Schema: names, types, defaults and descriptions."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_supermetrics.settings.identifiers import (
    DS_ID_RULE,
    STREAM_NAME_RULE,
)

DEFAULT_BASE_URL = "https://api.supermetrics.com/enterprise/v2"


#: dbt builds `<stream>_current` next to every stream's table.
CURRENT_SUFFIX = "_current"


_STRING_OR_LIST = th.CustomType(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)


#: Refresh tiers: checked in full by `refresh.parse_tiers`, which says what is wrong.
_TIERS = th.CustomType({"type": "array", "items": {"type": "object"}})


_ACCOUNTS = th.CustomType(
    {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {
                "type": "object",
                "properties": {"filter_id": {"type": "string"}, "filter_name": {"type": "string"}},
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    }
)


#: A number (seconds, rates) as a JSON number or a numeric string: Meltano hands settings without a
#: numeric kind over as strings, and its `decimal` kind cannot be set from env vars.
_DECIMAL = th.CustomType({"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$"})


#: Query parameters passed to Supermetrics unchanged (documented in README "Queries").
PASS_THROUGH_PARAMETERS = (
    "ds_segments",
    "ds_user",
    "ds_users",
    "settings",
    "filter",
    "order_rows",
    "order_columns",
    "max_rows",
    "cache_minutes",
    "date_range_type",
)


#: `reconcile`: true, false or "strict" (Meltano hands a `string` setting over as text).
_RECONCILE = th.CustomType(
    {"type": ["boolean", "string"], "enum": [True, False, "strict", "true", "false"]}
)


QUERY_SCHEMA = th.ObjectType(
    th.Property(
        "name",
        th.StringType,
        required=True,
        description=f"Stream name, unique ignoring case: {STREAM_NAME_RULE}.",
    ),
    th.Property(
        "ds_id",
        th.StringType,
        required=True,
        description=f"Data source id, e.g. AW: {DS_ID_RULE}.",
    ),
    th.Property(
        "fields",
        th.ArrayType(th.StringType),
        required=True,
        description="Field ids, in the order the record's keys should have.",
    ),
    th.Property(
        "ds_accounts",
        _ACCOUNTS,
        description="Accounts: a list of ids, a comma-separated string, a team list such as "
        '`"list.all_accounts"`, or a filter object `{"filter_id": "<regex>", "filter_name": '
        '"<regex>"}`. See docs/queries.md.',
    ),
    th.Property(
        "account_field",
        th.StringType,
        description="The field that carries the account's id in each row (default: a known "
        "account id field among `fields`, such as `profileID` or `property`). A name field "
        "(`profile`, `account_name`, …) is refused: see docs/account-ids.md. Without one, "
        "rows are sums over the accounts.",
    ),
    th.Property(
        "date_field",
        th.StringType,
        description="Date dimension used as replication key; default `Date` when selected.",
    ),
    th.Property(
        "primary_keys",
        th.ArrayType(th.StringType),
        description="Override the key (default: the date field plus every dimension).",
    ),
    th.Property("ds_segments", _STRING_OR_LIST, description="Passed through."),
    th.Property("ds_user", th.StringType, description="Passed through."),
    th.Property("ds_users", _STRING_OR_LIST, description="Passed through."),
    th.Property(
        "settings", th.ObjectType(additional_properties=True), description="Passed through."
    ),
    th.Property("filter", th.StringType, description="Passed through."),
    th.Property("order_rows", _STRING_OR_LIST, description="Passed through."),
    th.Property("order_columns", th.StringType, description="Passed through."),
    th.Property("max_rows", th.IntegerType, description="Passed through."),
    th.Property("cache_minutes", th.IntegerType, description="Passed through."),
    th.Property(
        "date_range_type",
        th.StringType,
        description="Passed through; only for queries without a date field (full table).",
    ),
    th.Property("start_date", th.DateType, description="This query's own start_date."),
    th.Property("end_date", th.DateType, description="This query's own end_date."),
    th.Property("lookback_days", th.IntegerType, description="This query's own lookback_days."),
    th.Property("window_days", th.IntegerType, description="This query's own window_days."),
    th.Property("refresh", _TIERS, description="This query's own refresh tiers."),
    th.Property(
        "reconcile",
        _RECONCILE,
        description="This query's own reconcile: refused when the query cannot be reconciled.",
    ),
    th.Property(
        "reconcile_metrics",
        th.ArrayType(th.StringType),
        description="The comparable metrics to reconcile (default: all of them).",
    ),
    additional_properties=False,
)


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        description="Supermetrics API key; sent only in the `Authorization: Bearer` header.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=DEFAULT_BASE_URL,
        description="API base URL. Must be https, except on loopback (the emulator).",
    ),
    th.Property(
        "start_date",
        th.DateType,
        required=True,
        description="First day to sync, YYYY-MM-DD (or an ISO timestamp, whose day is kept).",
        examples=["2024-01-01"],
    ),
    th.Property(
        "end_date",
        th.DateType,
        description="Last day to sync, YYYY-MM-DD. Default: yesterday (UTC), the last "
        "complete day: leave it unset for daily runs.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType,
        description="Days before each account's last loaded day that every run reads "
        "again, to pick up late corrections (default 3 when `refresh` is not set). 0 "
        "re-reads only that day. Shorthand for `refresh: [{days: N, every: 1}]`; a query "
        "may set its own.",
    ),
    th.Property(
        "refresh",
        _TIERS,
        description="Refresh tiers, e.g. `[{days: 3, every: 1}, {days: 30, every: 7}]`: "
        "each reads again the `days` days before an account's last loaded day once at "
        "least `every` as-of days have passed since it last ran. Not together with "
        "`lookback_days` at the same level; a query may set its own. See "
        "docs/refresh.md.",
    ),
    th.Property(
        "reread",
        th.ArrayType(
            th.ObjectType(
                th.Property("stream", th.StringType, required=True),
                th.Property("accounts", th.ArrayType(th.StringType)),
                th.Property("start_date", th.DateType, required=True),
                th.Property("end_date", th.DateType, required=True),
                additional_properties=False,
            )
        ),
        description="Re-reads for known restatements: each entry names a stream, optionally "
        "its accounts, and a first and last day; the next run reads them like a gap "
        "(reason 'requested re-read'), once.",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=30,
        description="Days per Supermetrics query; the date range is split into windows and "
        "state is saved after each.",
    ),
    th.Property(
        "max_rows_per_query",
        th.IntegerType,
        default=1_000_000,
        description="Rows one query may return (default and most: 1,000,000, the API's "
        "cap). A window whose result reaches it is split (days first, then accounts) and "
        "read again; windows are sized from the rows earlier runs returned. A query's own "
        "`max_rows` is a deliberate cut and is never split. See docs/limits-and-budget.md.",
    ),
    th.Property(
        "max_accounts_per_query",
        th.IntegerType,
        default=100,
        description="Accounts one query reads at most (default and most: 100, the API's "
        "bound); longer account lists go out in groups. Queries without an account field "
        "(rows summed over accounts) cannot be split and are refused above it.",
    ),
    th.Property(
        "max_rows_per_run",
        th.IntegerType,
        description="Row budget of one run, shared by all its streams (default: none). New "
        "days and due refreshes come first, then backfill, newest days first; each is cut (by "
        "days, then accounts) to what is left, the rest read by the next runs. See "
        "docs/limits-and-budget.md.",
    ),
    th.Property(
        "reconcile",
        _RECONCILE,
        default=False,
        description="Default of every query's `reconcile`: per window, also send a totals "
        "query (date, account, comparable metrics) and compare it with the rows loaded, per "
        "day, account and metric, into the `reconciliation` stream; mismatches are WARNING "
        'lines and are read again by the next run; "strict" also fails the run. Queries that '
        "cannot be reconciled are skipped. See docs/reconciliation.md.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=25_000,
        description="Rows per result page (`offset_start`/`offset_end` request).",
    ),
    th.Property(
        "sync_timeout",
        th.IntegerType,
        default=0,
        description="Seconds the submit request may wait for the query to finish. 0 returns "
        "at once, so that all queries get submitted before any is polled.",
    ),
    th.Property(
        "poll_interval",
        _DECIMAL,
        default=0.25,
        description="Seconds before the first status poll; the wait grows by half each poll.",
    ),
    th.Property(
        "max_poll_interval",
        _DECIMAL,
        default=5.0,
        description="Largest wait between two status polls, in seconds.",
    ),
    th.Property(
        "query_timeout",
        _DECIMAL,
        default=14_400,
        description="Seconds after submitting at which a query that has not finished fails "
        "the sync (default 4 h, the API's own limit).",
    ),
    th.Property(
        "max_resubmits",
        th.IntegerType,
        default=3,
        description="How often a query whose results expired (STATUS_NOT_FOUND) is "
        "submitted again before the sync fails.",
    ),
    th.Property(
        "max_request_attempts",
        th.IntegerType,
        default=6,
        description="Tries per HTTP request for 429, 5xx, dropped connections, timeouts and "
        "truncated bodies.",
    ),
    th.Property(
        "max_retry_after",
        _DECIMAL,
        default=300,
        description="Longest `Retry-After` wait honoured, in seconds.",
    ),
    th.Property(
        "request_timeout",
        _DECIMAL,
        default=300,
        description="Seconds to wait for one HTTP response.",
    ),
    th.Property(
        "max_concurrent_queries",
        th.IntegerType,
        default=5,
        description="Queries the tap keeps queued or running at Supermetrics at once, of "
        "every kind and across streams: the licence's concurrency (about 5; a query that "
        "answers QUEUED shows a lower one). Parts that share a licence split it. See "
        "docs/running-at-scale.md.",
    ),
    th.Property(
        "result_lifetime",
        _DECIMAL,
        default=3600,
        description="Seconds Supermetrics keeps a finished query's results (licence "
        "dependent; 1 hour by default). Queries are queued ahead of the sync only as far "
        "as their results are expected to be read within half of it.",
    ),
    th.Property(
        "max_requests_per_second",
        _DECIMAL,
        default=10,
        description="Requests per second for the whole run (submits, polls, pages), below "
        "the documented limit of about 20. An answer whose X-RateLimit-Remaining is nearly "
        "spent holds requests back for a second.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Print the plan of the run (per stream: accounts, date ranges, number "
        "of queries and why) and submit no query: no stream emits SCHEMA or RECORD (a "
        "loader creates no table), state unchanged.",
    ),
    th.Property(
        "metric_lines",
        th.StringType(allowed_values=["all", "sampled", "none"]),
        default="all",
        description="Which of the SDK's METRIC log lines to write, without touching the "
        "tap's own lines: `all` (one per HTTP request, as the SDK writes them), `sampled` "
        "(every per-stream total and one request duration in 20) or `none`. See "
        "docs/meltano.md.",
    ),
    th.Property(
        "schema_cache_dir",
        th.StringType,
        description="Directory for discovered field types, so that discovery asks the API "
        "once per data source (`/query/fields`). Default: ~/.cache/tap-supermetrics.",
    ),
    th.Property(
        "queries",
        th.ArrayType(QUERY_SCHEMA),
        required=True,
        description="One stream per entry: see README 'Queries'.",
    ),
).to_dict()

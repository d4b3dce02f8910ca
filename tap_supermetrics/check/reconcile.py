"""Totals that reconcile: each window's loaded rows against Supermetrics' own totals.

Rows can go missing anywhere between the API and the warehouse: a campaign left out of a
split answer upstream, a page lost, a bug of ours. So, for a query that sets `reconcile`,
each window also gets a *totals query*: the same accounts, days, segments and settings,
with only the date field, the account field and the query's comparable metrics. Per
(day, account, metric) its value must equal the sum over every row the window's last
complete read saw (all parts of a split window; rows seen but not emitted again after an
expiry count too), within a tolerance:

- integers: exactly;
- currency: half a cent per summed row (each row is rounded to the cent upstream);
- other numbers: relative 1e-9 (sums of doubles in another order).

The (day, account) pairs compared are those found on either side, among the window's
days up to yesterday and the accounts its loaded parts read (`AccountScope`): an opaque
team list names its accounts only in the rows, so a list is never compared under its
own name. A side without a row (or with a null) counts as zero; no value on either side
is nothing to compare, and gives no comparison.

Comparable metrics are numeric, not a ratio or a percentage, and not marked
`is_non_aggregatable` by `/query/fields`; a metric the field list says nothing about is
not comparable when its type is a percent or a ratio. A query with a `filter` or a
`max_rows` is not comparable by design (a totals query would not apply them alike).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_supermetrics.core.accounts import TEAM_LIST_PREFIX
from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.plan.planner import ALL_ACCOUNTS

if TYPE_CHECKING:
    from tap_supermetrics.schema.types import FieldSpec
    from tap_supermetrics.settings.queries import QueryDefinition

#: `reconcile` values: off, on (mismatches warn), strict (mismatches fail the run).
OFF, ON, STRICT = "off", "on", "strict"
#: Most mismatch lines per stream; the rest are counted in the stream's summary line.
MAX_MISMATCH_LINES = 20
RELATIVE_TOLERANCE = 1e-9
HALF_A_CENT = 0.005

Key = tuple[str, str]  # (day, account)


def mode(value: object) -> str:
    """`true`/`false`/`"strict"` (or their text forms) as OFF, ON or STRICT."""
    text = str(value).strip().lower()
    if text == STRICT:
        return STRICT
    if text in {"true", "1", "on"}:
        return ON
    return OFF


def comparable(spec: FieldSpec) -> bool:
    """Whether a field's values can be summed over rows and compared with a total."""
    if spec.field_type == "dim" or spec.aggregatable is False:
        return False
    parts = spec.data_type.lower().replace("_", ".").split(".")
    if parts[0] not in {"int", "integer", "float", "number", "double", "decimal", "currency"}:
        return False
    return not ({"percent", "percentage", "ratio"} & set(parts))


@dataclass(frozen=True)
class ReconcileSpec:
    """What one stream reconciles: its metrics, and how a mismatch ends the run."""

    mode: str
    metrics: tuple[str, ...]
    #: Per metric: "int", "currency" or "number" (the tolerance).
    kinds: Mapping[str, str]
    date_field: str
    account_field: str | None

    @property
    def fields(self) -> list[str]:
        """The totals query's fields."""
        head = [self.date_field, *([self.account_field] if self.account_field else [])]
        return [*head, *self.metrics]


def reconcile_spec(
    definition: QueryDefinition, fields: Sequence[FieldSpec], requested: Sequence[str]
) -> tuple[ReconcileSpec | None, str | None]:
    """The stream's reconciliation, or None and why not (refused when the query asks).

    Raises:
        ConfigError: the query itself sets `reconcile` and cannot be reconciled.
    """
    wanted = mode(definition.reconcile)
    if wanted == OFF:
        return None, None
    where = f"stream {definition.name!r}"
    by_id = {spec.field_id: spec for spec in fields}
    candidates = [name for name in requested if name in by_id and comparable(by_id[name])]
    if definition.reconcile_metrics is not None:
        unknown = [m for m in definition.reconcile_metrics if m not in candidates]
        if unknown:
            msg = (
                f"{where}: reconcile_metrics {unknown} are not comparable metrics of the query "
                f"(comparable: {candidates or 'none'})"
            )
            raise ConfigError(msg)
        candidates = [m for m in candidates if m in definition.reconcile_metrics]
    why = None
    if definition.date_field is None:
        why = "it has no date field"
    elif definition.pass_through.get("filter") is not None:
        why = "its filter would not apply alike to a totals query"
    elif definition.pass_through.get("max_rows") is not None:
        why = "its max_rows cuts its rows on purpose"
    elif not candidates:
        why = "it has no comparable metric (numeric, summable, not a ratio or percentage)"
    if why is not None:
        if definition.reconcile_explicit:
            msg = f"{where}: reconcile cannot apply: {why}"
            raise ConfigError(msg)
        return None, f"Stream {definition.name!r} is not reconciled: {why}"
    assert definition.date_field is not None  # noqa: S101 - checked above
    kinds = {name: _kind(by_id[name]) for name in candidates}
    return (
        ReconcileSpec(
            wanted, tuple(candidates), kinds, definition.date_field, definition.account_field
        ),
        None,
    )


def _kind(spec: FieldSpec) -> str:
    text = spec.data_type.lower()
    if "currency" in text:
        return "currency"
    return "int" if text.startswith("int") else "number"


@dataclass
class WindowSums:
    """Per (day, account): each metric's sum and the rows summed, over the rows seen."""

    spec: ReconcileSpec
    sums: dict[Key, dict[str, float | int | None]] = field(default_factory=dict)
    rows: dict[Key, int] = field(default_factory=dict)

    def add(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add converted records (all rows of a page, emitted or not)."""
        date_field, account_field, metrics = (
            self.spec.date_field,
            self.spec.account_field,
            self.spec.metrics,
        )
        for record in records:
            key = (
                str(record[date_field]),
                str(record[account_field]) if account_field else ALL_ACCOUNTS,
            )
            sums = self.sums.get(key)
            if sums is None:
                sums = self.sums[key] = dict.fromkeys(metrics)
            self.rows[key] = self.rows.get(key, 0) + 1
            for metric in metrics:
                value = record.get(metric)
                if value is not None:
                    current = sums[metric]
                    sums[metric] = value if current is None else current + value

    def merge(self, other: WindowSums) -> None:
        """Add another part's sums (a split window)."""
        for key, sums in other.sums.items():
            mine = self.sums.setdefault(key, dict.fromkeys(self.spec.metrics))
            for metric, value in sums.items():
                if value is not None:
                    current = mine[metric]
                    mine[metric] = value if current is None else current + value
            self.rows[key] = self.rows.get(key, 0) + other.rows.get(key, 0)


@dataclass(frozen=True)
class Comparison:
    """One (day, account, metric): loaded against Supermetrics' total."""

    day: str
    account: str
    metric: str
    loaded: float | int | None
    source: float | int | None
    matched: bool

    @property
    def difference(self) -> float | int:
        """Loaded minus source (a missing value counts as 0)."""
        return (self.loaded or 0) - (self.source or 0)


@dataclass(frozen=True)
class AccountScope:
    """Which accounts a window's comparison is about: those its loaded parts read.

    Coverage is kept per account, or per opaque team list (`list.team_a`) whose
    accounts only the rows name. An account found in the rows or the totals belongs to
    the window when a part that loaded read it by its id, or read a team list while no
    part that did not load (a failed account, a failed list) could hold it.
    """

    #: The accounts (ids, team lists or `*`) of the window's parts that loaded.
    loaded: frozenset[str]
    #: The window's other accounts: they did not load in this run.
    unloaded: frozenset[str] = frozenset()

    def holds(self, account: str) -> bool:
        """Whether `account`, found in a row or a total, is compared for this window."""
        if account in self.loaded:
            return True
        if account in self.unloaded or _has_list(self.unloaded):
            return False
        return _has_list(self.loaded)

    def units_of(self, account: str) -> tuple[str, ...]:
        """What the account's coverage is kept under: itself, or the team lists read."""
        if account in self.loaded:
            return (account,)
        return tuple(sorted(unit for unit in self.loaded if unit.startswith(TEAM_LIST_PREFIX)))


def _has_list(units: Collection[str]) -> bool:
    return any(unit.startswith(TEAM_LIST_PREFIX) for unit in units)


def compare(
    spec: ReconcileSpec,
    loaded: WindowSums,
    totals: Iterable[Mapping[str, Any]],
    days: Collection[str],
    scope: AccountScope,
) -> list[Comparison]:
    """Compare the loaded sums with the totals rows, per (day, account) found on either side.

    Only `days` (the window's, up to yesterday) and the accounts of `scope` are compared.
    """
    source: dict[Key, Mapping[str, Any]] = {}
    for row in totals:
        account = str(row[spec.account_field]) if spec.account_field else ALL_ACCOUNTS
        source[(str(row[spec.date_field]), account)] = row
    keys = {key for key in (*loaded.sums, *source) if key[0] in days and scope.holds(key[1])}
    results = []
    for key in sorted(keys):
        sums = loaded.sums.get(key, {})
        row = source.get(key, {})
        for metric in spec.metrics:
            ours, theirs = sums.get(metric), row.get(metric)
            if ours is None and theirs is None:  # no value on either side: nothing to compare
                continue
            matched = _within(spec.kinds[metric], ours, theirs, loaded.rows.get(key, 0))
            results.append(Comparison(key[0], key[1], metric, ours, theirs, matched))
    return results


def _within(kind: str, ours: float | None, theirs: float | None, rows: int) -> bool:
    a, b = ours or 0, theirs or 0
    if kind == "int":
        return a == b
    if kind == "currency":
        return abs(a - b) <= HALF_A_CENT * max(rows, 1) + 1e-9
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)


def record(
    stream: str,
    comparison: Comparison,
    data_ids: Sequence[str],
    totals_id: str | None,
    checked_at: str,
) -> dict[str, Any]:
    """The `reconciliation` record of one comparison."""
    return {
        "stream": stream,
        "date": comparison.day,
        "account": comparison.account,
        "metric": comparison.metric,
        "loaded": comparison.loaded,
        "source": comparison.source,
        "difference": comparison.difference,
        "matched": comparison.matched,
        "data_schedule_ids": list(data_ids),
        "totals_schedule_id": totals_id,
        "checked_at": checked_at,
    }


def mismatch_line(
    stream: str, key: Key, comparisons: Sequence[Comparison], lists: Sequence[str] = ()
) -> str:
    """One WARNING line for a mismatched (day, account), with each metric's two values.

    `lists`: the team lists the account was read through (it is not a unit of its own).
    """
    who = "all accounts" if key[1] == ALL_ACCOUNTS else f"account {key[1]!r}"
    if lists:
        who += f" (of {', '.join(lists)})"
    values = "; ".join(
        f"{c.metric} loaded {c.loaded} vs Supermetrics {c.source}" for c in comparisons
    )
    return f"stream {stream!r}, {key[0]}, {who}: totals do not reconcile: {values}"


def now() -> str:
    """The `checked_at` stamp (UTC)."""
    return dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds")

"""What a metric is worth: bases per (day, account), weights per dimension value, ratios.

docs/emulator-arithmetic.md "Metrics" is the specification; `rows.py` lays rows out and
calls this module for their numbers.

Additive metrics are *consistent across groupings*, as a real data source's are: a row's
value is the sum of the values of the rows a more detailed query splits it into. A
closed form gives that without summing anything: per (day, account, metric) a base,
and per dimension value a small weight (1 to 3); a row's value is

    base x (the weights of its own dimension values) x (for each dimension of the data
    source it leaves out, the sum of that dimension's weights)

summed over the accounts it stands for. Splitting a row by one more dimension replaces
that dimension's sum of weights by one weight per row: the parts add up to the whole.
A totals query (date and account alone) is base x every sum of weights.

A metric with parts (`Field.parts`: impressions are clicks plus unclicked impressions)
is the sum of its parts in every row, each part drawn as above. Ratios
(`Field.ratio_of`) are recomputed from a row's own additive values, rounded half up to
hundredths in integer arithmetic, never summed or averaged: that is what makes a totals
query's ratio the ratio of the detailed rows' sums.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from supermetrics_emulator.catalog import CURRENCY, FLOAT, INT, PERCENT, DataSource, Field
from supermetrics_emulator.seeds import GOLDEN, PRIME, seed

#: A float metric is null for a (day, account) when its base's millions are a multiple of
#: this: real sources leave fractional metrics empty now and then.
_NULL_EVERY = 11
#: The largest weight of a dimension value; weights run from 1 to this.
_MAX_WEIGHT = 5
#: Date positions whose amounts a query keeps: pages walk the days in order, so a few
#: suffice, and a result of thousands of days x accounts holds no table of them all.
_DAYS_KEPT = 8


@dataclass(frozen=True)
class Kind:
    """How an additive data type turns a base residue into an integer amount.

    Row values are integers in units of 1/`scale` of what is reported (cents for money
    and fractional amounts), so that every sum is exact and each cell is divided once.
    """

    least: int  # the smallest base: counts are never 0, so ratios over them exist
    span: int  # how many bases there are, from `least` up
    scale: int  # integer units per reported unit
    step: int  # units one revision adds to a (day, account) base


#: The spans keep every amount exact: see docs/emulator-arithmetic.md "Magnitudes".
KINDS = {
    INT: Kind(least=1, span=10_000, scale=1, step=1),
    FLOAT: Kind(least=0, span=100_000, scale=100, step=100),
    CURRENCY: Kind(least=0, span=100_000, scale=100, step=150),
}


@dataclass(frozen=True)
class Measure:
    """An additive metric as rows compute it (a hidden one included).

    A measure is either drawn (a base per (day, account) and weights per dimension
    value) or, with `parts`, the sum of drawn measures of its own data type.
    """

    field_id: str
    data_type: str
    parts: tuple[Measure, ...] = ()

    @property
    def kind(self) -> Kind:
        """The arithmetic of this measure's data type."""
        return KINDS[self.data_type]

    @property
    def nullable(self) -> bool:
        """Whether a (day, account) can hold null (fractional metrics only)."""
        return self.data_type == FLOAT


@dataclass(frozen=True)
class Ratio:
    """A ratio metric: `factor` x numerator / denominator, in hundredths, rounded half up.

    `factor` folds in the units: x 100 for a percentage, and the scales of both parts
    (a cost in cents over clicks gives an average cost in cents, that is, hundredths).
    """

    numerator: Measure
    denominator: Measure
    factor: int


def measure_of(source: DataSource, field_id: str) -> Measure:
    """Describe additive metric `field_id` of `source`, with its parts if it has any.

    Raises:
        ValueError: the metric is a ratio or has no additive data type, or its parts are
            not drawn metrics of its own data type, or it is a fractional metric with
            parts (a null part would make the sum unclear).
    """
    item = source.metric(field_id)
    if item.ratio_of is not None or item.data_type not in KINDS:
        msg = f"{source.ds_id} {field_id} is not an additive metric"
        raise ValueError(msg)
    parts = tuple(measure_of(source, part) for part in item.parts)
    if any(part.parts or part.data_type != item.data_type for part in parts) or (
        parts and item.data_type == FLOAT
    ):
        msg = f"{source.ds_id} {field_id}: parts must be drawn metrics of its own data type"
        raise ValueError(msg)
    return Measure(field_id, item.data_type, parts)


def ratio_of(source: DataSource, item: Field) -> Ratio:
    """Describe ratio metric `item` of `source` from its numerator and denominator.

    Raises:
        ValueError: the metric is not a ratio, or its units do not give whole hundredths.
    """
    if item.ratio_of is None:
        msg = f"{source.ds_id} {item.field_id} is not a ratio"
        raise ValueError(msg)
    numerator, denominator = (measure_of(source, part) for part in item.ratio_of)
    per_unit = 100 if item.data_type == PERCENT else 1
    factor, rest = divmod(100 * per_unit * denominator.kind.scale, numerator.kind.scale)
    if rest:
        msg = f"{source.ds_id} {item.field_id}: its parts' units do not give hundredths"
        raise ValueError(msg)
    return Ratio(numerator, denominator, factor)


@cache
def multiplier(field_id: str) -> int:
    """Spread one (day, account) row key differently for each metric: 1 to P - 1."""
    return 1 + seed(f"metric:{field_id}") % (PRIME - 1)


def amounts(
    measure: Measure, keys: Sequence[int], revision: int, spread: int = 1
) -> list[int | None]:
    """A drawn measure's amount for each (day, account) row key: base plus revision.

    A key is `(seed(day:<t>) + seed(<account label>)) x G mod P`. None is null: a
    fractional metric's base is now and then. Each amount comes multiplied by `spread`.
    One list per measure, as a query needs every account of a day at once.
    """
    times, kind = multiplier(measure.field_id), measure.kind
    least, span, shift = kind.least, kind.span, kind.step * revision
    if not measure.nullable:
        return [(least + key * times % PRIME % span + shift) * spread for key in keys]
    residues = [key * times % PRIME for key in keys]
    return [
        None
        if residue // 1_000_000 % _NULL_EVERY == 0
        else (least + residue % span + shift) * spread
        for residue in residues
    ]


@cache
def weights(
    ds_id: str, dimension: str, values: tuple[object, ...], measure: Measure
) -> tuple[int, ...]:
    """Each value's weight for a drawn measure, 1 to 5: how it shares the measure out."""
    spread = multiplier(measure.field_id)
    return tuple(
        1 + seed(f"{ds_id}:{dimension}:{value}") * spread % PRIME % _MAX_WEIGHT for value in values
    )


def left_out(source: DataSource, on_axes: Sequence[str], measure: Measure) -> int:
    """The product of the weight sums of the dimensions a query leaves out."""
    return math.prod(
        sum(weights(source.ds_id, name, source.fields[name].values, measure))
        for name in source.weighted_dimensions
        if name not in on_axes
    )


def total(values: Sequence[int | None]) -> int | None:
    """Sum accounts' amounts: a null counts as nothing, unless every one is null."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


class DayValues:
    """One query's additive amounts per date position and account, before row weights.

    Each is the (day, account) base plus its revision, times the weight sums of the
    dimensions the query leaves out (`spreads`, one per measure); a row multiplies it by
    its own dimension values' weights. Computed when a date position is read, and kept
    for the next rows and pages, a few days at a time.
    """

    def __init__(  # noqa: PLR0913 - each argument is one fact of the query
        self,
        measures: Sequence[Measure],
        day_labels: Sequence[str],
        account_labels: Sequence[str],
        *,
        spreads: Sequence[int],
        revision: int,
        revised_from: int,
        summed: bool,
    ) -> None:
        """Keep the query's facts; `revised_from` is the first revised date position.

        `summed`: the rows stand for every account together, so the day has one entry;
        otherwise one entry per account, in the order of `account_labels`.
        """
        self._measures = tuple(measures)
        self._days = tuple(day_labels)
        self._account_seeds = tuple(seed(label) for label in account_labels)
        self._spreads = tuple(spreads)
        self._revision = revision
        self._revised_from = revised_from
        self._summed = summed
        self._known: dict[int, list[tuple[int | None, ...]]] = {}
        self._lock = threading.Lock()

    def __call__(self, position: int) -> list[tuple[int | None, ...]]:
        """Return the amounts of date position `position`: per account (or summed), per measure."""
        with self._lock:  # pages of one result may be served by several threads at once
            found = self._known.get(position)
            if found is None:
                if len(self._known) >= _DAYS_KEPT:
                    del self._known[next(iter(self._known))]  # the oldest
                found = self._known[position] = self._compute(position)
            return found

    def _compute(self, position: int) -> list[tuple[int | None, ...]]:
        revision = self._revision if position >= self._revised_from else 0
        day = seed(f"day:{self._days[position]}")
        keys = [(day + account) * GOLDEN % PRIME for account in self._account_seeds]
        columns: list[list[int | None]] = []
        for measure, spread in zip(self._measures, self._spreads, strict=True):
            if self._summed:
                summed = total(amounts(measure, keys, revision))
                columns.append([None if summed is None else summed * spread])
            else:
                columns.append(amounts(measure, keys, revision, spread))
        if not columns:  # a query of dimensions only
            return [()] * (1 if self._summed else len(keys))
        return list(zip(*columns, strict=True))


# Cell expressions, for the row generator rows.py compiles -------------------------------


def scaled(measure: Measure, value: str, factor: str) -> str:
    """The expression of `value` x `factor`, keeping a null null."""
    if measure.nullable:
        return f"({value} and {value} * {factor})"
    return f"{value} * {factor}"


def additive_cell(measure: Measure, value: str) -> str:
    """The expression of an additive cell from its integer amount `value`."""
    if measure.data_type == INT:
        return value
    if measure.nullable:
        return f"(None if {value} is None else {value} / {measure.kind.scale})"
    return f"{value} / {measure.kind.scale}"


def ratio_cell(ratio: Ratio, numerator: str, denominator: str, name: str) -> str:
    """The expression of a ratio cell: hundredths rounded half up, then one division.

    Null when the numerator is null or the denominator is not positive. The
    denominator (perhaps a sum of parts) is computed once, into local `name`.
    """
    unknown = [f"{numerator} is None"] if ratio.numerator.nullable else []
    if ratio.denominator.nullable:
        unknown.append(f"({name} := {denominator}) is None or {name} <= 0")
    else:
        unknown.append(f"({name} := {denominator}) <= 0")
    rounded = f"({2 * ratio.factor} * {numerator} + {name}) // (2 * {name})"
    return f"(None if {' or '.join(unknown)} else {rounded} / 100)"

"""Deterministic, lazy result rows.

A result is never materialised: row *i* is computed from its index, so a page of a
5-million-row result costs the same memory as a page of a 50-row one. Rows are
ordered by date, then by the requested dimensions in request order (the last one
varies fastest). A metric value depends only on the row's dimension values (and the
data revision), never on the query that asked for it: overlapping date windows and
re-reads see the same numbers, exactly like a real, settled data source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from supermetrics_emulator.catalog import BOOL, CURRENCY, FLOAT, INT, PERCENT, DataSource

_MASK = (1 << 64) - 1


def mix64(value: int) -> int:
    """Return the splitmix64 finaliser of `value`: cheap, well spread, reproducible."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _seed(text: str) -> int:
    acc = 1469598103934665603
    for byte in text.encode():
        acc = ((acc ^ byte) * 1099511628211) & _MASK
    return mix64(acc)


@dataclass(frozen=True)
class Axis:
    """One enumerated dimension of the result: its size and a seed per position."""

    name: str
    seeds: tuple[int, ...]

    @property
    def size(self) -> int:
        """How many positions this axis has."""
        return len(self.seeds)


@dataclass(frozen=True)
class Revision:
    """A late correction: metrics of days on or after `from_date` shift by `number`."""

    number: int = 0
    from_date: dt.date = dt.date.min


class ResultPlan:
    """Everything needed to compute any row of one query's result on demand."""

    def __init__(  # noqa: PLR0913 - each argument is a documented query parameter
        self,
        source: DataSource,
        field_ids: Sequence[str],
        start: dt.date,
        end: dt.date,
        accounts: Sequence[str],
        *,
        revision: Revision = Revision(),
        max_rows: int | None = None,
        duplicate_row: int | None = None,
    ) -> None:
        """Lay out the axes of the result for these fields, dates and accounts."""
        self.source = source
        self.fields = [source.fields[field_id] for field_id in field_ids]
        self.days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        self.revision = revision
        self.duplicate_row = duplicate_row
        wants_date = any(f.is_date for f in self.fields)
        day_labels = [d.isoformat() for d in self.days] if wants_date else [f"{start}..{end}"]
        self.axes: list[Axis] = [Axis("Date", tuple(_seed(f"day:{d}") for d in day_labels))]
        self._axis_of: dict[str, int] = {}
        for item in self.fields:
            if item.is_date or item.field_type == "met":
                continue
            axis_name = item.attribute_of or item.field_id
            if item.is_account:
                labels: Sequence[object] = accounts
            elif item.attribute_of:
                labels = source.fields[item.attribute_of].values
            else:
                labels = item.values
            if axis_name not in self._axis_of:
                self._axis_of[axis_name] = len(self.axes)
                seeds = tuple(_seed(f"{source.ds_id}:{axis_name}:{label}") for label in labels)
                self.axes.append(Axis(axis_name, seeds))
        self._account_labels = tuple(accounts)
        self._day_labels = day_labels
        self._revised_from_day = next(
            (n for n, day in enumerate(self.days) if day >= revision.from_date), len(self.days)
        )
        full = 1
        for axis in self.axes:
            full *= axis.size
        self.natural_rows = full if max_rows is None else min(full, max_rows)

    @property
    def total_rows(self) -> int:
        """Rows in the result, counting an injected duplicate."""
        return self.natural_rows + (1 if self.duplicate_row is not None else 0)

    def rows(self, first: int, last: int) -> Iterator[list[object]]:
        """Yield rows `first`..`last` (inclusive), computing each from its index."""
        last = min(last, self.total_rows - 1)
        for index in range(first, last + 1):
            natural = index
            if self.duplicate_row is not None and index > self.duplicate_row:
                natural = index - 1
            yield self.row(natural)

    def row(self, index: int) -> list[object]:
        """Compute the row at `index` of the natural (duplicate-free) result."""
        positions = [0] * len(self.axes)
        remainder = index
        for axis_number in range(len(self.axes) - 1, -1, -1):
            remainder, positions[axis_number] = divmod(remainder, self.axes[axis_number].size)
        key = 0
        for axis_number, position in enumerate(positions):
            key = (key + self.axes[axis_number].seeds[position] * (2 * axis_number + 1)) & _MASK
        key = mix64(key)
        revised = self.revision.number if positions[0] >= self._revised_from_day else 0
        out: list[object] = []
        for column, item in enumerate(self.fields):
            if item.field_type == "met":
                out.append(_metric(item.data_type, mix64(key ^ (column + 1) * 0x9E37), revised))
            elif item.is_date:
                out.append(self._day_labels[positions[0]])
            elif item.is_account:
                out.append(self._account_labels[positions[self._axis_of[item.field_id]]])
            else:
                position = positions[self._axis_of[item.attribute_of or item.field_id]]
                out.append(item.values[position])
        return out


def _float_metric(bits: int, revised: int) -> float | None:
    if (bits >> 50) % 11 == 0:  # about one value in eleven is missing, as in real data
        return None
    return round((bits % 1_000_000) / 100 + revised, 2)


_METRICS: dict[str, Callable[[int, int], object]] = {
    INT: lambda bits, revised: bits % 10_000 + revised,
    PERCENT: lambda bits, _: round((bits % 10_000) / 100, 2),
    CURRENCY: lambda bits, revised: round((bits % 10_000_000) / 100 + revised * 1.5, 2),
    FLOAT: _float_metric,
    BOOL: lambda bits, _: bool(bits & 1),
}


def _metric(data_type: str, bits: int, revised: int) -> object:
    """Turn 64 random bits into a plausible metric value of `data_type`."""
    make = _METRICS.get(data_type)
    return make(bits, revised) if make else str(bits % 1000)

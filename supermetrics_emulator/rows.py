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
from functools import cached_property

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
        if last < first:
            return
        duplicate = self.duplicate_row
        if duplicate is None or last < duplicate:
            yield from self._generate(first, last - first + 1)
            return
        # Rows after the injected duplicate are shifted by one.
        if first <= duplicate:
            yield from self._generate(first, duplicate - first + 1)
            first = duplicate + 1
        yield from self._generate(first - 1, last - first + 1)

    def row(self, index: int) -> list[object]:
        """Compute the row at `index` of the natural (duplicate-free) result."""
        return next(self._generate(index, 1))

    def _generate(self, start: int, count: int) -> Iterator[list[object]]:
        positions = []
        remainder = start
        for axis in reversed(self.axes):
            remainder, position = divmod(remainder, axis.size)
            positions.append(position)
        positions.reverse()
        count = max(0, min(count, self.natural_rows - start))
        return self._compiled(positions, count, self._revised_from_day, self.revision.number)

    @cached_property
    def _compiled(self) -> Callable[..., Iterator[list[object]]]:
        """Compile a row generator for this plan: it runs for every row served.

        Positions advance like an odometer (the last axis fastest); each row's key is
        the sum of its positions' seeds, and every metric is a cheap function of it.
        """
        names: dict[str, object] = {"P": _PRIME, "D": tuple(self._day_labels)}
        axes = range(len(self.axes))
        for number in axes:
            names[f"S{number}"] = tuple(
                (seed * (2 * number + 1)) % _PRIME for seed in self.axes[number].seeds
            )
        cells = []
        for column, item in enumerate(self.fields):
            if item.field_type == "met":
                names[f"M{column}"] = 1 + mix64(column + 17) % (_PRIME - 1)
                cells.append(_METRIC_SOURCES.get(item.data_type, _TEXT_METRIC).format(c=column))
            elif item.is_date:
                cells.append("D[p0]")
            else:
                axis = self._axis_of[item.attribute_of or item.field_id]
                names[f"V{column}"] = (
                    self._account_labels if item.is_account else tuple(item.values)
                )
                cells.append(f"V{column}[p{axis}]")
        unpack = ", ".join(f"p{n}" for n in axes)
        seed_sum = " + ".join(f"S{n}[p{n}]" for n in axes)
        odometer = ""
        indent = "        "
        for number in reversed(axes):
            names[f"N{number}"] = self.axes[number].size
            odometer += f"{indent}p{number} += 1\n{indent}if p{number} == N{number}:\n"
            indent += "    "
            odometer += f"{indent}p{number} = 0\n" if number else f"{indent}pass\n"
        source = (
            f"def generate(positions, count, revised_from, revision):\n"
            f"    {unpack}, = positions\n"
            f"    for _ in range(count):\n"
            f"        h = ({seed_sum}) * 2654435761 % P\n"
            f"        rev = revision if p0 >= revised_from else 0\n"
            f"        yield [{', '.join(cells)}]\n"
            f"{odometer}"
        )
        exec(compile(source, "<emulator rows>", "exec"), names)  # noqa: S102 - our own source
        generate: Callable[..., Iterator[list[object]]] = names["generate"]  # type: ignore[assignment]
        return generate


_PRIME = 4_294_967_291  # the largest prime below 2**32: keeps every product a small int

#: Metric cells as expressions of the row key `h`, the column multiplier and `rev`.
#: Values are integers divided by 100, so they print with at most two decimals.
_TEXT_METRIC = "str(h * M{c} % P % 1000)"
_METRIC_SOURCES = {
    INT: "h * M{c} % P % 10000 + rev",
    PERCENT: "h * M{c} % P % 10000 / 100",
    CURRENCY: "(h * M{c} % P % 10000000 + rev * 150) / 100",
    FLOAT: "(None if (b{c} := h * M{c} % P) // 1000000 % 11 == 0 "
    "else (b{c} % 1000000 + rev * 100) / 100)",
    BOOL: "h * M{c} % P % 2 == 1",
}

"""Deterministic, lazy result rows.

A result is never materialised: row *i* is computed from its index, so a page of a
5-million-row result costs the same memory as a page of a 50-row one. Rows are
ordered by date, then by the requested dimensions in request order (the last one
varies fastest).

A row's metrics follow docs/emulator-arithmetic.md (`metrics.py` holds the arithmetic):
an additive metric is a (day, account) amount times a weight per dimension value on the
row, times the weight sums of the dimensions the query leaves out, so that any query's
rows add up to any coarser query's, a totals query (date and account alone) included;
a ratio is recomputed from the row's own amounts. Nothing depends on the query that
asked, beyond which dimensions it splits by: overlapping date windows and re-reads see
the same numbers, exactly like a real, settled data source. A query without the
account dimension sums over its accounts, as Supermetrics does.

The generator is compiled per plan: positions advance like an odometer, and each
level keeps its partial product of weights, so a row costs one multiplication per
amount it needs (a ratio's parts included) on top of building its list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from supermetrics_emulator.catalog import DataSource, Field
from supermetrics_emulator.dropped import Skips, matching_indexes
from supermetrics_emulator.metrics import (
    DayValues,
    Measure,
    Ratio,
    additive_cell,
    left_out,
    measure_of,
    ratio_cell,
    ratio_of,
    scaled,
    weights,
)
from supermetrics_emulator.upstream import NO_CHANGES, DropRule, Upstream, same


@dataclass(frozen=True)
class Axis:
    """One enumerated dimension of the result: its labels, and what its positions are.

    `weighted`: a catalogue dimension whose values weigh metrics (not the date, not the
    accounts).
    """

    name: str
    labels: tuple[object, ...]
    weighted: bool = False

    @property
    def size(self) -> int:
        """How many positions this axis has."""
        return len(self.labels)


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
        max_result_rows: int = 0,
        duplicate_row: int | None = None,
        upstream: Upstream = NO_CHANGES,
        account_names: Mapping[str, str] | None = None,
    ) -> None:
        """Lay out the axes of the result for these fields, dates and accounts.

        `account_names` names the accounts (the login's, extra accounts included);
        without it, the catalogue's names are used, and an unknown account is named by
        its id. `max_result_rows` (0 = none) is the API's cap on one result: rows past it
        are cut silently, the first ones kept, and nothing is computed to cut them. The
        cap applies before an injected duplicate row, which comes on top.
        """
        self.source = source
        self.fields = [source.fields[field_id] for field_id in field_ids]
        self.accounts = tuple(accounts)
        names = account_names
        if names is None:
            names = {account.account_id: account.account_name for account in source.accounts}
        self.account_names = tuple(names.get(account, account) for account in self.accounts)
        self.days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        self.revision = revision
        self.duplicate_row = duplicate_row
        self.upstream = upstream.for_source(source.ds_id)
        self.dated = any(f.is_date for f in self.fields)
        day_labels = [d.isoformat() for d in self.days] if self.dated else [f"{start}..{end}"]
        self.axes = [Axis("Date", tuple(day_labels))]
        self._axis_of: dict[str, int] = {"Date": 0}
        for item in self.fields:
            if not (item.is_date or item.field_type == "met"):
                self._add_axis(item)
        account_field = source.account_field
        #: Without the account's axis (its id or name asked for), a row sums over the
        #: query's accounts.
        self.summed = account_field is None or account_field.field_id not in self._axis_of
        self._revised_from_day = next(
            (n for n, day in enumerate(self.days) if day >= revision.from_date), len(self.days)
        )
        full = 1 if self.accounts else 0
        for axis in self.axes:
            full *= axis.size
        self.full_rows = full
        self.skips = Skips(index for rule in self.upstream.drops for index in self._matches(rule))
        visible = full - len(self.skips)
        #: Rows the query asks for and the data holds, before the API's cap on a result.
        self.natural_rows = visible if max_rows is None else min(visible, max_rows)
        #: Rows kept: the natural ones up to the cap.
        self.kept_rows = min(self.natural_rows, max_result_rows or self.natural_rows)

    def _account_label(self, account: str) -> str:
        return f"{self.source.ds_id}:{self.source.account_seed_name}:{account}"

    def _add_axis(self, item: Field) -> None:
        axis_name = item.attribute_of or item.field_id
        if axis_name in self._axis_of:
            return
        parent = self.source.fields[axis_name]
        self._axis_of[axis_name] = len(self.axes)
        if parent.is_account:
            self.axes.append(Axis(axis_name, self.accounts))
        else:
            self.axes.append(Axis(axis_name, parent.values, weighted=parent.is_weighted))

    def _values(self, item: Field) -> tuple[object, ...]:
        """What a dimension holds per position of its axis, before renames."""
        if item.is_account:
            return self.accounts
        if item.attribute_of and self.source.fields[item.attribute_of].is_account:
            return self.account_names
        return item.values

    def _matches(self, rule: DropRule) -> Iterator[int]:
        """Natural indexes of the rows `rule` drops; none unless every field is an axis."""
        allowed: list[Collection[int] | None] = [None] * len(self.axes)
        for field_id, wanted in rule.match:
            item = self.source.fields[field_id]
            axis = self._axis_of.get("Date" if item.is_date else item.attribute_of or field_id)
            if axis is None or (item.is_date and not self.dated):
                return iter(())
            labels = self.axes[axis].labels if item.is_date else self._values(item)
            positions = {
                n
                for n, label in enumerate(labels)
                if same(wanted, label) or same(wanted, self.upstream.renamed(field_id, label))
            }
            before = allowed[axis]
            allowed[axis] = positions if before is None else set(before) & positions
        return matching_indexes([axis.size for axis in self.axes], allowed)

    @property
    def cut(self) -> bool:
        """Whether the API's cap on a result's rows left some of them out."""
        return self.kept_rows < self.natural_rows

    @property
    def total_rows(self) -> int:
        """Rows in the result, counting an injected duplicate."""
        return self.kept_rows + (1 if self.duplicate_row is not None else 0)

    def rows(self, first: int, last: int) -> Iterator[list[object]]:
        """Yield rows `first`..`last` (inclusive), computing each from its index."""
        last = min(last, self.total_rows - 1)
        if last < first:
            return
        duplicate = self.duplicate_row
        if duplicate is None or last < duplicate:
            yield from self._visible(first, last)
            return
        # Rows after the injected duplicate are shifted by one.
        if first <= duplicate:
            yield from self._visible(first, duplicate)
            first = duplicate + 1
        yield from self._visible(first - 1, last - 1)

    def _visible(self, first: int, last: int) -> Iterator[list[object]]:
        """Yield visible rows `first`..`last`: kept rows with the dropped ones skipped."""
        last = min(last, self.kept_rows - 1)
        for start, count in self.skips.runs(first, last - first + 1):
            yield from self._generate(start, count)

    def _generate(self, start: int, count: int) -> Iterator[list[object]]:
        positions = []
        remainder = start
        for axis in reversed(self.axes):
            remainder, position = divmod(remainder, axis.size)
            positions.append(position)
        positions.reverse()
        count = max(0, min(count, self.full_rows - start))
        return self._compiled(positions, count)

    def _labels(self, item: Field) -> tuple[object, ...]:
        """What a dimension column reports per axis position, renames applied."""
        return tuple(self.upstream.renamed(item.field_id, label) for label in self._values(item))

    @cached_property
    def _metrics(self) -> _Metrics:
        """The amounts the metric columns need, and where each column finds its own."""
        return _Metrics(self.source, [item for item in self.fields if item.field_type == "met"])

    @cached_property
    def _day_values(self) -> DayValues:
        on_axes = [axis.name for axis in self.axes]
        measures = self._metrics.measures
        return DayValues(
            measures,
            [str(label) for label in self.axes[0].labels],
            [self._account_label(account) for account in self.accounts],
            spreads=[left_out(self.source, on_axes, measure) for measure in measures],
            revision=self.revision.number,
            revised_from=self._revised_from_day,
            summed=self.summed,
        )

    @cached_property
    def _compiled(self) -> Callable[..., Iterator[list[object]]]:
        """Compile a row generator for this plan: it runs for every row served."""
        names: dict[str, object] = {"D": self.axes[0].labels, "day_values": self._day_values}
        metrics = self._metrics
        last = len(self.axes) - 1
        cells = []
        for column, item in enumerate(self.fields):
            if item.field_type == "met":
                cells.append(metrics.cell(item.field_id, f"P{last}_", f"q{column}"))
            elif item.is_date:
                cells.append("D[p0]")
            else:
                position = f"p{self._axis_of[item.attribute_of or item.field_id]}"
                names[f"V{column}"] = self._labels(item)
                cells.append(f"V{column}[{position}]")
        for number, axis in enumerate(self.axes):
            names[f"N{number}"] = axis.size
            if axis.weighted:
                for slot, measure in enumerate(metrics.measures):
                    names[f"X{number}_{slot}"] = weights(
                        self.source.ds_id, axis.name, axis.labels, measure
                    )
        odometer = _Odometer(self.axes, metrics.measures, summed=self.summed)
        unpack = ", ".join(f"p{n}" for n in range(last + 1))
        source = "\n".join(
            [
                "def generate(positions, count):",
                f"    {unpack}, = positions",
                *odometer.recompute(0, "    "),
                "    for _ in range(count):",
                f"        yield [{', '.join(cells)}]",
                *odometer.advance(last, "        "),
            ]
        )
        exec(compile(source, "<emulator rows>", "exec"), names)  # noqa: S102 - our own source
        generate: Callable[..., Iterator[list[object]]] = names["generate"]  # type: ignore[assignment]
        return generate


class _Metrics:
    """A query's metric columns as amounts: the drawn measures its cells are made of.

    `measures` lists every drawn measure once, in the order first needed (a metric's
    parts and a ratio's numerator and denominator included); a cell reads its amounts by
    slot, and a metric with parts is the sum of theirs.
    """

    def __init__(self, source: DataSource, metrics: Sequence[Field]) -> None:
        self.measures: list[Measure] = []
        self._slots: dict[str, int] = {}
        self._additive: dict[str, Measure] = {}
        self._ratios: dict[str, Ratio] = {}
        for item in metrics:
            if item.ratio_of is None:
                self._use(measure_of(source, item.field_id))
            else:
                ratio = self._ratios[item.field_id] = ratio_of(source, item)
                self._use(ratio.numerator)
                self._use(ratio.denominator)

    def _use(self, measure: Measure) -> None:
        self._additive[measure.field_id] = measure
        for drawn in measure.parts or (measure,):
            if drawn.field_id not in self._slots:
                self._slots[drawn.field_id] = len(self.measures)
                self.measures.append(drawn)

    def _amount(self, measure: Measure, prefix: str) -> str:
        slots = [self._slots[drawn.field_id] for drawn in measure.parts or (measure,)]
        if len(slots) == 1:
            return f"{prefix}{slots[0]}"
        return f"({' + '.join(f'{prefix}{slot}' for slot in slots)})"

    def cell(self, field_id: str, prefix: str, local: str) -> str:
        """The expression of metric `field_id`'s cell, from the amounts `<prefix><slot>`.

        `local` is a name the expression may assign (a ratio's denominator).
        """
        ratio = self._ratios.get(field_id)
        if ratio is None:
            measure = self._additive[field_id]
            return additive_cell(measure, self._amount(measure, prefix))
        numerator = self._amount(ratio.numerator, prefix)
        denominator = self._amount(ratio.denominator, prefix)
        return ratio_cell(ratio, numerator, denominator, local)


class _Odometer:
    """The generated code that moves positions on and keeps each level's amounts.

    Level `i`'s amounts (`P<i>_<slot>`) are the day's amounts (taken at the date level
    when rows sum over accounts, at the account's level otherwise) times the weights of
    the positions of levels 1 to `i`. Moving a level recomputes it and the faster ones
    only, so the fastest level's amounts, the row's, cost one product each per row.
    """

    def __init__(self, axes: Sequence[Axis], measures: Sequence[Measure], *, summed: bool) -> None:
        self._axes = axes
        self._measures = measures
        self._summed = summed

    def _level(self, number: int, indent: str) -> list[str]:
        """The lines that recompute level `number`'s amounts from the level before.

        Without a sum over accounts, the date level holds no amount yet (as if all 1):
        level 1 then starts from its own weight, or its account's amounts, unmultiplied.
        """
        axis = self._axes[number]
        if number == 0:
            lines = ["Tday = day_values(p0)"]
            if self._summed:
                lines += ["T = Tday[0]"]
                lines += [f"P0_{slot} = T[{slot}]" for slot in range(len(self._measures))]
            return [indent + line for line in lines]
        lines = [] if axis.weighted else [f"T = Tday[p{number}]"]  # an account's amounts
        for slot, measure in enumerate(self._measures):
            before = f"P{number - 1}_{slot}"
            if axis.weighted:  # the amounts so far may be null, the weight never is
                product = scaled(measure, before, f"X{number}_{slot}[p{number}]")
                own = f"X{number}_{slot}[p{number}]"
            else:  # the account's amount may be null, the weights so far never are
                product = scaled(measure, f"T[{slot}]", before)
                own = f"T[{slot}]"
            first = number == 1 and not self._summed
            lines.append(f"P{number}_{slot} = {own if first else product}")
        return [indent + line for line in lines]

    def recompute(self, first: int, indent: str) -> list[str]:
        """The lines that recompute levels `first` to the last, or `pass` if none have any."""
        lines = [
            line for number in range(first, len(self._axes)) for line in self._level(number, indent)
        ]
        return lines or [f"{indent}pass"]

    def advance(self, number: int, indent: str) -> list[str]:
        """The lines that move to the next row from level `number` (carrying to slower ones)."""
        if number == 0:
            return [
                f"{indent}p0 += 1",
                f"{indent}if p0 == N0:",
                f"{indent}    return",
                *self.recompute(0, indent),
            ]
        inner = indent + "    "
        return [
            f"{indent}p{number} += 1",
            f"{indent}if p{number} == N{number}:",
            f"{inner}p{number} = 0",
            *self.advance(number - 1, inner),
            f"{indent}else:",
            *self.recompute(number, inner),
        ]

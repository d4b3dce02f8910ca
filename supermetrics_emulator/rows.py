"""Deterministic, lazy result rows.

A result is never materialised: row *i* is computed from its index, so a page of a
5-million-row result costs the same memory as a page of a 50-row one. Rows are
ordered by date, then by the requested dimensions in request order (the last one
varies fastest).

An account's metric values depend only on the row's dimension values, the account
and the data revision, never on the query that asked for them: overlapping date
windows and re-reads see the same numbers, exactly like a real, settled data source.
A query without the account dimension sums over its accounts (averages percentages),
as Supermetrics does, so it equals the sum of the per-account rows.

The arithmetic, all modulo P = 4,294,967,291: a label's seed is an FNV-1a-style 64-bit
hash of its UTF-8 bytes (`_seed`) put through the splitmix64 finaliser (`mix64`).
Labels are `day:<date>`, `<ds_id>:<dimension>:<value>` for a dimension's values and
`<ds_id>:<account seed name>:<account id>` for an account (`AW:profile:111-111-1111`:
Google Ads' accounts keep the name of the field that carried their ids before
`profileID`, `DataSource.account_seed`). A row's key is (sum of its axes' seeds, the
account's included, or the account's seed added per account when summing) x
2,654,435,761 mod P; each metric is key x (1 + seed of `metric:<field id>` mod (P - 1))
mod P, reduced per data type (`_metric_cell`). An attribute of the account field
(Google Ads' `profile`) reports the account's name: it rides on the account's axis and
adds no seed of its own, so asking for it never changes a metric.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from supermetrics_emulator.catalog import BOOL, CURRENCY, FLOAT, INT, PERCENT, DataSource, Field
from supermetrics_emulator.dropped import Skips, matching_indexes
from supermetrics_emulator.upstream import NO_CHANGES, DropRule, Upstream, same

_MASK = (1 << 64) - 1
_PRIME = 4_294_967_291  # the largest prime below 2**32: keeps every product a small int


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
    return mix64(acc) % _PRIME


@dataclass(frozen=True)
class Axis:
    """One enumerated dimension of the result: its labels and a seed per position."""

    name: str
    labels: tuple[object, ...]
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
        self.axes = [Axis("Date", tuple(day_labels), tuple(_seed(f"day:{d}") for d in day_labels))]
        self._axis_of: dict[str, int] = {"Date": 0}
        for item in self.fields:
            if not (item.is_date or item.field_type == "met"):
                self._add_axis(item)
        account_field = source.account_field
        #: Without the account's axis (its id or name asked for), a row sums over these
        #: accounts' seeds.
        self.summed = account_field is None or account_field.field_id not in self._axis_of
        self._account_seeds = tuple(self._account_seed(account) for account in accounts)
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

    def _account_seed(self, account: str) -> int:
        return _seed(f"{self.source.ds_id}:{self.source.account_seed_name}:{account}")

    def _add_axis(self, item: Field) -> None:
        axis_name = item.attribute_of or item.field_id
        if axis_name in self._axis_of:
            return
        parent = self.source.fields[axis_name]
        labels: tuple[object, ...]
        if parent.is_account:
            labels = self.accounts
            seeds = tuple(self._account_seed(account) for account in self.accounts)
        else:
            labels = parent.values
            seeds = tuple(_seed(f"{self.source.ds_id}:{axis_name}:{label}") for label in labels)
        self._axis_of[axis_name] = len(self.axes)
        self.axes.append(Axis(axis_name, labels, seeds))

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
        return self._compiled(positions, count, self._revised_from_day, self.revision.number)

    def _labels(self, item: Field) -> tuple[object, ...]:
        """What a dimension column reports per axis position, renames applied."""
        return tuple(self.upstream.renamed(item.field_id, label) for label in self._values(item))

    @cached_property
    def _compiled(self) -> Callable[..., Iterator[list[object]]]:
        """Compile a row generator for this plan: it runs for every row served.

        Positions advance like an odometer (the last axis fastest); each row's key is
        the sum of its positions' seeds (and, summing over accounts, an account's), and
        every metric is a cheap function of it.
        """
        names: dict[str, object] = {"P": _PRIME, "D": self.axes[0].labels, "nsum": _nullable_sum}
        axes = range(len(self.axes))
        for number in axes:
            names[f"S{number}"] = self.axes[number].seeds
        seed_sum = " + ".join(f"S{n}[p{n}]" for n in axes)
        summed_over = self._account_seeds if self.summed else ()
        if len(summed_over) > 1:
            # One row key per account, unrolled: a comprehension per cell costs twice as much.
            keys = [f"h{n}" for n in range(len(summed_over))]
            key = f"k = {seed_sum}\n" + "\n".join(
                f"        h{n} = (k + A{n}) * 2654435761 % P" for n in range(len(summed_over))
            )
            names.update({f"A{n}": seed for n, seed in enumerate(summed_over)})
        else:
            keys = ["h"]
            names["K"] = summed_over[0] if summed_over else 0
            key = f"h = ({seed_sum} + K) * 2654435761 % P"
        cells = []
        for column, item in enumerate(self.fields):
            if item.field_type == "met":
                names[f"M{column}"] = 1 + _seed(f"metric:{item.field_id}") % (_PRIME - 1)
                cells.append(_metric_cell(item.data_type, f"M{column}", keys))
            elif item.is_date:
                cells.append("D[p0]")
            else:
                axis = self._axis_of[item.attribute_of or item.field_id]
                names[f"V{column}"] = self._labels(item)
                cells.append(f"V{column}[p{axis}]")
        odometer = ""
        indent = "        "
        for number in reversed(axes):
            names[f"N{number}"] = self.axes[number].size
            odometer += f"{indent}p{number} += 1\n{indent}if p{number} == N{number}:\n"
            indent += "    "
            odometer += f"{indent}p{number} = 0\n" if number else f"{indent}pass\n"
        unpack = ", ".join(f"p{n}" for n in axes)
        source = (
            f"def generate(positions, count, revised_from, revision):\n"
            f"    {unpack}, = positions\n"
            f"    for _ in range(count):\n"
            f"        {key}\n"
            f"        rev = revision if p0 >= revised_from else 0\n"
            f"        yield [{', '.join(cells)}]\n"
            f"{odometer}"
        )
        exec(compile(source, "<emulator rows>", "exec"), names)  # noqa: S102 - our own source
        generate: Callable[..., Iterator[list[object]]] = names["generate"]  # type: ignore[assignment]
        return generate


def _nullable_sum(*cents: int | None) -> float | None:
    """Sum cents over accounts: null only when every account's value is null."""
    present = [value for value in cents if value is not None]
    return sum(present) / 100 if present else None


def _metric_cell(data_type: str, multiplier: str, keys: list[str]) -> str:
    """Return the expression of a metric cell, from the row key of each account.

    One key: that account's value. Several: their sum, in integer cents so that it
    is exact (percentages average; a null counts as 0 unless every account's value
    is null; a boolean is true if any account's is; text is the first account's).
    Fractional values are integers divided by 100: at most two decimals per account.
    """
    base = [f"{key} * {multiplier} % P" for key in keys]
    if data_type == INT:
        cell = " + ".join(f"{b} % 10000 + rev" for b in base)
    elif data_type == PERCENT:
        cell = f"({' + '.join(f'{b} % 10000' for b in base)}) / {100 * len(keys)}"
    elif data_type == CURRENCY:
        cell = f"({' + '.join(f'{b} % 10000000 + rev * 150' for b in base)}) / 100"
    elif data_type == FLOAT and len(keys) == 1:
        cell = (
            f"(None if (b := {base[0]}) // 1000000 % 11 == 0 else (b % 1000000 + rev * 100) / 100)"
        )
    elif data_type == FLOAT:
        terms = [
            f"None if (b := {b}) // 1000000 % 11 == 0 else b % 1000000 + rev * 100" for b in base
        ]
        cell = f"nsum({', '.join(f'({term})' for term in terms)})"
    elif data_type == BOOL:
        cell = " or ".join(f"{b} % 2 == 1" for b in base)
    else:
        cell = f"str({base[0]} % 1000)"
    return cell

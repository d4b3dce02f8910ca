"""Upstream changes from a given moment on: renamed dimension values and dropped rows.

Real data sources change under a client's feet: a campaign is renamed (and every
day, past ones too, is then reported under the new name), or rows vanish after a
clean-up. The settings `renames` and `dropped_rows` describe such changes as JSON;
this module checks them and turns them into frozen values that a query captures at
submission, so a query keeps what was in force when it was submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from supermetrics_emulator.catalog import DATA_SOURCES, DataSource

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Rename:
    """Dimension `field` of data source `ds_id` reports `new` wherever it held `old`."""

    ds_id: str
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class DropRule:
    """Rows whose dimensions hold every value of `match` are gone from `ds_id`."""

    ds_id: str
    match: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Upstream:
    """The renames and dropped rows in force at one moment, in the order given."""

    renames: tuple[Rename, ...] = ()
    drops: tuple[DropRule, ...] = ()

    @classmethod
    def from_settings(cls, renames: Iterable[Any], dropped_rows: Iterable[Any]) -> Upstream:
        """Build from the JSON values of the `renames` and `dropped_rows` settings."""
        return cls(parse_renames(renames), parse_dropped_rows(dropped_rows))

    def for_source(self, ds_id: str) -> Upstream:
        """Keep only the changes to data source `ds_id`."""
        return Upstream(
            tuple(item for item in self.renames if item.ds_id == ds_id),
            tuple(item for item in self.drops if item.ds_id == ds_id),
        )

    def renamed(self, field_id: str, value: object) -> object:
        """Return what `value` of dimension `field_id` is reported as (renames chain)."""
        for rename in self.renames:
            if rename.field == field_id and same(rename.old, value):
                value = rename.new
        return value


#: No upstream change at all.
NO_CHANGES = Upstream()


def same(left: object, right: object) -> bool:
    """Compare JSON scalars without taking True for 1 (as JSON would not)."""
    return type(left) is type(right) and left == right


def _source(spec: dict[str, Any], what: str) -> DataSource:
    source = DATA_SOURCES.get(spec.get("ds_id"))  # type: ignore[arg-type]
    if source is None:
        msg = f"{what}: unknown ds_id {spec.get('ds_id')!r}"
        raise ValueError(msg)
    return source


def _object(item: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(item, dict) or set(item) != keys:
        msg = f"{what} must be an object with exactly the keys {', '.join(sorted(keys))}"
        raise ValueError(msg)
    return item


def _dimension(source: DataSource, field_id: object, what: str) -> None:
    item = source.fields.get(field_id) if isinstance(field_id, str) else None
    if item is None or item.field_type != "dim":
        msg = f"{what}: {field_id!r} is not a dimension of {source.ds_id}"
        raise ValueError(msg)


def _scalar(value: object, what: str) -> object:
    if not isinstance(value, _SCALARS):
        msg = f"{what}: {value!r} is not a JSON scalar"
        raise ValueError(msg)  # noqa: TRY004 - settings errors are ValueErrors
    return value


def parse_renames(value: Iterable[Any]) -> tuple[Rename, ...]:
    """Check `[{"ds_id", "field", "from", "to"}, ...]` and return it as Renames.

    Raises:
        ValueError: an entry is malformed, or names an unknown data source or a field
            that is not a (non-date) dimension.
    """
    renames = []
    for number, item in enumerate(value):
        what = f"renames[{number}]"
        spec = _object(item, {"ds_id", "field", "from", "to"}, what)
        source = _source(spec, what)
        _dimension(source, spec["field"], what)
        if source.fields[spec["field"]].is_date:
            msg = f"{what}: dates cannot be renamed"
            raise ValueError(msg)
        renames.append(
            Rename(
                source.ds_id, spec["field"], _scalar(spec["from"], what), _scalar(spec["to"], what)
            )
        )
    return tuple(renames)


def parse_dropped_rows(value: Iterable[Any]) -> tuple[DropRule, ...]:
    """Check `[{"ds_id", "match": {field: value, ...}}, ...]` and return it as DropRules.

    Raises:
        ValueError: an entry is malformed, its `match` is empty, or it names an unknown
            data source or a field that is not a dimension.
    """
    drops = []
    for number, item in enumerate(value):
        what = f"dropped_rows[{number}]"
        spec = _object(item, {"ds_id", "match"}, what)
        source = _source(spec, what)
        match = spec["match"]
        if not isinstance(match, dict) or not match:
            msg = f"{what}: match must be a non-empty object of field: value"
            raise ValueError(msg)
        for field_id, wanted in match.items():
            _dimension(source, field_id, what)
            _scalar(wanted, what)
        drops.append(DropRule(source.ds_id, tuple(match.items())))
    return tuple(drops)

"""Refresh tiers: which loaded days a run reads again, and how often.

Sources settle at different speeds (Google Ads conversions for 30 days, Facebook for 28,
X in a day), so one lookback either misses corrections or re-reads too much. A tier
`{"days": N, "every": K}` reads again the N days before an account's last loaded day,
and that day, once at least K **as-of days** have passed since the tier last ran for the
account. A query's as-of day is the earlier of its `end_date` and yesterday (UTC): the
count follows the data, not the wall clock, so replays are deterministic and a paused
schedule catches up with one re-read, not one per missed day. `lookback_days: N` is the
shorthand for `[{"days": N, "every": 1}]`. Whatever the tiers, the last loaded day is
read again by the next run: it may still have been running in the account's time zone.

Pure: no HTTP, no SDK.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from tap_supermetrics.core.errors import ConfigError

#: The keys a tier has, and nothing else.
TIER_KEYS = frozenset({"days", "every"})


@dataclass(frozen=True)
class Tier:
    """Read again the `days` days before the last loaded day once every `every` as-of days."""

    days: int
    every: int
    #: Set for the `lookback_days` shorthand: its reads keep the reason "lookback".
    shorthand: bool = False

    @property
    def key(self) -> str:
        """`30/7`: how the tier is named in the state."""
        return f"{self.days}/{self.every}"

    @property
    def reason(self) -> str:
        """Why its days are read, for the plan and `query_runs`."""
        if self.shorthand:
            return "lookback"
        return self.describe()

    def describe(self) -> str:
        """`refresh 30 days every 7`."""
        return f"refresh {self.days} days every {self.every}"

    def span(self, last_loaded: dt.date) -> tuple[dt.date, dt.date]:
        """The days the tier reads again: the `days` days before `last_loaded`, and it."""
        return last_loaded - dt.timedelta(days=self.days), last_loaded

    def is_due(self, last_ran: dt.date, as_of: dt.date) -> bool:
        """Whether at least `every` as-of days have passed since the tier last ran."""
        return (as_of - last_ran).days >= self.every


def lookback(days: int) -> tuple[Tier, ...]:
    """The tiers `lookback_days: days` stands for."""
    return (Tier(days, 1, shorthand=True),)


def parse_tiers(value: object, where: str) -> tuple[Tier, ...]:
    """Read a `refresh` setting, refusing anything but a list of `{days, every}` tiers."""
    if not isinstance(value, list):
        msg = f"{where}: refresh must be a list of tiers like {{'days': 30, 'every': 7}}"
        raise ConfigError(msg)
    tiers = []
    for number, item in enumerate(value):
        here = f"{where}[{number}]"
        if not isinstance(item, dict) or set(item) != TIER_KEYS:
            msg = f"{here}: a tier has exactly the keys 'days' and 'every', got {item!r}"
            raise ConfigError(msg)
        days, every = item["days"], item["every"]
        if not _is_int(days) or days < 0:
            msg = f"{here}: days must be a whole number of days, at least 0, got {days!r}"
            raise ConfigError(msg)
        if not _is_int(every) or every < 1:
            msg = f"{here}: every must be a whole number of days, at least 1, got {every!r}"
            raise ConfigError(msg)
        tiers.append(Tier(days, every))
    return tuple(tiers)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe(tiers: Sequence[Tier]) -> str:
    """`refresh 3 days every 1, refresh 30 days every 7` (`lookback 3 days`) for the plan."""
    named = (f"lookback {t.days} days" if t.shorthand else t.describe() for t in tiers)
    return ", ".join(named) or "no refresh"

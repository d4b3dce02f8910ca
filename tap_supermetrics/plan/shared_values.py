"""Per-account values that most accounts share, written once in the state.

At 1,000 accounts the per-account maps of a stream's coverage make each STATE message
about 150 KB, and a run writes one after most windows. Most accounts share one value:
the as-of day each refresh tier last ran, the unsettled day. Such a map is written as
`{"all": <the value most accounts hold>, "except": {<account>: <its own value, or null
for none>}}`, where `all` applies to every account of the stream's loaded `accounts`.
A map whose accounts hold no common value is written with `all` null and every account
under `except`.

Pure: JSON in, dictionaries out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

V = TypeVar("V")


def shared(values: Mapping[str, V], accounts: Iterable[str], encode: Callable[[V], Any]) -> Any:  # noqa: ANN401 - JSON
    """The shared form of `values` (per account) for the stream's loaded `accounts`."""
    loaded = set(accounts)
    encoded = {account: encode(value) for account, value in values.items()}
    counts = Counter(_key(encoded[account]) for account in loaded if account in encoded)
    common_key, common_count = counts.most_common(1)[0] if counts else ("null", 0)
    common = json.loads(common_key) if common_count > 1 else None
    other: dict[str, Any] = {}
    for account in sorted(loaded | set(encoded)):
        value = encoded.get(account)
        if account in loaded and common is not None and _key(value) == common_key:
            continue  # `all` says it
        if value is None and (common is None or account not in loaded):
            continue  # nothing to say: no value, and `all` does not apply to it
        other[account] = value
    return {"all": common, "except": other}


def unshared(stored: object, accounts: Iterable[str], decode: Callable[[Any], V]) -> dict[str, V]:
    """Read the shared form back, per account (anything malformed reads as nothing)."""
    if not isinstance(stored, dict):
        return {}
    common, other = stored.get("all"), stored.get("except")
    other = other if isinstance(other, dict) else {}
    values: dict[str, V] = {}
    if common is not None:
        for account in accounts:
            values[str(account)] = decode(common)
    for account, value in other.items():
        if value is None:
            values.pop(str(account), None)
        else:
            values[str(account)] = decode(value)
    return values


def _key(value: object) -> str:
    return json.dumps(value, sort_keys=True)

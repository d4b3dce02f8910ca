"""Faults on demand: deterministic rules that make the emulator misbehave.

A rule matches requests (HTTP-level actions) or submitted queries (query-level
actions), lets `skip` matches pass, then fires `times` times (0 = for ever). Rules
are plain JSON objects so that tests, the control endpoint and the command line all
speak the same language; docs/emulator.md "Fault injection" documents every key.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any

#: The API endpoints an HTTP-level rule can target (as the request log names them).
ENDPOINTS = frozenset({"submit", "status", "fields", "accounts"})
HTTP_ACTIONS = frozenset({"http_error", "drop", "slow", "truncate", "malform"})
QUERY_ACTIONS = frozenset(
    {
        "query_failure",
        "query_stopped",
        "never_finish",
        "expire_early",
        "duplicate_row",
        "unknown_status",
    }
)


@dataclass
class FaultRule:
    """One fault; unknown keys are refused so that a typo never silently does nothing."""

    action: str
    endpoint: str = "any"  # HTTP actions: one of ENDPOINTS, or "any"
    ds_id: str | None = None
    start_date: str | None = None  # query actions: match the query's start_date
    account: str | None = None  # query actions: only queries that read this account
    #: Only queries (query actions) or submits (HTTP actions) whose `fields` lack this
    #: one: a totals query, say, that a data source refuses in that shape.
    without_field: str | None = None
    min_offset: int | None = None  # HTTP actions: only pages whose offset_start >= this
    skip: int = 0
    times: int = 1
    status: int = 503
    retry_after: str | None = None
    code: str | None = None
    message: str | None = None
    delay: float = 0.0
    after_pages: int | None = None
    after_seconds: float | None = None
    row: int = 0
    kind: str = "no_meta"  # malform: "no_meta", "short_row" or "bad_value"
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        """Refuse actions and endpoints the emulator does not know, and keys that cannot apply."""
        if self.action not in HTTP_ACTIONS | QUERY_ACTIONS:
            msg = f"unknown fault action {self.action!r}"
            raise ValueError(msg)
        if self.endpoint not in {"any", *ENDPOINTS}:
            msg = f"unknown fault endpoint {self.endpoint!r}"
            raise ValueError(msg)
        if self.account is not None and self.action not in QUERY_ACTIONS:
            msg = f"account applies to query actions, not to {self.action!r}"
            raise ValueError(msg)
        if self.without_field is not None and self.endpoint not in {"any", "submit"}:
            msg = f"without_field matches submitted queries, never the {self.endpoint!r} endpoint"
            raise ValueError(msg)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> FaultRule:
        """Build a rule from its JSON form."""
        known = {item.name for item in fields(cls)} - {"seen", "fired"}
        unknown = set(spec) - known
        if unknown:
            msg = f"unknown fault keys: {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        return cls(**spec)

    def shape_matches(self, params: dict[str, Any]) -> bool:
        """Whether the request's `fields` lack `without_field` (always, without the key).

        A request that carries no `fields` (a poll, a lookup by `schedule_id`) is no
        submitted query, so a rule with the key never matches it.
        """
        if self.without_field is None:
            return True
        fields = params.get("fields")
        if isinstance(fields, str):
            fields = [part.strip() for part in fields.split(",")]
        if not isinstance(fields, list):
            return False
        return self.without_field not in fields

    def _take(self) -> bool:
        self.seen += 1
        if self.seen <= self.skip or (self.times and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class FaultBook:
    """The rules in force, consulted by the server under one lock."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """Add a rule from its JSON form and return it."""
        rule = FaultRule.from_dict(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """Return the rules with their counters, for the stats endpoint."""
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def take_http(self, endpoint: str, params: dict[str, Any]) -> FaultRule | None:
        """Return the first HTTP-level rule that fires for this request, if any."""
        offset = params.get("offset_start", 0)
        with self._lock:
            for rule in self._rules:
                if rule.action not in HTTP_ACTIONS:
                    continue
                if rule.endpoint not in {"any", endpoint}:
                    continue
                if rule.ds_id is not None and params.get("ds_id") != rule.ds_id:
                    continue
                if not rule.shape_matches(params):
                    continue
                if rule.min_offset is not None and (
                    not isinstance(offset, int) or offset < rule.min_offset
                ):
                    continue
                if rule._take():  # noqa: SLF001 - the book owns its rules
                    return rule
        return None

    def give_back(self, rule: FaultRule) -> None:
        """Undo one firing of `rule`: it did not apply to the answer after all."""
        with self._lock:
            rule.fired -= 1

    def take_query(self, params: dict[str, Any], accounts: Collection[str]) -> list[FaultRule]:
        """Return the query-level rules that fire for a newly submitted query.

        `accounts` are the query's accounts once `ds_accounts` is expanded, so that a
        rule for one account also matches a team list or filter that includes it.
        """
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if rule.action not in QUERY_ACTIONS:
                    continue
                if rule.ds_id is not None and params.get("ds_id") != rule.ds_id:
                    continue
                if rule.start_date is not None and params.get("start_date") != rule.start_date:
                    continue
                if rule.account is not None and rule.account not in accounts:
                    continue
                if not rule.shape_matches(params):
                    continue
                if rule._take():  # noqa: SLF001 - the book owns its rules
                    fired.append(rule)
        return fired

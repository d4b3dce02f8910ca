"""What the streams of one sync share: submitted queries, their reports, accounts, failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.api.account_lists import AccountDirectory
from tap_supermetrics.api.lifecycle import QueryRun
from tap_supermetrics.read.failures import FailureLedger
from tap_supermetrics.read.scheduler import QueryPool


@dataclass
class SyncRun:
    """One sync's shared parts; the tap makes one and hands it to every stream."""

    pool: QueryPool = field(default_factory=QueryPool)
    runs: list[QueryRun] = field(default_factory=list)
    accounts: AccountDirectory = field(default_factory=AccountDirectory)
    failures: FailureLedger = field(default_factory=FailureLedger)
    #: The `reconciliation` records of the run's windows.
    reconciliations: list[dict[str, Any]] = field(default_factory=list)

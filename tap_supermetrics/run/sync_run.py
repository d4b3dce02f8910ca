"""What the streams of one sync share: submitted queries, their reports, accounts, failures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tap_supermetrics.api.account_lists import AccountDirectory
from tap_supermetrics.api.lifecycle import QueryRun
from tap_supermetrics.run.failures import FailureLedger
from tap_supermetrics.run.scheduler import QueryPool


@dataclass
class SyncRun:
    """One sync's shared parts; the tap makes one and hands it to every stream."""

    pool: QueryPool = field(default_factory=QueryPool)
    runs: list[QueryRun] = field(default_factory=list)
    accounts: AccountDirectory = field(default_factory=AccountDirectory)
    failures: FailureLedger = field(default_factory=FailureLedger)
    #: The `reconciliation` records of the run's windows.
    reconciliations: list[dict[str, Any]] = field(default_factory=list)
    #: When a stream last wrote STATE (monotonic seconds; None: not yet in this run).
    state_written: float | None = None
    #: When the sync started (monotonic seconds), for the run's summary line.
    started: float = field(default_factory=time.monotonic)

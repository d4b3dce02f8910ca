"""The SDK's side: the streams a Singer target sees.

One `QueryStream` per configured query (the adapter between the SDK and `read/`), the
fixed streams `query_runs`, `coverage` and `reconciliation`, the SDK-private hooks kept
in one place, Singer output, and the allocator setting. The top layer below `tap.py`,
which holds the settings and the list of streams.
"""

from tap_supermetrics.streams.coverage import CoverageStream
from tap_supermetrics.streams.query import QueryStream, default_primary_keys
from tap_supermetrics.streams.query_runs import QueryRunsStream
from tap_supermetrics.streams.reconciliation import ReconciliationStream

__all__ = [
    "CoverageStream",
    "QueryRunsStream",
    "QueryStream",
    "ReconciliationStream",
    "default_primary_keys",
]

"""The fixed `reconciliation` stream: per (stream, day, account, metric), loaded vs source.

One record per comparison of a window's loaded rows with Supermetrics' totals
(`reconcile.py`), keyed by stream, date, account and metric, so the table holds the latest
check of each: alert on `matched = false` (docs/reconciliation.md). The current relations
(dbt) ignore it: it is not a stream of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_supermetrics.core.resources import schemas_directory

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_supermetrics.run.sync_run import SyncRun


class ReconciliationStream(Stream):
    """The run's comparisons of loaded rows with Supermetrics' totals."""

    name = "reconciliation"
    primary_keys = ("stream", "date", "account", "metric")
    schema = StreamSchema(SchemaDirectory(schemas_directory()), key="reconciliation")

    def __init__(self, tap: Tap, run: SyncRun) -> None:
        """Report the comparisons collected in `run` by the query streams."""
        super().__init__(tap=tap)
        self._run = run

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from self._run.reconciliations

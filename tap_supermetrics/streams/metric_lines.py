"""How many of the SDK's METRIC log lines a run writes (`metric_lines`).

The SDK logs a METRIC line per HTTP request (its duration), so a run that polls and pages
writes more METRIC lines than lines of its own: measured, 87 METRIC lines against 62
others for two accounts over three months in 7-day windows. The SDK's only switch, the
log level, hides the tap's own INFO lines (the plan, the usage line) with them. This
setting acts on METRIC lines alone:

- `all`: every METRIC line, as the SDK writes them (the default);
- `sampled`: every per-stream total (records, requests, sync duration), and one request
  duration in `SAMPLE_EVERY`;
- `none`: no METRIC line.
"""

from __future__ import annotations

import logging

from singer_sdk.metrics import Metric, Point

METRIC_LINES = ("all", "sampled", "none")
#: Under `sampled`, one request-duration line is kept in this many.
SAMPLE_EVERY = 20


class MetricLines(logging.Filter):
    """Lets through the METRIC lines `metric_lines` asks for."""

    def __init__(self, mode: str) -> None:
        """Keep `mode`'s lines (one of METRIC_LINES)."""
        super().__init__()
        self.mode = mode
        self._durations = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the line is written."""
        point = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(point, Point) or self.mode == "all":
            return True
        if self.mode == "none":
            return False
        if point.metric != Metric.HTTP_REQUEST_DURATION:
            return True
        self._durations += 1
        return self._durations % SAMPLE_EVERY == 1


def set_metric_lines(logger: logging.Logger, mode: str) -> None:
    """Filter the SDK's metrics logger by `mode`, replacing an earlier tap's filter."""
    for earlier in [item for item in logger.filters if isinstance(item, MetricLines)]:
        logger.removeFilter(earlier)
    if mode != "all":
        logger.addFilter(MetricLines(mode))

"""The SDK-private hooks the query streams override, all in one place.

singer-sdk 0.54 offers no public hook for either need, so these two private methods are
overridden here and nowhere else; `tests/test_sdk_hooks.py` fails loudly if the SDK
renames them, changes their signatures or stops calling them per record.

- `_increment_stream_state`: turned off. The SDK would promote an unsorted stream's
  bookmark at its end, to the largest date seen; coverage moves per window instead
  (`reads.py`), written when each window's rows are all out.
- `_generate_record_messages`: the lean record path. The SDK copies and walks every
  record to drop deselected properties, the largest single cost per record; when the
  catalog selects every property there is nothing to drop.
- `state_manager.is_flushed`: set back when the stream skipped writing its state after a
  window, so that the SDK's end-of-stream STATE carries it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_supermetrics.api.client import SupermetricsStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class HookedStream(SupermetricsStream):
    """A Supermetrics stream with per-window state and the lean record path."""

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Do nothing per record: coverage moves per window (`StreamReads.loaded`)."""

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """Skip the per-record walk that removes deselected properties when none is.

        When a property is deselected the SDK's own path runs.
        """
        if not self._all_properties_selected:
            yield from super()._generate_record_messages(record)
            return
        extracted = dt.datetime.now(tz=dt.UTC)
        version = self._stream_version
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=version,
                    time_extracted=extracted,
                )

    def mark_state_pending(self) -> None:
        """The stream's state changed and was not written: the SDK writes it at the end.

        The SDK writes a stream's last STATE only when its state manager says it is not
        flushed yet; per-window state is written by the stream itself, outside it.
        """
        self.state_manager.is_flushed = False

    @cached_property
    def _all_properties_selected(self) -> bool:
        mask = self.mask
        return all(
            mask[("properties", name)] for name in self.effective_schema.get("properties", {})
        )

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """None: query streams have no child streams (and this runs for every record)."""
        return ()

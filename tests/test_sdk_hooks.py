"""The private singer-sdk hooks the tap still relies on: fail loudly if the SDK changes them.

The tap overrides two private per-record hooks (each in one place in streams.py, with a
comment saying why) and reads one private attribute:
- `Stream._generate_record_messages(record)`: the lean record path, which skips the
  SDK's per-record deselection walk when every property is selected;
- `Stream._increment_stream_state(latest_record, *, context)`: turned off, because
  coverage moves per window, not per record;
- `Stream._stream_version`: the version the lean path stamps on RECORD messages.
Everything else goes through public hooks (`get_http_request`, paginator `has_more` and
`continue_if_empty`, `validate_response`, `backoff_wait_generator`, `log_sync_costs`,
the tap's `state_writer`).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from singer_sdk import Stream
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams import RESTStream

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.streams import QueryStream
from tests.conftest import base_config, run_tap


def test_the_overridden_private_hooks_keep_their_names_and_signatures() -> None:
    generate = inspect.signature(Stream._generate_record_messages)
    increment = inspect.signature(Stream._increment_stream_state)
    assert list(generate.parameters) == ["self", "record"]
    assert list(increment.parameters) == ["self", "latest_record", "context"]
    assert increment.parameters["context"].kind is inspect.Parameter.KEYWORD_ONLY
    assert QueryStream._generate_record_messages is not Stream._generate_record_messages
    assert QueryStream._increment_stream_state is not Stream._increment_stream_state


def test_the_sdk_still_calls_them_per_record_and_sets_the_stream_version() -> None:
    source = inspect.getsource(Stream)
    assert "self._generate_record_messages(record)" in source
    assert "self._increment_stream_state(record, context=" in source
    assert "self._stream_version" in source
    paging = inspect.getsource(RESTStream.request_records)
    assert "paginator.continue_if_empty(resp)" in paging
    assert "continue_if_empty" in vars(BaseAPIPaginator)


def test_records_keep_the_sdk_version_and_state_moves_per_window_only(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, window_days=5)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] == "ads"]
    assert all("version" not in m or isinstance(m["version"], int) for m in records)
    bookmarks = [s["bookmarks"]["ads"] for s in run.states() if "ads" in s.get("bookmarks", {})]
    values = [b.get("replication_key_value") for b in bookmarks if b.get("coverage")]
    assert values[-1] == "2024-01-10"
    assert "2024-01-05" in values  # the first 5-day window, saved before the second
    assert all("progress_markers" not in b for b in bookmarks)  # no per-record tracking

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

When the SDK (0.54) sets a stream version: only in `Stream.sync`, for a selected
FULL_TABLE stream whose tap config has `emit_activate_version_messages` on; it then
writes ACTIVATE_VERSION and stamps that version on every RECORD. The tap does not offer
the setting (it refuses unknown settings), so its records carry no version today; a
subclass that offers it, the way the SDK documents (`append_builtin_config`), shows what
the lean path does the day it is offered.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from singer_sdk import Stream
from singer_sdk.helpers.capabilities import EMIT_ACTIVATE_VERSION_CONFIG
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams import RESTStream
from typing_extensions import override

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.schema.lineage import LINEAGE_FIELD
from tap_supermetrics.streams.query import QueryStream
from tap_supermetrics.tap import TapSupermetrics
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
    assert "self._stream_version = self._initialized_at // 1000" in source
    assert "version=self._stream_version" in inspect.getsource(Stream._generate_record_messages)
    paging = inspect.getsource(RESTStream.request_records)
    assert "paginator.continue_if_empty(resp)" in paging
    assert "continue_if_empty" in vars(BaseAPIPaginator)


class TapOfferingActivateVersion(TapSupermetrics):
    """The tap as it would be if it offered the SDK's `emit_activate_version_messages`."""

    # The SDK adds built-in settings to the class's schema in place: a copy of its own
    # keeps the setting out of the real tap's schema in the rest of the session.
    config_jsonschema = copy.deepcopy(TapSupermetrics.config_jsonschema)

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict[str, Any]) -> None:
        super().append_builtin_config(config_jsonschema)
        for name, schema in EMIT_ACTIVATE_VERSION_CONFIG["properties"].items():
            config_jsonschema["properties"].setdefault(name, schema)


def synced_messages(
    tap_class: type[TapSupermetrics],
    config: dict[str, Any],
    deselect: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[dict[str, Any]], bool]:
    """Sync in this process; the messages as printed, and whether the lean path ran.

    In process, because the subclass above cannot be run as the `tap-supermetrics`
    command; the messages are encoded by the tap's own writer, as on stdout.
    """
    catalog = tap_class(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", deselect]:
                item["metadata"]["selected"] = False
    tap = tap_class(config=config, catalog=catalog)
    messages: list[dict[str, Any]] = []

    def write(message: Any) -> None:
        messages.append(json.loads(tap.message_writer.format_message(message)))

    monkeypatch.setattr(tap, "write_message", write)
    tap.sync_all()
    stream = tap.streams["totals"]
    assert isinstance(stream, QueryStream)
    return messages, stream._all_properties_selected


def record_envelopes(messages: list[dict[str, Any]], stream: str) -> set[tuple[str, ...]]:
    """What the stream's RECORD messages carry besides the record itself.

    A version is told by whether it is the one the stream's ACTIVATE_VERSION announced
    (the SDK's value differs between runs: it is the sync's start, in seconds).
    """
    announced = [
        m["version"] for m in messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
    ]
    envelopes: set[tuple[str, ...]] = set()
    for message in messages:
        if message["type"] != "RECORD" or message["stream"] != stream:
            continue
        dt.datetime.fromisoformat(message["time_extracted"])
        envelope = sorted(set(message) - {"record"})
        if "version" in message:
            told = "announced" if [message["version"]] == announced else "not announced"
            envelope.append(f"version {told}")
        envelopes.add(tuple(envelope))
    return envelopes


UNVERSIONED = {("stream", "time_extracted", "type")}
VERSIONED = {("stream", "time_extracted", "type", "version", "version announced")}


@pytest.mark.parametrize(
    ("tap_class", "fields", "settings", "expected"),
    [
        (TapSupermetrics, ["Date", "Device", "Clicks", "Cost"], {}, UNVERSIONED),
        (
            TapOfferingActivateVersion,
            ["CampaignName", "Device", "Clicks", "Cost"],  # no date: FULL_TABLE
            {"emit_activate_version_messages": True},
            VERSIONED,
        ),
    ],
    ids=["incremental-no-version", "full-table-activate-version"],
)
def test_the_lean_record_path_stamps_what_the_sdks_own_path_stamps(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tap_class: type[TapSupermetrics],
    fields: list[str],
    settings: dict[str, Any],
    expected: set[tuple[str, ...]],
) -> None:
    query = {"name": "totals", "ds_id": "AW", "ds_accounts": ["111-111-1111"], "fields": fields}
    config = base_config(emulator, tmp_path, queries=[query], end_date="2024-01-02", **settings)

    lean, lean_ran = synced_messages(tap_class, config, None, monkeypatch)
    sdk, sdk_lean_ran = synced_messages(tap_class, config, "Clicks", monkeypatch)

    assert (lean_ran, sdk_lean_ran) == (True, False)  # one run per path
    lean_records = [m["record"] for m in lean if m["type"] == "RECORD" and m["stream"] == "totals"]
    sdk_records = [m["record"] for m in sdk if m["type"] == "RECORD" and m["stream"] == "totals"]
    left_out = {"Clicks", LINEAGE_FIELD}  # deselected, and the extraction time
    assert [{k: v for k, v in r.items() if k not in left_out} for r in lean_records] == [
        {k: v for k, v in r.items() if k != LINEAGE_FIELD} for r in sdk_records
    ]
    assert len(sdk_records) == (6 if "Date" in fields else 36)
    assert record_envelopes(sdk, "totals") == expected  # what the SDK itself writes
    assert record_envelopes(lean, "totals") == expected  # the lean path: neither lost nor made up


def test_state_moves_per_window_only(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path, window_days=5)

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr[-3000:]
    bookmarks = [s["bookmarks"]["ads"] for s in run.states() if "ads" in s.get("bookmarks", {})]
    values = [b.get("replication_key_value") for b in bookmarks if b.get("coverage")]
    assert values[-1] == "2024-01-10"
    assert "2024-01-05" in values  # the first 5-day window, saved before the second
    assert all("progress_markers" not in b for b in bookmarks)  # no per-record tracking

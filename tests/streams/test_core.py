"""The SDK's standard tap tests, run against the emulator, plus a key test that can fail."""

from __future__ import annotations

import atexit
import tempfile
from collections import Counter

from singer_sdk.testing import get_tap_test_class

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.tap import TapSupermetrics
from tests.conftest import ADS_FIELDS, API_KEY, GA_FIELDS

# The SDK builds its test class at import time, so the emulator must already listen.
_EMULATOR = EmulatorServer(api_key=API_KEY, run_seconds=0.02).start()
atexit.register(_EMULATOR.stop)

SAMPLE_CONFIG = {
    "api_key": API_KEY,
    "base_url": _EMULATOR.base_url,
    "start_date": "2024-01-01",
    "end_date": "2024-01-06",
    "window_days": 3,
    "page_size": 20,
    "poll_interval": 0.01,
    "max_poll_interval": 0.1,
    "schema_cache_dir": tempfile.mkdtemp(prefix="tap-supermetrics-core-"),
    "queries": [
        {
            "name": "ads",
            "ds_id": "AW",
            "ds_accounts": ["111-111-1111"],
            "fields": ADS_FIELDS,
            "reconcile": True,  # so that the `reconciliation` stream has records to test
        },
        {"name": "ga", "ds_id": "GAWA", "ds_accounts": ["properties/1002"], "fields": GA_FIELDS},
        {
            "name": "campaign_totals",
            "ds_id": "AW",
            "ds_accounts": "111-111-1111,222-222-2222",
            "fields": ["profileID", "CampaignName", "Clicks", "Cost"],
        },
    ],
}

TestTapSupermetrics = get_tap_test_class(TapSupermetrics, config=SAMPLE_CONFIG)


def test_primary_keys_are_unique_in_every_stream() -> None:
    """The SDK's own uniqueness test compares generators and cannot fail; this one can."""
    tap = TapSupermetrics(config=SAMPLE_CONFIG)
    for stream in tap.streams.values():
        if stream.name in {"query_runs", "coverage", "reconciliation"}:  # they report on a sync
            continue
        keys = Counter(
            tuple(record[key] for key in stream.primary_keys) for record in stream.get_records(None)
        )
        assert keys, f"{stream.name} produced no records"
        duplicates = [key for key, count in keys.items() if count > 1]
        assert duplicates == [], f"{stream.name}: {duplicates[:3]}"


def test_full_table_stream_without_a_date_has_no_replication_key() -> None:
    tap = TapSupermetrics(config=SAMPLE_CONFIG)
    stream = tap.streams["campaign_totals"]
    assert stream.replication_key is None
    assert stream.replication_method == "FULL_TABLE"
    assert list(stream.primary_keys) == ["profileID", "CampaignName"]

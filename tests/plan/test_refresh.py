"""Refresh tiers, per-query settings and requested re-reads (issue 21).

Day-by-day runs are driven through the tap's own planning (`StreamReads` over the
planner, with the as-of day given), then over HTTP with `end_date` advancing. Each run's
days are asserted exactly, per tier and per query override.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from supermetrics_emulator import EmulatorServer
from tap_supermetrics.core.errors import ConfigError
from tap_supermetrics.plan.coverage import Coverage, read_coverage
from tap_supermetrics.read.reads import StreamReads
from tap_supermetrics.settings.dates import date_range
from tap_supermetrics.settings.queries import query_definitions
from tests.conftest import base_config, run_tap
from tests.constants import ROOT

A, B = "111-111-1111", "222-222-2222"
FIELDS = ["Date", "profileID", "Device", "Clicks"]
LOGGER = logging.getLogger("test-refresh")
GOOGLE_ADS = [{"days": 3, "every": 1}, {"days": 30, "every": 7}]


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def stored(bookmark: dict[str, Any]) -> Coverage:
    """A stream's coverage as the tap reads it back from its bookmark."""
    return read_coverage(
        bookmark, replication_key="Date", start_date=day("2024-01-01"), accounts=[], fingerprint={}
    )


def query(**settings: Any) -> dict[str, Any]:
    return {"name": "ads", "ds_id": "AW", "ds_accounts": [A, B], "fields": FIELDS, **settings}


class Planning:
    """Runs the tap's planning day after day, loading every planned window."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.bookmarks: dict[str, dict[str, Any]] = {}

    def run(self, end: str, *, today: str | None = None) -> dict[str, list[str]]:
        """One run with `end_date` = `end`: the windows it reads, by stream.

        The run happens on `today`, by default the day after `end`, as a daily schedule
        runs: `end` is then yesterday, so its last day loads unsettled.
        """
        today = today or (day(end) + dt.timedelta(days=1)).isoformat()
        config = {**self.config, "end_date": end}
        read: dict[str, list[str]] = {}
        for definition in query_definitions(config):
            reads = StreamReads(
                definition=definition,
                configured=date_range(definition.effective(config), day(today)),
                settings=config,
                bookmark=self.bookmarks.setdefault(definition.name, {}),
                list_accounts=list,
                logger=LOGGER,
                today=day(today),
                requested_fields=definition.fields,
                metrics=frozenset({"Clicks"}),
            )
            read[definition.name] = []
            for planned in reads.plan.queries:
                read[definition.name].append(f"{planned.window} {planned.reason}")
                reads.loaded_days.window(planned.accounts, planned.window)
        return read


def test_tiers_read_their_days_when_due_counted_in_as_of_days() -> None:
    planning = Planning(
        {"start_date": "2024-01-01", "window_days": 90, "queries": [query(refresh=GOOGLE_ADS)]}
    )
    assert planning.run("2024-01-31") == {"ads": ["2024-01-01..2024-01-31 first run"]}
    runs = {end: planning.run(end)["ads"] for end in [f"2024-02-{n:02}" for n in range(1, 10)]}

    # Every day: the 3 days before the last loaded day, that day, and the new day.
    assert runs["2024-02-01"] == ["2024-01-28..2024-02-01 new days, refresh 3 days every 1"]
    assert runs["2024-02-06"] == ["2024-02-02..2024-02-06 new days, refresh 3 days every 1"]
    # 7 as-of days after the backfill (as-of 2024-01-31): the 30-day tier, as a whole.
    assert runs["2024-02-07"] == [
        "2024-01-07..2024-02-07 new days, refresh 3 days every 1, refresh 30 days every 7"
    ]
    assert runs["2024-02-08"] == ["2024-02-04..2024-02-08 new days, refresh 3 days every 1"]
    state = stored(planning.bookmarks["ads"]).refreshed
    assert state == {A: {"3/1": "2024-02-09", "30/7": "2024-02-07"}} | {
        B: {"3/1": "2024-02-09", "30/7": "2024-02-07"}
    }


def test_a_paused_schedule_catches_up_with_one_read_per_tier() -> None:
    planning = Planning(
        {"start_date": "2024-01-01", "window_days": 90, "queries": [query(refresh=GOOGLE_ADS)]}
    )
    planning.run("2024-01-31")

    # Twenty days without a run: one read of each tier, not one per missed day.
    assert planning.run("2024-02-20")["ads"] == [
        "2024-01-01..2024-02-20 new days, refresh 3 days every 1, refresh 30 days every 7"
    ]
    # The same as-of day again: no tier is due, the last loaded day is read again.
    assert planning.run("2024-02-20")["ads"] == ["2024-02-20..2024-02-20 last loaded day"]


def test_the_most_specific_setting_wins_and_each_query_keeps_its_own_dates() -> None:
    config = {
        "start_date": "2024-01-01",
        "window_days": 90,
        "refresh": [{"days": 5, "every": 2}],
        "queries": [
            query(),
            query(name="fb", lookback_days=1, window_days=10, start_date="2024-01-20"),
            query(name="x", refresh=[{"days": 0, "every": 1}], end_date="2024-01-31"),
        ],
    }
    planning = Planning(config)
    assert planning.run("2024-01-31") == {
        "ads": ["2024-01-01..2024-01-31 first run"],
        "fb": ["2024-01-20..2024-01-29 first run", "2024-01-30..2024-01-31 first run"],
        "x": ["2024-01-01..2024-01-31 first run"],
    }
    assert planning.run("2024-02-01") == {
        # 5/2: one as-of day is not enough; the last loaded day is read again anyway.
        "ads": ["2024-01-31..2024-02-01 new days"],
        "fb": ["2024-01-30..2024-02-01 lookback, new days"],
        "x": ["2024-01-31..2024-01-31 last loaded day"],  # its own end_date: as of 01-31
    }
    assert planning.run("2024-02-02")["ads"] == [
        "2024-01-27..2024-02-02 new days, refresh 5 days every 2"
    ]


def test_a_state_of_the_previous_release_upgrades_its_tiers_ran_at_the_last_loaded_day() -> None:
    planning = Planning(
        {
            "start_date": "2024-01-01",
            "window_days": 90,
            "queries": [query(refresh=GOOGLE_ADS, ds_accounts=[A])],
        }
    )
    coverage = {"fingerprint": {}, "accounts": {A: [["2024-01-01", "2024-01-31"]]}, "failed": {}}
    planning.bookmarks["ads"] = {"replication_key": "Date", "coverage": coverage}
    planning.bookmarks["ads"]["coverage"]["fingerprint"] = _fingerprint_of(planning)

    # Six as-of days after the last loaded day (01-31): the 3-day tier, not the 30-day one.
    assert planning.run("2024-02-06")["ads"] == [
        "2024-01-28..2024-02-06 new days, refresh 3 days every 1"
    ]
    # Seven: the 30-day tier counts as run on 2024-01-31, the last loaded day.
    assert planning.run("2024-02-07")["ads"] == [
        "2024-01-07..2024-02-07 new days, refresh 3 days every 1, refresh 30 days every 7"
    ]


def _fingerprint_of(planning: Planning) -> dict[str, str]:
    """The fingerprint today's planning writes, taken from a throw-away first run."""
    other = Planning(planning.config)
    other.run("2024-01-31")
    return dict(other.bookmarks["ads"]["coverage"]["fingerprint"])


def test_the_previous_release_reads_a_state_this_release_wrote(tmp_path: Path) -> None:
    planning = Planning(
        {"start_date": "2024-01-01", "window_days": 90, "queries": [query(refresh=GOOGLE_ADS)]}
    )
    planning.run("2024-01-31")
    planning.run("2024-02-07")
    bookmark = planning.bookmarks["ads"]
    assert bookmark["coverage"]["refreshed_by"]["all"]

    # The previous release's state reader, as it shipped (git show 9b2a2f8:…/coverage.py).
    source = (ROOT / "tests" / "previous_release" / "coverage.py").read_text()
    path = tmp_path / "previous_coverage.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_coverage", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_coverage"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["previous_coverage"]
    previous = module.read_coverage(
        bookmark,
        replication_key="Date",
        start_date=day("2024-01-01"),
        accounts=[A, B],
        fingerprint={},
    )
    current = read_coverage(
        bookmark,
        replication_key="Date",
        start_date=day("2024-01-01"),
        accounts=[A, B],
        fingerprint={},
    )
    assert previous.to_json()["accounts"] == current.to_json()["accounts"]
    assert previous.to_json()["accounts"] == {A: [["2024-01-01", "2024-02-07"]]} | {
        B: [["2024-01-01", "2024-02-07"]]
    }


# Requested re-reads -------------------------------------------------------------------


def test_a_requested_reread_is_read_once_like_a_gap() -> None:
    config = {
        "start_date": "2024-01-01",
        "window_days": 90,
        "lookback_days": 0,
        "queries": [query()],
    }
    planning = Planning(config)
    planning.run("2024-01-31")
    config["reread"] = [
        {"stream": "ads", "accounts": [B], "start_date": "2024-01-05", "end_date": "2024-01-09"}
    ]

    # B's days (the re-read and the new days) go in one group, A's new days in another.
    assert planning.run("2024-02-01")["ads"] == [
        "2024-01-05..2024-01-09 new days, requested re-read",
        "2024-01-31..2024-02-01 new days",
        "2024-01-31..2024-02-01 new days, requested re-read",
    ]
    assert planning.run("2024-02-02")["ads"] == ["2024-02-01..2024-02-02 new days"]  # once


@pytest.mark.parametrize(
    ("reread", "message"),
    [
        ({"stream": "nope", "start_date": "2024-01-05", "end_date": "2024-01-09"}, "no query"),
        ({"stream": "ads", "start_date": "2023-12-30", "end_date": "2024-01-09"}, "not within"),
        ({"stream": "ads", "start_date": "2024-01-05", "end_date": "2024-03-01"}, "not within"),
        ({"stream": "ads", "start_date": "2024-01-05"}, "needs stream, start_date and end_date"),
    ],
)
def test_a_reread_of_an_unknown_stream_or_outside_the_range_is_refused(
    reread: dict[str, Any], message: str
) -> None:
    config = {
        "start_date": "2024-01-01",
        "end_date": "2024-01-31",
        "queries": [query()],
        "reread": [reread],
    }
    with pytest.raises(ConfigError, match=message):
        query_definitions(config)


# Over HTTP ------------------------------------------------------------------------------


def submitted(emulator: EmulatorServer) -> list[tuple[str, str]]:
    log = emulator.stats()["request_log"]
    return [
        (entry["params"]["start_date"], entry["params"]["end_date"])
        for entry in log
        if entry["endpoint"] == "submit" and "ds_id" in entry["params"]
    ]


def test_daily_runs_over_http_read_exactly_the_due_tiers_and_query_overrides(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    tiers = [{"days": 2, "every": 1}, {"days": 6, "every": 3}]
    config = base_config(
        emulator,
        tmp_path,
        queries=[
            query(refresh=tiers),
            query(name="fb", lookback_days=0, start_date="2024-01-05", window_days=3),
        ],
        window_days=60,
        lookback_days=4,
    )
    state = None
    reads: dict[str, list[tuple[str, str, str]]] = {}
    for end in ["2024-01-10", "2024-01-11", "2024-01-12", "2024-01-13", "2024-01-14"]:
        run = run_tap(tmp_path, config | {"end_date": end}, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        state = run.states()[-1]
        reads[end] = [
            (r["stream"], r["start_date"], r["end_date"]) for r in run.records("query_runs")
        ]
        if end == "2024-01-13":
            reasons = {r["stream"]: r["reason"] for r in run.records("query_runs")}

    assert reads == {
        "2024-01-10": [
            ("ads", "2024-01-01", "2024-01-10"),
            ("fb", "2024-01-05", "2024-01-07"),  # its own start_date and window_days
            ("fb", "2024-01-08", "2024-01-10"),
        ],
        "2024-01-11": [("ads", "2024-01-08", "2024-01-11"), ("fb", "2024-01-10", "2024-01-11")],
        "2024-01-12": [("ads", "2024-01-09", "2024-01-12"), ("fb", "2024-01-11", "2024-01-12")],
        # 3 as-of days since the backfill: the 6 days before the last loaded day (01-12).
        "2024-01-13": [("ads", "2024-01-06", "2024-01-13"), ("fb", "2024-01-12", "2024-01-13")],
        "2024-01-14": [("ads", "2024-01-11", "2024-01-14"), ("fb", "2024-01-13", "2024-01-14")],
    }
    assert reasons == {
        "ads": "new days, refresh 2 days every 1, refresh 6 days every 3",
        "fb": "lookback, new days",  # lookback_days 0: the last loaded day, every as-of day
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"refresh": {"days": 3, "every": 1}}, "is not of type 'array'"),
        ({"refresh": [{"days": -1, "every": 1}]}, "days must be a whole number"),
        ({"refresh": [{"days": 3, "every": 0}]}, "every must be a whole number"),
        ({"refresh": [{"days": 3, "every": 1, "at": 1}]}, "exactly the keys 'days' and 'every'"),
        ({"refresh": [{"days": 3, "every": 1}], "lookback_days": 3}, "not both"),
    ],
)
@pytest.mark.parametrize("level", ["top", "query"])
def test_bad_tiers_are_refused_before_any_request(
    emulator: EmulatorServer, tmp_path: Path, settings: dict[str, Any], message: str, level: str
) -> None:
    if level == "top":
        config = base_config(emulator, tmp_path, **settings)
    else:
        config = base_config(emulator, tmp_path, queries=[query(**settings)])

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if message in line]
    assert len(errors) == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert emulator.stats()["request_log"] == []


def test_the_dry_run_shows_each_querys_reason(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path, queries=[query(refresh=GOOGLE_ADS)], window_days=90)
    first = run_tap(tmp_path, config | {"end_date": "2024-01-31"})
    assert first.returncode == 0

    dry = run_tap(
        tmp_path, config | {"end_date": "2024-02-07", "dry_run": True}, state=first.states()[-1]
    )

    plan = [line for line in dry.stderr.splitlines() if "Dry run: " in line]
    assert "(as of 2024-02-07; refresh 3 days every 1, refresh 30 days every 7)" in plan[0]
    assert any(
        "2024-01-01..2024-02-07 for 111-111-1111, 222-222-2222 (new days, refresh 3 days every 1, "
        "refresh 30 days every 7)" in line
        for line in plan
    ), json.dumps(plan, indent=1)


def test_a_requested_reread_over_http_reads_its_days_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, queries=[query()], window_days=60, lookback_days=0)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0
    config["reread"] = [
        {"stream": "ads", "accounts": [B], "start_date": "2024-01-03", "end_date": "2024-01-04"}
    ]

    second = run_tap(tmp_path, config, state=first.states()[-1])
    third = run_tap(tmp_path, config, state=second.states()[-1])

    assert second.returncode == 0
    assert third.returncode == 0
    # The same as-of day, and a last loaded day that was final when loaded: only the re-read.
    assert {(r["Date"], r["profileID"]) for r in second.records("ads")} == {
        ("2024-01-03", B),
        ("2024-01-04", B),
    }
    assert any("requested re-read" in r["reason"] for r in second.records("query_runs"))
    assert third.records("ads") == []  # done: not again, and nothing else to read
    assert "is up to date" in third.stderr


def test_a_day_loaded_as_yesterday_is_read_again_once_when_final_then_never() -> None:
    planning = Planning({"start_date": "2024-01-01", "window_days": 90, "queries": [query()]})
    assert planning.run("2024-01-10", today="2024-01-11") == {
        "ads": ["2024-01-01..2024-01-10 first run"]
    }
    coverage = planning.bookmarks["ads"]["coverage"]
    assert coverage["unsettled"] == {"all": "2024-01-10", "except": {}}  # one day for all
    assert stored(planning.bookmarks["ads"]).unsettled == {
        A: day("2024-01-10"),
        B: day("2024-01-10"),
    }

    # A second run the same day: 01-10 is still yesterday, still unsettled.
    assert planning.run("2024-01-10", today="2024-01-11") == {
        "ads": ["2024-01-10..2024-01-10 last loaded day"]
    }
    # The next day 01-10 is final: read again once (the as-of day stays 01-10, end_date's).
    assert planning.run("2024-01-10", today="2024-01-12") == {
        "ads": ["2024-01-10..2024-01-10 last loaded day"]
    }
    assert stored(planning.bookmarks["ads"]).unsettled == {}
    # Every day is final and no tier is due: the past end_date reads nothing, for ever.
    assert planning.run("2024-01-10", today="2024-01-13") == {"ads": []}
    assert planning.run("2024-01-10", today="2025-06-01") == {"ads": []}


def test_a_past_end_date_once_loaded_sends_no_query(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, queries=[query()])
    first = run_tap(tmp_path, config)
    assert first.returncode == 0
    before = len(emulator.stats()["request_log"])

    second = run_tap(tmp_path, config, state=first.states()[-1])

    assert second.returncode == 0, second.stderr[-2000:]
    assert second.records("ads") == []
    assert "Stream 'ads' is up to date" in second.stderr
    submitted = [e for e in emulator.stats()["request_log"][before:] if e["endpoint"] == "submit"]
    assert submitted == []
    assert second.states()[-1]["bookmarks"]["ads"] == first.states()[-1]["bookmarks"]["ads"]


def test_a_state_without_unsettled_days_reads_its_last_day_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = base_config(emulator, tmp_path, queries=[query()])
    first = run_tap(tmp_path, config)
    state = first.states()[-1]
    del state["bookmarks"]["ads"]["coverage"]["unsettled"]  # as an earlier release wrote it

    second = run_tap(tmp_path, config, state=state)
    third = run_tap(tmp_path, config, state=second.states()[-1])

    assert {(r["Date"], r["profileID"]) for r in second.records("ads")} == {
        ("2024-01-10", A),
        ("2024-01-10", B),
    }
    assert [r["reason"] for r in second.records("query_runs")] == ["last loaded day"]
    assert third.records("ads") == []
    assert third.records("query_runs") == []

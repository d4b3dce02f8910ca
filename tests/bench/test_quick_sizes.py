"""`bench/run --quick` judges no figure at a size its target was not set for.

At quick sizes the loader's 3x goal (set for 999,000 rows) and figures 2a-2c (set for 1M
vs 100k rows) print as information; the full run keeps judging them. The table of
bench/RESULTS.md says "n/a" for a figure the tap cannot run yet.
"""

from __future__ import annotations

import math

from bench import loader, run_all
from bench.figures import Row, table


def test_the_loaders_goal_is_judged_at_a_million_rows_only() -> None:
    assert loader.goal_verdict([1.55, 1.55], 21_000).endswith(
        "set for 999,000 rows: information at 21,000"
    )
    assert loader.goal_verdict([3.57, 2.9], 999_000).endswith(": NOT met")
    assert loader.goal_verdict([3.57, 3.66], 999_000).endswith(": met")


def test_the_memory_figures_are_judged_at_full_sizes_only() -> None:
    assert run_all.FULL.memory_judged
    assert not run_all.QUICK.memory_judged


def test_an_information_row_says_where_its_target_applies_and_never_fails() -> None:
    row = Row("2a peak RSS", 82.77, 62.53, "", 1.2, "target <= 1.2 set for 1M vs 100k")

    assert row.ok is None
    assert row.target == "— (target <= 1.2 set for 1M vs 100k)"
    (line,) = table([row])[2:]
    assert line.endswith("| — (target <= 1.2 set for 1M vs 100k) | info |")


def test_a_figure_the_tap_cannot_run_yet_reads_n_a() -> None:
    row = Row("6a the same with max_concurrent_queries: 1", math.nan, None, "")

    (line,) = table([row])[2:]
    assert line == "| 6a the same with max_concurrent_queries: 1 | n/a | — | — | — | info |"

"""The table of bench/RESULTS.md: one row per figure, its target, and whether it is met."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table: the tap's value, a measured baseline or none, and the target.

    With a baseline the ratio tap / baseline is held against the bound, without one the
    tap's value is. `why` says where a bound comes from when it is a formula.
    """

    figure: str
    tap: float
    baseline: float | None
    sense: str  # "<=", ">=", or "" for information only
    bound: float = math.nan
    why: str = ""
    output_ok: bool = True

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else self.tap / self.baseline

    @property
    def ok(self) -> bool | None:
        if not self.sense:
            return None
        value = self.tap if self.ratio is None else self.ratio
        meets = value <= self.bound if self.sense == "<=" else value >= self.bound
        return meets and self.output_ok

    @property
    def target(self) -> str:
        if not self.sense:
            return "—" + (f" ({self.why})" if self.why else "")
        bound = f"{self.bound:.2f}".rstrip("0").rstrip(".")
        return f"{self.sense} {bound}" + (f" ({self.why})" if self.why else "")


def table(rows: list[Row]) -> list[str]:
    """The rows as a Markdown table; a figure not measured (NaN) reads "n/a"."""
    lines = [
        "| figure | tap | baseline (measured) | ratio | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        baseline = "—" if row.baseline is None else f"{row.baseline:,.2f}"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        result = "info" if row.ok is None else ("pass" if row.ok else "FAIL")
        tap = "n/a" if math.isnan(row.tap) else f"{row.tap:,.2f}"
        lines.append(f"| {row.figure} | {tap} | {baseline} | {ratio} | {row.target} | {result} |")
    return lines

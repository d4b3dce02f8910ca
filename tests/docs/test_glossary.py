"""The project's own words are defined once (docs/glossary.md), and linked on first use.

Every page of docs/ that uses a glossary word links its first use in prose (not in code,
headings or another link's text) to the word's entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.constants import ROOT

DOCS = ROOT / "docs"
GLOSSARY = DOCS / "glossary.md"
#: Each word's entry, and how it reads in prose. "part" is too common a word to find
#: mechanically; the pages about estates link it by hand.
TERMS = {
    "as-of-day": r"\bas-of days?\b",
    "coverage": r"\bcoverage\b",
    "tier": r"\b(?:refresh )?tiers?\b",
    "fingerprint": r"\bfingerprints?\b",
    "totals-query": r"\btotals quer(?:y|ies)\b",
    "estate": r"\bestates?\b",
}
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
MASKED = re.compile(r"(`+).+?\1|\[[^\]]*\]\([^)]*\)")
LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)]*)\)")


@dataclass(frozen=True)
class FirstUse:
    """Where a word is first used in a page's prose, and whether it links the glossary."""

    line: int
    text: str
    linked: bool


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines a reader reads as prose: no code blocks, no headings."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced and not line.lstrip().startswith("#"):
            lines.append((number, line))
    return lines


def first_use(text: str, term: str) -> FirstUse | None:
    """The first use of `term` in prose, in a glossary link or not."""
    pattern = re.compile(TERMS[term], re.IGNORECASE)
    for number, line in prose_lines(text):
        for link in LINK.finditer(line):
            if pattern.search(link["text"]) and link["target"].startswith("glossary.md#"):
                unlinked = pattern.search(MASKED.sub(" ", line[: link.start()]))
                if unlinked is None:
                    return FirstUse(number, link["text"], linked=True)
        found = pattern.search(MASKED.sub(lambda m: " " * len(m[0]), line))
        if found is not None:
            return FirstUse(number, found[0], linked=False)
    return None


def pages() -> list[Path]:
    return sorted(path for path in DOCS.glob("*.md") if path != GLOSSARY)


def test_every_word_has_its_entry() -> None:
    text = GLOSSARY.read_text()
    for title in ("As-of day", "Coverage", "Tier", "Fingerprint", "Totals query", "Estate", "Part"):
        assert f"\n## {title}\n" in text, title


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_each_page_links_a_word_where_it_first_uses_it(page: Path) -> None:
    text = page.read_text()
    unlinked = [
        f"{page.name}:{use.line}: {use.text!r} (link it to glossary.md#{term})"
        for term in TERMS
        if (use := first_use(text, term)) is not None and not use.linked
    ]
    assert not unlinked


def test_a_first_use_outside_a_link_is_found_and_one_inside_is_accepted() -> None:
    plain = "Some prose.\n\n```text\ncoverage in code\n```\n\nThe `coverage` stream and coverage."
    linked = "A [totals query](glossary.md#totals-query), then another totals query."

    assert first_use(plain, "coverage") == FirstUse(7, "coverage", linked=False)
    assert first_use(linked, "totals-query") == FirstUse(1, "totals query", linked=True)
    assert first_use("No such word here.", "estate") is None

"""The rule of tests/conftest.py that docs/development.md states: end-to-end tests stay together.

Two Meltano runs of one plugin at once in the project directory would read each other's
settings, so the e2e tests share one worker; a test marked `e2e` elsewhere would escape that
worker and is refused at collection.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import pytest_collection_modifyitems, runs_meltano


@dataclass
class CollectedTest:
    """What the rule reads of a collected test: its node id and whether it is marked e2e."""

    nodeid: str
    e2e: bool

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "e2e" and self.e2e else None


def test_an_e2e_test_outside_the_e2e_folder_is_refused_naming_it() -> None:
    items = [
        CollectedTest("tests/e2e/test_postgres.py::test_load", e2e=True),
        CollectedTest("tests/read/test_sync.py::test_meltano_here", e2e=True),
    ]
    with pytest.raises(pytest.UsageError, match=r"tests/read/test_sync.py::test_meltano_here"):
        pytest_collection_modifyitems(items)  # type: ignore[arg-type]


def test_e2e_tests_in_their_folder_and_plain_tests_elsewhere_are_collected() -> None:
    items = [
        CollectedTest("tests/e2e/test_postgres.py::test_load", e2e=True),
        CollectedTest("tests/read/test_sync.py::test_sync", e2e=False),
    ]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]


def test_only_the_tests_that_copy_the_project_leave_the_meltano_worker() -> None:
    assert runs_meltano("tests/e2e/test_postgres.py::test_load")
    assert runs_meltano("tests/e2e/test_dagster.py::test_estate[a]")
    assert not runs_meltano("tests/e2e/test_docs_commands.py::test_commands_of_every_page")
    assert not runs_meltano("tests/read/test_sync.py::test_sync")

"""What the Dagster code location reads from meltano.yml: jobs, the estate's parts, pools.

Plain data, without Dagster: definitions.py turns it into Dagster objects, and the
project's own venv tests these rules. meltano.yml is read when the code location loads,
so a job or part added there appears in Dagster without a code change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: This repository: the Meltano project unless MELTANO_PROJECT_ROOT names another.
REPOSITORY = Path(__file__).resolve().parent.parent
#: Every extractor that inherits from this one is a part of the estate.
ESTATE_BASE = "tap-supermetrics"
#: The Meltano job the estate runs once, after all of its parts.
CURRENT_RELATIONS_JOB = "postgres-current-relations"
#: A utility command that (re)builds the current relations (`dbt-postgres:current`).
CURRENT_RELATIONS_COMMAND = "current"
#: The licence of an extractor whose annotations name none: one licence for the estate.
DEFAULT_LICENCE = "main"


class ProjectError(Exception):
    """meltano.yml or Meltano is missing, or meltano.yml declares what cannot be run."""


@dataclass(frozen=True)
class Pool:
    """A Dagster concurrency pool: a run of a job holds one of its slots while it runs.

    A licence pool takes the instance's limit (dagster.yaml `concurrency: pools:
    default_limit`, or `dagster instance concurrency set`). A one-at-a-time pool (a Meltano
    state id, the current relations) gets the limit 1 when the instance has none for it.
    """

    name: str
    one_at_a_time: bool


@dataclass(frozen=True)
class MeltanoJob:
    """One job of meltano.yml and the pools its run holds, in the order they are taken.

    Every job takes its pools in one order (licences, then the one-at-a-time pools, each
    by name), so two runs never wait for each other's pools crosswise.
    """

    name: str
    tasks: tuple[tuple[str, ...], ...]
    pools: tuple[Pool, ...]

    @property
    def dagster_name(self) -> str:
        """The Dagster job and op name: Dagster names allow no `-`."""
        return self.name.replace("-", "_")

    @property
    def dagster_pool(self) -> str | None:
        """The pool Dagster claims before the op starts: its first licence, if any.

        An op has one `pool` in Dagster 1.13; the other pools are claimed by the op itself.
        """
        first = self.pools[0] if self.pools else None
        return first.name if first is not None and not first.one_at_a_time else None

    @property
    def own_pools(self) -> tuple[Pool, ...]:
        """The pools the op claims itself, after Dagster's, in order."""
        return self.pools[1:] if self.dagster_pool is not None else self.pools


@dataclass(frozen=True)
class MeltanoProject:
    """The Meltano project as the code location runs it."""

    root: Path
    meltano: Path
    environment: str
    jobs: tuple[MeltanoJob, ...]
    #: The job that runs each part of the estate, in meltano.yml's order of the parts.
    parts: tuple[MeltanoJob, ...]
    current_relations: MeltanoJob

    def job(self, name: str) -> MeltanoJob:
        """The job called `name` in meltano.yml."""
        return next(job for job in self.jobs if job.name == name)


def load(environ: Mapping[str, str] | None = None) -> MeltanoProject:
    """Read the Meltano project named by the environment, or this repository's.

    MELTANO_PROJECT_ROOT (default: this repository), MELTANO_BIN (default: the project's
    `.venv-meltano/bin/meltano`) and MELTANO_ENVIRONMENT (default: meltano.yml's
    `default_environment`) are the variables Meltano itself reads, so the runs and the
    state ids that name the pools agree with what Meltano does.

    Raises:
        ProjectError: one line saying what is missing and how to fix it.
    """
    environ = os.environ if environ is None else environ
    root = Path(environ.get("MELTANO_PROJECT_ROOT") or REPOSITORY).resolve()
    meltano = Path(environ.get("MELTANO_BIN") or root / ".venv-meltano" / "bin" / "meltano")
    declared = _read_meltano_yml(root)
    if not (meltano.is_file() and os.access(meltano, os.X_OK)):
        msg = f"no Meltano at {meltano}: run scripts/bootstrap --meltano, or set MELTANO_BIN"
        raise ProjectError(msg)
    environment = environ.get("MELTANO_ENVIRONMENT") or str(
        declared.get("default_environment") or ""
    )
    known = {env["name"] for env in declared.get("environments") or []}
    if environment not in known:
        msg = f"environment {environment!r} is not in meltano.yml (it has {sorted(known)})"
        raise ProjectError(msg)
    plugins = _Plugins(declared.get("plugins") or {}, environment)
    jobs = tuple(plugins.job(job) for job in declared.get("jobs") or [])
    return MeltanoProject(
        root=root,
        meltano=meltano,
        environment=environment,
        jobs=jobs,
        parts=_parts(plugins, jobs),
        current_relations=_current_relations(jobs),
    )


def _read_meltano_yml(root: Path) -> dict[str, Any]:
    path = root / "meltano.yml"
    if not path.is_file():
        msg = f"no meltano.yml in {root}: set MELTANO_PROJECT_ROOT to the Meltano project"
        raise ProjectError(msg)
    declared = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(declared, dict):
        msg = f"{path} is not a Meltano project (no mapping at its top)"
        raise ProjectError(msg)
    return declared


class _Plugins:
    """The plugins of meltano.yml, by kind, and what a job's blocks mean for its pools."""

    def __init__(self, plugins: Mapping[str, list[dict[str, Any]]], environment: str) -> None:
        self.environment = environment
        self.declared = {
            plugin["name"]: plugin for kind in plugins.values() for plugin in kind or []
        }
        self.extractors = [plugin["name"] for plugin in plugins.get("extractors") or []]
        self.loaders = {plugin["name"] for plugin in plugins.get("loaders") or []}

    def licence(self, name: str) -> str:
        """The licence in the extractor's annotations, or in those of the one it inherits.

        Raises:
            ProjectError: the annotations spell it `license`, which would otherwise be
                ignored and put the part in the default licence's pool unnoticed.
        """
        plugin = self.declared.get(name, {})
        dagster = (plugin.get("annotations") or {}).get("dagster") or {}
        if "license" in dagster:
            msg = (
                f"{name}: annotations.dagster.license is not read: spell it `licence`, as the "
                f"pools are named (licence: {dagster['license']})"
            )
            raise ProjectError(msg)
        annotated = dagster.get("licence")
        if annotated:
            return str(annotated)
        parent = str(plugin.get("inherit_from"))
        return self.licence(parent) if parent in self.declared else DEFAULT_LICENCE

    def job(self, declared: Mapping[str, Any]) -> MeltanoJob:
        """A job of meltano.yml, its tasks split into blocks, and its pools."""
        tasks = tuple(_blocks(task) for task in _tasks(declared.get("tasks")))
        return MeltanoJob(str(declared["name"]), tasks, self.pools(tasks))

    def pools(self, tasks: tuple[tuple[str, ...], ...]) -> tuple[Pool, ...]:
        """The pools of a job that runs these tasks, in the order they are taken."""
        licences, states, builds = set(), set(), set()
        for blocks in tasks:
            extractor = None
            for block in blocks:
                plugin, _, command = block.partition(":")
                if plugin in self.extractors:
                    extractor = plugin
                    licences.add(f"licence:{self.licence(plugin)}")
                elif plugin in self.loaders and extractor is not None:
                    # Meltano's state id for `meltano run <tap> … <target>`.
                    states.add(f"meltano-state:{self.environment}:{extractor}-to-{plugin}")
                elif command == CURRENT_RELATIONS_COMMAND:
                    builds.add(f"current-relations:{plugin}")
        return (
            *(Pool(name, one_at_a_time=False) for name in sorted(licences)),
            *(Pool(name, one_at_a_time=True) for name in sorted(states | builds)),
        )


def _tasks(tasks: Any) -> list[Any]:  # noqa: ANN401 - as YAML gives it
    """A job's `tasks`: one string, or a list of strings or of lists of blocks."""
    return [tasks] if isinstance(tasks, str) else list(tasks or [])


def _blocks(task: Any) -> tuple[str, ...]:  # noqa: ANN401 - as YAML gives it
    """A task's blocks: one string of blocks, or a list of them."""
    parts = [task] if isinstance(task, str) else list(task)
    return tuple(block for part in parts for block in str(part).split())


def _parts(plugins: _Plugins, jobs: tuple[MeltanoJob, ...]) -> tuple[MeltanoJob, ...]:
    """The job of each extractor that inherits from ESTATE_BASE (exactly one each)."""
    parts = []
    for name in plugins.extractors:
        if plugins.declared[name].get("inherit_from") != ESTATE_BASE:
            continue
        running = [job for job in jobs if any(_runs(blocks, name) for blocks in job.tasks)]
        if len(running) != 1:
            found = ", ".join(job.name for job in running) or "none"
            msg = f"part {name} needs exactly one job in meltano.yml that runs it (found: {found})"
            raise ProjectError(msg)
        parts.append(running[0])
    if not parts:
        msg = f"no extractor in meltano.yml inherits from {ESTATE_BASE}: the estate has no part"
        raise ProjectError(msg)
    return tuple(parts)


def _runs(blocks: tuple[str, ...], plugin: str) -> bool:
    return any(block.partition(":")[0] == plugin for block in blocks)


def _current_relations(jobs: tuple[MeltanoJob, ...]) -> MeltanoJob:
    found = next((job for job in jobs if job.name == CURRENT_RELATIONS_JOB), None)
    if found is None:
        msg = f"meltano.yml has no job {CURRENT_RELATIONS_JOB}, which the estate runs last"
        raise ProjectError(msg)
    return found

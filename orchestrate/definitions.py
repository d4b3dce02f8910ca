"""The estate's Meltano jobs as a Dagster code location (docs/running-on-dagster.md).

Load it from the repository's root with Dagster's own venv, e.g.
`orchestrate/dagster dev -f orchestrate/definitions.py`. It reads meltano.yml when it loads
(orchestrate/meltano_project.py) and declares:

- one Dagster job per Meltano job (`agency-a-to-postgres` → `agency_a_to_postgres`), whose
  one op runs `meltano run <job>` with Meltano's output in the op's log;
- `estate`: every part side by side, then the current relations once, and the schedule
  `estate_daily`. meltano.yml's own schedules stay for cron and are not loaded here: the
  parts would then run twice a day.

Runs wait for their pools (orchestrate/pools.py): a licence's slots, one run per Meltano
state id, one build of the current relations at a time.
"""

# No `from __future__ import annotations`: Dagster reads the ops' annotations at definition.
import os
import subprocess

from dagster import (
    DefaultScheduleStatus,
    Definitions,
    Failure,
    In,
    JobDefinition,
    OpDefinition,
    OpExecutionContext,
    Out,
    ScheduleDefinition,
    in_process_executor,
    job,
    multiprocess_executor,
    op,
)

from orchestrate import meltano_project
from orchestrate.meltano_project import MeltanoJob, MeltanoProject, ProjectError
from orchestrate.pools import claimed

ESTATE = "estate"
#: When the estate runs: daily at midnight UTC, as Meltano's `@daily`.
ESTATE_CRON = "0 0 * * *"


def run_meltano(context: OpExecutionContext, project: MeltanoProject, job: MeltanoJob) -> int:
    """`meltano run <job>` with its pools held and its output in the op's log: the exit code.

    No `--force`: Meltano's own guard against two runs of one state id stays on, behind the
    state id's pool. MELTANO_ENVIRONMENT is passed on, so Meltano's state ids are the ones
    the pools are named after. An interrupted op (a run cancelled in Dagster) stops Meltano.
    """
    env = {
        **os.environ,
        "MELTANO_PROJECT_ROOT": str(project.root),
        "MELTANO_ENVIRONMENT": project.environment,
    }
    with claimed(context, job.own_pools):
        context.log.info("meltano run %s (environment %s)", job.name, project.environment)
        with subprocess.Popen(  # noqa: S603 - Meltano from the project, a job from meltano.yml
            [str(project.meltano), "run", job.name],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            try:
                for line in process.stdout or ():
                    context.log.info(line.rstrip())
            except BaseException:
                process.terminate()
                raise
        context.log.info("meltano run %s exited with %s", job.name, process.returncode)
        return process.returncode


def job_op(project: MeltanoProject, job: MeltanoJob) -> OpDefinition:
    """The op of a Meltano job's own Dagster job: it fails when Meltano fails."""

    @op(
        name=f"meltano_run_{job.dagster_name}",
        pool=job.dagster_pool,
        description=f"meltano run {job.name}",
    )
    def run(context: OpExecutionContext) -> None:
        code = run_meltano(context, project, job)
        if code:
            msg = f"meltano run {job.name} exited with {code}"
            raise Failure(msg)

    return run


def part_op(project: MeltanoProject, job: MeltanoJob) -> OpDefinition:
    """A part of the estate: its exit code is its output, so a failed part does not fail.

    Dagster skips every op downstream of a failed op, and the current relations must be
    built after all parts, those that failed included (a failed part may have loaded some
    windows, and the others certainly did). So the part's op succeeds with Meltano's exit
    code as its output, and the last op fails the run when any part failed.
    """

    @op(
        name=f"{ESTATE}_{job.dagster_name}",
        pool=job.dagster_pool,
        description=f"meltano run {job.name}; its exit code is the output",
        out=Out(dict, description="{Meltano job: its exit code}"),
    )
    def part(context: OpExecutionContext) -> dict[str, int]:
        code = run_meltano(context, project, job)
        if code:
            context.log.error("part %s failed: the estate's run fails at its end", job.name)
        return {job.name: code}

    return part


def current_relations_op(project: MeltanoProject) -> OpDefinition:
    """The estate's last op: the current relations once, then the run fails if a part did."""
    job = project.current_relations

    @op(
        name=f"{ESTATE}_{job.dagster_name}",
        pool=job.dagster_pool,
        description=f"meltano run {job.name} after every part; fails if a part failed",
        ins={"parts": In(list, description="each part's {Meltano job: exit code}")},
    )
    def current(context: OpExecutionContext, parts: list[dict[str, int]]) -> None:
        codes = {name: code for outcome in parts for name, code in outcome.items()}
        codes[job.name] = run_meltano(context, project, job)
        failed = [f"{name} exited with {code}" for name, code in codes.items() if code]
        if failed:
            msg = f"{ESTATE}: {'; '.join(failed)}"
            raise Failure(msg)

    return current


def single_job(project: MeltanoProject, meltano_job: MeltanoJob) -> JobDefinition:
    """A Meltano job as a Dagster job of one op, run in the run's own process."""

    @job(
        name=meltano_job.dagster_name,
        description=f"meltano run {meltano_job.name}",
        executor_def=in_process_executor,
    )
    def run() -> None:
        job_op(project, meltano_job)()

    return run


def estate_job(project: MeltanoProject) -> JobDefinition:
    """Every part side by side (one process each), then the current relations once."""
    parts = [part_op(project, part) for part in project.parts]
    current = current_relations_op(project)

    @job(
        name=ESTATE,
        description=(
            f"{', '.join(part.name for part in project.parts)} side by side, "
            f"then {project.current_relations.name} (also when a part failed)"
        ),
        executor_def=multiprocess_executor.configured({"max_concurrent": len(parts)}),
    )
    def estate() -> None:
        current([part() for part in parts])

    return estate


def definitions(project: MeltanoProject) -> Definitions:
    """Every Meltano job, the estate and its daily schedule.

    The schedule is on from the start, as a cron line would be: the estate runs wherever
    the daemon runs (`dagster dev` included) until it is stopped in the UI or with
    `dagster schedule stop estate_daily`.
    """
    estate = estate_job(project)
    daily = ScheduleDefinition(
        name=f"{ESTATE}_daily",
        job=estate,
        cron_schedule=ESTATE_CRON,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    return Definitions(
        jobs=[estate, *(single_job(project, each) for each in project.jobs)],
        schedules=[daily],
    )


try:
    defs = definitions(meltano_project.load())
except ProjectError as error:
    # One line, not a traceback: what is missing and how to fix it.
    message = f"orchestrate/definitions.py: {error}"
    raise SystemExit(message) from None

"""The pools an op claims itself, on the Dagster instance, after the one Dagster claims.

Why: a Dagster 1.13 op belongs to at most one pool (`@op(pool=...)`), claimed by the
executor before the op starts. A part's run needs two: its licence (the op's own `pool`)
and its Meltano state id (one run at a time); the daily job needs the current relations
as well. The op claims the others here, through the instance's event log storage: the
same calls Dagster's executors make for `pool=`
(dagster/_core/execution/plan/instance_concurrency_context.py). So every limit lives on
the instance that all runs and machines share; `dagster instance concurrency get/set` and
the UI's pools page show and change them; and when a run dies, the daemon's run
monitoring (`free_slots_after_run_end_seconds`) frees its slots, keyed by run id, as it
frees Dagster's own. Every use of that storage API is in this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dagster import OpExecutionContext
from dagster._core.storage.event_log.base import EventLogStorage

from orchestrate.meltano_project import Pool

#: Seconds between two claims of a busy pool, when the storage suggests no interval.
POLL_SECONDS = 1.0


@contextmanager
def claimed(context: OpExecutionContext, pools: Sequence[Pool]) -> Iterator[None]:
    """Hold a slot of each pool, claimed in the given order, while the block runs.

    A claim waits until a slot is free (the op's log says for what). Slots are freed when
    the block ends, whether it succeeds, fails or is interrupted; a claim still waiting
    then is withdrawn.
    """
    storage = context.instance.event_log_storage
    if pools and not storage.supports_global_concurrency_limits:
        names = ", ".join(pool.name for pool in pools)
        context.log.warning("this Dagster instance keeps no pools: %s not enforced", names)
        pools = ()
    keys: list[str] = []
    try:
        for pool in pools:
            keys.append(f"{context.op_handle}[{pool.name}]")
            _claim(context, storage, pool, keys[-1])
        yield
    finally:
        for key in keys:
            storage.free_concurrency_slot_for_step(context.run_id, key)


def _claim(context: OpExecutionContext, storage: EventLogStorage, pool: Pool, key: str) -> None:
    """Take a slot of `pool` for `key` in this run, waiting as long as none is free."""
    limit = _limit(storage, pool)
    if limit is None:
        return  # the instance sets no limit for this pool: it holds nothing back
    waiting = False
    while True:
        status = storage.claim_concurrency_slot(pool.name, context.run_id, key)
        if status.is_claimed:
            if waiting:
                context.log.info("pool %s: slot claimed", pool.name)
            return
        if not waiting:
            holders = sorted(
                slot.run_id for slot in storage.get_concurrency_info(pool.name).claimed_slots
            )
            context.log.info(
                "pool %s (limit %s) is full, held by run(s) %s: waiting for a slot",
                pool.name,
                limit,
                ", ".join(holders),
            )
            waiting = True
        time.sleep(status.sleep_interval or POLL_SECONDS)


def _limit(storage: EventLogStorage, pool: Pool) -> int | None:
    """The pool's limit on the instance, set first where the instance has none of its own.

    A one-at-a-time pool gets 1; another pool the instance's `default_limit`, as Dagster
    does for `pool=`; None: no limit at all.
    """
    info = storage.get_concurrency_info(pool.name)
    if not info.using_default_limit:
        return info.limit
    if pool.one_at_a_time:
        storage.set_concurrency_slots(pool.name, 1)
        return 1
    if info.limit is not None:
        storage.initialize_concurrency_limit_to_default(pool.name)
    return info.limit

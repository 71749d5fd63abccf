"""Background work per worker: `BackgroundTask` (started and cancelled once) and `RetryLoop`, the
one claim-retry-backoff loop that the DNC re-scrubber, the webhook delivery worker and the
Facebook lead fetcher share.

A `RetryLoop` runs `round()` (claim due work with `SKIP LOCKED`, do it, settle it, reschedule
what failed) again at once while rounds come back full, and otherwise sleeps `interval_s`
(jittered, so workers and nodes do not poll in step) or until `poke()`d (a NOTIFY, a kick). A
round that raises (Postgres away) is logged and retried after the interval: the loop never dies.
A loop whose items may each be slow starts them as tasks of their own (`spawn`, one slot of
`batch` each, counted per group so a round can claim fairly); a task's end frees its slot and
wakes the loop.
`backoff()` is the retry delay every such loop uses: an explicit schedule, or doubling up to a
cap, with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine, Sequence
from typing import Any

log = logging.getLogger("lead2inbound.background")


class BackgroundTask:
    """`start()` runs `self._run()` as a named task; `stop()` cancels it and waits for it."""

    TASK_NAME = "l2i-background"
    _task: asyncio.Task[None] | None = None

    def _run(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.TASK_NAME)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def backoff(
    attempts: int,
    *,
    schedule: Sequence[float] | None = None,
    base: float = 1.0,
    cap: float = 300.0,
    jitter: float = 0.2,
) -> float:
    """Seconds before try number `attempts + 1`: `schedule[attempts]` (its last entry past its
    end) or `base * 2**attempts` up to `cap`; times a random factor in [1 - jitter, 1 + jitter]."""
    if schedule:
        delay = schedule[min(attempts, len(schedule) - 1)]
    else:
        delay = min(cap, base * 2.0 ** min(attempts, 30))
    return delay * random.uniform(1.0 - jitter, 1.0 + jitter)


class RetryLoop(BackgroundTask):
    """Subclasses set `interval_s` and `batch` and implement `round() -> int`: the work it
    claimed (and either did, or started as tasks with `spawn`). A round that claimed a full
    `batch` is followed by another at once; otherwise the loop sleeps until `poke()`, the end
    of a spawned task, or the interval.

    A loop whose work items may each be slow (one silent host) runs them as their own tasks:
    `spawn(work, group)` starts one, `free()` is how many of `batch` slots are not taken, and
    `running()` how many tasks each group (an org) has in flight, so a round can claim fairly.
    `stop()` cancels them (their leases run out and they are claimed again)."""

    interval_s: float = 2.0
    batch: int = 1
    _wake: asyncio.Event | None = None

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], str] = {}  # spawned task -> its group

    async def round(self) -> int:
        raise NotImplementedError

    def poke(self) -> None:
        """Run a round now instead of at the end of the interval."""
        if self._wake is not None:
            self._wake.set()

    # -- work started as tasks ---------------------------------------------------------------

    def free(self) -> int:
        """How many of `batch` slots no spawned task holds."""
        return max(0, self.batch - len(self._tasks))

    def running(self) -> dict[str, int]:
        """Spawned tasks in flight, per group."""
        counts: dict[str, int] = {}
        for group in self._tasks.values():
            counts[group] = counts.get(group, 0) + 1
        return counts

    def spawn(self, work: Coroutine[Any, Any, None], group: str = "") -> None:
        """Run `work` as its own task holding one slot; its end frees the slot and pokes."""
        task = asyncio.create_task(work)
        self._tasks[task] = group
        task.add_done_callback(self._spawned_ended)

    def _spawned_ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self.TASK_NAME, exc_info=task.exception())
        self.poke()  # a slot is free

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for the spawned tasks in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def stop(self) -> None:
        await super().stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            try:
                done = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres away: try again later, never die
                log.warning("%s round failed: %s", self.TASK_NAME, exc)
                done = 0
            if done < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), self.interval_s * random.uniform(0.75, 1.25)
                    )

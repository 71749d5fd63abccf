"""The shared claim-retry-backoff loop (ops/background.py) on its own: a failing round does not
kill it, a full round runs again at once, spawned tasks hold slots per group, wake the loop when
they end and are cancelled by stop(); backoff() stays within its schedule or cap and jitter."""

from __future__ import annotations

import asyncio
import time

import pytest

from lead2inbound.ops.background import RetryLoop, backoff


class Script(RetryLoop):
    TASK_NAME = "test-loop"

    def __init__(self, answers: list[object], interval_s: float = 5.0, batch: int = 3):
        super().__init__()
        self.answers = answers
        self.interval_s = interval_s
        self.batch = batch
        self.rounds: list[float] = []

    async def round(self) -> int:
        self.rounds.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]


async def wait_for(check, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_failing_round_does_not_end_the_loop():
    loop = Script([ConnectionError("Postgres away"), OSError("still away"), 0], interval_s=0.05)
    loop.start()
    try:
        await wait_for(lambda: len(loop.rounds) >= 4)
    finally:
        await loop.stop()


async def test_full_rounds_run_again_at_once_and_a_poke_wakes_an_idle_loop():
    loop = Script([3, 3, 1], interval_s=30.0)
    loop.start()
    try:
        await wait_for(lambda: len(loop.rounds) == 3)  # 3, 3 full: no sleep between
        await asyncio.sleep(0.1)
        assert len(loop.rounds) == 3  # 1 < batch: asleep for the interval
        loop.poke()
        await wait_for(lambda: len(loop.rounds) == 4)
    finally:
        await loop.stop()


async def test_spawned_tasks_hold_slots_per_group_and_wake_the_loop_when_they_end():
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1")}
    cancelled: list[str] = []

    async def work(name: str) -> None:
        try:
            await gates[name].wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    loop = Script([], interval_s=30.0, batch=3)
    loop.start()
    await wait_for(lambda: len(loop.rounds) == 1)
    loop.spawn(work("a1"), group="org-a")
    loop.spawn(work("a2"), group="org-a")
    loop.spawn(work("b1"), group="org-b")
    assert loop.free() == 0 and loop.running() == {"org-a": 2, "org-b": 1}
    gates["b1"].set()
    await wait_for(lambda: len(loop.rounds) == 2)  # its end woke the loop (not the 30 s)
    assert loop.free() == 1 and loop.running() == {"org-a": 2}
    await loop.stop()
    assert sorted(cancelled) == ["a1", "a2"] and loop.free() == 3


async def test_a_spawned_task_that_raises_frees_its_slot():
    async def boom() -> None:
        raise RuntimeError("a bug")

    loop = Script([], interval_s=30.0, batch=1)
    loop.start()
    try:
        loop.spawn(boom(), group="g")
        await wait_for(lambda: loop.free() == 1 and len(loop.rounds) >= 2)
    finally:
        await loop.stop()


@pytest.mark.parametrize("attempts", [0, 1, 2, 5, 40])
def test_backoff_stays_within_schedule_or_cap_and_jitter(attempts):
    schedule = [0.0, 5.0, 300.0]
    for _ in range(50):
        want = schedule[min(attempts, 2)]
        assert want * 0.8 <= backoff(attempts, schedule=schedule) <= want * 1.2
        doubled = min(900.0, 2.0 * 2**attempts)
        assert doubled * 0.8 <= backoff(attempts, base=2.0, cap=900.0) <= doubled * 1.2

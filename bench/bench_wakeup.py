"""What this machine charges for going idle: the two costs that make a lead dearer at low load.

    .venv/bin/python bench/bench_wakeup.py [--repeats 300]

1. Waking another process: a one-byte ping-pong over two pipes between two processes, on any
   CPU (as a request hops Granian -> the event loop -> Redis -> Postgres and back), then with
   both pinned to one CPU. Round-trip time, and CPU time per round trip on each side.
2. Running after a sleep: the same piece of Python work (5,000 attribute reads spread over
   ~16 MB of objects, like a request touching a worker's modules, caches and buffers) timed
   right after sleeps of 0 to 10 ms. On a machine whose caches others use while this process
   sleeps, the same work takes longer the longer it slept.

No Postgres, no Redis: this measures the machine, not the service. bench/RESULTS.md quotes it
next to the service's CPU per lead at low and high load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
from pathlib import Path


def ping_pong(rounds: int, cpu: int | None) -> dict[str, float]:
    """Round trips between this process and a forked child; `cpu` pins both to one CPU."""
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    before = os.sched_getaffinity(0)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative over earlier children
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    pid = os.fork()
    if pid == 0:  # the child echoes every byte
        for _ in range(rounds):
            os.read(r1, 1)
            os.write(w2, b"x")
        os._exit(0)
    started, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        os.write(w1, b"x")
        os.read(r2, 1)
    wall, own = time.perf_counter() - started, time.process_time() - cpu0
    os.waitpid(pid, 0)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.sched_setaffinity(0, before)
    for fd in (r1, w1, r2, w2):
        os.close(fd)
    return {
        "round_trip_us": wall / rounds * 1e6,
        "parent_cpu_us": own / rounds * 1e6,
        "child_cpu_us": (child.ru_utime + child.ru_stime - waited.ru_utime - waited.ru_stime)
        / rounds
        * 1e6,
    }


class _Obj:
    __slots__ = ("a", "b")

    def __init__(self, i: int) -> None:
        self.a = i
        self.b = str(i)


def after_sleep(repeats: int, sleeps_ms: tuple[float, ...]) -> dict[str, dict[str, float]]:
    objs = [_Obj(i) for i in range(200_000)]
    random.Random(7).shuffle(objs)  # spread the touches over memory, not one run of it
    touched = [objs[i] for i in range(0, len(objs), 40)]

    def work() -> int:
        total = 0
        for o in touched:
            total += o.a + len(o.b)
        return total

    out = {}
    for ms in sleeps_ms:
        times = []
        for _ in range(repeats):
            if ms:
                time.sleep(ms / 1000)
            t = time.perf_counter_ns()
            work()
            times.append((time.perf_counter_ns() - t) / 1000)
        times.sort()
        out[f"{ms:g}"] = {
            "p50_us": times[len(times) // 2],
            "p90_us": times[int(len(times) * 0.9)],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "wakeup.json")
    args = ap.parse_args()
    results: dict[str, object] = {"cpus": os.cpu_count()}
    pp = {"any_cpu": ping_pong(args.rounds, None), "one_cpu": ping_pong(args.rounds, 0)}
    results["ping_pong"] = pp
    for where, r in pp.items():
        print(
            f"ping-pong, {where.replace('_', ' ')}: round trip {r['round_trip_us']:.1f} us, "
            f"CPU per round trip {r['parent_cpu_us']:.1f} us (here) + "
            f"{r['child_cpu_us']:.1f} us (the other process)"
        )
    sleeps = after_sleep(args.repeats, (0, 0.5, 2, 10))
    results["work_after_sleep"] = sleeps
    base = sleeps["0"]["p50_us"]
    for ms, r in sleeps.items():
        print(
            f"the same work after a {ms} ms sleep: p50 {r['p50_us']:.0f} us "
            f"({r['p50_us'] / base:.1f}x), p90 {r['p90_us']:.0f} us"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

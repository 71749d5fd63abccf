"""What the event log costs the front door: the service with the log on against the same
service with it off, in alternating runs of one benchmark run (issue 23's budget: at most 5 % of
durable leads/s at saturation, POST p99 at half load at most 1 ms higher).

    .venv/bin/python bench/bench_event_log.py [--rounds 3] [--seconds 10] [--half-seconds 10]

One embedded Postgres (bench/postgres.conf: durable) and Redis; two services on Granian with
the production settings of bench/run.py, started once and kept up side by side: one as shipped,
one with `L2I_EVENT_LOG=false` (an internal switch for this comparison only: the writer records
no lead events). Each round loads one then the other (ABBA order over the rounds, so a drift of
the machine or of the growing tables falls on both): wrk saturation (64 connections, unique
phones, every 201 checked against the stored rows), then an open-loop rate of half the first
round's saturation (oha with latency correction; locust's own floor is tens of ms here, too
coarse for a 1 ms budget, so without oha the half-load part is skipped and says so).

Writes bench/out/event_log.json and bench/out/event_log.png; prints the medians and ratios for
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the stack, the generators, the checks)

MODES = {"on": {}, "off": {"L2I_EVENT_LOG": "false"}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="each saturation run")
    ap.add_argument("--half-seconds", type=float, default=10.0, help="each half-load run")
    ap.add_argument(
        "--half-rate",
        type=float,
        default=0.0,
        help="the open-loop rate (default: half the first round's saturation)",
    )
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops what it started
    tmp = Path(tempfile.mkdtemp(prefix="l2i-bench-log-"))
    stack = run.Stack(tmp)
    stack.start()
    services: dict[str, run.ServerProcess] = {}
    runs: list[dict[str, Any]] = []
    try:
        for mode, extra in MODES.items():
            metrics = tmp / f"metrics-{mode}"
            metrics.mkdir()
            services[mode] = run.ServerProcess(
                env=run.service_env(stack, metrics, extra), workers=run.WORKERS,
                log_path=args.out / f"event_log_{mode}.log", extra_args=run.GRANIAN_PROD,
            )  # fmt: skip
            services[mode].start()
        rate = 0.0
        for r in range(args.rounds):
            order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
            for mode in order:
                print(f"round {r + 1}, log {mode}: saturation", flush=True)
                sat = run.saturation(stack, services[mode], f"log-{mode}-{r}", "3",
                                     args.seconds, warmup=2.0)  # fmt: skip
                runs.append({"round": r, "mode": mode, "phase": "saturation",
                             "leads_per_s": sat["created_per_s"],
                             "p50_ms": sat["latency_ms"]["50"], "p99_ms": sat["latency_ms"]["99"],
                             "per_cpu_s": sat["per_cpu_s"], "writer": sat["writer"]})  # fmt: skip
            if r == 0:
                rate = round(
                    args.half_rate or statistics.median(x["leads_per_s"] for x in runs) / 2
                )
            if not run.find_oha():
                continue
            for mode in order:
                print(f"round {r + 1}, log {mode}: {rate}/s open loop", flush=True)
                half = run.at_rate_open(stack, services[mode], f"half-{mode}-{r}", "4", rate,
                                        args.half_seconds, tmp)  # fmt: skip
                lat = half["latency_ms"]["all_posts"]
                runs.append({"round": r, "mode": mode, "phase": "half", "rate": rate,
                             "achieved": half["achieved_rate"], "p50_ms": lat["50"],
                             "p99_ms": lat["99"], "p999_ms": lat["99.9"]})  # fmt: skip
    finally:
        for server in services.values():
            server.stop()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(mode: str, phase: str, key: str) -> float:
        return statistics.median(
            x[key] for x in runs if x["mode"] == mode and x["phase"] == phase
        )  # fmt: skip

    summary: dict[str, Any] = {
        "saturation_leads_per_s": {m: med(m, "saturation", "leads_per_s") for m in MODES},
        "saturation_p99_ms": {m: med(m, "saturation", "p99_ms") for m in MODES},
        "leads_per_cpu_s": {m: med(m, "saturation", "per_cpu_s") for m in MODES},
    }
    s = summary["saturation_leads_per_s"]
    summary["throughput_cost"] = 1 - s["on"] / s["off"]
    if any(x["phase"] == "half" for x in runs):
        summary["half_rate"] = rate
        summary["half_p50_ms"] = {m: med(m, "half", "p50_ms") for m in MODES}
        summary["half_p99_ms"] = {m: med(m, "half", "p99_ms") for m in MODES}
        summary["half_p99_delta_ms"] = summary["half_p99_ms"]["on"] - summary["half_p99_ms"]["off"]
    result = {"command": "bench/bench_event_log.py " + " ".join(sys.argv[1:]),
              "machine": run.machine(), "runs": runs, "summary": summary}  # fmt: skip
    (args.out / "event_log.json").write_text(json.dumps(result, indent=1, default=str))
    plot(runs, args.out / "event_log.png")
    print(report(runs, summary))
    return 0


def report(runs: list[dict[str, Any]], s: dict[str, Any]) -> str:
    lines = ["| round | log | durable leads/s | sat. p99 ms | half-load p50 / p99 ms |",
             "|---|---|--:|--:|--:|"]  # fmt: skip
    for x in runs:
        if x["phase"] != "saturation":
            continue
        half = next((h for h in runs if h["phase"] == "half" and h["round"] == x["round"]
                     and h["mode"] == x["mode"]), None)  # fmt: skip
        hl = f"{half['p50_ms']:.2f} / {half['p99_ms']:.2f}" if half else "-"
        lines.append(f"| {x['round'] + 1} | {x['mode']} | {x['leads_per_s']:,.0f} | "
                     f"{x['p99_ms']:.1f} | {hl} |")  # fmt: skip
    sat = s["saturation_leads_per_s"]
    lines.append("")
    lines.append(f"Medians: log on {sat['on']:,.0f} durable leads/s, off {sat['off']:,.0f}: the "
                 f"log costs {100 * s['throughput_cost']:.1f} % (budget 5 %); leads per "
                 f"CPU-second on {s['leads_per_cpu_s']['on']:,.0f}, off "
                 f"{s['leads_per_cpu_s']['off']:,.0f}.")  # fmt: skip
    if "half_p99_ms" in s:
        lines.append(f"Half load ({s['half_rate']}/s, oha open loop): p99 on "
                     f"{s['half_p99_ms']['on']:.2f} ms, off {s['half_p99_ms']['off']:.2f} ms: "
                     f"{s['half_p99_delta_ms']:+.2f} ms (budget +1 ms).")  # fmt: skip
    else:
        lines.append("Half load: not measured (oha not installed).")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, colour in (("on", "tab:blue"), ("off", "tab:orange")):
        sat = [x for x in runs if x["mode"] == mode and x["phase"] == "saturation"]
        a.plot([x["round"] + 1 for x in sat], [x["leads_per_s"] for x in sat], "o-",
               color=colour, label=f"log {mode}")  # fmt: skip
        half = [x for x in runs if x["mode"] == mode and x["phase"] == "half"]
        if half:
            b.plot([x["round"] + 1 for x in half], [x["p99_ms"] for x in half], "o-",
                   color=colour, label=f"log {mode}")  # fmt: skip
    a.set(title="Saturation: durable leads/s", xlabel="round", ylim=(0, None))
    b.set(title="Half load: POST p99 (ms, oha)", xlabel="round", ylim=(0, None))
    for ax in (a, b):
        if ax.lines:
            ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

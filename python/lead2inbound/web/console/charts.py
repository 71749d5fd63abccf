"""The Overview's picture, drawn on the server as SVG shapes (the template writes them out; no
script, no inline style: colours are SVG presentation attributes, which the CSP allows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH, HEIGHT, LEFT, BOTTOM = 960, 220, 44, 24
BUCKET_MIN = 15  # a bar per 15 minutes: 96 bars for the day, each the average leads per minute
PALETTE = ("#2da44e", "#bf8700", "#cf222e", "#8250df", "#0969da", "#bc4c00", "#57606a")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    legend: list[tuple[str, str, int]]  # (outcome, colour, leads in the day)
    peak: float  # leads per minute at the top of the scale
    ticks: list[tuple[float, str]]  # (x, label) of the hour marks
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM


def outcome_order(name: str) -> tuple[int, str]:
    return (0 if name == "queued" else 1 if name == "pending_scrub" else 2, name)


def leads_per_minute(rows: list[tuple[datetime, str, int]], now: datetime) -> Chart:
    """Stacked bars of leads per minute (averaged over each bucket) for the 24 h before `now`."""
    start = now - timedelta(hours=24)
    n = 24 * 60 // BUCKET_MIN
    totals: dict[str, int] = {}
    per: dict[tuple[int, str], int] = {}
    for minute, outcome, count in rows:
        i = int((minute - start).total_seconds() // (BUCKET_MIN * 60))
        i = min(max(i, 0), n - 1)
        per[(i, outcome)] = per.get((i, outcome), 0) + count
        totals[outcome] = totals.get(outcome, 0) + count
    outcomes = sorted(totals, key=outcome_order)
    if len(outcomes) > len(PALETTE):  # the rarest reasons share the last colour
        outcomes = [*outcomes[: len(PALETTE) - 1], "held: other"]
    colour = {o: PALETTE[i] for i, o in enumerate(outcomes)}
    stacks = [sum(per.get((i, o), 0) for o in totals) / BUCKET_MIN for i in range(n)]
    peak = max([*stacks, 1.0])
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM
    bar_w = plot_w / n
    bars = []
    for i in range(n):
        y = float(plot_h)
        for outcome in sorted(totals, key=outcome_order):
            count = per.get((i, outcome), 0)
            if not count:
                continue
            rate = count / BUCKET_MIN
            h = rate / peak * (plot_h - 4)
            y -= h
            when = start + timedelta(minutes=i * BUCKET_MIN)
            name = outcome if outcome in colour else "held: other"
            bars.append(
                Bar(LEFT + i * bar_w, y, max(bar_w - 1, 1), h, colour[name],
                    f"{when:%H:%M} UTC: {rate:.2f}/min {outcome}")
            )  # fmt: skip
    legend_totals: dict[str, int] = {}
    for outcome, count in totals.items():
        name = outcome if outcome in colour else "held: other"
        legend_totals[name] = legend_totals.get(name, 0) + count
    legend = [(o, colour[o], legend_totals.get(o, 0)) for o in outcomes]
    ticks = []
    for h in range(0, 25, 3):
        moment = start + timedelta(hours=h)
        ticks.append((LEFT + h * 60 / BUCKET_MIN * bar_w, f"{moment:%H:%M}"))
    return Chart(bars, legend, peak, ticks)

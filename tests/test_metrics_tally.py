"""The hot path's metrics go through `Tally` (plain dicts, added to Prometheus in one go): after a
flush, every sample must equal what direct `inc` / `observe` calls give."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from lead2inbound.ops.metrics import LATENCY, Tally


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in registry.collect()
        if m.name == name
        for s in m.samples
        if not s.name.endswith("_created")
    }


values = st.one_of(
    st.floats(min_value=0, max_value=10, allow_nan=False),
    st.sampled_from([b for b in LATENCY._upper_bounds if b != float("inf")]),  # on a bound
)


@given(
    observations=st.lists(st.tuples(st.sampled_from("ab"), values), max_size=200),
    counts=st.lists(st.tuples(st.sampled_from("xy"), st.integers(1, 5)), max_size=50),
)
def test_tally_equals_direct_updates(observations, counts):
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    bounds = [b for b in LATENCY._upper_bounds if b != float("inf")]
    h = {r: Histogram("lat", "x", ["k"], buckets=bounds, registry=r) for r in (direct, tallied)}
    c = {r: Counter("hits", "x", ["k"], registry=r) for r in (direct, tallied)}
    tally = Tally()
    for label, value in observations:
        h[direct].labels(label).observe(value)
        tally.observe(h[tallied].labels(label), value)
    for label, n in counts:
        c[direct].labels(label).inc(n)
        tally.inc(c[tallied].labels(label), n)
    assert _samples(tallied, "lat") != _samples(direct, "lat") or not observations
    tally.flush()
    assert _samples(tallied, "lat") == _samples(direct, "lat")
    assert _samples(tallied, "hits") == _samples(direct, "hits")
    tally.flush()  # nothing pending: a second flush adds nothing
    assert _samples(tallied, "lat") == _samples(direct, "lat")


async def test_the_flusher_flushes_on_its_own_and_when_it_ends():
    registry = CollectorRegistry()
    counter = Counter("ticks", "x", registry=registry)
    tally = Tally()
    tally.FLUSH_S = 0.05
    task = asyncio.create_task(tally.flush_forever())
    tally.inc(counter, 2)
    await asyncio.sleep(0.2)
    assert registry.get_sample_value("ticks_total") == 2
    tally.inc(counter, 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert registry.get_sample_value("ticks_total") == 5

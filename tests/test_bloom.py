"""WindowedBloom: sizing, no false negatives, expiry by time slice, thread safety."""

from __future__ import annotations

import threading
import time

import pytest

from lead2inbound._core import WindowedBloom

T0 = 1_700_000_000.0


def measured_fp(bloom: WindowedBloom, n: int, now: float, prefix: str = "absent") -> float:
    hits = sum(bloom.contains(f"{prefix}:{i}", now) for i in range(n))
    return hits / n


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"capacity": 0, "fp_rate": 0.01, "window_seconds": 60}, ValueError),
        ({"capacity": -5, "fp_rate": 0.01, "window_seconds": 60}, ValueError),
        ({"capacity": 10, "fp_rate": 0.0, "window_seconds": 60}, ValueError),
        ({"capacity": 10, "fp_rate": 1.0, "window_seconds": 60}, ValueError),
        ({"capacity": 10, "fp_rate": -0.5, "window_seconds": 60}, ValueError),
        ({"capacity": 10, "fp_rate": float("nan"), "window_seconds": 60}, ValueError),
        ({"capacity": 10, "fp_rate": 0.01, "window_seconds": 0}, ValueError),
        ({"capacity": 10, "fp_rate": 0.01, "window_seconds": -1.0}, ValueError),
        ({"capacity": 10, "fp_rate": 0.01, "window_seconds": float("inf")}, ValueError),
        ({"capacity": 10, "fp_rate": 0.01, "window_seconds": 60, "generations": 0}, ValueError),
        ({"capacity": 10, "fp_rate": 0.01, "window_seconds": 60, "generations": -1}, ValueError),
        ({"capacity": 10**15, "fp_rate": 0.01, "window_seconds": 60}, ValueError),
    ],
)
def test_constructor_validation(kwargs: dict[str, float], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        WindowedBloom(**kwargs)  # type: ignore[arg-type]


def test_properties() -> None:
    b = WindowedBloom(1000, 0.02, 90.0)
    assert b.capacity == 1000
    assert b.fp_rate == 0.02
    assert b.window_seconds == 90.0
    assert "generations=4" in repr(b)


def test_bad_now_is_a_value_error() -> None:
    b = WindowedBloom(10, 0.01, 60)
    with pytest.raises(ValueError):
        b.insert("x", float("nan"))
    with pytest.raises(ValueError):
        b.contains("x", float("inf"))


def test_system_clock_default() -> None:
    b = WindowedBloom(100, 0.01, 60)
    b.insert("lead:1")
    assert b.contains("lead:1")
    assert b.contains("lead:1", time.time())
    assert not b.contains("lead:1", time.time() + 120)


@pytest.mark.parametrize("fp_rate", [0.01, 0.001])
def test_million_keys_false_positive_rate(fp_rate: float) -> None:
    n = 1_000_000
    b = WindowedBloom(n, fp_rate, 3600.0)
    keys = [f"present:{i}:+1555{i:07d}" for i in range(n)]
    b.insert_many(keys, T0)
    assert all(b.contains(k, T0) for k in keys)  # no false negatives
    rate = measured_fp(b, n, T0)
    print(f"fp_rate={fp_rate}: measured {rate:.6f} over {n} absent keys")
    assert rate <= 1.5 * fp_rate


@pytest.mark.parametrize("fp_rate", [0.01, 0.001])
def test_all_live_generations_full(fp_rate: float) -> None:
    # The worst case the sizing covers: `capacity` keys in each of the generations + 1 live slices.
    n, gens, window = 100_000, 4, 40.0
    b = WindowedBloom(n, fp_rate, window, gens)
    for g in range(gens + 1):
        b.insert_many([f"g{g}:{i}" for i in range(n)], T0 + g * window / gens)
    now = T0 + gens * window / gens
    for g in range(gens + 1):
        assert all(b.contains(f"g{g}:{i}", now) for i in range(n))
    rate = measured_fp(b, 1_000_000, now)
    print(f"fp_rate={fp_rate}: all live slices full, measured {rate:.6f}")
    assert fp_rate / 1.5 <= rate <= 1.5 * fp_rate


@pytest.mark.parametrize("generations", [1, 2, 4, 7])
@pytest.mark.parametrize("offset", [0.0, 0.3, 0.999])
def test_expiry(generations: int, offset: float) -> None:
    window = 60.0
    slice_len = window / generations
    b = WindowedBloom(1000, 0.01, window, generations)
    # `offset` places the insert at the start, middle or end of its slice.
    t = T0 - (T0 % slice_len) + offset * slice_len
    b.insert("k", t)
    assert b.contains("k", t)
    assert b.contains("k", t + window - 1e-3)
    assert b.contains("k", t + window)
    # Gone once its slice has rotated out: at most window + one slice after the insert.
    assert not b.contains("k", t + window + slice_len)
    b.insert("other", t + window + slice_len)
    assert not b.contains("k", t + window + slice_len)


def test_clear() -> None:
    b = WindowedBloom(100, 0.01, 60)
    b.insert_many(["a", "b"], T0)
    assert b.contains("a", T0)
    b.clear()
    assert not b.contains("a", T0)
    assert not b.contains("b", T0)


def test_insert_many_rejects_non_strings() -> None:
    b = WindowedBloom(100, 0.01, 60)
    with pytest.raises(TypeError):
        b.insert_many(["a", 1], T0)  # type: ignore[list-item]


def test_threads_no_false_negatives() -> None:
    b = WindowedBloom(200_000, 0.01, 60)
    errors: list[str] = []
    per_thread = 20_000
    start = threading.Barrier(6)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            k = f"t{t}:{i}"
            if i % 2:
                b.insert(k, T0)
            else:
                b.insert_many([k], T0)
            if not b.contains(k, T0):
                errors.append(k)
            b.contains(f"t{(t + 1) % 6}:{i}", T0)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for t in range(6):
        assert all(b.contains(f"t{t}:{i}", T0) for i in range(per_thread))

"""Benchmark: pyrt.indicators compile time, vectorised throughput and streaming update cost.

Three parts, each against a baseline measured in the same run:

1. numba compile time. A fresh subprocess with an empty ``NUMBA_CACHE_DIR`` calls every
   vectorised function once (``compile_s``: the first calls, import excluded); a second
   subprocess with the same, now warm, cache does the same (``cached_start_s``: machine code
   loaded from the cache instead of compiled).
2. Vectorised throughput: each public function over ``--points`` values of a random walk
   (validation included), median of ``--repeats``; baselines: SMA with ``np.convolve``, rolling
   std with ``sliding_window_view(...).std(axis=1)``, and an EMA in a pure-Python loop.
3. Streaming: ns per ``update`` call (loop included) over ``--updates`` values, median of
   ``--repeats``; baselines: a bare ``collections.deque`` SMA, the same ring-buffer SMA with a
   numpy array instead of a list, and the same again as a numba ``jitclass`` (compiled outside
   the timed loop).

Inputs come from ``random.Random(--seed)``.

Run: ``python tools/bench/bench_indicators.py [--points N] [--updates M] [--repeats R]
[--period P] [--seed S] [--no-compile] [--no-jitclass]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

import pyrt.indicators as ind

Array = npt.NDArray[np.float64]
REPO = Path(__file__).resolve().parents[2]

_FIRST_CALLS = """
import json, time
t0 = time.perf_counter()
import numpy as np
import pyrt.indicators as ind
t1 = time.perf_counter()
x = np.linspace(1.0, 2.0, 100)
calls = {
    "sma": lambda: ind.sma(x, 5), "ema": lambda: ind.ema(x, 5), "wma": lambda: ind.wma(x, 5),
    "rsi": lambda: ind.rsi(x, 5), "macd": lambda: ind.macd(x),
    "bollinger_bands": lambda: ind.bollinger_bands(x, 5), "rolling_std": lambda: ind.rolling_std(x, 5),
    "rolling_zscore": lambda: ind.rolling_zscore(x, 5), "atr": lambda: ind.atr(x, x, x, 5),
    "adx": lambda: ind.adx(x, x, x, 5), "stochastic": lambda: ind.stochastic(x, x, x),
    "vwap": lambda: ind.vwap(x, x), "vwap_rolling": lambda: ind.vwap(x, x, window=5),
}
per = {}
for name, call in calls.items():
    start = time.perf_counter()
    call()
    per[name] = time.perf_counter() - start
print(json.dumps({"import_s": t1 - t0, "first_calls_s": sum(per.values()), "per_call_s": per}))
"""


def first_calls(cache_dir: str) -> dict[str, object]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_CALLS], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def random_walk(count: int, seed: int) -> tuple[Array, Array, Array, Array]:
    rng = random.Random(seed)
    close = np.empty(count)
    high = np.empty(count)
    low = np.empty(count)
    volume = np.empty(count)
    price = 100.0
    for i in range(count):
        price = max(1.0, price + rng.gauss(0.0, 0.5))
        close[i] = price
        high[i] = price + rng.random()
        low[i] = price - rng.random()
        volume[i] = float(rng.randrange(0, 10_000))
    return high, low, close, volume


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# ---- streaming baselines ----


class DequeSMA:
    # the textbook Python SMA: a bounded deque and a running sum
    __slots__ = ("_period", "_sum", "_window")

    def __init__(self, period: int) -> None:
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0
        self._period = period

    def update(self, value: float) -> float:
        window = self._window
        if len(window) == self._period:
            self._sum -= window[0]
        window.append(value)
        self._sum += value
        return self._sum / self._period if len(window) == self._period else math.nan


class NumpyRingSMA:
    # pyrt's SMA ring buffer in a numpy array instead of a list: scalar indexing boxes
    __slots__ = ("_buffer", "_count", "_index", "_period", "_sum")

    def __init__(self, period: int) -> None:
        self._buffer = np.zeros(period)
        self._period = period
        self._index = 0
        self._count = 0
        self._sum = 0.0

    def update(self, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, was {value!r}")
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = value
        index += 1
        if index == self._period:
            index = 0
        self._index = index
        self._count += 1
        self._sum += value - old
        return float(self._sum / self._period) if self._count >= self._period else math.nan


def jitclass_sma(period: int) -> object:
    from numba import float64, int64
    from numba.experimental import jitclass  # type: ignore[attr-defined]  # numba has no stubs

    @jitclass(
        [("period", int64), ("buffer", float64[:]), ("index", int64), ("total", float64), ("count", int64)]
    )
    class JitSMA:
        def __init__(self, period: int) -> None:
            self.period = period
            self.buffer = np.zeros(period)
            self.index = 0
            self.total = 0.0
            self.count = 0

        def update(self, value: float) -> float:
            old = self.buffer[self.index]
            self.buffer[self.index] = value
            self.index += 1
            if self.index == self.period:
                self.index = 0
            self.count += 1
            self.total += value - old
            return self.total / self.period if self.count >= self.period else np.nan

    obj: object = JitSMA(period)
    obj.update(1.0)  # type: ignore[attr-defined]  # compile outside the timed loop
    return obj


def stream_ns(make: Callable[[], object], rows: Sequence[tuple[float, ...]], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        update: Callable[..., object] = make().update  # type: ignore[attr-defined]
        start = time.perf_counter_ns()
        for row in rows:
            update(*row)
        samples.append((time.perf_counter_ns() - start) / len(rows))
    return statistics.median(samples)


def stream_ns_single(make: Callable[[], object], values: Sequence[float], repeats: int) -> float:
    # one-argument updates without the *row unpacking, as a live loop would call them
    samples = []
    for _ in range(repeats):
        update: Callable[[float], object] = make().update  # type: ignore[attr-defined]
        start = time.perf_counter_ns()
        for value in values:
            update(value)
        samples.append((time.perf_counter_ns() - start) / len(values))
    return statistics.median(samples)


def python_ema(values: Sequence[float], period: int) -> list[float]:
    alpha = 2.0 / (period + 1)
    out = [math.nan] * len(values)
    e = sum(values[:period]) / period
    out[period - 1] = e
    for i in range(period, len(values)):
        e = e + alpha * (values[i] - e)
        out[i] = e
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="values per vectorised call")
    parser.add_argument("--updates", type=int, default=100_000, help="values per streaming run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--period", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time subprocesses")
    parser.add_argument("--no-jitclass", action="store_true", help="skip the numba jitclass SMA baseline")
    args = parser.parse_args()
    period, repeats = args.period, args.repeats
    figures: dict[str, float] = {}

    # 1. compile time
    if not args.no_compile:
        with tempfile.TemporaryDirectory(prefix="bench_indicators_numba_") as cache_dir:
            cold = first_calls(cache_dir)
            warm = first_calls(cache_dir)
        compile_s = float(cold["first_calls_s"])  # type: ignore[arg-type]
        cached_s = float(warm["first_calls_s"])  # type: ignore[arg-type]
        figures["compile_s"] = compile_s
        figures["cached_start_s"] = cached_s
        figures["import_s"] = float(warm["import_s"])  # type: ignore[arg-type]
        print("numba compile (first call of every vectorised function, fresh process, import excluded)")
        print(f"  cold cache   {compile_s:8.3f} s")
        print(f"  warm cache   {cached_s:8.3f} s   ({compile_s / cached_s:.0f}x faster)")
        print(f"  import pyrt.indicators  {figures['import_s']:.3f} s")
        per_call: dict[str, float] = cold["per_call_s"]  # type: ignore[assignment]
        slowest = sorted(per_call.items(), key=lambda kv: -kv[1])[:4]
        print("  slowest cold: " + ", ".join(f"{name} {s:.2f} s" for name, s in slowest))

    # 2. vectorised throughput (kernels already compiled by the warm-up call below)
    n = args.points
    high, low, close, volume = random_walk(n, args.seed)
    typical = (high + low + close) / 3
    vector_calls: dict[str, Callable[[], object]] = {
        "sma": lambda: ind.sma(close, period),
        "ema": lambda: ind.ema(close, period),
        "wma": lambda: ind.wma(close, period),
        "rsi": lambda: ind.rsi(close, 14),
        "macd": lambda: ind.macd(close),
        "bollinger": lambda: ind.bollinger_bands(close, period),
        "rolling_std": lambda: ind.rolling_std(close, period),
        "zscore": lambda: ind.rolling_zscore(close, period),
        "atr": lambda: ind.atr(high, low, close, 14),
        "adx": lambda: ind.adx(high, low, close, 14),
        "vwap": lambda: ind.vwap(typical, volume),
        "vwap_rolling": lambda: ind.vwap(typical, volume, window=period),
        "stochastic": lambda: ind.stochastic(high, low, close),
    }
    for call in vector_calls.values():
        call()
    kernel = np.ones(period) / period
    convolve_s = median_seconds(lambda: np.convolve(close, kernel, mode="valid"), repeats)
    windows = np.lib.stride_tricks.sliding_window_view(close, period)
    numpy_std_s = median_seconds(lambda: windows.std(axis=1), max(1, repeats // 2))
    small = close[: n // 10].tolist()
    python_ema_s = median_seconds(lambda: python_ema(small, period), max(1, repeats // 2)) * 10
    print(f"\nvectorised: {n:,} values, period {period}, median of {repeats}")
    for name, call in vector_calls.items():
        rate = n / median_seconds(call, repeats)
        figures[f"{name}_vector_values_per_s"] = rate
        print(f"  {name:<14} {rate:>14,.0f} values/s")
    convolve_rate = n / convolve_s
    figures["numpy_convolve_sma_values_per_s"] = convolve_rate
    figures["numpy_two_pass_std_values_per_s"] = n / numpy_std_s
    figures["python_loop_ema_values_per_s"] = n / python_ema_s
    print(f"  baseline np.convolve SMA          {convolve_rate:>14,.0f} values/s")
    print(f"  baseline numpy sliding-window std {n / numpy_std_s:>14,.0f} values/s")
    print(f"  baseline pure-Python EMA loop     {n / python_ema_s:>14,.0f} values/s (N/10, scaled)")
    sma_ratio = figures["sma_vector_values_per_s"] / convolve_rate
    std_ratio = figures["rolling_std_vector_values_per_s"] * numpy_std_s / n
    ema_ratio = figures["ema_vector_values_per_s"] * python_ema_s / n
    print(f"  sma / np.convolve {sma_ratio:.2f}x, rolling_std / numpy two-pass {std_ratio:.1f}x, ", end="")
    print(f"ema / Python loop {ema_ratio:.0f}x")

    # 3. streaming update cost
    m = args.updates
    values = close[:m].tolist()
    bars = list(zip(high[:m].tolist(), low[:m].tolist(), values, strict=True))
    trades = list(zip(typical[:m].tolist(), volume[:m].tolist(), strict=True))
    single: dict[str, Callable[[], object]] = {
        "sma": lambda: ind.SMA(period),
        "ema": lambda: ind.EMA(period),
        "wma": lambda: ind.WMA(period),
        "rsi": lambda: ind.RSI(14),
        "macd": lambda: ind.MACD(),
        "bollinger": lambda: ind.BollingerBands(period),
        "rolling_std": lambda: ind.RollingStd(period),
        "zscore": lambda: ind.RollingZScore(period),
    }
    multi: dict[str, tuple[Callable[[], object], Sequence[tuple[float, ...]]]] = {
        "atr": (lambda: ind.ATR(14), bars),
        "adx": (lambda: ind.ADX(14), bars),
        "stochastic": (lambda: ind.Stochastic(), bars),
        "vwap": (lambda: ind.VWAP(), trades),
        "vwap_rolling": (lambda: ind.VWAP(window=period), trades),
    }
    print(f"\nstreaming: {m:,} updates, period {period}, median of {repeats}, ns/update (loop included)")
    for name, make in single.items():
        figures[f"{name}_stream_ns"] = stream_ns_single(make, values, repeats)
        print(f"  {name:<14} {figures[f'{name}_stream_ns']:8.0f}")
    for name, (make, rows) in multi.items():
        figures[f"{name}_stream_ns"] = stream_ns(make, rows, repeats)
        print(f"  {name:<14} {figures[f'{name}_stream_ns']:8.0f}")
    figures["deque_sma_stream_ns"] = stream_ns_single(lambda: DequeSMA(period), values, repeats)
    figures["numpy_ring_sma_stream_ns"] = stream_ns_single(lambda: NumpyRingSMA(period), values, repeats)
    print(f"  baseline deque SMA       {figures['deque_sma_stream_ns']:8.0f}")
    print(f"  baseline numpy-ring SMA  {figures['numpy_ring_sma_stream_ns']:8.0f}")
    if not args.no_jitclass:
        figures["jitclass_sma_stream_ns"] = stream_ns_single(lambda: jitclass_sma(period), values, repeats)
        print(f"  baseline jitclass SMA    {figures['jitclass_sma_stream_ns']:8.0f}")
    figures["sma_stream_vs_deque"] = figures["sma_stream_ns"] / figures["deque_sma_stream_ns"]
    print(
        f"  SMA / deque SMA {figures['sma_stream_vs_deque']:.2f}x (pyrt also checks finiteness, "
        "recomputes the sum every period and is exact on flat windows)"
    )

    def tidy(key: str, value: float) -> float:
        if key.endswith("_per_s"):
            return round(value)
        return round(value, 1 if key.endswith("_ns") else 4)  # seconds and ratios keep 4 decimals

    rounded = {key: tidy(key, value) for key, value in figures.items()}
    print(json.dumps({**rounded, "points": n, "updates": m, "period": period, "repeats": repeats}))


if __name__ == "__main__":
    main()

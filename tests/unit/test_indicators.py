from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import pyrt.indicators as ind
from tests.datafiles import DATA

REPO = Path(__file__).resolve().parents[2]

Array = npt.NDArray[np.float64]
Bars = dict[str, Array]


def load_bars(name: str) -> Bars:
    path = DATA / name
    assert path.is_file(), f"test data missing: {path} (tests/data/ is part of the repository)"
    table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4, 5), dtype=np.float64)
    return {
        "open": table[:, 0].copy(),
        "high": table[:, 1].copy(),
        "low": table[:, 2].copy(),
        "close": table[:, 3].copy(),
        "volume": table[:, 4].copy(),
    }


@pytest.fixture(scope="module", params=["orcl-1995-2014.csv", "yhoo-1996-2014.csv"])
def daily(request: pytest.FixtureRequest) -> Bars:
    return load_bars(request.param)


@pytest.fixture(scope="module")
def orcl() -> Bars:
    return load_bars("orcl-1995-2014.csv")


@pytest.fixture(scope="module")
def minutes() -> Bars:
    # one day of index-future minute bars: level ~3600, tick 1.0, many repeated closes
    return load_bars("2006-01-02-volume-min-001.csv")


def equal(a: object, b: object) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def stream(obj: object, *columns: Iterable[float]) -> Array:
    update: Callable[..., object] = obj.update  # type: ignore[attr-defined]
    out = [update(*row) for row in zip(*columns, strict=True)]
    return np.asarray(out, dtype=np.float64).T


def leading_nans(a: Array) -> int:
    defined = np.flatnonzero(~np.isnan(a))
    return int(defined[0]) if defined.size else a.shape[0]


def assert_close(actual: Array, expected: Array, *, rtol: float, atol: float = 0.0) -> None:
    assert equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


# ---- independent references: textbook definitions in plain numpy and Python loops ----


def ref_sma(x: Array, p: int) -> Array:
    out = np.full(x.shape[0], np.nan)
    for i in range(p - 1, x.shape[0]):
        out[i] = np.mean(x[i - p + 1 : i + 1])
    return out


def ref_ema(x: Array, p: int) -> Array:
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < p:
        return out
    alpha = 2 / (p + 1)
    e = float(np.mean(x[:p]))
    out[p - 1] = e
    for i in range(p, x.shape[0]):
        e = alpha * x[i] + (1 - alpha) * e
        out[i] = e
    return out


def ref_wma(x: Array, p: int) -> Array:
    weights = np.arange(1, p + 1, dtype=np.float64)
    out = np.full(x.shape[0], np.nan)
    for i in range(p - 1, x.shape[0]):
        out[i] = np.dot(weights, x[i - p + 1 : i + 1]) / weights.sum()
    return out


def ref_std(x: Array, p: int, ddof: int = 0) -> Array:
    out = np.full(x.shape[0], np.nan)
    for i in range(p - 1, x.shape[0]):
        out[i] = np.std(x[i - p + 1 : i + 1], ddof=ddof)
    return out


def ref_rsi(x: Array, p: int) -> Array:
    # Wilder (1978): RS = average gain / average loss, RSI = 100 - 100 / (1 + RS)
    out = np.full(x.shape[0], np.nan)
    diff = np.diff(x)
    gains = np.where(diff > 0, diff, 0.0)
    losses = np.where(diff < 0, -diff, 0.0)
    if diff.shape[0] < p:
        return out
    avg_gain = float(np.mean(gains[:p]))
    avg_loss = float(np.mean(losses[:p]))
    for i in range(p, x.shape[0]):
        if i > p:
            avg_gain = (avg_gain * (p - 1) + gains[i - 1]) / p
            avg_loss = (avg_loss * (p - 1) + losses[i - 1]) / p
        if avg_loss == 0:
            out[i] = 50.0 if avg_gain == 0 else 100.0
        else:
            out[i] = 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def ref_true_range(h: Array, lo: Array, c: Array) -> Array:
    tr = np.full(c.shape[0], np.nan)
    for i in range(1, c.shape[0]):
        tr[i] = max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
    return tr


def ref_atr(h: Array, lo: Array, c: Array, p: int) -> Array:
    tr = ref_true_range(h, lo, c)
    out = np.full(c.shape[0], np.nan)
    if c.shape[0] <= p:
        return out
    value = float(np.mean(tr[1 : p + 1]))
    out[p] = value
    for i in range(p + 1, c.shape[0]):
        value = (value * (p - 1) + tr[i]) / p
        out[i] = value
    return out


def ref_adx(h: Array, lo: Array, c: Array, p: int) -> tuple[Array, Array, Array]:
    # Wilder's own bookkeeping: running *sums* TR14 = TR14 - TR14/14 + TR, not averages
    n = c.shape[0]
    tr = ref_true_range(h, lo, c)
    plus_dm = np.zeros(n)
    minus_dm = np.zeros(n)
    for i in range(1, n):
        up, down = h[i] - h[i - 1], lo[i - 1] - lo[i]
        plus_dm[i] = up if up > down and up > 0 else 0.0
        minus_dm[i] = down if down > up and down > 0 else 0.0
    plus_di = np.full(n, np.nan)
    minus_di = np.full(n, np.nan)
    dx = np.full(n, np.nan)
    if n <= p:
        return np.full(n, np.nan), plus_di, minus_di
    tr_sum = float(np.sum(tr[1 : p + 1]))
    plus_sum = float(np.sum(plus_dm[1 : p + 1]))
    minus_sum = float(np.sum(minus_dm[1 : p + 1]))
    for i in range(p, n):
        if i > p:
            tr_sum = tr_sum - tr_sum / p + tr[i]
            plus_sum = plus_sum - plus_sum / p + plus_dm[i]
            minus_sum = minus_sum - minus_sum / p + minus_dm[i]
        plus_di[i] = 100 * plus_sum / tr_sum if tr_sum else 0.0
        minus_di[i] = 100 * minus_sum / tr_sum if tr_sum else 0.0
        total = plus_di[i] + minus_di[i]
        dx[i] = 100 * abs(plus_di[i] - minus_di[i]) / total if total else 0.0
    adx = np.full(n, np.nan)
    first = 2 * p - 1
    if n > first:
        value = float(np.mean(dx[p : first + 1]))
        adx[first] = value
        for i in range(first + 1, n):
            value = (value * (p - 1) + dx[i]) / p
            adx[i] = value
    return adx, plus_di, minus_di


def ref_stochastic(h: Array, lo: Array, c: Array, kp: int, dp: int, smooth: int) -> tuple[Array, Array]:
    n = c.shape[0]
    raw = np.full(n, np.nan)
    for i in range(kp - 1, n):
        hh, ll = np.max(h[i - kp + 1 : i + 1]), np.min(lo[i - kp + 1 : i + 1])
        raw[i] = 50.0 if hh == ll else 100 * (c[i] - ll) / (hh - ll)
    k = np.full(n, np.nan)
    k[kp - 1 :] = ref_sma(raw[kp - 1 :], smooth)
    d = np.full(n, np.nan)
    start = kp + smooth - 2
    d[start:] = ref_sma(k[start:], dp)
    return k, d


def ref_vwap(p: Array, v: Array, window: int | None) -> Array:
    out = np.full(p.shape[0], np.nan)
    for i in range(p.shape[0]):
        lo = 0 if window is None else i - window + 1
        if lo < 0:
            continue
        volume = np.sum(v[lo : i + 1])
        if volume > 0:
            out[i] = np.sum(p[lo : i + 1] * v[lo : i + 1]) / volume
    return out


# ---- vectorised == streaming, bit for bit, on real data ----


@pytest.mark.parametrize("period", [1, 2, 14, 50])
@pytest.mark.parametrize(
    ("function", "cls"),
    [
        (ind.sma, ind.SMA),
        (ind.ema, ind.EMA),
        (ind.wma, ind.WMA),
        (ind.rsi, ind.RSI),
        (ind.rolling_zscore, ind.RollingZScore),
        (ind.rolling_std, ind.RollingStd),
    ],
    ids=lambda f: getattr(f, "__name__", "?"),
)
def test_single_series_stream_equals_vector_on_real_closes(
    daily: Bars, function: Callable[[Array, int], Array], cls: Callable[[int], object], period: int
) -> None:
    close = daily["close"]

    vector = function(close, period)
    streamed = stream(cls(period), close)

    assert equal(streamed, vector)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (1, 2, 1), (5, 35, 5)])
def test_macd_stream_equals_vector_on_real_closes(daily: Bars, fast: int, slow: int, signal: int) -> None:
    vector = ind.macd(daily["close"], fast=fast, slow=slow, signal=signal)

    streamed = stream(ind.MACD(fast=fast, slow=slow, signal=signal), daily["close"])

    assert equal(streamed, np.vstack(vector))


@pytest.mark.parametrize(("period", "num_std"), [(20, 2.0), (10, 1.5), (1, 2.0), (5, 0.0)])
def test_bollinger_stream_equals_vector_on_real_closes(daily: Bars, period: int, num_std: float) -> None:
    vector = ind.bollinger_bands(daily["close"], period, num_std=num_std)

    streamed = stream(ind.BollingerBands(period, num_std=num_std), daily["close"])

    assert equal(streamed, np.vstack(vector))


@pytest.mark.parametrize("ddof", [0, 1])
def test_rolling_std_stream_equals_vector_with_ddof(daily: Bars, ddof: int) -> None:
    vector = ind.rolling_std(daily["close"], 10, ddof=ddof)

    streamed = stream(ind.RollingStd(10, ddof=ddof), daily["close"])

    assert equal(streamed, vector)


@pytest.mark.parametrize("period", [1, 2, 14])
def test_atr_and_adx_stream_equal_vector_on_real_bars(daily: Bars, period: int) -> None:
    bars = (daily["high"], daily["low"], daily["close"])

    atr_vector = ind.atr(*bars, period)
    adx_vector = ind.adx(*bars, period)
    atr_streamed = stream(ind.ATR(period), *bars)
    adx_streamed = stream(ind.ADX(period), *bars)

    assert equal(atr_streamed, atr_vector)
    assert equal(adx_streamed, np.vstack(adx_vector))


@pytest.mark.parametrize(("k_period", "d_period", "smooth_k"), [(14, 3, 1), (14, 3, 3), (1, 1, 1), (5, 4, 2)])
def test_stochastic_stream_equals_vector_on_real_bars(
    daily: Bars, k_period: int, d_period: int, smooth_k: int
) -> None:
    bars = (daily["high"], daily["low"], daily["close"])

    vector = ind.stochastic(*bars, k_period=k_period, d_period=d_period, smooth_k=smooth_k)
    streamed = stream(ind.Stochastic(k_period=k_period, d_period=d_period, smooth_k=smooth_k), *bars)

    assert equal(streamed, np.vstack(vector))


@pytest.mark.parametrize("window", [None, 1, 30, 390])
def test_vwap_stream_equals_vector_on_real_minutes(minutes: Bars, window: int | None) -> None:
    typical = (minutes["high"] + minutes["low"] + minutes["close"]) / 3

    vector = ind.vwap(typical, minutes["volume"], window=window)
    streamed = stream(ind.VWAP(window=window), typical, minutes["volume"])

    assert equal(streamed, vector)


# ---- vectorised == independent textbook computation ----


@pytest.mark.parametrize("period", [1, 3, 20, 200])
def test_moving_averages_match_textbook(orcl: Bars, period: int) -> None:
    close = orcl["close"]

    assert_close(ind.sma(close, period), ref_sma(close, period), rtol=1e-12)
    assert_close(ind.ema(close, period), ref_ema(close, period), rtol=1e-12)
    assert_close(ind.wma(close, period), ref_wma(close, period), rtol=1e-12)


@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_rsi_matches_wilder_textbook(daily: Bars, period: int) -> None:
    close = daily["close"]

    assert_close(ind.rsi(close, period), ref_rsi(close, period), rtol=1e-10)


@pytest.mark.parametrize("period", [2, 20, 100])
def test_rolling_statistics_match_two_pass_numpy(daily: Bars, period: int) -> None:
    close = daily["close"]
    mean, std = ref_sma(close, period), ref_std(close, period)

    middle, upper, lower = ind.bollinger_bands(close, period, num_std=2.5)

    assert equal(middle, ind.sma(close, period))  # the middle band is the SMA, bit for bit
    assert_close(ind.rolling_std(close, period), std, rtol=1e-11, atol=1e-12)
    assert_close(ind.rolling_std(close, period, ddof=1), ref_std(close, period, 1), rtol=1e-11, atol=1e-12)
    assert_close(upper, mean + 2.5 * std, rtol=1e-12)
    assert_close(lower, mean - 2.5 * std, rtol=1e-12, atol=1e-10)
    z = ind.rolling_zscore(close, period)
    expected = np.where(std > 0, (close - mean) / np.where(std > 0, std, 1.0), 0.0)
    expected[np.isnan(std)] = np.nan
    assert_close(z, expected, rtol=1e-7, atol=1e-9)


def test_rolling_std_is_accurate_at_a_high_level_with_a_small_spread(minutes: Bars) -> None:
    # level ~3600, spread ~1: sum(x*x) - sum(x)**2/n would lose ~7 digits here
    close = minutes["close"]

    assert_close(ind.rolling_std(close, 30), ref_std(close, 30), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 4)])
def test_macd_matches_textbook_emas(orcl: Bars, fast: int, slow: int, signal: int) -> None:
    close = orcl["close"]
    line = ref_ema(close, fast) - ref_ema(close, slow)
    sig = np.full(close.shape[0], np.nan)
    sig[slow - 1 :] = ref_ema(line[slow - 1 :], signal)

    got_line, got_signal, got_histogram = ind.macd(close, fast=fast, slow=slow, signal=signal)

    assert_close(got_line, line, rtol=1e-9, atol=1e-12)
    assert_close(got_signal, sig, rtol=1e-9, atol=1e-12)
    assert_close(got_histogram, line - sig, rtol=1e-6, atol=1e-11)


@pytest.mark.parametrize("period", [1, 5, 14])
def test_atr_and_adx_match_wilder_textbook(daily: Bars, period: int) -> None:
    bars = (daily["high"], daily["low"], daily["close"])

    assert_close(ind.atr(*bars, period), ref_atr(*bars, period), rtol=1e-10)
    for got, expected in zip(ind.adx(*bars, period), ref_adx(*bars, period), strict=True):
        assert_close(got, expected, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("k_period", "d_period", "smooth_k"), [(14, 3, 1), (14, 3, 3), (5, 5, 2)])
def test_stochastic_matches_window_max_min(orcl: Bars, k_period: int, d_period: int, smooth_k: int) -> None:
    bars = (orcl["high"], orcl["low"], orcl["close"])

    got = ind.stochastic(*bars, k_period=k_period, d_period=d_period, smooth_k=smooth_k)

    for g, expected in zip(got, ref_stochastic(*bars, k_period, d_period, smooth_k), strict=True):
        assert_close(g, expected, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("window", [None, 15, 60])
def test_vwap_matches_sums(minutes: Bars, window: int | None) -> None:
    typical = (minutes["high"] + minutes["low"] + minutes["close"]) / 3
    head = slice(0, 2000)  # the reference is O(n * window)

    got = ind.vwap(typical[head], minutes["volume"][head], window=window)

    assert_close(got, ref_vwap(typical[head], minutes["volume"][head], window), rtol=1e-12)


# ---- warm-up lengths ----


@pytest.mark.parametrize("period", [1, 2, 7, 30])
def test_warmup_lengths_are_as_documented(orcl: Bars, period: int) -> None:
    close = orcl["close"][:300]
    bars = (orcl["high"][:300], orcl["low"][:300], close)
    cases: list[tuple[Array, int, int]] = [
        (ind.sma(close, period), period - 1, ind.SMA(period).warmup),
        (ind.ema(close, period), period - 1, ind.EMA(period).warmup),
        (ind.wma(close, period), period - 1, ind.WMA(period).warmup),
        (ind.rolling_std(close, period), period - 1, ind.RollingStd(period).warmup),
        (ind.rolling_zscore(close, period), period - 1, ind.RollingZScore(period).warmup),
        (ind.bollinger_bands(close, period)[1], period - 1, ind.BollingerBands(period).warmup),
        (ind.rsi(close, period), period, ind.RSI(period).warmup),
        (ind.atr(*bars, period), period, ind.ATR(period).warmup),
        (ind.adx(*bars, period)[0], 2 * period - 1, ind.ADX(period).warmup),
        (ind.adx(*bars, period)[1], period, period),
        (ind.vwap(close, orcl["volume"][:300], window=period), period - 1, ind.VWAP(window=period).warmup),
        (ind.vwap(close, orcl["volume"][:300]), 0, ind.VWAP().warmup),
    ]

    for output, documented, warmup in cases:
        assert leading_nans(output) == documented == warmup
        assert not np.isnan(output[documented:]).any()


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (1, 2, 1), (2, 30, 7)])
def test_macd_warmup_lengths(orcl: Bars, fast: int, slow: int, signal: int) -> None:
    line, sig, histogram = ind.macd(orcl["close"][:200], fast=fast, slow=slow, signal=signal)

    assert leading_nans(line) == slow - 1
    assert leading_nans(sig) == leading_nans(histogram) == slow + signal - 2
    assert ind.MACD(fast=fast, slow=slow, signal=signal).warmup == slow + signal - 2


@pytest.mark.parametrize(("k_period", "d_period", "smooth_k"), [(14, 3, 1), (14, 3, 3), (1, 1, 1), (3, 5, 4)])
def test_stochastic_warmup_lengths(orcl: Bars, k_period: int, d_period: int, smooth_k: int) -> None:
    bars = (orcl["high"][:100], orcl["low"][:100], orcl["close"][:100])

    k, d = ind.stochastic(*bars, k_period=k_period, d_period=d_period, smooth_k=smooth_k)

    assert leading_nans(k) == k_period + smooth_k - 2
    assert leading_nans(d) == k_period + smooth_k + d_period - 3
    assert ind.Stochastic(k_period=k_period, d_period=d_period, smooth_k=smooth_k).warmup == leading_nans(d)


def test_streaming_ready_turns_true_with_the_first_defined_output(orcl: Bars) -> None:
    bars = list(zip(orcl["high"][:80], orcl["low"][:80], orcl["close"][:80], strict=True))
    indicators: list[tuple[object, Callable[[object, tuple[float, float, float]], object]]] = [
        (ind.SMA(5), lambda o, b: o.update(b[2])),  # type: ignore[attr-defined]
        (ind.RSI(5), lambda o, b: o.update(b[2])),  # type: ignore[attr-defined]
        (ind.MACD(fast=3, slow=6, signal=4), lambda o, b: o.update(b[2])),  # type: ignore[attr-defined]
        (ind.ADX(5), lambda o, b: o.update(*b)),  # type: ignore[attr-defined]
        (ind.Stochastic(k_period=5, d_period=3, smooth_k=2), lambda o, b: o.update(*b)),  # type: ignore[attr-defined]
    ]

    for obj, feed in indicators:
        warmup: int = obj.warmup  # type: ignore[attr-defined]
        for i, bar in enumerate(bars):
            out = np.atleast_1d(np.asarray(feed(obj, bar), dtype=np.float64))
            assert obj.ready is (i >= warmup)  # type: ignore[attr-defined]
            assert bool(np.isnan(out).any()) is (i < warmup)


# ---- exact semantics of edge cases ----


def test_constant_series_gives_exact_values() -> None:
    x = np.full(50, 0.1)

    assert equal(ind.sma(x, 7)[6:], x[6:])
    assert equal(ind.wma(x, 7)[6:], x[6:])
    assert equal(ind.rolling_std(x, 7)[6:], np.zeros(44))
    assert equal(ind.rolling_zscore(x, 7)[6:], np.zeros(44))
    assert equal(ind.rsi(x, 7)[7:], np.full(43, 50.0))
    middle, upper, lower = ind.bollinger_bands(x, 7)
    assert equal(upper[6:], middle[6:])
    assert equal(lower[6:], middle[6:])
    k, _ = ind.stochastic(x, x, x, k_period=5)
    assert equal(k[4:], np.full(46, 50.0))
    adx, plus_di, _ = ind.adx(x, x, x, 5)
    assert equal(adx[9:], np.zeros(41))
    assert equal(plus_di[5:], np.zeros(45))


def test_window_sums_are_recomputed_so_drift_stays_bounded() -> None:
    # a huge value passes through the window: a plain running sum would keep ~1e-4 of error
    x = np.array([1e16] + [1.0, 2.0, 3.0] * 40)

    assert equal(ind.sma(x, 3)[6:], np.full(x.shape[0] - 6, 2.0))


def test_rsi_is_100_on_a_rising_series_and_0_on_a_falling_one() -> None:
    x = np.arange(1.0, 40.0)

    assert equal(ind.rsi(x, 14)[14:], np.full(25, 100.0))
    assert equal(ind.rsi(x[::-1], 14)[14:], np.zeros(25))


def test_vwap_is_nan_while_no_volume_has_traded() -> None:
    prices = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    volumes = np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])

    assert equal(ind.vwap(prices, volumes), [np.nan, np.nan, 12.0, 12.0, 12.0, 12.0])
    assert equal(ind.vwap(prices, volumes, window=2), [np.nan, np.nan, 12.0, 12.0, np.nan, np.nan])


def test_rolling_vwap_recomputes_when_most_volume_leaves_the_window() -> None:
    # 1.0 + (2**-355 - 1.0) == 0.0: a running volume sum alone would divide 0 by 0 here
    prices = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0])
    volumes = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0**-355])

    got = ind.vwap(prices, volumes, window=4)

    assert equal(got, [np.nan, np.nan, np.nan, np.nan, 104.0, 104.0, 104.0, 104.0, 108.0])
    assert equal(stream(ind.VWAP(window=4), prices, volumes), got)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_series_shorter_than_the_warmup_give_all_nan(n: int) -> None:
    x = np.linspace(1.0, 2.0, n)
    outputs = [
        ind.sma(x, 6),
        ind.ema(x, 6),
        ind.wma(x, 6),
        ind.rsi(x, 5),
        ind.rolling_std(x, 6),
        ind.rolling_zscore(x, 6),
        ind.atr(x, x, x, 5),
        ind.vwap(x, x, window=6),
        *ind.macd(x, fast=2, slow=6, signal=2),
        *ind.bollinger_bands(x, 6),
        *ind.adx(x, x, x, 5),
        *ind.stochastic(x, x, x, k_period=6),
    ]

    for out in outputs:
        assert out.dtype == np.float64
        assert out.shape == (n,)
        assert np.isnan(out).all()


def test_vectorised_accepts_integer_arrays_and_lists() -> None:
    assert equal(ind.sma([1, 2, 3, 4], 2), [np.nan, 1.5, 2.5, 3.5])
    assert equal(ind.sma(np.array([1, 2, 3, 4], dtype=np.int32), 2), [np.nan, 1.5, 2.5, 3.5])
    assert equal(ind.sma(np.arange(10.0)[::2], 2), [np.nan, 1.0, 3.0, 5.0, 7.0])  # strided view


# ---- NaN and infinity ----


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_vectorised_rejects_non_finite_values_naming_the_index(bad: float) -> None:
    x = np.array([1.0, 2.0, bad, 4.0])

    with pytest.raises(ValueError, match=rf"^values must be finite, was {bad!r} at index 2$"):
        ind.sma(x, 2)
    with pytest.raises(ValueError, match=r"^low must be finite, was .* at index 2$"):
        ind.atr(np.ones(4), x, np.ones(4))
    with pytest.raises(ValueError, match=r"^volume must be finite, was .* at index 2$"):
        ind.vwap(np.ones(4), x)


def test_streaming_rejects_nan_and_leaves_the_state_unchanged(orcl: Bars) -> None:
    close = orcl["close"][:300]
    single: list[object] = [
        ind.SMA(10),
        ind.EMA(10),
        ind.WMA(10),
        ind.RSI(10),
        ind.RollingStd(10),
        ind.RollingZScore(10),
        ind.BollingerBands(10),
        ind.MACD(fast=3, slow=10, signal=4),
    ]

    for obj in single:
        update: Callable[[float], object] = obj.update  # type: ignore[attr-defined]
        out = []
        for i, value in enumerate(close):
            if i % 37 == 5:
                with pytest.raises(ValueError, match=r"^value must be finite, was nan$"):
                    update(math.nan)
                with pytest.raises(ValueError, match=r"^value must be finite, was inf$"):
                    update(math.inf)
            out.append(update(value))
        obj.reset()  # type: ignore[attr-defined]
        assert equal(np.asarray(out, dtype=np.float64).T, stream(obj, close))


def test_streaming_bar_indicators_reject_non_finite_fields(orcl: Bars) -> None:
    bars = list(zip(orcl["high"][:100], orcl["low"][:100], orcl["close"][:100], strict=True))
    for obj in (ind.ATR(5), ind.ADX(5), ind.Stochastic(k_period=5)):
        out = []
        for i, (h, lo, c) in enumerate(bars):
            if i % 11 == 3:
                with pytest.raises(ValueError, match=r"^high must be finite, was nan$"):
                    obj.update(math.nan, lo, c)
                with pytest.raises(ValueError, match=r"^low must be finite, was inf$"):
                    obj.update(h, math.inf, c)
                with pytest.raises(ValueError, match=r"^close must be finite, was -inf$"):
                    obj.update(h, lo, -math.inf)
            out.append(obj.update(h, lo, c))
        obj.reset()
        assert equal(np.asarray(out, dtype=np.float64).T, stream(obj, *zip(*bars, strict=True)))


def test_streaming_vwap_rejects_bad_price_and_volume() -> None:
    vwap = ind.VWAP(window=2)
    vwap.update(10.0, 1.0)

    with pytest.raises(ValueError, match=r"^price must be finite, was nan$"):
        vwap.update(math.nan, 1.0)
    with pytest.raises(ValueError, match=r"^volume must be finite, was inf$"):
        vwap.update(10.0, math.inf)
    with pytest.raises(ValueError, match=r"^volume must be >= 0, was -1.0$"):
        vwap.update(10.0, -1.0)
    assert vwap.update(12.0, 3.0) == (10.0 * 1.0 + 12.0 * 3.0) / 4.0


# ---- parameter and shape validation ----


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (0, r"^period must be an integer >= 1, was 0$"),
        (-3, r"^period must be an integer >= 1, was -3$"),
        (2.5, r"^period must be an integer >= 1, was 2.5$"),
        (True, r"^period must be an integer >= 1, was True$"),
        ("3", r"^period must be an integer >= 1, was '3'$"),
    ],
)
def test_bad_period_is_rejected_in_both_forms(period: object, message: str) -> None:
    x = np.ones(5)
    vector: list[Callable[[], object]] = [
        lambda: ind.sma(x, period),  # type: ignore[arg-type]
        lambda: ind.ema(x, period),  # type: ignore[arg-type]
        lambda: ind.wma(x, period),  # type: ignore[arg-type]
        lambda: ind.rsi(x, period),  # type: ignore[arg-type]
        lambda: ind.rolling_std(x, period),  # type: ignore[arg-type]
        lambda: ind.rolling_zscore(x, period),  # type: ignore[arg-type]
        lambda: ind.bollinger_bands(x, period),  # type: ignore[arg-type]
        lambda: ind.atr(x, x, x, period),  # type: ignore[arg-type]
        lambda: ind.adx(x, x, x, period),  # type: ignore[arg-type]
    ]
    classes: list[Callable[[int], object]] = [ind.SMA, ind.EMA, ind.WMA, ind.RSI, ind.RollingStd]
    classes += [ind.RollingZScore, ind.BollingerBands, ind.ATR, ind.ADX]

    for call in vector:
        with pytest.raises(ValueError, match=message):
            call()
    for cls in classes:
        with pytest.raises(ValueError, match=message):
            cls(period)  # type: ignore[arg-type]


def test_named_periods_are_checked() -> None:
    x = np.ones(5)

    with pytest.raises(ValueError, match=r"^signal must be an integer >= 1, was 0$"):
        ind.macd(x, signal=0)
    with pytest.raises(ValueError, match=r"^fast must be < slow, was fast=26 slow=12$"):
        ind.macd(x, fast=26, slow=12)
    with pytest.raises(ValueError, match=r"^fast must be < slow, was fast=5 slow=5$"):
        ind.MACD(fast=5, slow=5)
    with pytest.raises(ValueError, match=r"^k_period must be an integer >= 1, was 0$"):
        ind.stochastic(x, x, x, k_period=0)
    with pytest.raises(ValueError, match=r"^smooth_k must be an integer >= 1, was -1$"):
        ind.Stochastic(smooth_k=-1)
    with pytest.raises(ValueError, match=r"^d_period must be an integer >= 1, was 1.0$"):
        ind.Stochastic(d_period=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^window must be an integer >= 1, was 0$"):
        ind.vwap(x, x, window=0)
    with pytest.raises(ValueError, match=r"^window must be an integer >= 1, was 0$"):
        ind.VWAP(window=0)


def test_other_options_are_checked() -> None:
    x = np.ones(5)

    with pytest.raises(ValueError, match=r"^num_std must be a finite number >= 0, was -1.0$"):
        ind.bollinger_bands(x, 3, num_std=-1.0)
    with pytest.raises(ValueError, match=r"^num_std must be a finite number >= 0, was nan$"):
        ind.BollingerBands(3, num_std=math.nan)
    with pytest.raises(ValueError, match=r"^ddof must be 0 or 1, was 2$"):
        ind.rolling_std(x, 3, ddof=2)
    with pytest.raises(ValueError, match=r"^period must be > ddof, was period=1 ddof=1$"):
        ind.RollingStd(1, ddof=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.ones((3, 2)), r"^values must be a 1-D array, was 2-D with shape \(3, 2\)$"),
        (np.float64(3.0), r"^values must be a 1-D array, was 0-D with shape \(\)$"),
        (np.array(["1", "2"]), r"^values must hold real numbers, was dtype <U1$"),
        (np.array([True, False]), r"^values must hold real numbers, was dtype bool$"),
        (np.array([1 + 2j]), r"^values must hold real numbers, was dtype complex128$"),
    ],
)
def test_values_that_are_not_a_real_1d_series_are_rejected(values: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ind.ema(values, 3)  # type: ignore[arg-type]


def test_unequal_lengths_are_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"^high, low, close must have equal lengths, was high=3, low=2, close=3$"
    ):
        ind.atr(np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(
        ValueError, match=r"^high, low, close must have equal lengths, was high=4, low=4, close=3$"
    ):
        ind.stochastic(np.ones(4), np.ones(4), np.ones(3))
    with pytest.raises(
        ValueError, match=r"^prices, volumes must have equal lengths, was prices=3, volumes=4$"
    ):
        ind.vwap(np.ones(3), np.ones(4))


def test_negative_volume_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^volume must be >= 0, was -2.0 at index 1$"):
        ind.vwap(np.ones(3), np.array([1.0, -2.0, 3.0]))


# ---- streaming object protocol ----


def test_reset_forgets_everything(orcl: Bars) -> None:
    bars = (orcl["high"][:120], orcl["low"][:120], orcl["close"][:120])
    objects: list[tuple[object, tuple[Array, ...]]] = [
        (ind.SMA(7), bars[2:]),
        (ind.EMA(7), bars[2:]),
        (ind.WMA(7), bars[2:]),
        (ind.RSI(7), bars[2:]),
        (ind.RollingStd(7), bars[2:]),
        (ind.RollingZScore(7), bars[2:]),
        (ind.BollingerBands(7), bars[2:]),
        (ind.MACD(fast=3, slow=7, signal=3), bars[2:]),
        (ind.ATR(7), bars),
        (ind.ADX(7), bars),
        (ind.Stochastic(k_period=7, smooth_k=2), bars),
        (ind.VWAP(window=7), (bars[2], orcl["volume"][:120])),
    ]

    for obj, columns in objects:
        first = stream(obj, *columns)
        obj.reset()  # type: ignore[attr-defined]
        assert obj.ready is False  # type: ignore[attr-defined]
        assert np.isnan(np.asarray(obj.value, dtype=np.float64)).all()  # type: ignore[attr-defined]
        assert equal(stream(obj, *columns), first)


def test_value_and_named_outputs_follow_the_last_update(orcl: Bars) -> None:
    close = orcl["close"][:100]
    bars = (orcl["high"][:100], orcl["low"][:100], close)
    macd, bands = ind.MACD(), ind.BollingerBands()
    adx, stochastic = ind.ADX(), ind.Stochastic()
    sma = ind.SMA(5)

    for h, lo, c in zip(*bars, strict=True):
        got = macd.update(c)
        assert equal(got, macd.value)
        assert equal(got, (macd.line, macd.signal, macd.histogram))
        got = bands.update(c)
        assert equal(got, bands.value)
        assert equal(got, (bands.middle, bands.upper, bands.lower))
        got = adx.update(h, lo, c)
        assert equal(got, adx.value)
        assert equal(got, (adx.adx, adx.plus_di, adx.minus_di))
        k_d = stochastic.update(h, lo, c)
        assert equal(k_d, stochastic.value)
        assert equal(k_d, (stochastic.k, stochastic.d))
        assert equal(sma.update(c), sma.value)
    assert sma.period == 5
    assert repr(sma) == "SMA(period=5)"
    assert repr(ind.Stochastic()) == "Stochastic(k_period=14, d_period=3, smooth_k=1)"


def test_all_lists_the_public_names_without_duplicates() -> None:
    public = {name for name in vars(ind) if not name.startswith("_")} - {"annotations"}

    assert set(ind.__all__) == public
    assert len(ind.__all__) == len(set(ind.__all__))
    classes = [n for n in ind.__all__ if n[0].isupper()]
    functions = [n for n in ind.__all__ if n[0].islower()]
    assert ind.__all__ == classes + functions  # ruff RUF022's isort-style order
    assert functions == sorted(functions)


def test_indicators_import_nothing_else_from_pyrt() -> None:
    for path in (REPO / "pyrt" / "indicators").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) +pyrt\b", text, re.MULTILINE), path
        assert not re.search(r"^\s*from +\.\.", text, re.MULTILINE), path


# ---- numba cache ----

_CACHE_PROBE = textwrap.dedent(
    """
    import json
    import numpy as np
    import pyrt.indicators as ind
    from pyrt.indicators import _kernels

    x = np.linspace(1.0, 2.0, 64)
    ind.sma(x, 3); ind.ema(x, 3); ind.wma(x, 3); ind.rsi(x, 3); ind.macd(x)
    ind.bollinger_bands(x, 3); ind.rolling_std(x, 3); ind.rolling_zscore(x, 3)
    ind.atr(x, x, x, 3); ind.adx(x, x, x, 3); ind.stochastic(x, x, x)
    ind.vwap(x, x); ind.vwap(x, x, window=3)
    hits = misses = 0
    for obj in vars(_kernels).values():
        stats = getattr(obj, "stats", None)
        if stats is not None and hasattr(stats, "cache_hits"):
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    print(json.dumps({"hits": hits, "misses": misses}))
    """
)


@pytest.mark.slow
def test_a_second_process_loads_every_kernel_from_the_cache() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}

    runs = [
        subprocess.run(
            [sys.executable, "-c", _CACHE_PROBE],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        for _ in range(2)
    ]

    last = runs[-1].stdout.strip().splitlines()[-1]
    assert last.startswith("{"), runs[-1].stderr
    counts = json.loads(last)
    assert counts["misses"] == 0
    assert counts["hits"] >= 15


def test_rolling_std_keeps_a_tiny_spread_left_after_a_large_one_leaves_the_window() -> None:
    # Hypothesis found it: the running sum of squares kept 100 -> 101's spread and lost the
    # 1e-9 left behind, so the std came out 0 instead of 5e-10
    x = np.array([100.0, 101.0, 101.0 + 1e-9])
    expected = np.std(x[1:])

    assert ind.rolling_std(x, 2)[2] == pytest.approx(expected, rel=1e-9)
    stream = ind.RollingStd(2)
    assert [stream.update(v) for v in x][2] == pytest.approx(expected, rel=1e-9)

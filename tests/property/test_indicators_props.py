from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, strategies as st

import pyrt.indicators as ind
from tests.unit.test_indicators import (
    ref_atr,
    ref_ema,
    ref_rsi,
    ref_sma,
    ref_std,
    ref_stochastic,
    ref_vwap,
    ref_wma,
)

Array = npt.NDArray[np.float64]

# any finite value, with a few exact repeats so runs of equal values and flat windows occur
values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 100.0, 100.25]),
)
series = st.lists(values, max_size=120).map(lambda xs: np.array(xs, dtype=np.float64))
periods = st.integers(min_value=1, max_value=25)


@st.composite
def prices(draw: st.DrawFn, *, min_size: int = 0) -> Array:
    steps = draw(
        st.lists(
            st.one_of(st.floats(min_value=-1.0, max_value=1.0), st.just(0.0)), min_size=min_size, max_size=150
        )
    )
    return 100.0 + np.cumsum(np.array(steps, dtype=np.float64))


@st.composite
def bars(draw: st.DrawFn) -> tuple[Array, Array, Array]:
    close = draw(prices())
    n = close.shape[0]
    spread = st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=n, max_size=n)
    above = np.array(draw(spread), dtype=np.float64)
    below = np.array(draw(spread), dtype=np.float64)
    return close + above, close - below, close


def equal(a: object, b: object) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def stream(obj: object, *columns: Iterable[float], outputs: int = 1) -> Array:
    # rows of outputs: shape (outputs, n), whatever n (0 included)
    update: Callable[..., object] = obj.update  # type: ignore[attr-defined]
    out = [update(*row) for row in zip(*columns, strict=True)]
    return np.asarray(out, dtype=np.float64).reshape(len(out), outputs).T


def rows(vector: Array | tuple[Array, ...]) -> Array:
    return np.atleast_2d(np.asarray(vector, dtype=np.float64))


def close_to(actual: Array, expected: Array, rtol: float, atol: float) -> bool:
    return bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)) and equal(
        np.isnan(actual), np.isnan(expected)
    )


# ---- streaming == vectorised, bit for bit, on arbitrary finite series ----


@given(x=series, period=periods)
def test_single_series_indicators_stream_equals_vector(x: Array, period: int) -> None:
    pairs: list[tuple[Array | tuple[Array, ...], object]] = [
        (ind.sma(x, period), ind.SMA(period)),
        (ind.ema(x, period), ind.EMA(period)),
        (ind.wma(x, period), ind.WMA(period)),
        (ind.rsi(x, period), ind.RSI(period)),
        (ind.rolling_std(x, period), ind.RollingStd(period)),
        (ind.rolling_zscore(x, period), ind.RollingZScore(period)),
        (ind.bollinger_bands(x, period, num_std=1.5), ind.BollingerBands(period, num_std=1.5)),
    ]

    for vector, obj in pairs:
        expected = rows(vector)
        assert equal(stream(obj, x, outputs=expected.shape[0]), expected), obj


@given(x=series, fast=periods, extra=periods, signal=periods)
def test_macd_stream_equals_vector(x: Array, fast: int, extra: int, signal: int) -> None:
    slow = fast + extra

    vector = ind.macd(x, fast=fast, slow=slow, signal=signal)

    assert equal(stream(ind.MACD(fast=fast, slow=slow, signal=signal), x, outputs=3), rows(vector))


@given(ohlc=bars(), period=periods, d_period=st.integers(1, 5), smooth_k=st.integers(1, 4))
def test_bar_indicators_stream_equal_vector(
    ohlc: tuple[Array, Array, Array], period: int, d_period: int, smooth_k: int
) -> None:
    stochastic = ind.stochastic(*ohlc, k_period=period, d_period=d_period, smooth_k=smooth_k)

    assert equal(stream(ind.ATR(period), *ohlc), rows(ind.atr(*ohlc, period)))
    assert equal(stream(ind.ADX(period), *ohlc, outputs=3), rows(ind.adx(*ohlc, period)))
    assert equal(
        stream(ind.Stochastic(k_period=period, d_period=d_period, smooth_k=smooth_k), *ohlc, outputs=2),
        rows(stochastic),
    )


@given(
    p=prices(),
    data=st.data(),
    window=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
)
def test_vwap_stream_equals_vector(p: Array, data: st.DataObject, window: int | None) -> None:
    n = p.shape[0]
    volume = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e6))
    v = np.array(data.draw(st.lists(volume, min_size=n, max_size=n)), dtype=np.float64)

    assert equal(stream(ind.VWAP(window=window), p, v), rows(ind.vwap(p, v, window=window)))


# ---- vectorised == independent textbook computation on price-like series ----


@given(x=prices(), period=periods)
def test_averages_and_spread_match_textbook(x: Array, period: int) -> None:
    assert close_to(ind.sma(x, period), ref_sma(x, period), 1e-12, 1e-12)
    assert close_to(ind.ema(x, period), ref_ema(x, period), 1e-12, 1e-12)
    assert close_to(ind.wma(x, period), ref_wma(x, period), 1e-12, 1e-12)
    assert close_to(ind.rolling_std(x, period), ref_std(x, period), 1e-9, 1e-10)


@given(x=prices(), period=periods)
def test_rsi_matches_wilder_textbook(x: Array, period: int) -> None:
    got = ind.rsi(x, period)

    assert close_to(got, ref_rsi(x, period), 1e-9, 1e-9)
    assert np.all((got[period:] >= 0.0) & (got[period:] <= 100.0 + 1e-12))


@given(ohlc=bars(), period=periods, d_period=st.integers(1, 5), smooth_k=st.integers(1, 4))
def test_bar_indicators_match_textbook_and_stay_in_range(
    ohlc: tuple[Array, Array, Array], period: int, d_period: int, smooth_k: int
) -> None:
    k, d = ind.stochastic(*ohlc, k_period=period, d_period=d_period, smooth_k=smooth_k)
    adx, plus_di, minus_di = ind.adx(*ohlc, period)

    assert close_to(ind.atr(*ohlc, period), ref_atr(*ohlc, period), 1e-10, 1e-12)
    expected_k, expected_d = ref_stochastic(*ohlc, period, d_period, smooth_k)
    assert close_to(k, expected_k, 1e-9, 1e-9)
    assert close_to(d, expected_d, 1e-9, 1e-9)
    for out in (k, d, adx, plus_di, minus_di):
        defined = out[~np.isnan(out)]
        assert np.all((defined >= -1e-9) & (defined <= 100.0 + 1e-9))


@given(p=prices(), data=st.data(), window=st.one_of(st.none(), st.integers(min_value=1, max_value=20)))
def test_vwap_matches_sums_and_stays_within_the_window_prices(
    p: Array, data: st.DataObject, window: int | None
) -> None:
    n = p.shape[0]
    volume = st.one_of(
        st.just(0.0), st.floats(1e-6, 1e4)
    )  # subnormal volumes lose the price: 100.5 * 5e-324 == 5e-324
    v = np.array(data.draw(st.lists(volume, min_size=n, max_size=n)), dtype=np.float64)

    got = ind.vwap(p, v, window=window)

    assert close_to(got, ref_vwap(p, v, window), 1e-9, 1e-9)
    for i in np.flatnonzero(~np.isnan(got)):
        lo = 0 if window is None else i - window + 1
        low, high = p[lo : i + 1].min(), p[lo : i + 1].max()
        slack = 1e-11 * max(abs(low), abs(high))
        assert low - slack <= got[i] <= high + slack


@given(x=series, period=periods, num_std=st.floats(0.0, 5.0))
def test_bands_are_ordered_around_the_sma(x: Array, period: int, num_std: float) -> None:
    middle, upper, lower = ind.bollinger_bands(x, period, num_std=num_std)

    assert equal(middle, ind.sma(x, period))
    defined = ~np.isnan(middle)
    assert np.all(lower[defined] <= middle[defined])
    assert np.all(middle[defined] <= upper[defined])
    assert np.all(ind.rolling_std(x, period)[defined] >= 0.0)


# ---- invalid input ----


@given(x=st.lists(values, min_size=1, max_size=50), data=st.data())
def test_a_non_finite_value_is_rejected_at_its_index_in_both_forms(
    x: list[float], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(x) - 1))
    bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    dirty = [*x]
    dirty[index] = bad
    sma = ind.SMA(3)
    clean_out = [sma.update(v) for v in x[:index]]

    with pytest.raises(ValueError, match=rf"^values must be finite, was {bad!r} at index {index}$"):
        ind.sma(np.array(dirty), 3)
    with pytest.raises(ValueError, match=rf"^value must be finite, was {bad!r}$"):
        sma.update(bad)
    assert equal(clean_out + [sma.update(v) for v in x[index:]], ind.sma(np.array(x), 3))

"""Vectorised indicators: validate in Python, then run one numba kernel over the whole series."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _kernels as k
from ._validation import (
    as_series,
    as_volume,
    check_ddof,
    check_num_std,
    check_period,
    check_window,
    same_length,
)

_Array = npt.NDArray[np.float64]


def _bars(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> tuple[_Array, _Array, _Array]:
    h = as_series(high, "high")
    lo = as_series(low, "low")
    c = as_series(close, "close")
    same_length(high=h, low=lo, close=c)
    return h, lo, c


def sma(values: npt.ArrayLike, period: int) -> _Array:
    """Compute the simple moving average: the mean of the last ``period`` values.

    The first ``period - 1`` outputs are NaN. A window of equal values gives that value exactly.

    Args:
        values: 1-D series of finite numbers.
        period: window length, >= 1.

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: ``values`` is not 1-D, not numeric or not finite, or ``period`` < 1.
    """
    x = as_series(values, "values")
    return k.sma_kernel(x, check_period(period))


def ema(values: npt.ArrayLike, period: int) -> _Array:
    """Compute the exponential moving average with ``alpha = 2 / (period + 1)``.

    Seeded with the simple mean of the first ``period`` values (as TA-Lib does), then
    ``ema = ema + alpha * (value - ema)``. The first ``period - 1`` outputs are NaN.

    Args:
        values: 1-D series of finite numbers.
        period: span, >= 1 (``period=1`` returns the values).

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: ``values`` is not 1-D, not numeric or not finite, or ``period`` < 1.
    """
    x = as_series(values, "values")
    return k.ema_kernel(x, check_period(period))


def wma(values: npt.ArrayLike, period: int) -> _Array:
    """Compute the linearly weighted moving average (weights 1..period, newest heaviest).

    The first ``period - 1`` outputs are NaN.

    Args:
        values: 1-D series of finite numbers.
        period: window length, >= 1.

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: ``values`` is not 1-D, not numeric or not finite, or ``period`` < 1.
    """
    x = as_series(values, "values")
    return k.wma_kernel(x, check_period(period))


def rsi(values: npt.ArrayLike, period: int = 14) -> _Array:
    """Compute Wilder's relative strength index, in [0, 100].

    Gains and losses are the positive and negative parts of successive differences. The first
    averages are the simple means of the first ``period`` of them; after that each average is
    smoothed as ``(avg * (period - 1) + x) / period``. ``RSI = 100 * avg_gain / (avg_gain +
    avg_loss)``, which equals ``100 - 100 / (1 + RS)``; a flat stretch (both averages 0) gives 50.
    The first ``period`` outputs are NaN (one more than the moving averages: it needs a
    previous value).

    Args:
        values: 1-D series of finite numbers (closes).
        period: smoothing length, >= 1.

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: ``values`` is not 1-D, not numeric or not finite, or ``period`` < 1.
    """
    x = as_series(values, "values")
    return k.rsi_kernel(x, check_period(period))


def macd(
    values: npt.ArrayLike, *, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[_Array, _Array, _Array]:
    """Compute MACD: line, signal and histogram.

    ``line = ema(values, fast) - ema(values, slow)``, ``signal = ema(line, signal)`` over the
    defined part of the line, ``histogram = line - signal``. The line's first ``slow - 1``
    outputs are NaN; the signal's and histogram's first ``slow + signal - 2``.

    Args:
        values: 1-D series of finite numbers.
        fast: fast EMA period, >= 1 and < ``slow``.
        slow: slow EMA period.
        signal: EMA period of the signal line, >= 1.

    Returns:
        ``(line, signal, histogram)``, float64 arrays of the same length as ``values``.

    Raises:
        ValueError: bad ``values``, or periods not integers with ``1 <= fast < slow`` and
            ``signal >= 1``.
    """
    x = as_series(values, "values")
    f = check_period(fast, "fast")
    s = check_period(slow, "slow")
    g = check_period(signal, "signal")
    if f >= s:
        raise ValueError(f"fast must be < slow, was fast={f} slow={s}")
    return k.macd_kernel(x, f, s, g)


def bollinger_bands(
    values: npt.ArrayLike, period: int = 20, *, num_std: float = 2.0
) -> tuple[_Array, _Array, _Array]:
    """Compute Bollinger bands: middle, upper and lower.

    ``middle = sma(values, period)`` (bit for bit) and the bands are ``middle ± num_std * std``
    where ``std`` is the **population** standard deviation of the window (divides by
    ``period``, ``ddof=0``, as Bollinger defines it; pandas' default ``ddof=1`` gives wider
    bands). The first ``period - 1`` outputs are NaN.

    Args:
        values: 1-D series of finite numbers.
        period: window length, >= 1.
        num_std: band width in standard deviations, finite and >= 0.

    Returns:
        ``(middle, upper, lower)``, float64 arrays of the same length as ``values``.

    Raises:
        ValueError: bad ``values``, ``period`` < 1, or ``num_std`` negative or not finite.
    """
    x = as_series(values, "values")
    return k.bollinger_kernel(x, check_period(period), check_num_std(num_std))


def rolling_std(values: npt.ArrayLike, period: int, *, ddof: int = 0) -> _Array:
    """Compute the standard deviation of the last ``period`` values.

    ``ddof=0`` (default) divides by ``period`` (population), ``ddof=1`` by ``period - 1``
    (sample). A window of equal values gives exactly 0. The first ``period - 1`` outputs are
    NaN. O(1) per value: running sums of deviations from a shift, recomputed every ``period``
    values; on real prices it matches a two-pass ``np.std`` to 1e-11 relative.

    Args:
        values: 1-D series of finite numbers.
        period: window length, >= 1 and > ``ddof``.
        ddof: 0 or 1.

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: bad ``values``, ``ddof`` not 0 or 1, or ``period`` < 1 or <= ``ddof``.
    """
    x = as_series(values, "values")
    p = check_period(period)
    return k.moments_kernel(x, p, check_ddof(ddof, p))[1]


def rolling_zscore(values: npt.ArrayLike, period: int) -> _Array:
    """Compute how many standard deviations each value is from the mean of its window.

    ``z = (value - sma) / std`` over the last ``period`` values (the value included), with the
    population std. A window with no spread gives 0. The first ``period - 1`` outputs are NaN.

    Args:
        values: 1-D series of finite numbers.
        period: window length, >= 1.

    Returns:
        float64 array of the same length as ``values``.

    Raises:
        ValueError: ``values`` is not 1-D, not numeric or not finite, or ``period`` < 1.
    """
    x = as_series(values, "values")
    return k.zscore_kernel(x, check_period(period))


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> _Array:
    """Compute Wilder's average true range.

    ``TR = max(high - low, |high - prev_close|, |low - prev_close|)`` from the second bar on;
    the first ATR is the mean of the first ``period`` TRs, then
    ``atr = (atr * (period - 1) + tr) / period``. The first ``period`` outputs are NaN (the
    first bar has no previous close, as in TA-Lib).

    Args:
        high: 1-D series of bar highs.
        low: bar lows, same length.
        close: bar closes, same length.
        period: smoothing length, >= 1.

    Returns:
        float64 array of the same length as the inputs.

    Raises:
        ValueError: an input is not 1-D, not numeric or not finite, lengths differ, or
            ``period`` < 1.
    """
    h, lo, c = _bars(high, low, close)
    return k.atr_kernel(h, lo, c, check_period(period))


def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> tuple[_Array, _Array, _Array]:
    """Compute Wilder's average directional index with the directional indicators.

    From the second bar on, ``up = high - prev_high`` and ``down = prev_low - low``;
    ``+DM = up`` if ``up > down`` and ``up > 0`` else 0, and ``-DM`` likewise. TR, +DM and -DM
    are Wilder-smoothed as in :func:`atr`; ``±DI = 100 * smoothed ±DM / ATR`` (0 when ATR is 0),
    ``DX = 100 * |+DI - -DI| / (+DI + -DI)`` (0 when both are 0), and ADX is the mean of the
    first ``period`` DX values, then Wilder-smoothed. The DIs' first ``period`` outputs are NaN,
    ADX's first ``2 * period - 1`` (as in TA-Lib).

    Args:
        high: 1-D series of bar highs.
        low: bar lows, same length.
        close: bar closes, same length.
        period: smoothing length, >= 1.

    Returns:
        ``(adx, plus_di, minus_di)``, float64 arrays in [0, 100] of the inputs' length.

    Raises:
        ValueError: an input is not 1-D, not numeric or not finite, lengths differ, or
            ``period`` < 1.
    """
    h, lo, c = _bars(high, low, close)
    return k.adx_kernel(h, lo, c, check_period(period))


def vwap(prices: npt.ArrayLike, volumes: npt.ArrayLike, *, window: int | None = None) -> _Array:
    """Compute the volume-weighted average price, cumulative or over a rolling window.

    ``sum(price * volume) / sum(volume)`` from the first value (``window=None``) or over the
    last ``window`` values. For bars pass the typical price ``(high + low + close) / 3`` as
    ``prices``. For a session VWAP call it once per session (or ``reset()`` the streaming
    :class:`VWAP` at the session start). The output is NaN while no volume has traded: for the
    cumulative form until the first non-zero volume, for the rolling form in the first
    ``window - 1`` positions and in windows whose volumes are all 0. The rolling sums are
    recomputed from the window every ``window`` values, and also when the window's volume falls
    below 1/1024 of its peak since the last recompute (a large trade leaving the window would
    otherwise leave few correct digits).

    Args:
        prices: 1-D series of finite prices.
        volumes: volumes, same length, finite and >= 0.
        window: rolling window length (>= 1), or ``None`` for cumulative.

    Returns:
        float64 array of the same length as the inputs.

    Raises:
        ValueError: an input is not 1-D, not numeric or not finite, a volume is negative,
            lengths differ, or ``window`` < 1.
    """
    p = as_series(prices, "prices")
    v = as_volume(volumes)
    same_length(prices=p, volumes=v)
    w = check_window(window)
    if w is None:
        return k.vwap_cumulative_kernel(p, v)
    return k.vwap_rolling_kernel(p, v, w)


def stochastic(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    k_period: int = 14,
    d_period: int = 3,
    smooth_k: int = 1,
) -> tuple[_Array, _Array]:
    """Compute the stochastic oscillator %K and %D, in [0, 100].

    Raw ``%K = 100 * (close - lowest low) / (highest high - lowest low)`` over the last
    ``k_period`` bars (50 when that range is 0); ``%K`` is the raw value smoothed by an SMA of
    ``smooth_k`` (1: the fast stochastic, 3: the slow one), and ``%D = sma(%K, d_period)``.
    %K's first ``k_period + smooth_k - 2`` outputs are NaN, %D's first
    ``k_period + smooth_k + d_period - 3``.

    Args:
        high: 1-D series of bar highs.
        low: bar lows, same length.
        close: bar closes, same length.
        k_period: look-back of the high/low range, >= 1.
        d_period: SMA period of %D, >= 1.
        smooth_k: SMA period applied to raw %K, >= 1.

    Returns:
        ``(k, d)``, float64 arrays of the same length as the inputs.

    Raises:
        ValueError: an input is not 1-D, not numeric or not finite, lengths differ, or a
            period < 1.
    """
    h, lo, c = _bars(high, low, close)
    return k.stochastic_kernel(
        h,
        lo,
        c,
        check_period(k_period, "k_period"),
        check_period(smooth_k, "smooth_k"),
        check_period(d_period, "d_period"),
    )

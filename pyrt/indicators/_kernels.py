"""numba kernels behind the vectorised indicators.

Inputs are already validated (1-D, contiguous, float64, finite, equal lengths, sane periods) by
the wrappers in ``_vectorized.py``. Every kernel is written in the same arithmetic order as its
streaming twin in ``_streaming.py`` (same sums, same resync points, same operand order), so the
two forms agree bit for bit: numba compiles without ``fastmath``, so LLVM neither reorders nor
fuses float operations.

Running sums are recomputed from the window every ``period`` values (when the window starts at
a multiple of ``period``), which bounds their rounding drift to ``period`` add/subtract steps
however long the series. A window whose values are all equal yields that value exactly as its
mean and exactly 0 as its spread (the run of equal values is counted), as pandas does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", bound=Callable[..., object])

# A rolling VWAP also recomputes its sums when the window's volume falls below this fraction of
# its peak since the last recompute: the running sums' rounding error is relative to that peak,
# so after a large trade leaves the window the remainder would keep few correct digits (or
# none: 1.0 + (1e-107 - 1.0) == 0.0 with a trade still in the window)
VWAP_COLLAPSE: Final = 2.0**-10
_Array = npt.NDArray[np.float64]


def _jit(fn: _F) -> _F:
    # cache=True: a second process loads machine code from __pycache__ instead of compiling
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


@_jit
def first_non_finite(x: _Array) -> int:
    for i in range(x.shape[0]):
        if not math.isfinite(x[i]):
            return i
    return -1


@_jit
def first_negative(x: _Array) -> int:
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            return i
    return -1


@_jit
def nan_prefix(n: int, count: int) -> _Array:
    # the output array: NaN for the warm-up, the rest written by the caller
    out = np.empty(n)
    out[:count] = np.nan
    return out


@_jit
def sma_kernel(x: _Array, period: int) -> _Array:
    n = x.shape[0]
    out = np.empty(n)
    total = 0.0
    run = 0
    phase = 0  # (i + 1) % period, without a division per value
    for i in range(n):
        v = x[i]
        run = run + 1 if i > 0 and v == x[i - 1] else 1
        phase += 1
        if i + 1 < period:
            out[i] = np.nan
            continue
        if phase == period:
            phase = 0
            total = 0.0
            for j in range(i + 1 - period, i + 1):
                total += x[j]
        else:
            total += v - x[i - period]
        out[i] = v if run >= period else total / period
    return out


@_jit
def ema_kernel(x: _Array, period: int) -> _Array:
    n = x.shape[0]
    out = nan_prefix(n, period - 1)
    if n < period:
        return out
    total = 0.0
    for i in range(period):
        total += x[i]
    e = total / period
    out[period - 1] = e
    alpha = 2.0 / (period + 1)
    for i in range(period, n):
        e = e + alpha * (x[i] - e)
        out[i] = e
    return out


@_jit
def wma_kernel(x: _Array, period: int) -> _Array:
    n = x.shape[0]
    out = np.empty(n)
    denominator = period * (period + 1) / 2.0
    weighted = 0.0
    total = 0.0
    run = 0
    phase = 0
    for i in range(n):
        v = x[i]
        run = run + 1 if i > 0 and v == x[i - 1] else 1
        phase += 1
        if i + 1 < period:
            out[i] = np.nan
            continue
        if phase == period:
            phase = 0
            weighted = 0.0
            total = 0.0
            for j in range(period):
                u = x[i + 1 - period + j]
                weighted += (j + 1) * u
                total += u
        else:
            weighted += period * v - total  # every old weight drops by one, the new value gets period
            total += v - x[i - period]
        out[i] = v if run >= period else weighted / denominator
    return out


MOMENTS_CANCELLED = 1e-6
"""A rolling variance whose sum of squared deviations falls below this fraction of the square
that just left the window is taken again from the window (the running sums lost its digits)."""


@_jit
def moments_kernel(x: _Array, period: int, ddof: int) -> tuple[_Array, _Array]:
    # mean is the SMA (same arithmetic as sma_kernel); the variance comes from sums of
    # deviations from a shift (the newest value at the last resync), which avoids the
    # cancellation of sum(x*x) - sum(x)**2 / n when the spread is small next to the level
    n = x.shape[0]
    mean = np.empty(n)
    std = np.empty(n)
    total = 0.0
    shift = 0.0
    sum1 = 0.0
    sum2 = 0.0
    run = 0
    phase = 0
    for i in range(n):
        v = x[i]
        run = run + 1 if i > 0 and v == x[i - 1] else 1
        phase += 1
        if i + 1 < period:
            mean[i] = np.nan
            std[i] = np.nan
            continue
        if phase == period:
            phase = 0
            shift = v
            total = 0.0
            sum1 = 0.0
            sum2 = 0.0
            for j in range(i + 1 - period, i + 1):
                u = x[j]
                total += u
                d = u - shift
                sum1 += d
                sum2 += d * d
        else:
            old = x[i - period]
            total += v - old
            d_new = v - shift
            d_old = old - shift
            sum1 += d_new - d_old
            sum2 += d_new * d_new - d_old * d_old
            if sum2 < MOMENTS_CANCELLED * (d_old * d_old):
                # most of the spread just left the window: what remains is below the rounding of
                # the sums, so take the deviations again, from the newest value (the mean's sum
                # is left alone: it is the SMA's arithmetic)
                shift = v
                sum1 = 0.0
                sum2 = 0.0
                for j in range(i + 1 - period, i + 1):
                    d = x[j] - shift
                    sum1 += d
                    sum2 += d * d
        if run >= period:
            mean[i] = v
            std[i] = 0.0
        else:
            mean[i] = total / period
            var = (sum2 - sum1 * (sum1 / period)) / (period - ddof)
            std[i] = math.sqrt(var) if var > 0.0 else 0.0
    return mean, std


@_jit
def bollinger_kernel(x: _Array, period: int, num_std: float) -> tuple[_Array, _Array, _Array]:
    mean, std = moments_kernel(x, period, 0)
    n = x.shape[0]
    upper = nan_prefix(n, period - 1)
    lower = nan_prefix(n, period - 1)
    for i in range(period - 1, n):
        width = num_std * std[i]
        upper[i] = mean[i] + width
        lower[i] = mean[i] - width
    return mean, upper, lower


@_jit
def zscore_kernel(x: _Array, period: int) -> _Array:
    mean, std = moments_kernel(x, period, 0)
    n = x.shape[0]
    out = nan_prefix(n, period - 1)
    for i in range(period - 1, n):
        s = std[i]
        out[i] = (x[i] - mean[i]) / s if s > 0.0 else 0.0
    return out


@_jit
def rsi_kernel(x: _Array, period: int) -> _Array:
    n = x.shape[0]
    out = nan_prefix(n, period)
    avg_gain = 0.0
    avg_loss = 0.0
    for i in range(1, n):
        d = x[i] - x[i - 1]
        gain = d if d > 0.0 else 0.0
        loss = -d if d < 0.0 else 0.0
        if i < period:
            avg_gain += gain
            avg_loss += loss
            continue
        if i == period:
            avg_gain = (avg_gain + gain) / period
            avg_loss = (avg_loss + loss) / period
        else:
            avg_gain = (avg_gain * (period - 1) + gain) / period
            avg_loss = (avg_loss * (period - 1) + loss) / period
        both = avg_gain + avg_loss
        out[i] = 100.0 * avg_gain / both if both > 0.0 else 50.0
    return out


@_jit
def macd_kernel(x: _Array, fast: int, slow: int, signal: int) -> tuple[_Array, _Array, _Array]:
    n = x.shape[0]
    line = ema_kernel(x, fast) - ema_kernel(x, slow)
    sig = nan_prefix(n, slow - 1)
    if n >= slow:
        sig[slow - 1 :] = ema_kernel(line[slow - 1 :], signal)
    return line, sig, line - sig


@_jit
def true_range(high: float, low: float, prev_close: float) -> float:
    tr = high - low
    up = abs(high - prev_close)
    if up > tr:
        tr = up
    down = abs(low - prev_close)
    if down > tr:
        tr = down
    return tr


@_jit
def atr_kernel(high: _Array, low: _Array, close: _Array, period: int) -> _Array:
    n = close.shape[0]
    out = nan_prefix(n, period)
    atr = 0.0
    for i in range(1, n):
        tr = true_range(high[i], low[i], close[i - 1])
        if i < period:
            atr += tr
            continue
        atr = (atr + tr) / period if i == period else (atr * (period - 1) + tr) / period
        out[i] = atr
    return out


@_jit
def adx_kernel(high: _Array, low: _Array, close: _Array, period: int) -> tuple[_Array, _Array, _Array]:
    n = close.shape[0]
    adx_out = nan_prefix(n, 2 * period - 1)
    plus_out = nan_prefix(n, period)
    minus_out = nan_prefix(n, period)
    atr = 0.0
    plus_dm_avg = 0.0
    minus_dm_avg = 0.0
    adx = 0.0
    for i in range(1, n):
        tr = true_range(high[i], low[i], close[i - 1])
        up = high[i] - high[i - 1]
        down = low[i - 1] - low[i]
        plus_dm = up if up > down and up > 0.0 else 0.0
        minus_dm = down if down > up and down > 0.0 else 0.0
        if i < period:
            atr += tr
            plus_dm_avg += plus_dm
            minus_dm_avg += minus_dm
            continue
        if i == period:
            atr = (atr + tr) / period
            plus_dm_avg = (plus_dm_avg + plus_dm) / period
            minus_dm_avg = (minus_dm_avg + minus_dm) / period
        else:
            atr = (atr * (period - 1) + tr) / period
            plus_dm_avg = (plus_dm_avg * (period - 1) + plus_dm) / period
            minus_dm_avg = (minus_dm_avg * (period - 1) + minus_dm) / period
        plus_di = 100.0 * plus_dm_avg / atr if atr > 0.0 else 0.0
        minus_di = 100.0 * minus_dm_avg / atr if atr > 0.0 else 0.0
        di_sum = plus_di + minus_di
        dx = 100.0 * abs(plus_di - minus_di) / di_sum if di_sum > 0.0 else 0.0
        plus_out[i] = plus_di
        minus_out[i] = minus_di
        k = i - period  # index of this dx among the dx values
        if k < period - 1:
            adx += dx
        elif k == period - 1:
            adx = (adx + dx) / period
            adx_out[i] = adx
        else:
            adx = (adx * (period - 1) + dx) / period
            adx_out[i] = adx
    return adx_out, plus_out, minus_out


@_jit
def vwap_cumulative_kernel(price: _Array, volume: _Array) -> _Array:
    n = price.shape[0]
    out = np.empty(n)
    price_volume = 0.0
    total_volume = 0.0
    for i in range(n):
        price_volume += price[i] * volume[i]
        total_volume += volume[i]
        out[i] = price_volume / total_volume if total_volume > 0.0 else np.nan
    return out


@_jit
def vwap_rolling_kernel(price: _Array, volume: _Array, window: int) -> _Array:
    n = price.shape[0]
    out = np.empty(n)
    price_volume = 0.0
    total_volume = 0.0
    peak = 0.0  # largest total volume since the last recompute
    traded = 0  # bars with volume > 0 in the window: exact, unlike the float sum
    phase = 0
    for i in range(n):
        phase += 1
        if i + 1 < window:
            out[i] = np.nan
            continue
        recompute = phase == window
        if recompute:
            phase = 0
        else:
            old = i - window
            price_volume += price[i] * volume[i] - price[old] * volume[old]
            total_volume += volume[i] - volume[old]
            if volume[i] > 0.0:
                traded += 1
            if volume[old] > 0.0:
                traded -= 1
            if total_volume > peak:
                peak = total_volume
            elif total_volume < peak * VWAP_COLLAPSE:
                recompute = True
        if recompute:
            price_volume = 0.0
            total_volume = 0.0
            traded = 0
            for j in range(i + 1 - window, i + 1):
                price_volume += price[j] * volume[j]
                total_volume += volume[j]
                if volume[j] > 0.0:
                    traded += 1
            peak = total_volume
        out[i] = price_volume / total_volume if traded > 0 and total_volume > 0.0 else np.nan
    return out


@_jit
def rolling_extreme_kernel(x: _Array, period: int, highest: bool) -> _Array:
    # the highest (or lowest) of the last `period` values: a monotonic queue of indices,
    # amortised O(1) per value. One kernel for both (issue 9): the branch is loop-invariant, and
    # measured no slower than the two copies it replaced
    n = x.shape[0]
    out = nan_prefix(n, period - 1)
    queue = np.empty(n, np.int64)
    head = 0
    tail = 0
    for i in range(n):
        v = x[i]
        if highest:
            while tail > head and x[queue[tail - 1]] <= v:
                tail -= 1
        else:
            while tail > head and x[queue[tail - 1]] >= v:
                tail -= 1
        queue[tail] = i
        tail += 1
        if queue[head] <= i - period:
            head += 1
        if i + 1 >= period:
            out[i] = x[queue[head]]
    return out


@_jit
def stochastic_kernel(
    high: _Array, low: _Array, close: _Array, k_period: int, smooth_k: int, d_period: int
) -> tuple[_Array, _Array]:
    n = close.shape[0]
    highest = rolling_extreme_kernel(high, k_period, True)
    lowest = rolling_extreme_kernel(low, k_period, False)
    raw = nan_prefix(n, k_period - 1)
    for i in range(k_period - 1, n):
        span = highest[i] - lowest[i]
        raw[i] = 100.0 * (close[i] - lowest[i]) / span if span != 0.0 else 50.0
    start = k_period - 1
    k = nan_prefix(n, start)
    if n > start:
        k[start:] = sma_kernel(raw[start:], smooth_k)
    start += smooth_k - 1
    d = nan_prefix(n, start)
    if n > start:
        d[start:] = sma_kernel(k[start:], d_period)
    return k, d

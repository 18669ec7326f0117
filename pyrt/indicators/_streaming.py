"""Streaming indicators: O(1) per update, plain Python floats and lists.

Each class repeats the arithmetic of its numba kernel in ``_kernels.py`` step for step (same
operand order, same resync points), so feeding a series through ``update`` gives exactly the
array the vectorised function returns. Plain Python was measured faster per update than the
alternatives (``tools/bench/bench_indicators.py``): a ring buffer in a ``list`` costs about half
of one in a numpy array (numpy scalar indexing boxes every element), and a numba ``jitclass``
method call from Python costs several times a whole plain-Python update.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar, Final, Generic, TypeVar, final

from ._kernels import MOMENTS_CANCELLED, VWAP_COLLAPSE
from ._validation import check_ddof, check_num_std, check_period, check_window, not_finite

_NAN: Final = math.nan
_isfinite: Final = math.isfinite

_V = TypeVar("_V")


class _Streaming(Generic[_V]):
    # What every streaming indicator shares, written once (issue 9): the latest output, the
    # warm-up length, readiness and a repr of the parameters. A subclass sets _warmup once in
    # __init__ and keeps _count (updates seen) and _value current in update; _PARAMS names its
    # constructor arguments, each read from self._<name>. Only the getters live here: update,
    # the hot path, stays in each class as its kernel's twin.
    __slots__ = ("_count", "_value", "_warmup")
    _PARAMS: ClassVar[tuple[str, ...]] = ("period",)
    _count: int
    _value: _V
    _warmup: int

    @property
    def value(self) -> _V:
        """The latest output, NaN until ready."""
        return self._value

    @property
    def ready(self) -> bool:
        """Whether the outputs are defined (more than :attr:`warmup` updates seen)."""
        return self._count > self._warmup

    @property
    def warmup(self) -> int:
        """How many updates return NaN before the first value (see each class's docstring)."""
        return self._warmup

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={getattr(self, '_' + name)!r}" for name in self._PARAMS)
        return f"{type(self).__name__}({params})"


class _Windowed(_Streaming[_V]):
    # an indicator with one window (or smoothing) length
    __slots__ = ("_period",)
    _period: int

    @property
    def period(self) -> int:
        """The window (or smoothing) length."""
        return self._period


@final
class SMA(_Windowed[float]):
    """Simple moving average, streaming twin of :func:`sma`.

    Args:
        period: window length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ("_buffer", "_index", "_last", "_run", "_sum")

    def __init__(self, period: int) -> None:
        self._period = check_period(period)
        self._warmup = self._period - 1
        self.reset()

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._buffer = [0.0] * self._period
        self._index = 0
        self._count = 0
        self._sum = 0.0
        self._run = 0
        self._last = _NAN
        self._value = _NAN

    def update(self, value: float) -> float:
        """Add the next value and return the new average (NaN for the first ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        period = self._period
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = value
        index += 1
        if index == period:
            index = 0
        self._index = index
        run = self._run + 1 if value == self._last else 1
        self._run = run
        self._last = value
        count = self._count + 1
        self._count = count
        if count < period:
            return _NAN
        if index == 0:  # the buffer holds the window oldest first: recompute the sum
            total = 0.0
            for u in buffer:
                total += u
        else:
            total = self._sum + (value - old)
        self._sum = total
        out = value if run >= period else total / period
        self._value = out
        return out


@final
class EMA(_Windowed[float]):
    """Exponential moving average, streaming twin of :func:`ema` (SMA seed, ``alpha = 2/(p+1)``).

    Args:
        period: span, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ("_alpha", "_sum")

    def __init__(self, period: int) -> None:
        self._period = check_period(period)
        self._warmup = self._period - 1
        self._alpha: Final = 2.0 / (self._period + 1)
        self.reset()

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._count = 0
        self._sum = 0.0
        self._value = _NAN

    def update(self, value: float) -> float:
        """Add the next value and return the new average (NaN for the first ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        count = self._count + 1
        self._count = count
        period = self._period
        if count > period:
            e = self._value
            e = e + self._alpha * (value - e)
        elif count < period:
            self._sum += value
            return _NAN
        else:
            e = (self._sum + value) / period
        self._value = e
        return e


@final
class WMA(_Windowed[float]):
    """Linearly weighted moving average, streaming twin of :func:`wma`.

    Args:
        period: window length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ("_buffer", "_denominator", "_index", "_last", "_run", "_total", "_weighted")

    def __init__(self, period: int) -> None:
        self._period = check_period(period)
        self._warmup = self._period - 1
        self._denominator: Final = self._period * (self._period + 1) / 2.0
        self.reset()

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._buffer = [0.0] * self._period
        self._index = 0
        self._count = 0
        self._weighted = 0.0
        self._total = 0.0
        self._run = 0
        self._last = _NAN
        self._value = _NAN

    def update(self, value: float) -> float:
        """Add the next value and return the new average (NaN for the first ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        period = self._period
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = value
        index += 1
        if index == period:
            index = 0
        self._index = index
        run = self._run + 1 if value == self._last else 1
        self._run = run
        self._last = value
        count = self._count + 1
        self._count = count
        if count < period:
            return _NAN
        if index == 0:
            weighted = 0.0
            total = 0.0
            weight = 1
            for u in buffer:
                weighted += weight * u
                total += u
                weight += 1
        else:
            weighted = self._weighted + (period * value - self._total)
            total = self._total + (value - old)
        self._weighted = weighted
        self._total = total
        out = value if run >= period else weighted / self._denominator
        self._value = out
        return out


class _RollingMoments(_Windowed[_V]):
    # mean and std of the last `period` values, the arithmetic of _kernels.moments_kernel;
    # _advance returns whether the window is full and leaves the results in _mean and _std
    __slots__ = (
        "_buffer",
        "_ddof",
        "_index",
        "_last",
        "_mean",
        "_run",
        "_shift",
        "_std",
        "_sum",
        "_sum1",
        "_sum2",
    )

    def __init__(self, period: int, ddof: int) -> None:
        self._period = period
        self._warmup = period - 1
        self._ddof: Final = ddof
        self._reset_moments()

    def _reset_moments(self) -> None:
        self._buffer = [0.0] * self._period
        self._index = 0
        self._count = 0
        self._sum = 0.0
        self._shift = 0.0
        self._sum1 = 0.0
        self._sum2 = 0.0
        self._run = 0
        self._last = _NAN
        self._mean = _NAN
        self._std = _NAN

    def _advance(self, value: float) -> bool:
        period = self._period
        buffer = self._buffer
        index = self._index
        old = buffer[index]
        buffer[index] = value
        index += 1
        if index == period:
            index = 0
        self._index = index
        run = self._run + 1 if value == self._last else 1
        self._run = run
        self._last = value
        count = self._count + 1
        self._count = count
        if count < period:
            return False
        if index == 0:
            shift = value
            total = 0.0
            sum1 = 0.0
            sum2 = 0.0
            for u in buffer:
                total += u
                d = u - shift
                sum1 += d
                sum2 += d * d
            self._shift = shift
        else:
            shift = self._shift
            total = self._sum + (value - old)
            d_new = value - shift
            d_old = old - shift
            sum1 = self._sum1 + (d_new - d_old)
            sum2 = self._sum2 + (d_new * d_new - d_old * d_old)
            if sum2 < MOMENTS_CANCELLED * (d_old * d_old):  # as moments_kernel: take them again
                shift = value
                sum1 = 0.0
                sum2 = 0.0
                for j in range(period):
                    d = buffer[(index + j) % period] - shift  # oldest first, as the kernel sums
                    sum1 += d
                    sum2 += d * d
                self._shift = shift
        self._sum = total
        self._sum1 = sum1
        self._sum2 = sum2
        if run >= period:
            self._mean = value
            self._std = 0.0
        else:
            self._mean = total / period
            var = (sum2 - sum1 * (sum1 / period)) / (period - self._ddof)
            self._std = math.sqrt(var) if var > 0.0 else 0.0
        return True


@final
class RollingStd(_RollingMoments[float]):
    """Rolling standard deviation, streaming twin of :func:`rolling_std`.

    Args:
        period: window length, >= 1 and > ``ddof``.
        ddof: 0 (population, default) or 1 (sample).

    Raises:
        ValueError: ``ddof`` not 0 or 1, or ``period`` < 1 or <= ``ddof``.
    """

    __slots__ = ()
    _PARAMS = ("period", "ddof")

    def __init__(self, period: int, *, ddof: int = 0) -> None:
        p = check_period(period)
        super().__init__(p, check_ddof(ddof, p))

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._reset_moments()

    def update(self, value: float) -> float:
        """Add the next value and return the window's std (NaN for the first ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        return self._std if self._advance(value) else _NAN

    @property
    def value(self) -> float:
        """The latest output, NaN until ready."""
        return self._std


@final
class RollingZScore(_RollingMoments[float]):
    """Rolling z-score, streaming twin of :func:`rolling_zscore`.

    Args:
        period: window length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ()

    def __init__(self, period: int) -> None:
        super().__init__(check_period(period), 0)
        self._value = _NAN

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._reset_moments()
        self._value = _NAN

    def update(self, value: float) -> float:
        """Add the next value and return its z-score (NaN for the first ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        if not self._advance(value):
            return _NAN
        std = self._std
        out = (value - self._mean) / std if std > 0.0 else 0.0
        self._value = out
        return out


@final
class BollingerBands(_RollingMoments[tuple[float, float, float]]):
    """Bollinger bands (population std), streaming twin of :func:`bollinger_bands`.

    Args:
        period: window length, >= 1.
        num_std: band width in standard deviations, finite and >= 0.

    Raises:
        ValueError: ``period`` < 1, or ``num_std`` negative or not finite.
    """

    __slots__ = ("_lower", "_num_std", "_upper")
    _PARAMS = ("period", "num_std")

    def __init__(self, period: int = 20, *, num_std: float = 2.0) -> None:
        super().__init__(check_period(period), 0)
        self._num_std: Final = check_num_std(num_std)
        self._upper = _NAN
        self._lower = _NAN

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._reset_moments()
        self._upper = _NAN
        self._lower = _NAN

    def update(self, value: float) -> tuple[float, float, float]:
        """Add the next value and return ``(middle, upper, lower)`` (NaNs for ``period - 1``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        if not self._advance(value):
            return _NAN, _NAN, _NAN
        mean = self._mean
        width = self._num_std * self._std
        upper = mean + width
        lower = mean - width
        self._upper = upper
        self._lower = lower
        return mean, upper, lower

    @property
    def value(self) -> tuple[float, float, float]:
        """The latest ``(middle, upper, lower)``, NaNs until ready."""
        return self._mean, self._upper, self._lower

    @property
    def middle(self) -> float:
        """The latest middle band (the SMA), NaN until ready."""
        return self._mean

    @property
    def upper(self) -> float:
        """The latest upper band, NaN until ready."""
        return self._upper

    @property
    def lower(self) -> float:
        """The latest lower band, NaN until ready."""
        return self._lower


@final
class RSI(_Windowed[float]):
    """Wilder's relative strength index, streaming twin of :func:`rsi`.

    Args:
        period: smoothing length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_previous")

    def __init__(self, period: int = 14) -> None:
        self._period = check_period(period)
        self._warmup = self._period
        self.reset()

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._count = 0
        self._previous = _NAN
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._value = _NAN

    def update(self, value: float) -> float:
        """Add the next value and return the RSI (NaN for the first ``period``).

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        i = self._count  # index of this value in the series
        self._count = i + 1
        previous = self._previous
        self._previous = value
        if i == 0:
            return _NAN
        d = value - previous
        gain = d if d > 0.0 else 0.0
        loss = -d if d < 0.0 else 0.0
        period = self._period
        if i < period:
            self._avg_gain += gain
            self._avg_loss += loss
            return _NAN
        if i == period:
            avg_gain = (self._avg_gain + gain) / period
            avg_loss = (self._avg_loss + loss) / period
        else:
            avg_gain = (self._avg_gain * (period - 1) + gain) / period
            avg_loss = (self._avg_loss * (period - 1) + loss) / period
        self._avg_gain = avg_gain
        self._avg_loss = avg_loss
        both = avg_gain + avg_loss
        out = 100.0 * avg_gain / both if both > 0.0 else 50.0
        self._value = out
        return out


@final
class MACD(_Streaming[tuple[float, float, float]]):
    """MACD line, signal and histogram, streaming twin of :func:`macd`.

    Args:
        fast: fast EMA period, >= 1 and < ``slow``.
        slow: slow EMA period.
        signal: EMA period of the signal line, >= 1.

    Raises:
        ValueError: periods not integers with ``1 <= fast < slow`` and ``signal >= 1``.
    """

    __slots__ = ("_fast", "_fast_ema", "_histogram", "_line", "_signal", "_signal_ema", "_slow", "_slow_ema")
    _PARAMS = ("fast", "slow", "signal")

    def __init__(self, *, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        f = check_period(fast, "fast")
        s = check_period(slow, "slow")
        g = check_period(signal, "signal")
        if f >= s:
            raise ValueError(f"fast must be < slow, was fast={f} slow={s}")
        self._fast: Final = f
        self._slow: Final = s
        self._signal: Final = g
        self._warmup = s + g - 2
        self._fast_ema: Final = EMA(f)
        self._slow_ema: Final = EMA(s)
        self._signal_ema: Final = EMA(g)
        self._line = _NAN
        self._histogram = _NAN

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        self._fast_ema.reset()
        self._slow_ema.reset()
        self._signal_ema.reset()
        self._line = _NAN
        self._histogram = _NAN

    def update(self, value: float) -> tuple[float, float, float]:
        """Add the next value and return ``(line, signal, histogram)``.

        The line is NaN for the first ``slow - 1`` updates, the signal and histogram for the
        first ``slow + signal - 2``.

        Raises:
            ValueError: ``value`` is NaN or infinite; the state is left unchanged.
        """
        if not _isfinite(value):
            raise not_finite("value", value)
        fast = self._fast_ema.update(value)
        slow = self._slow_ema.update(value)
        if not self._slow_ema.ready:
            return _NAN, _NAN, _NAN
        line = fast - slow
        signal = self._signal_ema.update(line)
        histogram = line - signal
        self._line = line
        self._histogram = histogram
        return line, signal, histogram

    @property
    def value(self) -> tuple[float, float, float]:
        """The latest ``(line, signal, histogram)``, NaNs until defined."""
        return self._line, self._signal_ema.value, self._histogram

    @property
    def line(self) -> float:
        """The latest MACD line (fast EMA - slow EMA)."""
        return self._line

    @property
    def signal(self) -> float:
        """The latest signal line (EMA of the MACD line)."""
        return self._signal_ema.value

    @property
    def histogram(self) -> float:
        """The latest histogram (line - signal)."""
        return self._histogram

    @property
    def ready(self) -> bool:
        """Whether all three outputs are defined."""
        return self._signal_ema.ready


def _true_range(high: float, low: float, prev_close: float) -> float:
    tr = high - low
    up = abs(high - prev_close)
    if up > tr:
        tr = up
    down = abs(low - prev_close)
    if down > tr:
        tr = down
    return tr


def _check_bar(high: float, low: float, close: float) -> None:
    if not _isfinite(high):
        raise not_finite("high", high)
    if not _isfinite(low):
        raise not_finite("low", low)
    if not _isfinite(close):
        raise not_finite("close", close)


@final
class ATR(_Windowed[float]):
    """Wilder's average true range, streaming twin of :func:`atr`.

    Args:
        period: smoothing length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = ("_atr", "_previous_close")

    def __init__(self, period: int = 14) -> None:
        self._period = check_period(period)
        self._warmup = self._period
        self.reset()

    def reset(self) -> None:
        """Forget every bar seen, as if just constructed."""
        self._count = 0
        self._previous_close = _NAN
        self._atr = 0.0
        self._value = _NAN

    def update(self, high: float, low: float, close: float) -> float:
        """Add the next bar and return the ATR (NaN for the first ``period``).

        Raises:
            ValueError: an input is NaN or infinite; the state is left unchanged.
        """
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            _check_bar(high, low, close)
        i = self._count
        self._count = i + 1
        previous_close = self._previous_close
        self._previous_close = close
        if i == 0:
            return _NAN
        tr = _true_range(high, low, previous_close)
        period = self._period
        if i < period:
            self._atr += tr
            return _NAN
        atr = (self._atr + tr) / period if i == period else (self._atr * (period - 1) + tr) / period
        self._atr = atr
        self._value = atr
        return atr


@final
class ADX(_Windowed[tuple[float, float, float]]):
    """Wilder's ADX with +DI and -DI, streaming twin of :func:`adx`.

    Args:
        period: smoothing length, >= 1.

    Raises:
        ValueError: ``period`` < 1.
    """

    __slots__ = (
        "_adx",
        "_atr",
        "_latest_adx",
        "_minus_di",
        "_minus_dm",
        "_plus_di",
        "_plus_dm",
        "_previous_close",
        "_previous_high",
        "_previous_low",
    )

    def __init__(self, period: int = 14) -> None:
        self._period = check_period(period)
        self._warmup = 2 * self._period - 1
        self.reset()

    def reset(self) -> None:
        """Forget every bar seen, as if just constructed."""
        self._count = 0
        self._previous_high = _NAN
        self._previous_low = _NAN
        self._previous_close = _NAN
        self._atr = 0.0
        self._plus_dm = 0.0
        self._minus_dm = 0.0
        self._adx = 0.0
        self._plus_di = _NAN
        self._minus_di = _NAN
        self._latest_adx = _NAN

    def update(self, high: float, low: float, close: float) -> tuple[float, float, float]:
        """Add the next bar and return ``(adx, plus_di, minus_di)``.

        The DIs are NaN for the first ``period`` updates, ADX for the first ``2 * period - 1``.

        Raises:
            ValueError: an input is NaN or infinite; the state is left unchanged.
        """
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            _check_bar(high, low, close)
        i = self._count
        self._count = i + 1
        previous_high = self._previous_high
        previous_low = self._previous_low
        previous_close = self._previous_close
        self._previous_high = high
        self._previous_low = low
        self._previous_close = close
        if i == 0:
            return _NAN, _NAN, _NAN
        tr = _true_range(high, low, previous_close)
        up = high - previous_high
        down = previous_low - low
        plus_dm = up if up > down and up > 0.0 else 0.0
        minus_dm = down if down > up and down > 0.0 else 0.0
        period = self._period
        if i < period:
            self._atr += tr
            self._plus_dm += plus_dm
            self._minus_dm += minus_dm
            return _NAN, _NAN, _NAN
        if i == period:
            atr = (self._atr + tr) / period
            plus_avg = (self._plus_dm + plus_dm) / period
            minus_avg = (self._minus_dm + minus_dm) / period
        else:
            atr = (self._atr * (period - 1) + tr) / period
            plus_avg = (self._plus_dm * (period - 1) + plus_dm) / period
            minus_avg = (self._minus_dm * (period - 1) + minus_dm) / period
        self._atr = atr
        self._plus_dm = plus_avg
        self._minus_dm = minus_avg
        plus_di = 100.0 * plus_avg / atr if atr > 0.0 else 0.0
        minus_di = 100.0 * minus_avg / atr if atr > 0.0 else 0.0
        self._plus_di = plus_di
        self._minus_di = minus_di
        di_sum = plus_di + minus_di
        dx = 100.0 * abs(plus_di - minus_di) / di_sum if di_sum > 0.0 else 0.0
        k = i - period
        if k < period - 1:
            self._adx += dx
            return _NAN, plus_di, minus_di
        adx = (self._adx + dx) / period if k == period - 1 else (self._adx * (period - 1) + dx) / period
        self._adx = adx
        self._latest_adx = adx
        return adx, plus_di, minus_di

    @property
    def value(self) -> tuple[float, float, float]:
        """The latest ``(adx, plus_di, minus_di)``, NaNs until defined."""
        return self._latest_adx, self._plus_di, self._minus_di

    @property
    def adx(self) -> float:
        """The latest ADX, NaN until ready."""
        return self._latest_adx

    @property
    def plus_di(self) -> float:
        """The latest +DI, NaN for the first ``period`` bars."""
        return self._plus_di

    @property
    def minus_di(self) -> float:
        """The latest -DI, NaN for the first ``period`` bars."""
        return self._minus_di


@final
class VWAP(_Streaming[float]):
    """Volume-weighted average price, streaming twin of :func:`vwap`.

    Call :meth:`reset` at a session start for a session VWAP. A rolling window recomputes its
    sums every ``window`` updates and when its volume falls below 1/1024 of its peak since the
    last recompute, exactly as the vectorised form does.

    Args:
        window: rolling window length (>= 1), or ``None`` (default) for cumulative.

    Raises:
        ValueError: ``window`` < 1.
    """

    __slots__ = (
        "_index",
        "_peak",
        "_price_volume",
        "_price_volumes",
        "_total_volume",
        "_traded",
        "_volumes",
        "_window",
    )
    _PARAMS = ("window",)

    def __init__(self, *, window: int | None = None) -> None:
        self._window: Final = check_window(window)
        self._warmup = 0 if self._window is None else self._window - 1
        self.reset()

    def reset(self) -> None:
        """Forget every value seen, as if just constructed."""
        size = self._window or 0
        self._price_volumes = [0.0] * size
        self._volumes = [0.0] * size
        self._index = 0
        self._count = 0
        self._price_volume = 0.0
        self._total_volume = 0.0
        self._peak = 0.0
        self._traded = 0
        self._value = _NAN

    def update(self, price: float, volume: float) -> float:
        """Add the next price and volume and return the VWAP (NaN while no volume traded).

        Raises:
            ValueError: ``price`` or ``volume`` is NaN or infinite, or ``volume`` < 0; the state
                is left unchanged.
        """
        if not (_isfinite(price) and _isfinite(volume) and volume >= 0.0):
            if not _isfinite(price):
                raise not_finite("price", price)
            if not _isfinite(volume):
                raise not_finite("volume", volume)
            raise ValueError(f"volume must be >= 0, was {volume!r}")
        window = self._window
        self._count += 1
        if window is None:
            self._price_volume += price * volume
            self._total_volume += volume
            if self._total_volume > 0.0:
                self._value = self._price_volume / self._total_volume
            return self._value
        price_volume = price * volume
        index = self._index
        old_price_volume = self._price_volumes[index]
        old_volume = self._volumes[index]
        self._price_volumes[index] = price_volume
        self._volumes[index] = volume
        index += 1
        if index == window:
            index = 0
        self._index = index
        if self._count < window:
            return _NAN
        if index == 0:
            v_sum = self._recompute(0)
        else:
            self._price_volume += price_volume - old_price_volume
            v_sum = self._total_volume + (volume - old_volume)
            self._total_volume = v_sum
            if volume > 0.0:
                self._traded += 1
            if old_volume > 0.0:
                self._traded -= 1
            if v_sum > self._peak:
                self._peak = v_sum
            elif v_sum < self._peak * VWAP_COLLAPSE:
                v_sum = self._recompute(index)
        out = self._price_volume / v_sum if self._traded > 0 and v_sum > 0.0 else _NAN
        self._value = out
        return out

    def _recompute(self, oldest: int) -> float:
        # sum the window oldest first, as the kernel does
        price_volumes = self._price_volumes
        volumes = self._volumes
        pv_sum = 0.0
        v_sum = 0.0
        traded = 0
        for j in (*range(oldest, len(volumes)), *range(oldest)):
            pv_sum += price_volumes[j]
            v = volumes[j]
            v_sum += v
            if v > 0.0:
                traded += 1
        self._price_volume = pv_sum
        self._total_volume = v_sum
        self._traded = traded
        self._peak = v_sum
        return v_sum

    @property
    def ready(self) -> bool:
        """Whether the output is defined (the window is full and has volume)."""
        return not math.isnan(self._value)

    @property
    def window(self) -> int | None:
        """The rolling window length, or ``None`` for cumulative."""
        return self._window


@final
class Stochastic(_Streaming[tuple[float, float]]):
    """Stochastic oscillator %K and %D, streaming twin of :func:`stochastic`.

    The highest high and lowest low are kept in monotonic queues: amortised O(1) per bar
    whatever ``k_period``.

    Args:
        k_period: look-back of the high/low range, >= 1.
        d_period: SMA period of %D, >= 1.
        smooth_k: SMA period applied to raw %K, >= 1 (1: fast stochastic).

    Raises:
        ValueError: a period < 1.
    """

    __slots__ = ("_d", "_d_period", "_highs", "_k", "_k_period", "_lows", "_smooth", "_smooth_k")
    _PARAMS = ("k_period", "d_period", "smooth_k")

    def __init__(self, *, k_period: int = 14, d_period: int = 3, smooth_k: int = 1) -> None:
        self._k_period: Final = check_period(k_period, "k_period")
        self._smooth_k: Final = check_period(smooth_k, "smooth_k")
        self._d_period: Final = check_period(d_period, "d_period")
        # SMA(1) returns its input exactly: skip it for the fast stochastic
        self._smooth: Final = SMA(self._smooth_k) if self._smooth_k > 1 else None
        self._d: Final = SMA(self._d_period)
        self._warmup = self._k_period + self._smooth_k + self._d_period - 3
        self.reset()

    def reset(self) -> None:
        """Forget every bar seen, as if just constructed."""
        self._count = 0
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()
        if self._smooth is not None:
            self._smooth.reset()
        self._d.reset()
        self._k = _NAN

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        """Add the next bar and return ``(k, d)``.

        %K is NaN for the first ``k_period + smooth_k - 2`` updates, %D for the first
        ``k_period + smooth_k + d_period - 3``.

        Raises:
            ValueError: an input is NaN or infinite; the state is left unchanged.
        """
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            _check_bar(high, low, close)
        i = self._count
        self._count = i + 1
        expired = i - self._k_period
        highs = self._highs
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((i, high))
        if highs[0][0] <= expired:
            highs.popleft()
        lows = self._lows
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((i, low))
        if lows[0][0] <= expired:
            lows.popleft()
        if i + 1 < self._k_period:
            return _NAN, _NAN
        lowest = lows[0][1]
        span = highs[0][1] - lowest
        raw = 100.0 * (close - lowest) / span if span != 0.0 else 50.0
        k = raw if self._smooth is None else self._smooth.update(raw)
        self._k = k
        if k != k:  # NaN: smoothing still warming up
            return k, _NAN
        return k, self._d.update(k)

    @property
    def value(self) -> tuple[float, float]:
        """The latest ``(k, d)``, NaNs until defined."""
        return self._k, self._d.value

    @property
    def k(self) -> float:
        """The latest %K, NaN until defined."""
        return self._k

    @property
    def d(self) -> float:
        """The latest %D, NaN until defined."""
        return self._d.value

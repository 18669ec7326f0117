"""Technical indicators in two forms that give identical results.

- **Vectorised** functions (``sma``, ``ema``, ``rsi`` …) take 1-D numpy arrays and return float64
  arrays of the same length, computed by numba kernels compiled with ``cache=True`` (the first
  call in a fresh environment compiles, later processes load the machine code from
  ``__pycache__``). Use them for research and backtests.
- **Streaming** classes (``SMA``, ``EMA``, ``RSI`` …) take one value (or one bar) per
  ``update`` call in O(1) (amortised O(1) where a window sum is recomputed every ``period``
  values) and return the newest output. Use them live. Each has ``value`` (the latest output),
  ``ready`` (outputs defined), ``warmup`` (how many updates return NaN first) and ``reset()``.

Equality: for every indicator, feeding a series through ``update`` gives exactly, bit for bit,
the array the vectorised function returns: both forms do the same float operations in the same
order. Window sums are kept as running sums and recomputed from the window every ``period``
values, so their rounding drift is bounded whatever the length of the series; a window of
equal values gives that value exactly as its mean and exactly 0 as its spread.

Warm-up: the first outputs are NaN until the indicator is defined; each function's docstring
states how many (``period - 1`` for the moving averages and rolling statistics, ``period`` for
RSI and ATR, ``2 * period - 1`` for ADX …), and each class's ``warmup`` property gives it.

Invalid input: both forms require finite inputs. A NaN or infinite value is rejected with
``ValueError``: a vectorised function names the first bad index, a streaming ``update`` raises
before touching its state, so the indicator goes on as if the bad value was never offered.
(A running sum would otherwise carry one NaN forever; skipping or filling a missing bar is the
caller's decision.) Bad parameters (``period < 1``, arrays that are not 1-D or not numeric,
unequal high/low/close lengths, negative volumes) raise ``ValueError`` too.

This package imports nothing else from pyrt.
"""

from __future__ import annotations

from ._streaming import (
    ADX as ADX,
    ATR as ATR,
    EMA as EMA,
    MACD as MACD,
    RSI as RSI,
    SMA as SMA,
    VWAP as VWAP,
    WMA as WMA,
    BollingerBands as BollingerBands,
    RollingStd as RollingStd,
    RollingZScore as RollingZScore,
    Stochastic as Stochastic,
)
from ._vectorized import (
    adx as adx,
    atr as atr,
    bollinger_bands as bollinger_bands,
    ema as ema,
    macd as macd,
    rolling_std as rolling_std,
    rolling_zscore as rolling_zscore,
    rsi as rsi,
    sma as sma,
    stochastic as stochastic,
    vwap as vwap,
    wma as wma,
)

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "BollingerBands",
    "RollingStd",
    "RollingZScore",
    "Stochastic",
    "adx",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "rolling_std",
    "rolling_zscore",
    "rsi",
    "sma",
    "stochastic",
    "vwap",
    "wma",
]

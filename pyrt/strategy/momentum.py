"""Momentum on Wilder's RSI: ride strength, step aside on weakness."""

from __future__ import annotations

import math
from typing import final

import attrs

from ..indicators import RSI
from ..messages import BarReceived
from ._params import StrategyParams, param
from .base import Strategy

__all__ = ["RsiMomentum", "RsiMomentumParams"]


@final
@attrs.frozen(kw_only=True)
class RsiMomentumParams(StrategyParams):
    """Parameters of :class:`RsiMomentum`; defaults trade within seconds on 0.5 s bars."""

    period: int = param(3, ge=1)
    """RSI smoothing length in bars (14 is the classic on daily bars)."""
    upper: float = param(60.0, gt=0, lt=100)
    """Go long when the RSI rises above this."""
    lower: float = param(40.0, gt=0, lt=100)
    """Leave (or go short) when the RSI falls below this; < ``upper``."""
    quantity: float = param(10.0, gt=0)
    """Shares (or coins) per position."""
    allow_short: bool = True
    """Go short below ``lower``; ``False`` keeps the strategy long or flat."""

    def __attrs_post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"lower must be < upper, was lower={self.lower} upper={self.upper}")


@final
class RsiMomentum(Strategy):
    """Hold a long position while the RSI shows strength, a short one while it shows weakness.

    On each bar, per symbol, with ``r`` the RSI of the closes:

    - ``r > upper``: hold ``+quantity``.
    - ``r < lower``: hold ``-quantity`` (nothing if ``allow_short`` is false).
    - in between: keep what is held (hysteresis, so the position does not flap).

    Defaults (tuned to trade within seconds on the embedded venue's 0.5 s bars; ``period=14`` is
    the classic on daily bars): ``period=3 upper=60 lower=40 quantity=10 allow_short=true``. The
    first decision comes on bar ``period + 1``.
    """

    NAME = "rsi_momentum"
    Params = RsiMomentumParams
    params: RsiMomentumParams

    def on_bar(self, bar: BarReceived) -> None:
        p = self.params
        r = self.indicator(bar.symbol, "rsi", RSI, p.period).update(bar.close)
        if math.isnan(r):
            return
        if r > p.upper:
            self.target_position(bar.symbol, p.quantity, reference_price=bar.close)
        elif r < p.lower:
            self.target_position(bar.symbol, -p.quantity if p.allow_short else 0.0, reference_price=bar.close)

"""Mean reversion on the rolling z-score of the close (a Bollinger-band fade)."""

from __future__ import annotations

import math
from typing import final

import attrs

from ..indicators import RollingZScore
from ..messages import BarReceived
from ._params import StrategyParams, param
from .base import Strategy

__all__ = ["MeanReversion", "MeanReversionParams"]


@final
@attrs.frozen(kw_only=True)
class MeanReversionParams(StrategyParams):
    """Parameters of :class:`MeanReversion`; defaults trade within seconds on 0.5 s bars."""

    period: int = param(4, ge=2)
    """Bars in the rolling window of the z-score (20 is usual on minute or daily bars)."""
    entry_z: float = param(1.0, gt=0)
    """Enter when the close is this many standard deviations from the window's mean."""
    exit_z: float = param(0.0, ge=0)
    """Leave when the z-score is back within this distance of the mean (< ``entry_z``)."""
    quantity: float = param(10.0, gt=0)
    """Shares (or coins) per position."""
    allow_short: bool = True
    """Sell short above the upper band; ``False`` keeps the strategy long or flat."""

    def __attrs_post_init__(self) -> None:
        if not self.exit_z < self.entry_z:
            raise ValueError(f"exit_z must be < entry_z, was exit_z={self.exit_z} entry_z={self.entry_z}")


@final
class MeanReversion(Strategy):
    """Fade moves away from the mean: buy below the lower band, sell back at the mean.

    On each bar the z-score ``z = (close - mean) / std`` of the last ``period`` closes is computed
    (population std; ``z < -k`` is the same as a close below the lower Bollinger band of width
    ``k``). Per symbol:

    - ``z <= -entry_z``: hold ``+quantity``.
    - ``z >= entry_z``: hold ``-quantity`` (nothing if ``allow_short`` is false).
    - a long position is closed once ``z >= -exit_z``, a short one once ``z <= exit_z``.

    Orders go through :meth:`~pyrt.strategy.Strategy.target_position`, so a signal is sent only
    when the wanted position changes. Defaults (tuned to trade within seconds on the embedded
    venue's 0.5 s bars; use ``period=20`` or so on minute or daily bars): ``period=4 entry_z=1
    exit_z=0 quantity=10 allow_short=true``.
    """

    NAME = "mean_reversion"
    Params = MeanReversionParams
    params: MeanReversionParams

    def on_bar(self, bar: BarReceived) -> None:
        p = self.params
        z = self.indicator(bar.symbol, "zscore", RollingZScore, p.period).update(bar.close)
        if math.isnan(z):
            return
        held = self.position[bar.symbol] + self.pending[bar.symbol]
        target = held
        if z <= -p.entry_z:
            target = p.quantity
        elif z >= p.entry_z:
            target = -p.quantity if p.allow_short else 0.0
        elif (held > 0 and z >= -p.exit_z) or (held < 0 and z <= p.exit_z):
            target = 0.0
        self.target_position(bar.symbol, target, reference_price=bar.close)

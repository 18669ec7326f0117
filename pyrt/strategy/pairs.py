"""Pairs trading: fade the z-score of the log-price spread between two symbols."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import final

import attrs

from ..indicators import RollingZScore
from ..messages import BarReceived
from ._params import StrategyParams, param
from .base import Strategy

__all__ = ["PairsTrading", "PairsTradingParams"]


@final
@attrs.frozen(kw_only=True)
class PairsTradingParams(StrategyParams):
    """Parameters of :class:`PairsTrading`; defaults trade the embedded venue's two stocks."""

    leg_a: str = "AAPL"
    """The first symbol: bought when the spread is low."""
    leg_b: str = "MSFT"
    """The second symbol: bought when the spread is high."""
    hedge_ratio: float = param(1.0, gt=0)
    """``spread = log(price_a) - hedge_ratio * log(price_b)``."""
    period: int = param(4, ge=2)
    """Bars in the rolling window of the spread's z-score."""
    entry_z: float = param(0.8, gt=0)
    """Open the pair when the spread's z-score is beyond ± this."""
    exit_z: float = param(0.2, ge=0)
    """Close the pair when the z-score is back within ± this (< ``entry_z``)."""
    quantity: float = param(10.0, gt=0)
    """Quantity of ``leg_a``; ``leg_b`` is sized to the same value times ``hedge_ratio``."""
    whole_units: bool = True
    """Round ``leg_b``'s quantity to whole shares (at least 1); ``False`` for fractional coins."""

    def __attrs_post_init__(self) -> None:
        if self.leg_a == self.leg_b:
            raise ValueError(f"leg_a and leg_b must differ, both were {self.leg_a!r}")
        if not self.exit_z < self.entry_z:
            raise ValueError(f"exit_z must be < entry_z, was exit_z={self.exit_z} entry_z={self.entry_z}")


@final
class PairsTrading(Strategy):
    """Trade two related symbols against each other when their spread stretches.

    When both legs have a bar for the same period (same ``ts_event``), the spread
    ``log(close_a) - hedge_ratio * log(close_b)`` feeds a rolling z-score of ``period`` bars:

    - ``z >= entry_z`` (a rich): hold ``-quantity`` of A and ``+quantity_b`` of B.
    - ``z <= -entry_z`` (a cheap): hold ``+quantity`` of A and ``-quantity_b`` of B.
    - ``|z| <= exit_z``: close both legs.

    ``quantity_b = quantity * hedge_ratio * close_a / close_b`` at entry (same value on both legs
    when ``hedge_ratio`` is 1), rounded to whole units unless ``whole_units`` is false. Both legs
    go out in the same batch; it sells short, so the venue and the risk limits must allow it.
    Only bars of ``leg_a`` and ``leg_b`` are delivered. Defaults (tuned to trade within seconds on
    the embedded venue's 0.5 s bars; use a window of 60 bars or more on real data): AAPL against
    MSFT, ``hedge_ratio=1 period=4 entry_z=0.8 exit_z=0.2 quantity=10``.
    """

    NAME = "pairs"
    ALLOW_SHORT = True  # one leg is short whenever the spread is traded
    Params = PairsTradingParams
    params: PairsTradingParams

    def __init__(self, params: PairsTradingParams | None = None) -> None:
        super().__init__(params)
        self._bars: dict[str, BarReceived] = {}
        self._zscore = RollingZScore(self.params.period)
        self._side = 0  # +1 long A / short B, -1 short A / long B, 0 flat
        self._quantity_b = 0.0

    def traded_symbols(self) -> Iterable[str] | None:
        return (self.params.leg_a, self.params.leg_b)

    @property
    def zscore(self) -> float:
        """The latest z-score of the spread, NaN until ``period`` aligned bars were seen."""
        return self._zscore.value

    def on_bar(self, bar: BarReceived) -> None:
        p = self.params
        if bar.symbol != p.leg_a and bar.symbol != p.leg_b:
            return
        self._bars[bar.symbol] = bar
        a = self._bars.get(p.leg_a)
        b = self._bars.get(p.leg_b)
        if a is None or b is None or a.ts_event != b.ts_event:
            return
        del self._bars[p.leg_a], self._bars[p.leg_b]  # one spread per aligned pair of bars
        z = self._zscore.update(math.log(a.close) - p.hedge_ratio * math.log(b.close))
        if math.isnan(z):
            return
        side = self._side
        if z >= p.entry_z:
            side = -1
        elif z <= -p.entry_z:
            side = 1
        elif abs(z) <= p.exit_z:
            side = 0
        if side == self._side:
            return
        if side != 0:
            quantity_b = p.quantity * p.hedge_ratio * a.close / b.close
            self._quantity_b = max(1.0, float(round(quantity_b))) if p.whole_units else quantity_b
        self._side = side
        self.target_position(p.leg_a, side * p.quantity, reference_price=a.close)
        self.target_position(p.leg_b, -side * self._quantity_b, reference_price=b.close)

"""An example of a user strategy: follow the MACD histogram, with typed parameters.

Run it on the embedded venue (from the repository root, so ``examples`` is importable)::

    python -m pyrt run --strategy examples.strategies.macd_trend:MacdTrend --duration 30s
    python -m pyrt run --strategy examples.strategies.macd_trend:MacdTrend --param fast=3 --param slow=8

What it shows: a nested ``Params`` class (checked by ``from_params``: unknown names, wrong types
and out-of-range values fail before the run starts), one streaming indicator per symbol from
``self.indicator``, and ``self.target_position``, which sends only the difference between the
wanted position and what is held or already on its way.
"""

from __future__ import annotations

import functools
import math

import attrs

from pyrt.indicators import MACD
from pyrt.messages import BarReceived
from pyrt.strategy import Strategy, StrategyParams, param


class MacdTrend(Strategy):
    """Long while the MACD histogram is positive, flat (or short) while it is negative."""

    NAME = "macd_trend"

    @attrs.frozen(kw_only=True)
    class Params(StrategyParams):
        fast: int = param(3, ge=1)
        """Fast EMA period in bars."""
        slow: int = param(6, ge=2)
        """Slow EMA period in bars, > fast."""
        signal: int = param(2, ge=1)
        """EMA period of the signal line."""
        quantity: float = param(10.0, gt=0)
        """Shares per position."""
        allow_short: bool = False
        """Go short on a negative histogram instead of flat."""

        def __attrs_post_init__(self) -> None:
            if not self.fast < self.slow:
                raise ValueError(f"fast must be < slow, was fast={self.fast} slow={self.slow}")

    params: Params

    def on_bar(self, bar: BarReceived) -> None:
        p = self.params
        macd = self.indicator(
            bar.symbol, "macd", functools.partial(MACD, fast=p.fast, slow=p.slow, signal=p.signal)
        )
        _, _, histogram = macd.update(bar.close)
        if math.isnan(histogram) or histogram == 0.0:
            return
        short = -p.quantity if p.allow_short else 0.0
        self.target_position(bar.symbol, p.quantity if histogram > 0 else short, reference_price=bar.close)

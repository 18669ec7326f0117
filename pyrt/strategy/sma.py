"""The reference strategy: a long-only SMA crossover decided on exact integer sums."""

from __future__ import annotations

from collections import deque
from typing import Final, final

import attrs

from ..messages import BarReceived
from ._params import StrategyParams, param
from .base import QUANTITY_EPSILON, Strategy

SCALE: Final = 1_000_000  # prices as integer micro-units: crosses are decided on exact sums


@attrs.define
class _SymbolState:
    window: deque[int]
    sum_fast: int = 0
    sum_slow: int = 0
    side: int = 0  # sign of the last non-zero fast - slow


@final
@attrs.frozen(kw_only=True)
class SmaCrossoverParams(StrategyParams):
    """Parameters of :class:`SmaCrossover`."""

    fast: int = param(10, ge=1)
    """Fast SMA period in bars."""
    slow: int = param(30, ge=2)
    """Slow SMA period in bars, > ``fast``."""
    quantity: float = param(100.0, gt=0)
    """Shares per entry."""

    def __attrs_post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(
                f"SMA periods must be integers with 0 < fast < slow, was fast={self.fast} slow={self.slow}"
            )


@final
class SmaCrossover(Strategy):
    """Long-only SMA crossover (``specs`` reference: ``specs/sma-crossover.md``).

    On a cross up (fast SMA moves above slow) with no position, buy ``quantity``; on a cross down
    with a long position, sell it all. The position is what was filled; a cross while an order
    is still working on the symbol is not acted on (see :class:`~pyrt.strategy.Strategy`: one
    intent at a time per symbol). Long-only: :attr:`allow_short` is false. Crosses are decided on exact integer sums (prices scaled to
    micro-units), so ties are exact; an exact tie keeps the previous side.

    Defaults follow the reference spec (10/30 bars, 100 shares); ``pyrt run``'s default config
    uses ``fast=2 slow=5 quantity=10`` so it trades within seconds on the embedded venue's 0.5 s
    bars.

    Args:
        params: a :class:`SmaCrossoverParams`; or give its fields as keywords instead.
        fast: fast SMA period in bars.
        slow: slow SMA period in bars (> fast).
        quantity: shares per entry.
        timeframe: which bars it trades on (others are ignored); ``None`` takes any.
        name: the name on its signals.

    Raises:
        ValueError: bad parameters.
    """

    NAME = "sma_crossover"
    Params = SmaCrossoverParams
    params: SmaCrossoverParams

    def __init__(
        self,
        params: SmaCrossoverParams | None = None,
        *,
        fast: int = 10,
        slow: int = 30,
        quantity: float = 100,
        timeframe: str | None = None,
        name: str | None = None,
    ) -> None:
        if params is None:
            if not (isinstance(fast, int) and isinstance(slow, int)):
                raise ValueError(
                    f"SMA periods must be integers with 0 < fast < slow, was fast={fast} slow={slow}"
                )
            params = SmaCrossoverParams(
                fast=fast, slow=slow, quantity=float(quantity), timeframe=timeframe, name=name
            )
        super().__init__(params)
        self.fast = params.fast
        self.slow = params.slow
        self.quantity = params.quantity
        self.timeframe = params.timeframe
        self._state: dict[str, _SymbolState] = {}

    def on_bar(self, bar: BarReceived) -> None:
        if self.timeframe is not None and bar.timeframe != self.timeframe:
            return
        st = self._state.get(bar.symbol)
        if st is None:
            st = self._state[bar.symbol] = _SymbolState(window=deque(maxlen=self.slow))
        price = round(bar.close * SCALE)
        window = st.window
        if len(window) == self.slow:
            st.sum_slow -= window[0]
        if len(window) >= self.fast:
            st.sum_fast -= window[-self.fast]
        window.append(price)
        st.sum_fast += price
        st.sum_slow += price
        if len(window) < self.slow:
            return
        diff = self.slow * st.sum_fast - self.fast * st.sum_slow
        previous = st.side
        if diff == 0:
            return
        st.side = 1 if diff > 0 else -1
        # what it holds is what was filled; while an order works on the symbol the base class
        # withholds new signals, so a cross seen then is not acted on (issue 8: a sell sent for
        # a buy that was later rejected drove this long-only strategy short)
        held = self.position[bar.symbol]
        if previous < 0 and st.side > 0 and abs(held) < QUANTITY_EPSILON:
            self.buy(bar.symbol, self.quantity, reference_price=bar.close)
        elif previous > 0 and st.side < 0 and held > QUANTITY_EPSILON:
            self.sell(bar.symbol, held, reference_price=bar.close)

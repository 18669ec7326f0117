from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final, final

import attrs

from ..messages import BarReceived, OrderFilled, Side
from .base import Strategy

SCALE: Final = 1_000_000  # prices as integer micro-units: crosses are decided on exact sums


@attrs.define
class _SymbolState:
    window: deque[int]
    sum_fast: int = 0
    sum_slow: int = 0
    side: int = 0  # sign of the last non-zero fast - slow
    pending: float = 0.0  # quantity of orders sent and not yet filled (signed)


@final
class SmaCrossover(Strategy):
    """Long-only SMA crossover (``specs`` reference: ``../shared/specs/sma-crossover.md``).

    On a cross up (fast SMA moves above slow) with no position, buy ``quantity``; on a cross down
    with a long position, sell it all. Crosses are decided on exact integer sums (prices scaled to
    micro-units), so ties are exact; an exact tie keeps the previous side.

    Args:
        fast: fast SMA period in bars.
        slow: slow SMA period in bars (> fast).
        quantity: shares per entry.
        timeframe: which bars it trades on (others are ignored); ``None`` takes any.
    """

    NAME = "sma_crossover"

    def __init__(
        self,
        *,
        fast: int = 10,
        slow: int = 30,
        quantity: float = 100,
        timeframe: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not (isinstance(fast, int) and isinstance(slow, int) and 0 < fast < slow):
            raise ValueError(
                f"SMA periods must be integers with 0 < fast < slow, was fast={fast} slow={slow}"
            )
        if not quantity > 0:
            raise ValueError(f"quantity must be > 0, was {quantity}")
        self.fast = fast
        self.slow = slow
        self.quantity = float(quantity)
        self.timeframe = timeframe
        self._state: dict[str, _SymbolState] = {}

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> SmaCrossover:
        known = {"fast", "slow", "quantity", "timeframe", "name"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown SmaCrossover parameter(s) {unknown}; expected some of {sorted(known)}")
        return cls(**params)  # type: ignore[arg-type]  # checked names; __init__ validates the values

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
        held = self.position.get(bar.symbol, 0.0) + st.pending
        if previous < 0 and st.side > 0 and held == 0:
            st.pending += self.quantity
            self.buy(bar.symbol, self.quantity, reference_price=bar.close)
        elif previous > 0 and st.side < 0 and held > 0:
            st.pending -= held
            self.sell(bar.symbol, held, reference_price=bar.close)

    def on_fill(self, fill: OrderFilled) -> None:
        st = self._state.get(fill.symbol)
        if st is not None:
            st.pending -= fill.side.sign * fill.fill_quantity
            if abs(st.pending) < 1e-12:
                st.pending = 0.0

    def on_order_closed(self, symbol: str, side: Side, unfilled_quantity: float) -> None:
        st = self._state.get(symbol)
        if st is not None:
            st.pending -= side.sign * unfilled_quantity

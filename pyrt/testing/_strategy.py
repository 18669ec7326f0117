"""Feed a strategy bars and fills in a test, and collect what it wanted to trade."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..messages import BarReceived, OrderFilled, RiskApproved, Side, SignalGenerated
from ..runtime.clock import NS_PER_SECOND
from ..strategy import Strategy

__all__ = ["ReplayedOrder", "approval_of", "bar", "bars_from_closes", "fill_all", "fill_of", "replay_bars"]


class ReplayedOrder(NamedTuple):
    """One intent a strategy produced during :func:`replay_bars`, filled in full at once."""

    bar_index: int
    """Which bar (or, with ``by_time``, which time step) it came after, from 0."""
    symbol: str
    side: Side
    quantity: float


def bar(
    close: float, *, symbol: str = "AAPL", timeframe: str = "1m", ts_event: int = 0, volume: float = 1.0
) -> BarReceived:
    """Return a flat bar (open = high = low = close) stamped ``ts_event`` (nanoseconds)."""
    return BarReceived(
        symbol=symbol,
        timeframe=timeframe,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=volume,
        ts_event=ts_event,
        ts_init=ts_event,
    )


def bars_from_closes(
    closes: Iterable[float],
    *,
    symbol: str = "AAPL",
    timeframe: str = "1m",
    start: int = 0,
    interval_secs: int = 60,
) -> list[BarReceived]:
    """Return one flat bar per close, ``interval_secs`` apart, the first at ``start`` intervals.

    Args:
        closes: the closes, oldest first.
        symbol: the bars' symbol.
        timeframe: the bars' timeframe (what a strategy's ``timeframe`` parameter subscribes to).
        start: index of the first bar: its ``ts_event`` is ``start * interval_secs`` seconds.
        interval_secs: seconds between two bars.
    """
    step = interval_secs * NS_PER_SECOND
    return [
        bar(close, symbol=symbol, timeframe=timeframe, ts_event=(start + i) * step)
        for i, close in enumerate(closes)
    ]


def approval_of(signal: SignalGenerated, *, client_order_id: str | None = None) -> RiskApproved:
    """Return the ``risk.approved`` of ``signal`` (client order id ``c-<signal id>`` unless told)."""
    coid = f"c-{signal.signal_id}" if client_order_id is None else client_order_id
    return RiskApproved(
        signal=signal, client_order_id=coid, ts_event=signal.ts_event, ts_init=signal.ts_event
    )


def fill_of(
    signal: SignalGenerated,
    quantity: float | None = None,
    *,
    cumulative: float | None = None,
    price: float = 100.0,
    client_order_id: str | None = None,
    execution_id: str | None = None,
    ts_event: int = 0,
) -> OrderFilled:
    """Return a fill of ``signal``'s order: all of it, or ``quantity`` with ``cumulative`` done.

    Args:
        signal: the signal whose order fills.
        quantity: this fill's quantity; the signal's whole quantity if ``None``.
        cumulative: quantity filled so far, this fill included; ``quantity`` if ``None``.
        price: the fill price.
        client_order_id: the order's id; ``c-<signal id>`` (as :func:`approval_of`) if ``None``.
        execution_id: the venue's id of this fill; made from the signal id and ``cumulative``.
        ts_event: when it filled, in nanoseconds.
    """
    qty = signal.quantity if quantity is None else quantity
    done = qty if cumulative is None else cumulative
    return OrderFilled(
        client_order_id=f"c-{signal.signal_id}" if client_order_id is None else client_order_id,
        venue_order_id="v",
        execution_id=f"e-{signal.signal_id}-{done}" if execution_id is None else execution_id,
        symbol=signal.symbol,
        side=signal.side,
        fill_price=price,
        fill_quantity=qty,
        cumulative_quantity=done,
        leaves_quantity=signal.quantity - done,
        ts_event=ts_event,
        ts_init=ts_event,
    )


def fill_all(strategy: Strategy, index: int) -> list[ReplayedOrder]:
    """Fill every signal ``strategy`` has produced, in full, at its reference price (or 1.0).

    Returns:
        The filled intents, tagged with ``index``.
    """
    orders = []
    for sig in strategy.drain_signals():
        orders.append(ReplayedOrder(index, sig.symbol, sig.side, sig.quantity))
        strategy.handle_fill(
            fill_of(
                sig,
                price=sig.reference_price or 1.0,
                client_order_id=sig.signal_id,
                execution_id=sig.signal_id,
                ts_event=sig.ts_event,
            )
        )
    return orders


def replay_bars(
    strategy: Strategy, bars: Sequence[BarReceived], *, by_time: bool = False
) -> list[ReplayedOrder]:
    """Feed ``bars`` to ``strategy`` one at a time, filling each intent in full before the next bar.

    The strategy's clock is set to each bar's ``ts_event``; every bar is handed to it (no
    subscription filter). This is the quickest check of a strategy's rules: what it trades, on
    which bar, with an ideal venue that fills everything at the signal's price.

    Args:
        strategy: a freshly built strategy.
        bars: oldest first.
        by_time: number the orders by time step (bars sharing a ``ts_event`` count as one
            index, e.g. two legs of a pair) instead of by bar.

    Returns:
        Every filled intent, in order.
    """
    orders: list[ReplayedOrder] = []
    index = -1
    last_ts = None
    for b in bars:
        if not by_time or b.ts_event != last_ts:
            index += 1
            last_ts = b.ts_event
        strategy.set_time(b.ts_event)
        strategy.handle_bar(b)
        orders.extend(fill_all(strategy, index))
    return orders

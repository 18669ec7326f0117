"""Feed bus messages to a strategy: the plain logic behind the signal actor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, final

from ..messages import (
    BarReceived,
    BookReceived,
    Message,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteReceived,
    RiskApproved,
    RiskRejected,
    SignalGenerated,
    TradeReceived,
)
from .base import IntentOutcome, Outcome, Strategy

if TYPE_CHECKING:
    from ..risk.engine import OpenOrderView

__all__ = ["StrategyDriver"]

logger = logging.getLogger(__name__)


@final
class StrategyDriver:
    """Dispatch messages to one strategy and keep track of the orders that came from its signals.

    - Market data goes to the ``handle_*`` methods; a bar only if the strategy
      :meth:`~pyrt.strategy.Strategy.wants_bar` it.
    - ``risk.approved`` / ``risk.rejected`` of a signal this driver emitted, and the ``order.*``
      outcomes of the approved ones, become ``handle_fill`` / ``handle_order_closed`` calls; other
      strategies' (and an earlier, crashed instance's) orders are ignored.
    - A callback that raises: the signals produced while handling that message are rolled back,
      the error is logged with the message, and it propagates (see :meth:`feed`).
    - Orders that were working before this strategy instance was built (a restarted strategy, a
      restarted run) are taken over with :meth:`adopt`, so their outcomes still reach it.

    Args:
        strategy: the strategy to drive.
    """

    __slots__ = ("_emitted", "_filled", "_handlers", "_own", "strategy")

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self._emitted: set[str] = set()  # signal ids sent and not yet approved or rejected
        self._own: dict[str, SignalGenerated] = {}  # client order id -> its signal, while working
        self._filled: dict[str, float] = {}  # client order id -> cumulative quantity filled
        handlers: dict[type, Callable[..., None]] = {  # keyed by the exact (final) message class
            BarReceived: self._on_bar,
            TradeReceived: strategy.handle_trade,
            QuoteReceived: strategy.handle_quote,
            BookReceived: strategy.handle_book,
            RiskApproved: self._on_approved,
            RiskRejected: self._on_rejected,
            OrderFilled: self._on_filled,
            OrderCanceled: self._on_closed,
            OrderRejected: self._on_closed,
        }
        self._handlers = handlers

    def adopt(self, orders: Iterable[OpenOrderView]) -> int:
        """Take over orders still working from before this strategy instance was built.

        Each becomes an intent of the strategy (its unfilled quantity pending, its symbol
        :meth:`~pyrt.strategy.Strategy.awaiting`), and its fills and end are delivered as for
        the strategy's own signals. Call it before feeding any message.

        Args:
            orders: the risk engine's open orders (``RiskEngine.open_orders()``).

        Returns:
            How many orders were adopted.
        """
        adopted = 0
        for order in orders:
            if order.client_order_id in self._own:
                continue
            self._own[order.client_order_id] = SignalGenerated(
                signal_id=f"adopted-{order.client_order_id}",
                strategy=self.strategy.name,
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                ts_event=0,
                ts_init=0,
            )
            done = order.quantity - order.remaining
            if done > 0:
                self._filled[order.client_order_id] = done
            self.strategy.adopt_intent(order.symbol, order.side, order.remaining)
            adopted += 1
        if adopted:
            logger.info("strategy %s took over %d working order(s)", self.strategy.name, adopted)
        return adopted

    def start(self, now_ns: int) -> list[SignalGenerated]:
        """Set the clock, call ``on_start`` and return the signals it produced."""
        self.strategy.set_time(now_ns)
        self.strategy.on_start()
        return self._drain()

    def stop(self, now_ns: int) -> list[SignalGenerated]:
        """Set the clock, call ``on_stop`` and return the signals it produced."""
        self.strategy.set_time(now_ns)
        self.strategy.on_stop()
        return self._drain()

    def feed(self, batch: Iterable[Message], now_ns: int, out: list[SignalGenerated]) -> None:
        """Hand each message of ``batch`` to the strategy; append the signals produced to ``out``.

        Args:
            batch: messages in arrival order; types the strategy has no use for are skipped.
            now_ns: the time stamped on the signals.
            out: receives the signals, in production order.

        Raises:
            Exception: whatever a strategy callback raised. ``out`` then holds the signals of the
                messages before the one that raised; that message's own signals were rolled back,
                so no partial output escapes. The error carries a note naming the message.
        """
        strategy = self.strategy
        strategy.set_time(now_ns)
        handlers = self._handlers
        outbox = strategy._outbox  # stable within the batch: only drain_signals replaces it
        for msg in batch:
            handler = handlers.get(type(msg))
            if handler is None:
                continue
            mark = len(outbox)
            try:
                handler(msg)
            except Exception as exc:
                strategy.rollback_signals(mark)
                out.extend(self._drain())
                logger.error("strategy %s raised on %r", strategy.name, msg, exc_info=True)
                exc.add_note(f"strategy {strategy.name} raised on {msg!r}")
                raise
        if outbox:
            out.extend(self._drain())

    def _drain(self) -> list[SignalGenerated]:
        signals = self.strategy.drain_signals()
        emitted = self._emitted
        for sig in signals:
            emitted.add(sig.signal_id)
        return signals

    def _on_bar(self, bar: BarReceived) -> None:
        strategy = self.strategy
        if strategy.wants_bar(bar):
            strategy.handle_bar(bar)

    def _on_approved(self, msg: RiskApproved) -> None:
        if msg.signal.signal_id in self._emitted:
            self._emitted.discard(msg.signal.signal_id)
            self._own[msg.client_order_id] = msg.signal

    def _on_rejected(self, msg: RiskRejected) -> None:
        sig = msg.signal
        if sig.signal_id in self._emitted:
            self._emitted.discard(sig.signal_id)
            strategy = self.strategy
            strategy.handle_order_closed(sig.symbol, sig.side, sig.quantity)
            strategy.handle_outcome(
                IntentOutcome(
                    symbol=sig.symbol,
                    side=sig.side,
                    quantity=sig.quantity,
                    filled=0.0,
                    outcome=Outcome.REJECTED,
                    reason=f"{msg.reason_code}: {msg.reason}",
                )
            )

    def _on_filled(self, msg: OrderFilled) -> None:
        coid = msg.client_order_id
        sig = self._own.get(coid)
        if sig is not None:
            self._filled[coid] = msg.cumulative_quantity
            final = msg.is_final
            if final:
                del self._own[coid]
                self._filled.pop(coid, None)
            self.strategy.handle_fill(msg)
            if final:
                self.strategy.handle_outcome(
                    IntentOutcome(
                        symbol=sig.symbol,
                        side=sig.side,
                        quantity=sig.quantity,
                        filled=msg.cumulative_quantity,
                        outcome=Outcome.FILLED,
                        client_order_id=coid,
                    )
                )

    def _on_closed(self, msg: OrderCanceled | OrderRejected) -> None:
        sig = self._own.pop(msg.client_order_id, None)
        if sig is not None:
            done = self._filled.pop(msg.client_order_id, 0.0)
            strategy = self.strategy
            strategy.handle_order_closed(sig.symbol, sig.side, sig.quantity - done)
            if isinstance(msg, OrderRejected):
                outcome = Outcome.REJECTED
            else:
                outcome = Outcome.EXPIRED if msg.reason.startswith("expired") else Outcome.CANCELED
            strategy.handle_outcome(
                IntentOutcome(
                    symbol=sig.symbol,
                    side=sig.side,
                    quantity=sig.quantity,
                    filled=done,
                    outcome=outcome,
                    reason=msg.reason,
                    client_order_id=msg.client_order_id,
                )
            )

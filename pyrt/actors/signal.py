from __future__ import annotations

import logging
from collections.abc import Callable
from typing import final

import trio

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
from ..strategy import Strategy
from .base import ActorContext

logger = logging.getLogger(__name__)


@final
class SignalActor:
    """Runs one strategy: market data and its own order outcomes in, ``signal.generated`` out.

    A strategy that raises is isolated: the exception is logged with the message that caused it,
    the signals produced while handling that message are discarded (no partial signal escapes),
    and the exception propagates so the supervisor restarts the actor with a fresh strategy
    from ``factory``.

    Args:
        factory: builds the strategy (called at every start).
    """

    def __init__(self, factory: Callable[[], Strategy]) -> None:
        self.name = "signal"
        self._factory = factory
        self.signals = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        strategy = self._factory()
        own: dict[str, SignalGenerated] = {}  # client_order_id -> the signal it came from
        filled: dict[str, float] = {}
        with ctx.bus.subscribe("market.", "risk.", "order.", name=self.name) as inbox:
            strategy.set_time(ctx.clock.now_ns())
            strategy.on_start()
            strategy.drain_signals()  # signals from on_start go out with the first batch
            task_status.started()
            async for batch in inbox:
                out: list[Message] = []
                for msg in batch:
                    strategy.set_time(ctx.clock.now_ns())
                    try:
                        self._dispatch(strategy, msg, own, filled)
                    except Exception:
                        strategy.drain_signals()
                        logger.error("strategy %s raised on %r", strategy.name, msg, exc_info=True)
                        raise
                    out.extend(strategy.drain_signals())
                if out:
                    self.signals += len(out)
                    await ctx.bus.publish_batch(out)
        strategy.on_stop()

    @staticmethod
    def _dispatch(
        strategy: Strategy, msg: Message, own: dict[str, SignalGenerated], filled: dict[str, float]
    ) -> None:
        if isinstance(msg, BarReceived):
            strategy.handle_bar(msg)
        elif isinstance(msg, TradeReceived):
            strategy.handle_trade(msg)
        elif isinstance(msg, QuoteReceived):
            strategy.handle_quote(msg)
        elif isinstance(msg, BookReceived):
            strategy.on_book(msg)
        elif isinstance(msg, RiskApproved):
            if msg.signal.strategy == strategy.name:
                own[msg.client_order_id] = msg.signal
        elif isinstance(msg, RiskRejected):
            if msg.signal.strategy == strategy.name:
                sig = msg.signal
                strategy.handle_order_closed(sig.symbol, sig.side, sig.quantity)
        elif isinstance(msg, OrderFilled):
            if msg.client_order_id in own:
                filled[msg.client_order_id] = msg.cumulative_quantity
                strategy.handle_fill(msg)
                if msg.is_final:
                    del own[msg.client_order_id]
                    filled.pop(msg.client_order_id, 0.0)
        elif isinstance(msg, OrderCanceled | OrderRejected) and msg.client_order_id in own:
            sig = own.pop(msg.client_order_id)
            done = filled.pop(msg.client_order_id, 0.0)
            strategy.handle_order_closed(sig.symbol, sig.side, sig.quantity - done)

from __future__ import annotations

import logging
from typing import final

import trio

from ..bus import Batch, Policy, Subscription
from ..messages import (
    BarReceived,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteReceived,
    RiskRejected,
    SignalGenerated,
    TradeReceived,
)
from ..risk import RiskEngine
from .base import ActorContext

logger = logging.getLogger(__name__)


@final
class RiskActor:
    """Pre-trade risk: every ``signal.generated`` becomes ``risk.approved`` or ``risk.rejected``.

    Signals and order outcomes travel on a ``block`` subscription (nothing lost); marks come on a
    ``conflate`` one (the latest price per symbol is all risk needs). The engine lives on the actor,
    so a restart keeps positions and open-order reservations.

    Args:
        engine: the pre-trade checks, positions and P&L.
    """

    def __init__(self, engine: RiskEngine) -> None:
        self.name = "risk"
        self.engine = engine

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with (
            ctx.bus.subscribe(SignalGenerated, "order.", name=self.name) as orders,
            ctx.bus.subscribe(
                QuoteReceived, TradeReceived, BarReceived, name=f"{self.name}.marks", policy=Policy.CONFLATE
            ) as marks,
        ):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._marks, marks)
                task_status.started()
                async for batch in orders:
                    # apply any waiting marks first, so checks see the freshest prices
                    try:
                        self._apply_marks(marks.receive_nowait())
                    except trio.WouldBlock:
                        pass
                    decisions = []
                    for msg in batch:
                        if isinstance(msg, SignalGenerated):
                            decision = self.engine.check(msg, now_ns=ctx.clock.now_ns())
                            if isinstance(decision, RiskRejected):
                                logger.warning(
                                    "rejected %s %s %s: %s (%s)",
                                    msg.side,
                                    msg.quantity,
                                    msg.symbol,
                                    decision.reason,
                                    decision.reason_code,
                                )
                            decisions.append(decision)
                        elif isinstance(msg, OrderFilled):
                            self.engine.on_fill(msg)
                        elif isinstance(msg, OrderCanceled | OrderRejected):
                            self.engine.on_order_closed(msg.client_order_id)
                    if decisions:
                        await ctx.bus.publish_batch(decisions)
                nursery.cancel_scope.cancel()

    async def _marks(self, marks: Subscription) -> None:
        async for batch in marks:
            self._apply_marks(batch)

    def _apply_marks(self, batch: Batch) -> None:
        for msg in batch:
            if isinstance(msg, QuoteReceived):
                self.engine.on_mark(msg.symbol, msg.mid)
            elif isinstance(msg, TradeReceived):
                self.engine.on_mark(msg.symbol, msg.price)
            elif isinstance(msg, BarReceived):
                self.engine.on_mark(msg.symbol, msg.close)

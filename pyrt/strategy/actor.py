"""The signal actor: runs one strategy on the bus, market data and its own order outcomes in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, final

import trio

from ..messages import SignalGenerated
from ..runtime.actor import ActorContext
from ..runtime.bus import Batch, Policy, Subscription
from . import Strategy
from .driver import StrategyDriver

if TYPE_CHECKING:
    from ..risk.engine import OpenOrderView

logger = logging.getLogger(__name__)


@final
class SignalActor:
    """Runs one strategy: ``market.*``, ``risk.*`` and ``order.*`` in, ``signal.generated`` out.

    A thin trio shell over :class:`~pyrt.strategy.driver.StrategyDriver`: each batch from the bus
    is handed to the strategy (bars only of the symbols and timeframes it subscribed to; quotes
    and book frames also update its order books), and the signals it produced go out as one
    batch. The clock is read once per batch: what arrived together is stamped together.

    A strategy that raises is isolated: the exception is logged with the message that caused it,
    the signals produced while handling that message are discarded (no partial signal escapes;
    the signals of the messages before it in the batch are published), and the exception
    propagates so the supervisor restarts the actor with a fresh strategy from ``factory``.

    A (re)started strategy takes over the orders still working (``open_orders``), so it learns
    their outcomes and does not decide again on their symbols before it knows them.

    Args:
        factory: builds the strategy (called at every start).
        open_orders: the orders working now (the risk engine's ``open_orders``), read at every
            start; ``None``: none.

    Attributes:
        signals: signals published since the actor was built (across restarts).
    """

    def __init__(
        self,
        factory: Callable[[], Strategy],
        *,
        open_orders: Callable[[], Iterable[OpenOrderView]] | None = None,
    ) -> None:
        self.name = "signal"
        self._factory = factory
        self._open_orders = open_orders
        self.signals = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, start the strategy, then feed it until the bus closes or the run is cancelled.

        Raises:
            Exception: whatever the strategy raised (after publishing the signals that came before).
        """
        driver = StrategyDriver(self._factory())
        clock = ctx.clock
        bus = ctx.bus
        with (
            bus.subscribe("market.", name=self.name) as inbox,
            # risk's answers and order outcomes flow back upstream: feedback, so risk and
            # execution never wait on the strategy (a cycle of block channels froze the tree, #8)
            bus.subscribe(
                "risk.", "order.", name=f"{self.name}.feedback", policy=Policy.FEEDBACK
            ) as feedback,
        ):
            if self._open_orders is not None:  # read with no await since subscribing: no gap, no overlap
                driver.adopt(self._open_orders())
            out: list[SignalGenerated] = driver.start(clock.now_ns())
            task_status.started()
            if out:
                self.signals += len(out)
                await bus.publish_batch(out)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._feedback, ctx, driver, feedback)
                    async for batch in inbox:
                        # what came back before this market batch is fed first, in arrival order
                        while True:
                            try:
                                waiting = feedback.receive_nowait()
                            except (trio.WouldBlock, trio.EndOfChannel):
                                break
                            await self._feed(ctx, driver, waiting)
                        await self._feed(ctx, driver, batch)
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:  # the strategy raised in one of the two loops
                if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
                    raise group.exceptions[0]  # noqa: B904  # bare, as before the split
                raise
            out = driver.stop(clock.now_ns())
            if out:
                self.signals += len(out)
                await bus.publish_batch(out)

    async def _feedback(self, ctx: ActorContext, driver: StrategyDriver, feedback: Subscription) -> None:
        async for batch in feedback:
            await self._feed(ctx, driver, batch)

    async def _feed(self, ctx: ActorContext, driver: StrategyDriver, batch: Batch) -> None:
        out: list[SignalGenerated] = []
        try:
            driver.feed(batch, ctx.clock.now_ns(), out)
        finally:
            if out:  # the signals before a raising message still go out
                self.signals += len(out)
                await ctx.bus.publish_batch(out)

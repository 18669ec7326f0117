"""The signal actor: runs one strategy on the bus, market data and its own order outcomes in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import final

import trio

from ..messages import SignalGenerated
from ..strategy import Strategy
from ..strategy.driver import StrategyDriver
from .base import ActorContext

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

    Args:
        factory: builds the strategy (called at every start).

    Attributes:
        signals: signals published since the actor was built (across restarts).
    """

    def __init__(self, factory: Callable[[], Strategy]) -> None:
        self.name = "signal"
        self._factory = factory
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
        with bus.subscribe("market.", "risk.", "order.", name=self.name) as inbox:
            out: list[SignalGenerated] = driver.start(clock.now_ns())
            task_status.started()
            async for batch in inbox:
                try:
                    driver.feed(batch, clock.now_ns(), out)
                finally:
                    if out:  # the signals before a raising message still go out
                        signals, out = out, []
                        self.signals += len(signals)
                        await bus.publish_batch(signals)
            out = driver.stop(clock.now_ns())
            if out:
                self.signals += len(out)
                await bus.publish_batch(out)

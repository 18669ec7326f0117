from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import final

import trio

from ..bars import BarAggregator, parse_timeframe
from ..messages import BarReceived, Message, TradeReceived
from ..venues import MarketDataFeed
from .base import ActorContext

logger = logging.getLogger(__name__)


@final
class MarketDataActor:
    """Ingest: the venue's feed → ``market.*`` on the bus, plus bars built from its trades.

    Each frame the feed delivers is published as one batch. Bars close on the run's clock
    (``pyrt.bars`` documents the policy) and are published before the trades of the frame that
    closed them.

    Args:
        feed: the venue's market-data feed.
        symbols: what to subscribe to.
        timeframes: bar timeframes to build from trades (``[]`` for none).
    """

    def __init__(
        self, feed: MarketDataFeed, symbols: Sequence[str], *, timeframes: Sequence[str] = ("1m",)
    ) -> None:
        self.name = "market_data"
        self._feed = feed
        self._symbols = tuple(symbols)
        self._timeframes = tuple(timeframes)
        for tf in self._timeframes:
            parse_timeframe(tf)  # fail at construction, not mid-run

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        bars = BarAggregator(self._timeframes) if self._timeframes else None

        async def emit(batch: Sequence[Message]) -> None:
            if bars is None:
                await ctx.bus.publish_batch(batch)
                return
            closed: list[BarReceived] = []
            for msg in batch:
                if isinstance(msg, TradeReceived):
                    closed.extend(bars.on_trade(msg))
            await ctx.bus.publish_batch([*closed, *batch] if closed else batch)

        async with trio.open_nursery() as nursery:
            if bars is not None:
                nursery.start_soon(self._close_bars_on_time, ctx, bars)
            await nursery.start(self._feed.run, self._symbols, emit)
            task_status.started()

    async def _close_bars_on_time(self, ctx: ActorContext, bars: BarAggregator) -> None:
        width = min(parse_timeframe(tf) for tf in self._timeframes)
        while True:
            now = ctx.clock.now_ns()
            await ctx.clock.sleep((width - now % width) / 1e9)
            closed = bars.on_time(ctx.clock.now_ns())
            if closed:
                await ctx.bus.publish_batch(closed)

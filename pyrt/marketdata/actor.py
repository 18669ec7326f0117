"""The market-data actor: a venue's feed, screened, onto the bus, with bars built from trades."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import final

import attrs
import trio

from ..messages import BarReceived, Message, TradeReceived
from ..runtime.actor import ActorContext
from ..venues import MarketDataFeed
from .bars import BarAggregator, BarStatistics, parse_timeframe
from .screen import MarketDataScreen

logger = logging.getLogger(__name__)


@final
@attrs.frozen(kw_only=True)
class MarketDataStatistics:
    """A snapshot of a :class:`MarketDataActor`'s counters (since it was built, restarts included)."""

    accepted: int
    """Feed items published (flagged ones included)."""
    refused: dict[str, int]
    """Feed items refused by the screen, by reason (``specs/marketdata.md``)."""
    flagged: dict[str, int]
    """Feed items kept but flagged (crossed or one-sided quotes, reference moves)."""
    bars: BarStatistics | None
    """The bar builder's counters in the current run (``None`` without timeframes)."""


@final
class MarketDataActor:
    """Ingest: the venue's feed → ``market.*`` on the bus, plus bars built from its trades.

    Each frame the feed delivers is screened (:class:`~pyrt.marketdata.screen.MarketDataScreen`: refused
    items are counted and logged, never published) and what passes is published as one batch.
    Bars close on the run's clock (``pyrt.marketdata.bars`` documents the policy) and are published before
    the trades of the frame that closed them; none is closed by time at or after the run's end
    (``ctx.deadline``). The screen outlives a restart of the actor, so its
    counters, duplicate memory and reference prices do too.

    Args:
        feed: the venue's market-data feed.
        symbols: what to subscribe to.
        timeframes: bar timeframes to build from trades (``[]`` for none).
        screen: the screen to apply; default: :class:`~pyrt.marketdata.screen.MarketDataScreen` for
            ``symbols`` with its default bounds.
    """

    def __init__(
        self,
        feed: MarketDataFeed,
        symbols: Sequence[str],
        *,
        timeframes: Sequence[str] = ("1m",),
        screen: MarketDataScreen | None = None,
    ) -> None:
        self.name = "market_data"
        self._feed = feed
        self._symbols = tuple(symbols)
        self._timeframes = tuple(timeframes)
        for tf in self._timeframes:
            parse_timeframe(tf)  # fail at construction, not mid-run
        self._screen = MarketDataScreen(self._symbols) if screen is None else screen
        self._bars: BarAggregator | None = None

    def statistics(self) -> MarketDataStatistics:
        """Return a snapshot of the screen's and the bar builder's counters."""
        screened = self._screen.statistics()
        return MarketDataStatistics(
            accepted=screened.accepted,
            refused=screened.refused,
            flagged=screened.flagged,
            bars=None if self._bars is None else self._bars.statistics(),
        )

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        bars = self._bars = BarAggregator(self._timeframes) if self._timeframes else None
        screen = self._screen.screen
        clock = ctx.clock

        async def emit(feed_batch: Sequence[Message]) -> None:
            batch = screen(feed_batch, clock.now_ns())
            if not batch:
                return
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
            if ctx.deadline.passed():
                return  # the run is over: a bar closing at its end must not race the shutdown
            closed = bars.on_time(ctx.clock.now_ns())
            if closed:
                await ctx.bus.publish_batch(closed)

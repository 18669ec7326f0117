"""Bars pyrt builds from the venue's trades equal the venue's own bars (same trades, same windows)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import trio

from pyrt.marketdata.bars import BarAggregator
from pyrt.messages import BarReceived, Message, TradeReceived
from pyrt.runtime.clock import WallClock
from pyrt.venues.alpaca import AlpacaFeed
from tests.integration.conftest import start_venue


@pytest.mark.slow
async def test_bars_built_from_streamed_trades_equal_the_venues_bars(nursery: trio.Nursery) -> None:
    venue = await start_venue(nursery, symbols=["AAPL"], tick_interval=0.01, bar_interval=0.5)
    feed = AlpacaFeed(
        url=f"ws://127.0.0.1:{venue.url.rsplit(':', 1)[1]}/v2/iex",
        key_id="PKTEST",
        secret_key="secret",
        clock=WallClock(),
        rng=random.Random(1),
        channels=("trades", "bars"),
        encoding="json",
        crypto=False,
    )
    trades: list[TradeReceived] = []
    venue_bars: list[BarReceived] = []
    enough = trio.Event()

    async def emit(batch: Sequence[Message]) -> None:
        for msg in batch:
            if isinstance(msg, TradeReceived):
                trades.append(msg)
            elif isinstance(msg, BarReceived):
                venue_bars.append(msg)
        if len(venue_bars) >= 6:
            enough.set()

    with trio.fail_after(20):
        async with trio.open_nursery() as inner:
            await inner.start(feed.run, ["AAPL"], emit)
            await enough.wait()
            inner.cancel_scope.cancel()

    ours = BarAggregator(["500ms"]).on_trades(trades)
    first_full = (
        trades[0].ts_event - trades[0].ts_event % 500_000_000 + 500_000_000
    )  # skip the window we joined late
    theirs = {b.ts_event: b for b in venue_bars if b.ts_event >= first_full}
    compared = 0
    for bar in ours:
        if bar.ts_event in theirs:
            v = theirs[bar.ts_event]
            assert (bar.open, bar.high, bar.low, bar.close) == (v.open, v.high, v.low, v.close)
            assert bar.volume == pytest.approx(v.volume)
            assert bar.trade_count == v.trade_count
            compared += 1
    assert compared >= 3

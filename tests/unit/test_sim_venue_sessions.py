"""SimVenue on a market calendar: sessions open and close on the virtual clock."""

from __future__ import annotations

import datetime
import random
import zoneinfo
from collections.abc import Sequence

import trio
import trio.testing

from pyrt.messages import (
    Message,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
)
from pyrt.runtime.clock import VirtualClock
from pyrt.venues.calendar import NYSE, MarketCalendar
from pyrt.venues.sim import SimVenue

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
NS = 1_000_000_000


def ny(text: str) -> int:
    """A New York wall time ("2026-01-06 15:59") as nanoseconds since the epoch."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()) * NS


def make_venue(
    start: str, symbols: Sequence[str], *, calendar: MarketCalendar | None = NYSE
) -> tuple[SimVenue, VirtualClock]:
    clock = VirtualClock(ny(start))
    prices = {"AAPL": 100.0, "BTC/USD": 60_000.0}
    venue = SimVenue(
        symbols,
        clock=clock,
        rng=random.Random(3),
        tick_interval=1.0,
        start_prices={symbol: prices[symbol] for symbol in symbols},
        calendar=calendar,
    )
    return venue, clock


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, batch: Sequence[Message]) -> None:
        self.messages.extend(batch)

    def quotes(self, symbol: str) -> list[QuoteReceived]:
        return [m for m in self.messages if isinstance(m, QuoteReceived) and m.symbol == symbol]


async def until(clock: VirtualClock, at: str) -> None:
    await trio.sleep((ny(at) - clock.now_ns()) / NS)


def order(cid: str, *, tif: TimeInForce = TimeInForce.DAY, limit: float | None = None) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=cid,
        symbol="AAPL",
        side=Side.BUY,
        quantity=5.0,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        time_in_force=tif,
        limit_price=limit,
        ts_event=0,
        ts_init=0,
    )


async def test_a_day_order_still_open_at_the_close_expires_at_1600(autojump_clock):
    venue, clock = make_venue("2026-01-06 15:59:00", ["AAPL", "BTC/USD"])
    market, updates = Recorder(), Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        await nursery.start(venue.run, ["AAPL", "BTC/USD"], market)
        await trio.testing.wait_all_tasks_blocked()
        await venue.submit_order(order("day", limit=50.0))
        await venue.submit_order(order("gtc", limit=50.0, tif=TimeInForce.GTC))
        await until(clock, "2026-01-06 16:02:00")
        nursery.cancel_scope.cancel()

    (expired,) = [m for m in updates.messages if isinstance(m, OrderCanceled)]
    assert (expired.client_order_id, expired.reason, expired.ts_event) == (
        "day",
        "expired",
        ny("2026-01-06 16:00"),
    )
    assert [o.client_order_id for o in await venue.list_open_orders()] == ["gtc"]
    assert max(q.ts_event for q in market.quotes("AAPL")) == ny("2026-01-06 15:59:59")
    assert max(q.ts_event for q in market.quotes("BTC/USD")) == ny("2026-01-06 16:02:00")


async def test_no_stock_data_on_a_saturday_while_btc_usd_trades(autojump_clock):
    venue, clock = make_venue("2026-01-10 12:00:00", ["AAPL", "BTC/USD"])
    market = Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run, ["AAPL", "BTC/USD"], market)
        await until(clock, "2026-01-10 12:10:00")
        venue_clock = await venue.get_clock()
        nursery.cancel_scope.cancel()

    assert {m.symbol for m in market.messages} == {"BTC/USD"}
    assert len(market.quotes("BTC/USD")) == 601
    assert not venue_clock.is_open
    assert venue_clock.next_open_ns == ny("2026-01-12 09:30")
    assert venue_clock.next_close_ns == ny("2026-01-12 16:00")


async def test_a_market_order_after_the_close_is_held_then_fills_at_the_open_after_a_gap(autojump_clock):
    venue, clock = make_venue("2026-01-08 15:59:58", ["AAPL"])
    market, updates = Recorder(), Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        await nursery.start(venue.run, ["AAPL"], market)
        await until(clock, "2026-01-08 17:00:00")
        reply = await venue.submit_order(order("evening"))
        evening_clock = await venue.get_clock()
        await until(clock, "2026-01-09 09:30:02")
        nursery.cancel_scope.cancel()

    assert (reply.status, reply.filled_quantity) == ("new", 0.0)
    assert not evening_clock.is_open
    assert evening_clock.next_open_ns == ny("2026-01-09 09:30")
    times = [q.ts_event for q in market.quotes("AAPL")]
    assert times == [
        ny("2026-01-08 15:59:58"),
        ny("2026-01-08 15:59:59"),
        *(ny(f"2026-01-09 09:30:0{s}") for s in range(3)),
    ]
    close, opening = market.quotes("AAPL")[1], market.quotes("AAPL")[2]
    (fill,) = [m for m in updates.messages if isinstance(m, OrderFilled)]
    assert (fill.ts_event, fill.fill_price) == (opening.ts_event, opening.ask_price)
    assert abs(opening.ask_price - close.ask_price) > 0.05  # a gap, not a 2 bp step


async def test_without_a_calendar_the_venue_trades_around_the_clock(autojump_clock):
    venue, clock = make_venue("2026-01-10 12:00:00", ["AAPL"], calendar=None)
    market = Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run, ["AAPL"], market)
        await until(clock, "2026-01-10 12:00:05")
        venue_clock = await venue.get_clock()
        nursery.cancel_scope.cancel()

    assert len(market.quotes("AAPL")) == 6
    assert venue_clock.is_open
    assert venue_clock.next_open_ns == ny("2026-01-12 09:30")  # never a Saturday


async def test_get_clock_from_friday_evening_across_dst_is_monday_0930_new_york():
    venue, _ = make_venue("2026-03-06 18:00:00", ["AAPL"])

    venue_clock = await venue.get_clock()

    assert venue_clock.next_open_ns == ny("2026-03-09 09:30")
    assert venue_clock.next_open_ns - ny("2026-03-06 09:30") == (3 * 24 - 1) * 3600 * NS  # an hour shorter

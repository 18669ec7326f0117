"""pyrt.testing, used the way a strategy author or a venue implementer would."""

from __future__ import annotations

from collections.abc import Sequence

import trio
import trio.testing

import pyrt.testing
from pyrt.messages import Message, OrderSubmitted, OrderType, Side, SignalGenerated, TimeInForce
from pyrt.runtime.clock import VirtualClock
from pyrt.strategy import SmaCrossover, Strategy
from pyrt.strategy.driver import StrategyDriver
from pyrt.testing import (
    DEFAULT_START_NS,
    approval_of,
    bar,
    bars_from_closes,
    fake_venue,
    fill_of,
    replay_bars,
    run_virtual,
    virtual_context,
)


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {name for name in vars(pyrt.testing) if not name.startswith("_")} - {"annotations"}

    assert pyrt.testing.__all__ == sorted(pyrt.testing.__all__)
    assert set(pyrt.testing.__all__) == public


def test_sma_crossover_buys_the_cross_up_and_sells_the_cross_down() -> None:
    strategy = SmaCrossover(fast=2, slow=3, quantity=10)

    orders = replay_bars(strategy, bars_from_closes([5, 4, 3, 6, 7, 4, 3, 2, 5, 6]))

    assert orders == [(3, "AAPL", Side.BUY, 10.0), (5, "AAPL", Side.SELL, 10.0), (8, "AAPL", Side.BUY, 10.0)]
    assert strategy.position["AAPL"] == 10.0


def test_sma_crossover_trades_nothing_on_a_trend_with_no_cross() -> None:
    assert replay_bars(SmaCrossover(fast=2, slow=3), bars_from_closes([1, 2, 3, 4, 5, 6])) == []


def test_bars_from_closes_are_spaced_by_the_interval() -> None:
    bars = bars_from_closes([1.0, 2.0], symbol="MSFT", timeframe="1s", start=5, interval_secs=1)

    assert [(b.symbol, b.timeframe, b.close, b.ts_event) for b in bars] == [
        ("MSFT", "1s", 1.0, 5_000_000_000),
        ("MSFT", "1s", 2.0, 6_000_000_000),
    ]


def test_a_partial_fill_through_the_driver_leaves_the_rest_pending() -> None:
    strategy = Strategy()
    driver = StrategyDriver(strategy)
    out: list[SignalGenerated] = []
    strategy.buy("AAPL", 10)
    driver.feed([bar(100.0)], 0, out)
    (signal,) = out

    driver.feed([approval_of(signal), fill_of(signal, 4, cumulative=4)], 0, out)

    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (4.0, 6.0)


def test_run_virtual_takes_no_real_time_and_returns_the_result() -> None:
    async def wait_a_day() -> float:
        ctx = virtual_context()
        await ctx.clock.sleep(86_400.0)
        return (ctx.clock.now_ns() - DEFAULT_START_NS) / 1e9

    assert run_virtual(wait_a_day) == 86_400.0


def test_a_fake_venue_fills_a_market_order_on_virtual_time() -> None:
    async def main() -> list[Message]:
        clock = VirtualClock(DEFAULT_START_NS)
        venue = fake_venue(["AAPL"], clock=clock, seed=7, start_prices={"AAPL": 100.0})
        updates: list[Message] = []
        ticked = trio.Event()

        async def on_tick(_batch: Sequence[Message]) -> None:
            ticked.set()

        async def on_updates(batch: Sequence[Message]) -> None:
            updates.extend(batch)

        async with trio.open_nursery() as nursery:
            await nursery.start(venue.run_updates, on_updates)
            nursery.start_soon(venue.run, ["AAPL"], on_tick)
            await ticked.wait()  # a quote to fill against
            order = OrderSubmitted(
                client_order_id="c-1",
                symbol="AAPL",
                side=Side.BUY,
                quantity=5,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.DAY,
                ts_event=clock.now_ns(),
                ts_init=clock.now_ns(),
            )
            await venue.submit_order(order)
            await trio.testing.wait_all_tasks_blocked()
            positions = await venue.list_positions()
            assert [(p.symbol, p.quantity) for p in positions] == [("AAPL", 5.0)]
            nursery.cancel_scope.cancel()
        return updates

    updates = run_virtual(main)

    assert [m.TOPIC for m in updates] == ["order.accepted", "order.filled"]

"""The Alpaca client against the embedded venue's server code over the simulated network.

Everything runs on trio's MockClock (autojump): every network delay, retry and reconnect is a
sleep on virtual time, and every fault is drawn from a seeded RNG.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import trio
import trio.testing

from pyrt.messages import Message, OrderSubmitted, OrderType, QuoteReceived, Side, TimeInForce
from pyrt.runtime.clock import VirtualClock
from pyrt.venues.simnet import NetworkFaults, open_local_venue

START_NS = 1_767_312_000 * 1_000_000_000


class Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = trio.Event()

    async def emit(self, batch: Sequence[Message]) -> None:
        self.messages.extend(batch)
        self._changed.set()
        self._changed = trio.Event()
        await trio.lowlevel.checkpoint()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()


def order(client_order_id: str, *, quantity: float = 5.0, symbol: str = "AAPL") -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        ts_event=0,
        ts_init=0,
    )


async def test_clean_network_carries_rest_and_market_data(autojump_clock: trio.testing.MockClock) -> None:
    clock = VirtualClock(START_NS)
    async with open_local_venue(clock=clock, rng=random.Random(1), symbols=["AAPL", "MSFT"]) as local:
        account = await local.broker.get_account()
        placed = await local.broker.submit_order(order("c-1"))
        quotes = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.feed.run, ["AAPL", "MSFT"], quotes.emit)
            await quotes.wait_for(lambda: sum(isinstance(m, QuoteReceived) for m in quotes.messages) >= 20)
            nursery.cancel_scope.cancel()

    assert account.cash > 0
    assert placed.client_order_id == "c-1"
    assert local.network.statistics().connections >= 2

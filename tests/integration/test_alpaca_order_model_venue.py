"""Alpaca's order model through real sockets (#8 §4): a replace and a notional order at the venue.

pyrt's broker talks to the embedded venue on 127.0.0.1; an "operator" changes orders behind
pyrt's back over plain REST, as someone using Alpaca's dashboard would.
"""

from __future__ import annotations

import httpx
import trio

from pyrt.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
)
from pyrt.orders import OrderState, OrderTracker
from pyrt.venues.local import LocalVenue
from tests.integration.test_alpaca_client import (
    GUARD_SECONDS,
    KEY,
    SECRET,
    Collector,
    make_broker,
    order,
    running_broker,
)

HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


async def test_order_replaced_at_the_venue_is_ended_linked_and_its_replacement_fills_are_tracked(
    venue: LocalVenue,
) -> None:
    updates = Collector()
    tracker = OrderTracker()
    mine = order("mine-1", order_type=OrderType.LIMIT, limit_price=1.0)  # far below: rests
    with trio.fail_after(GUARD_SECONDS):
        async with running_broker(venue, updates) as broker, httpx.AsyncClient(headers=HEADERS) as operator:
            tracker.on_submitted(mine)
            placed = await broker.submit_order(mine)
            tracker.on_accepted(
                OrderAccepted(
                    client_order_id="mine-1",
                    venue_order_id=placed.venue_order_id,
                    symbol="AAPL",
                    ts_event=1,
                    ts_init=1,
                )
            )
            quote = venue.engine.last_quote("AAPL")
            assert quote is not None
            reply = await operator.patch(
                f"{venue.url}/v2/orders/{placed.venue_order_id}",
                json={"limit_price": str(round(quote[1] * 1.05, 2)), "client_order_id": "by-operator"},
            )
            assert reply.status_code == 200, reply.text
            await updates.wait_for(lambda: bool(updates.of(OrderFilled, "by-operator")))
            positions = await broker.list_positions()

    for msg in updates.messages:
        assert isinstance(msg, OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected)
        tracker.on_message(msg)
    (ended,) = updates.of(OrderCanceled, "mine-1")
    assert isinstance(ended, OrderCanceled)
    assert ended.reason == f"replaced by {reply.json()['id']}"
    (announced,) = updates.of(OrderSubmitted, "by-operator")
    assert isinstance(announced, OrderSubmitted)
    assert (announced.quantity, announced.side) == (5.0, mine.side)
    old, new = tracker.get("mine-1"), tracker.get("by-operator")
    assert old is not None
    assert new is not None
    assert old.state is OrderState.CANCELED
    assert (new.state, new.filled_quantity, new.venue_order_id) == (
        OrderState.FILLED,
        5.0,
        reply.json()["id"],
    )
    assert tracker.statistics().anomalies == 0
    assert [(p.symbol, p.quantity) for p in positions] == [("AAPL", new.filled_quantity)]


async def test_notional_order_at_the_venue_decodes_with_its_notional_and_no_quantity(
    venue: LocalVenue,
) -> None:
    with trio.fail_after(GUARD_SECONDS):
        async with make_broker(venue) as broker, httpx.AsyncClient(headers=HEADERS) as operator:
            reply = await operator.post(
                f"{venue.url}/v2/orders",
                json={
                    "symbol": "AAPL",
                    "notional": "500",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": "dollars-1",
                },
            )
            assert reply.status_code == 200, reply.text
            found = await broker.get_order_by_client_id("dollars-1")

    assert found is not None
    assert (found.quantity, found.notional) == (None, 500.0)

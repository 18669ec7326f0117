"""Alpaca's order model through real sockets (#8 §4): a replace and a notional order at the venue.

pyrt's broker talks to the embedded venue on 127.0.0.1; an "operator" changes orders behind
pyrt's back over plain REST, as someone using Alpaca's dashboard would.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import trio

from pyrt.execution.actor import ExecutionActor
from pyrt.execution.orders import OrderState, OrderTracker
from pyrt.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
)
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import WallClock
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


async def test_execution_actor_when_its_order_is_replaced_at_the_venue_publishes_the_replacements_fill(
    venue: LocalVenue,
) -> None:
    bus = Bus()
    clock = WallClock()
    now = clock.now_ns()  # an approval is stale after execution.max_order_age_secs
    ctx = ActorContext(bus=bus, clock=clock, rng=random.Random(4))
    outcomes = bus.subscribe("order.", name="test")
    broker = make_broker(venue)
    execution = ExecutionActor(broker, max_slippage_bps=10_000)
    quote = venue.engine.last_quote("AAPL")
    assert quote is not None
    signal = SignalGenerated(
        signal_id="s-1",
        strategy="test",
        symbol="AAPL",
        side=Side.BUY,
        quantity=3.0,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        limit_price=round(quote[0] * 0.5, 2),  # rests
        ts_event=now,
        ts_init=now,
    )
    seen: list[Message] = []

    async def until(predicate: Callable[[Message], bool]) -> Message:
        while True:
            for msg in await outcomes.receive():
                seen.append(msg)
                if predicate(msg):
                    return msg

    with trio.fail_after(GUARD_SECONDS):
        async with broker, trio.open_nursery() as actors, httpx.AsyncClient(headers=HEADERS) as operator:
            await actors.start(execution.run, ctx)
            await bus.publish(
                RiskApproved(signal=signal, client_order_id="mine-1", ts_event=now, ts_init=now)
            )
            accepted = await until(lambda m: isinstance(m, OrderAccepted) and m.client_order_id == "mine-1")
            assert isinstance(accepted, OrderAccepted)
            reply = await operator.patch(
                f"{venue.url}/v2/orders/{accepted.venue_order_id}",
                json={"limit_price": str(round(quote[1] * 1.5, 2)), "client_order_id": "by-operator"},
            )
            assert reply.status_code == 200, reply.text
            await until(lambda m: isinstance(m, OrderFilled) and m.client_order_id == "by-operator")
            actors.cancel_scope.cancel()

    replacement = execution.tracker.get("by-operator")
    original = execution.tracker.get("mine-1")
    assert replacement is not None
    assert original is not None
    assert (original.state, original.reason) == (OrderState.CANCELED, f"replaced by {reply.json()['id']}")
    assert (replacement.state, replacement.filled_quantity) == (OrderState.FILLED, 3.0)
    assert execution.anomalies == 0
    assert [m.TOPIC for m in seen if getattr(m, "client_order_id", None) == "by-operator"] == [
        "order.submitted",
        "order.accepted",
        "order.filled",
    ]

"""The execution actor under REST faults: concurrent, bounded, never waiting on the venue in its loop.

Issue 8 §1: the actor sent orders one at a time inside its inbox loop, retrying with sleeps, so
one order's retries held up every other, its inbox filled, and approvals that had waited out a
503 burst went out seconds late. A scripted broker here plays the venue on virtual time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest
import trio
import trio.testing

from pyrt.errors import RateLimited, TransportError, VenueError, VenueUnavailable
from pyrt.execution.actor import ExecutionActor
from pyrt.messages import (
    ControlCommand,
    Message,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
    TradingStateChanged,
)
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus, Policy
from pyrt.runtime.clock import VirtualClock
from pyrt.venues import Emit, VenueOrder

START_NS = 1_767_312_000 * 1_000_000_000
NS = 1_000_000_000

Reply = VenueError | Callable[[], None] | None  # an error to raise, a hook to await, or success


class ScriptedBroker:
    """A venue whose submit replies are scripted per client order id; everything else succeeds."""

    def __init__(self, clock: VirtualClock, script: dict[str, list[Reply]] | None = None) -> None:
        self.clock = clock
        self.script = script or {}
        self.orders: dict[str, VenueOrder] = {}
        self.submits: list[tuple[float, str]] = []
        self.lookups: list[tuple[float, str]] = []
        self.cancels: list[tuple[float, str]] = []
        self.hang = trio.Event()  # a submit scripted as "hang" waits for this
        self.emit: Emit | None = None

    async def submit_order(self, order: OrderSubmitted) -> VenueOrder:
        self.submits.append((trio.current_time(), order.client_order_id))
        replies = self.script.get(order.client_order_id, [])
        reply = replies.pop(0) if replies else None
        placed = reply == "placed-then-lost"
        if reply == "hang":
            await self.hang.wait()
        elif isinstance(reply, VenueError):
            raise reply
        if order.client_order_id in self.orders and not placed:
            from pyrt.errors import VenueRejected

            raise VenueRejected("client_order_id must be unique", status_code=422)
        venue_order = VenueOrder(
            venue_order_id=f"v-{order.client_order_id}",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            filled_quantity=0.0,
            filled_avg_price=None,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            status="new",
        )
        self.orders[order.client_order_id] = venue_order
        if placed:
            raise TransportError("reply lost after the venue placed the order")
        await trio.lowlevel.checkpoint()
        return venue_order

    async def cancel_order(self, venue_order_id: str) -> None:
        self.cancels.append((trio.current_time(), venue_order_id))
        await trio.lowlevel.checkpoint()

    async def get_order_by_client_id(self, client_order_id: str) -> VenueOrder | None:
        self.lookups.append((trio.current_time(), client_order_id))
        await trio.lowlevel.checkpoint()
        return self.orders.get(client_order_id)

    async def list_open_orders(self) -> list[VenueOrder]:
        raise NotImplementedError

    async def list_positions(self) -> list[object]:
        raise NotImplementedError

    async def get_account(self) -> object:
        raise NotImplementedError

    async def run_updates(
        self, emit: Emit, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.emit = emit
        task_status.started()
        await trio.sleep_forever()


def approval(n: int, *, age: float = 0.0, symbol: str = "AAPL", now_ns: int = START_NS) -> RiskApproved:
    ts = now_ns - round(age * NS)
    signal = SignalGenerated(
        signal_id=f"s{n}",
        strategy="test",
        symbol=symbol,
        side=Side.BUY,
        quantity=1.0,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        reference_price=100.0,
        ts_event=ts,
        ts_init=ts,
    )
    return RiskApproved(signal=signal, client_order_id=f"c{n}", ts_event=ts, ts_init=ts)


class Harness:
    def __init__(self, broker: ScriptedBroker, bus: Bus, out: list[tuple[float, Message]]) -> None:
        self.broker, self.bus, self.out = broker, bus, out

    def published(self, kind: type[Message]) -> list[tuple[float, Message]]:
        return [(t, m) for t, m in self.out if isinstance(m, kind)]


async def run_actor(
    script: dict[str, list[Reply]],
    feed: Callable[[Harness], object],
    *,
    run_for: float = 60.0,
    **options: object,
) -> Harness:
    clock = VirtualClock(START_NS)
    bus = Bus()
    ctx = ActorContext(bus=bus, clock=clock, rng=random.Random(1))
    broker = ScriptedBroker(clock, script)
    out: list[tuple[float, Message]] = []
    harness = Harness(broker, bus, out)
    watch = bus.subscribe("order.", "control.", name="watch", policy=Policy.FEEDBACK)
    actor = ExecutionActor(broker, **options)  # type: ignore[arg-type]  # scripted options per test

    async def record() -> None:
        async for batch in watch:
            out.extend((trio.current_time(), m) for m in batch)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(record)
        await nursery.start(actor.run, ctx)
        await feed(harness)  # type: ignore[misc]  # the feed coroutine
        await trio.sleep(run_for)  # virtual
        nursery.cancel_scope.cancel()
    return harness


async def publish_all(bus: Bus, msgs: Sequence[Message]) -> None:
    await bus.publish_batch(list(msgs))


async def test_one_orders_retries_never_hold_up_the_next(autojump_clock: trio.testing.MockClock) -> None:
    script: dict[str, list[Reply]] = {"c1": [VenueUnavailable("503", status_code=503)] * 2}

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(1), approval(2)])

    h = await run_actor(script, feed, max_order_age_secs=30.0)

    accepted = {m.client_order_id: t for t, m in h.published(OrderAccepted)}  # type: ignore[attr-defined]
    assert set(accepted) == {"c1", "c2"}
    assert accepted["c2"] == 0.0  # at once, not behind c1's backoff
    assert accepted["c1"] == 3.0  # 1 s, then 2 s of backoff (and a lookup before each resend)
    assert [cid for _, cid in h.broker.lookups] == ["c1", "c1"]


async def test_a_hung_submit_never_stops_the_inbox_loop_nor_a_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script: dict[str, list[Reply]] = {"c1": ["hang"]}  # type: ignore[list-item]  # scripted hang

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(2)])
        await trio.testing.wait_all_tasks_blocked()
        await publish_all(h.bus, [approval(1)])  # this one hangs at the venue
        await trio.testing.wait_all_tasks_blocked()
        await publish_all(h.bus, [approval(3)])
        await trio.testing.wait_all_tasks_blocked()
        halt = TradingStateChanged(
            state="halted",
            previous="active",
            reason="operator",
            cancel_open_orders=True,
            ts_event=START_NS,
            ts_init=START_NS,
        )
        await publish_all(h.bus, [halt])

    h = await run_actor(script, feed, run_for=1.0, max_order_age_secs=30.0)

    assert {m.client_order_id for _, m in h.published(OrderAccepted)} == {"c2", "c3"}  # type: ignore[attr-defined]
    assert sorted(v for _, v in h.broker.cancels) == ["v-c2", "v-c3"]
    assert all(t == 0.0 for t, _ in h.broker.cancels)


async def test_an_approval_that_waited_past_max_order_age_is_rejected_stale_not_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(1, age=6.0), approval(2, age=1.0)])

    h = await run_actor({}, feed, max_order_age_secs=5.0)

    rejected = [m for _, m in h.published(OrderRejected)]
    assert [(m.client_order_id, m.reason.split(":")[0]) for m in rejected] == [("c1", "stale")]  # type: ignore[attr-defined]
    assert [cid for _, cid in h.broker.submits] == ["c2"]


async def test_a_burst_of_503_makes_waiting_approvals_stale_instead_of_sending_them_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # every order meets 503s for 10 s; with a 5 s age limit none may go out after its deadline
    script: dict[str, list[Reply]] = {
        f"c{n}": [VenueUnavailable("503", status_code=503)] * 10 for n in range(20)
    }

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(n) for n in range(20)])

    h = await run_actor(script, feed, max_order_age_secs=5.0, max_in_flight=4)

    late = [(t, cid) for t, cid in h.broker.submits if t > 5.0]
    assert late == []
    rejected = {m.client_order_id: m.reason for _, m in h.published(OrderRejected)}  # type: ignore[attr-defined]
    assert set(rejected) == {f"c{n}" for n in range(20)}
    assert all(reason.startswith("stale") for reason in rejected.values())
    # the ones that reached the venue were looked up before being called rejected
    sent = {cid for _, cid in h.broker.submits}
    assert sent <= {cid for _, cid in h.broker.lookups}


async def test_a_reply_lost_after_the_venue_placed_the_order_is_found_not_rejected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script: dict[str, list[Reply]] = {"c1": ["placed-then-lost"]}  # type: ignore[list-item]  # scripted

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(1)])

    h = await run_actor(script, feed, max_order_age_secs=0.5)  # the retry would be stale

    assert [m.client_order_id for _, m in h.published(OrderAccepted)] == ["c1"]  # type: ignore[attr-defined]
    assert h.published(OrderRejected) == []
    assert [cid for _, cid in h.broker.submits] == ["c1"]  # never sent twice


async def test_a_rate_limited_submit_waits_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    script: dict[str, list[Reply]] = {"c1": [RateLimited("429", retry_after=2.0)]}

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(1)])

    h = await run_actor(script, feed, max_order_age_secs=5.0)

    assert [t for t, _ in h.broker.submits] == [0.0, 2.0]
    assert h.broker.lookups == []  # a 429 placed nothing: no lookup needed


async def test_a_contradicting_execution_id_halts_trading(autojump_clock: trio.testing.MockClock) -> None:
    def fill(execution_id: str, price: float) -> OrderFilled:
        return OrderFilled(
            client_order_id="c1",
            venue_order_id="v-c1",
            execution_id=execution_id,
            symbol="AAPL",
            side=Side.BUY,
            fill_price=price,
            fill_quantity=0.5,
            cumulative_quantity=0.5,
            leaves_quantity=0.5,
            ts_event=START_NS,
            ts_init=START_NS,
        )

    async def feed(h: Harness) -> None:
        await publish_all(h.bus, [approval(1)])
        await trio.testing.wait_all_tasks_blocked()
        assert h.broker.emit is not None
        await h.broker.emit([fill("e1", 100.0)])
        await h.broker.emit([fill("e1", 100.0)])  # a redelivery: dropped quietly
        await h.broker.emit([fill("e1", 101.0)])  # the same id, another price: an alarm

    h = await run_actor({}, feed, run_for=1.0, max_order_age_secs=5.0)

    assert len(h.published(OrderFilled)) == 1
    halts = [m for _, m in h.published(ControlCommand)]
    assert [(m.command, m.source) for m in halts] == [("halt", "execution")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [1, 3])
async def test_in_flight_submissions_never_exceed_the_limit(
    autojump_clock: trio.testing.MockClock, limit: int
) -> None:
    script: dict[str, list[Reply]] = {f"c{n}": [TransportError("timeout")] for n in range(6)}
    in_flight = 0
    peak = 0

    async def feed(h: Harness) -> None:
        original = h.broker.submit_order

        async def counting(order: OrderSubmitted) -> VenueOrder:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await trio.sleep(0.1)  # virtual: a slow venue
                return await original(order)
            finally:
                in_flight -= 1

        h.broker.submit_order = counting  # type: ignore[method-assign]  # instrumented
        await publish_all(h.bus, [approval(n) for n in range(6)])

    h = await run_actor(script, feed, max_order_age_secs=30.0, max_in_flight=limit)

    assert peak == limit
    assert {m.client_order_id for _, m in h.published(OrderAccepted)} == {f"c{n}" for n in range(6)}  # type: ignore[attr-defined]

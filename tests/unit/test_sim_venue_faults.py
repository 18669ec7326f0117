"""SimVenue injects the fault model's kinds it can produce, from a seeded schedule, on virtual time."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from pyrt.errors import RateLimited, TransportError, VenueRejected
from pyrt.faults import FaultEvent, FaultProfile, FaultSchedule
from pyrt.messages import (
    Message,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
    TradeReceived,
)
from pyrt.runtime.clock import VirtualClock
from pyrt.venues.sim import SimVenue

T0 = 1_700_000_000_000_000_000
NS = 1_000_000_000
PRICES = {"AAPL": 100.0}


def make_venue(*events: FaultEvent, seed: int = 1) -> SimVenue:
    return SimVenue(
        ["AAPL"],
        clock=VirtualClock(T0),
        rng=random.Random(seed),
        start_prices=PRICES,
        schedule=FaultSchedule(events=events),
    )


def order(cid: str = "c-1", quantity: float = 10.0) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=cid,
        symbol="AAPL",
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        ts_event=T0,
        ts_init=T0,
    )


async def feed_for(venue: SimVenue, seconds: float) -> list[Sequence[Message]]:
    batches: list[Sequence[Message]] = []

    async def emit(batch: Sequence[Message]) -> None:
        batches.append(batch)

    with trio.move_on_after(seconds):
        await venue.run(["AAPL"], emit)
    return batches


async def test_md_disconnect_ends_the_feed_at_its_time(autojump_clock):
    venue = make_venue(FaultEvent(at=2.0, kind="md_disconnect"))
    start = trio.current_time()

    with pytest.raises(TransportError, match="market data connection lost"):
        await feed_for(venue, 10.0)

    assert trio.current_time() - start == pytest.approx(2.0, abs=0.11)
    assert venue.statistics().faults_by_kind == {"md_disconnect": 1}
    assert len(await feed_for(venue, 1.0)) == 10  # the next connection runs


async def test_md_stall_sends_nothing_for_its_seconds(autojump_clock):
    venue = make_venue(FaultEvent(at=1.0, kind="md_stall", seconds=3.0))

    batches = await feed_for(venue, 6.0)

    times = sorted({(m.ts_event - T0) / NS for b in batches for m in b})
    assert not [t for t in times if 1.0 <= t < 4.0]
    assert times[-1] > 5.0
    assert venue.statistics().faults_by_kind == {"md_stall": 1}


async def test_auth_failure_on_the_next_connect(autojump_clock):
    venue = make_venue(FaultEvent(at=0.0, kind="auth_failure", count=1))

    with pytest.raises(VenueRejected, match="authentication failed") as info:
        await feed_for(venue, 5.0)

    assert info.value.status_code == 401
    assert len(await feed_for(venue, 1.0)) == 10


@pytest.mark.parametrize(
    ("variant", "bad"),
    [
        ("overflow_price", lambda m: isinstance(m, TradeReceived) and m.price == 1e308),
        ("crossed_quote", lambda m: isinstance(m, QuoteReceived) and m.bid_price > m.ask_price),
        ("one_sided_quote", lambda m: isinstance(m, QuoteReceived) and m.bid_price == 0.0),
        ("timestamp_past", lambda m: m.ts_event < T0 - 365 * 86_400 * NS),
        ("timestamp_future", lambda m: m.ts_event > T0 + 365 * 86_400 * NS),
    ],
)
async def test_bad_data_reaches_the_feed(autojump_clock, variant, bad):
    venue = make_venue(FaultEvent(at=1.0, kind="bad_data", count=2, params={"variant": variant}))

    items = [m for b in await feed_for(venue, 3.0) for m in b]

    assert sum(1 for m in items if bad(m)) == 2
    assert venue.statistics().faults_by_kind == {"bad_data": 2}


async def test_duplicate_trade_ids_repeat_a_trade(autojump_clock):
    venue = make_venue(FaultEvent(at=5.0, kind="bad_data", count=1, params={"variant": "duplicate_trade_id"}))

    trades = [m for b in await feed_for(venue, 6.0) for m in b if isinstance(m, TradeReceived)]

    assert len({(t.trade_id, t.ts_event) for t in trades}) == len(trades) - 1


async def test_partial_fill_episode_lets_only_part_of_the_size_be_taken(autojump_clock):
    venue = make_venue(FaultEvent(at=0.0, kind="partial_fill", seconds=60.0, params={"liquidity": 0.01}))
    updates: list[Message] = []

    async def collect(batch: Sequence[Message]) -> None:
        updates.extend(batch)

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, collect)
        nursery.start_soon(feed_for, venue, 5.0)
        await trio.sleep(0.05)
        await venue.submit_order(order(quantity=50))
        await trio.sleep(5.0)
        nursery.cancel_scope.cancel()

    fills = [u for u in updates if isinstance(u, OrderFilled)]
    assert len(fills) > 1
    assert sum(f.fill_quantity for f in fills) <= 50
    assert venue.statistics().faults_by_kind == {"partial_fill": 1}


async def test_updates_are_duplicated_in_an_episode(autojump_clock):
    venue = make_venue(FaultEvent(at=0.0, kind="update_duplicate", seconds=10.0))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)
    updates: list[Message] = []

    async def collect(batch: Sequence[Message]) -> None:
        updates.extend(batch)

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, collect)
        await venue.submit_order(order())
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert [type(u).__name__ for u in updates] == ["OrderAccepted", "OrderFilled"] * 2


async def test_updates_are_reordered_in_an_episode(autojump_clock):
    venue = make_venue(FaultEvent(at=0.0, kind="update_reorder", seconds=10.0))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)
    updates: list[str] = []

    async def collect(batch: Sequence[Message]) -> None:
        updates.extend(u.client_order_id for u in batch if isinstance(u, OrderFilled))

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, collect)
        await venue.submit_order(order("first"))
        await venue.submit_order(order("second"))
        await trio.sleep(2.0)
        nursery.cancel_scope.cancel()

    assert updates == ["second", "first"]


async def test_a_scheduled_429_storm_hits_every_request_in_its_window(autojump_clock):
    venue = make_venue(FaultEvent(at=0.0, kind="rate_limit_storm", seconds=5.0, params={"retry_after": 2.0}))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    for cid in ("a", "b"):
        with pytest.raises(RateLimited) as info:
            await venue.submit_order(order(cid))
        assert info.value.retry_after == 2.0
    await trio.sleep(5.0)

    assert (await venue.submit_order(order("c"))).status == "filled"
    assert venue.statistics().faults_by_kind == {"rate_limit_storm": 2}


@pytest.mark.parametrize(("new_account", "cancel"), [(False, False), (False, True), (True, False)])
async def test_venue_restart_ends_streams_and_keeps_or_drops_state(autojump_clock, new_account, cancel):
    restart = FaultEvent(
        at=1.0,
        kind="venue_restart",
        params={"downtime": 3.0, "new_account": new_account, "cancel_open_orders": cancel},
    )
    venue = make_venue(restart)
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)
    limit = attrs_limit_order()
    await venue.submit_order(order("filled"))
    await venue.submit_order(limit)
    before = (await venue.get_account()).account_id

    with pytest.raises(TransportError, match="venue restarted"):
        await feed_for(venue, 10.0)
    with pytest.raises(TransportError, match="restarting"):
        await venue.list_open_orders()
    await trio.sleep(3.0)

    after = await venue.get_account()
    open_orders = [o.client_order_id for o in await venue.list_open_orders()]
    positions = await venue.list_positions()
    assert (after.account_id != before) == new_account
    assert open_orders == ([] if new_account or cancel else ["resting"])
    assert (positions == []) == new_account
    assert venue.statistics().faults_by_kind == {"venue_restart": 1}


def attrs_limit_order() -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id="resting",
        symbol="AAPL",
        side=Side.BUY,
        quantity=1.0,
        order_type=OrderType.LIMIT,
        limit_price=50.0,
        time_in_force=TimeInForce.GTC,
        ts_event=T0,
        ts_init=T0,
    )


def test_same_schedule_same_faults():
    schedule = FaultProfile.named("harsh").schedule(random.Random(5), 60.0)

    async def run() -> list[object]:
        venue = SimVenue(
            ["AAPL"], clock=VirtualClock(T0), rng=random.Random(3), start_prices=PRICES, schedule=schedule
        )
        out: list[object] = []
        for _ in range(3):
            try:
                out.extend(m for b in await feed_for(venue, 20.0) for m in b)
            except (TransportError, VenueRejected) as exc:
                out.append(str(exc))
        out.append(venue.statistics().faults_by_kind)
        return out

    def once() -> list[object]:
        return trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))

    first = once()
    assert first == once()
    assert len(first) > 100

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from pyrt.errors import ConfigError, RateLimited, TransportError, VenueRejected, VenueUnavailable
from pyrt.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
    TradeReceived,
    encode,
)
from pyrt.runtime.clock import VirtualClock
from pyrt.venues import Broker, MarketDataFeed
from pyrt.venues.sim import SimFaults, SimVenue

T0 = 1_700_000_000_000_000_000
NS = 1_000_000_000
SYMBOLS = ["AAPL", "BTC/USD"]
PRICES = {"AAPL": 100.0, "BTC/USD": 60_000.0}


def make_venue(seed: int = 1, *, faults: SimFaults | None = None, **kwargs: object) -> SimVenue:
    return SimVenue(
        SYMBOLS,
        clock=VirtualClock(T0),
        rng=random.Random(seed),
        faults=faults,
        start_prices=PRICES,
        **kwargs,  # type: ignore[arg-type]
    )


def make_order(
    client_order_id: str = "c-1",
    *,
    quantity: float = 10.0,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
    time_in_force: TimeInForce = TimeInForce.DAY,
    symbol: str = "AAPL",
) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=order_type,
        time_in_force=time_in_force,
        limit_price=limit_price,
        ts_event=T0,
        ts_init=T0,
    )


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Sequence[Message]] = []
        self.times: list[float] = []

    async def __call__(self, batch: Sequence[Message]) -> None:
        self.batches.append(batch)
        self.times.append(trio.current_time())

    @property
    def messages(self) -> list[Message]:
        return [message for batch in self.batches for message in batch]


async def collect_ticks(venue: SimVenue, symbols: Sequence[str], count: int) -> Recorder:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:

        async def emit(batch: Sequence[Message]) -> None:
            await recorder(batch)
            if len(recorder.batches) == count:
                nursery.cancel_scope.cancel()

        nursery.start_soon(venue.run, symbols, emit)
    return recorder


def test_sim_venue_implements_both_venue_protocols():
    venue = make_venue()

    feed: MarketDataFeed = venue
    broker: Broker = venue

    assert feed is broker


async def test_run_emits_one_batch_per_tick_interval(autojump_clock):
    venue = make_venue(tick_interval=0.25)
    start = trio.current_time()

    recorder = await collect_ticks(venue, SYMBOLS, 4)

    assert [time - start for time in recorder.times] == [0.0, 0.25, 0.5, 0.75]
    for index, batch in enumerate(recorder.batches):
        quotes = [message for message in batch if isinstance(message, QuoteReceived)]
        assert [quote.symbol for quote in quotes] == SYMBOLS
        assert {message.ts_event for message in batch} == {T0 + index * NS // 4}
    assert venue.statistics().ticks == 4


async def test_run_emits_only_requested_symbols_but_engine_sees_all(autojump_clock):
    venue = make_venue()

    recorder = await collect_ticks(venue, ["BTC/USD"], 3)

    assert {message.symbol for message in recorder.messages} == {"BTC/USD"}
    assert venue.engine.last_quote("AAPL") is not None


async def test_run_with_unsimulated_symbol_raises_config_error():
    venue = make_venue()

    with pytest.raises(ConfigError, match=r"'MSFT' is not simulated"):
        await venue.run(["AAPL", "MSFT"], Recorder())


async def test_second_concurrent_run_is_refused(autojump_clock):
    venue = make_venue()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run, SYMBOLS, Recorder())
        with pytest.raises(trio.BusyResourceError):
            await venue.run(SYMBOLS, Recorder())
        nursery.cancel_scope.cancel()


async def test_market_order_emits_accepted_then_filled(autojump_clock):
    venue = make_venue()
    updates = Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        await nursery.start(venue.run, SYMBOLS, Recorder())
        await trio.testing.wait_all_tasks_blocked()
        quote = venue.engine.last_quote("AAPL")
        reply = await venue.submit_order(make_order(quantity=10))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert quote is not None
    assert (reply.status, reply.filled_quantity, reply.filled_avg_price) == ("filled", 10.0, quote[1])
    assert reply.client_order_id == "c-1"
    accepted, filled = updates.messages
    assert isinstance(accepted, OrderAccepted)
    assert accepted.venue_order_id == reply.venue_order_id
    assert isinstance(filled, OrderFilled)
    assert (filled.fill_price, filled.fill_quantity, filled.cumulative_quantity, filled.leaves_quantity) == (
        quote[1],
        10.0,
        10.0,
        0.0,
    )
    assert filled.side is Side.BUY
    assert filled.is_final
    assert (await venue.list_positions())[0].quantity == 10.0


async def test_large_order_fills_over_later_ticks_with_cumulative_and_leaves(autojump_clock):
    venue = make_venue(starting_cash=1_000_000.0)
    updates = Recorder()
    done = trio.Event()

    async def on_updates(batch: Sequence[Message]) -> None:
        await updates(batch)
        if any(isinstance(message, OrderFilled) and message.is_final for message in batch):
            done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, on_updates)
        await nursery.start(venue.run, SYMBOLS, Recorder())
        await trio.testing.wait_all_tasks_blocked()
        reply = await venue.submit_order(make_order(quantity=5_000, time_in_force=TimeInForce.GTC))
        with trio.fail_after(60):  # virtual seconds: the market steps until the order is done
            await done.wait()
        nursery.cancel_scope.cancel()

    fills = [message for message in updates.messages if isinstance(message, OrderFilled)]
    assert reply.status == "partially_filled"
    assert len(fills) > 1
    assert [fill.cumulative_quantity for fill in fills] == pytest.approx(
        [sum(fill.fill_quantity for fill in fills[: index + 1]) for index in range(len(fills))]
    )
    assert [fill.leaves_quantity for fill in fills] == pytest.approx(
        [5_000 - fill.cumulative_quantity for fill in fills]
    )
    assert fills[-1].leaves_quantity == 0.0
    assert len({fill.execution_id for fill in fills}) == len(fills)


async def test_fee_per_share_reaches_order_filled(autojump_clock):
    venue = make_venue(fee_per_share=0.01)
    updates = Recorder()

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)
        await venue.submit_order(make_order(quantity=10))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    filled = updates.messages[-1]
    assert isinstance(filled, OrderFilled)
    assert filled.fee == pytest.approx(0.1)


async def test_engine_rejection_becomes_venue_rejected_with_status_and_code():
    venue = make_venue(starting_cash=1_000.0)
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)
    await venue.submit_order(make_order("dup", quantity=1))

    with pytest.raises(VenueRejected, match=r"^client_order_id must be unique$") as duplicate:
        await venue.submit_order(make_order("dup", quantity=1))
    with pytest.raises(VenueRejected, match=r"^insufficient buying power$") as buying_power:
        await venue.submit_order(make_order("big", quantity=100))

    assert (duplicate.value.status_code, duplicate.value.code) == (422, 40010001)
    assert (buying_power.value.status_code, buying_power.value.code) == (403, 40310000)
    assert await venue.get_order_by_client_id("big") is None


async def test_cancel_order_emits_canceled_and_unknown_is_404():
    venue = make_venue()
    updates = Recorder()
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        reply = await venue.submit_order(make_order(order_type=OrderType.LIMIT, limit_price=95.0))
        open_orders = await venue.list_open_orders()
        await venue.cancel_order(reply.venue_order_id)
        with pytest.raises(VenueRejected) as unknown:
            await venue.cancel_order("nope")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert [order.venue_order_id for order in open_orders] == [reply.venue_order_id]
    assert await venue.list_open_orders() == []
    canceled = updates.messages[-1]
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.venue_order_id, canceled.reason, canceled.filled_quantity) == (
        reply.venue_order_id,
        "canceled",
        0.0,
    )
    assert unknown.value.status_code == 404


async def test_end_of_day_expires_day_orders_as_order_canceled():
    venue = make_venue()
    updates = Recorder()
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    async with trio.open_nursery() as nursery:
        await nursery.start(venue.run_updates, updates)
        await venue.submit_order(make_order("day", order_type=OrderType.LIMIT, limit_price=95.0))
        await venue.submit_order(
            make_order("gtc", order_type=OrderType.LIMIT, limit_price=95.0, time_in_force=TimeInForce.GTC)
        )
        await venue.end_of_day()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    expired = updates.messages[-1]
    assert isinstance(expired, OrderCanceled)
    assert (expired.client_order_id, expired.reason) == ("day", "expired")
    assert [order.client_order_id for order in await venue.list_open_orders()] == ["gtc"]


async def test_updates_without_listener_are_discarded_and_counted():
    venue = make_venue()
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    await venue.submit_order(make_order(quantity=1))

    stats = venue.statistics()
    assert (stats.updates_discarded, stats.updates_sent) == (2, 0)


async def test_account_and_positions_follow_fills():
    venue = make_venue(starting_cash=10_000.0)
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    await venue.submit_order(make_order(quantity=10))
    account = await venue.get_account()
    positions = await venue.list_positions()

    assert account.cash == pytest.approx(10_000.0 - 1000.2)
    assert account.equity == pytest.approx(account.cash + 10 * 100.01)
    assert [(position.symbol, position.quantity, position.avg_entry_price) for position in positions] == [
        ("AAPL", 10.0, 100.02)
    ]


# ------------------------------------------------------------------ faults


async def test_unavailable_fault_raises_503_and_engine_never_sees_order():
    venue = make_venue(faults=SimFaults(submit_unavailable=1.0))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    with pytest.raises(VenueUnavailable) as info:
        await venue.submit_order(make_order())

    assert info.value.status_code == 503
    assert await venue.get_order_by_client_id("c-1") is None
    assert venue.statistics().faults_injected == 1


async def test_rate_limited_fault_raises_429_with_retry_after():
    venue = make_venue(faults=SimFaults(submit_rate_limited=1.0, retry_after=2.5))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    with pytest.raises(RateLimited) as info:
        await venue.submit_order(make_order())

    assert info.value.retry_after == 2.5
    assert await venue.get_order_by_client_id("c-1") is None


async def test_timeout_fault_raises_transport_error_but_order_is_findable_by_client_id():
    venue = make_venue(faults=SimFaults(submit_timeout=1.0))
    venue.engine.on_quote("AAPL", 100.0, 500, 100.02, 500, now_ns=T0)

    with pytest.raises(TransportError):
        await venue.submit_order(make_order("lost-reply", quantity=3))
    found = await venue.get_order_by_client_id("lost-reply")
    with pytest.raises(VenueRejected, match=r"^client_order_id must be unique$"):
        await venue.submit_order(make_order("lost-reply", quantity=3))

    assert found is not None
    assert (found.status, found.filled_quantity) == ("filled", 3.0)


async def test_faults_are_drawn_at_their_rates_and_reproducibly():
    faults = SimFaults(submit_unavailable=0.2, submit_rate_limited=0.2, submit_timeout=0.2)

    async def outcomes(seed: int) -> list[str]:
        venue = make_venue(seed, faults=faults)
        venue.engine.on_quote("AAPL", 100.0, 1e9, 100.02, 1e9, now_ns=T0)
        out = []
        for index in range(400):
            try:
                await venue.submit_order(make_order(f"c-{index}", quantity=1, side=Side.SELL))
                out.append("ok")
            except (VenueUnavailable, RateLimited, TransportError) as exc:
                out.append(type(exc).__name__)
        return out

    first = await outcomes(5)

    assert first == await outcomes(5)
    assert first != await outcomes(6)
    for name in ("ok", "VenueUnavailable", "RateLimited", "TransportError"):
        assert 40 < first.count(name) < 200, name


async def test_drop_tick_fault_drops_from_the_feed_but_not_from_the_engine(autojump_clock):
    venue = make_venue(faults=SimFaults(drop_tick=0.5))

    recorder = await collect_ticks(venue, SYMBOLS, 20)

    stats = venue.statistics()
    emitted = len(recorder.messages)
    assert stats.market_messages_emitted == emitted
    assert stats.market_messages_dropped > 0
    assert all(len(batch) > 0 for batch in recorder.batches)
    assert stats.ticks > 20  # some ticks lost every message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drop_tick": 1.5}, r"^drop_tick must be a probability in \[0, 1\], was 1.5$"),
        (
            {"submit_unavailable": 0.6, "submit_timeout": 0.6},
            r"^submit fault probabilities must add up to <= 1",
        ),
        ({"retry_after": -1.0}, r"^retry_after must be a finite number >= 0"),
    ],
)
def test_invalid_faults_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimFaults(**kwargs)


# ------------------------------------------------------------------ determinism


async def test_same_seed_same_market_and_trading_does_not_change_the_market(autojump_clock):
    quiet = await collect_ticks(make_venue(3), SYMBOLS, 30)
    again = await collect_ticks(make_venue(3), SYMBOLS, 30)
    other = await collect_ticks(make_venue(4), SYMBOLS, 30)

    busy_venue = make_venue(3)
    busy = Recorder()
    async with trio.open_nursery() as nursery:

        async def emit(batch: Sequence[Message]) -> None:
            await busy(batch)
            await busy_venue.submit_order(make_order(f"c-{len(busy.batches)}", quantity=1))
            if len(busy.batches) == 30:
                nursery.cancel_scope.cancel()

        nursery.start_soon(busy_venue.run, SYMBOLS, emit)

    def encoded(recorder: Recorder) -> list[bytes]:
        return [encode(message) for message in recorder.messages]

    assert encoded(quiet) == encoded(again)
    assert encoded(quiet) != encoded(other)
    assert encoded(busy) == encoded(quiet)
    assert busy_venue.engine.statistics().orders_submitted == 30
    assert any(isinstance(message, TradeReceived) for message in quiet.messages)

from __future__ import annotations

import pytest
import trio
import trio.testing

from pyrt.messages import OrderFilled, QuoteReceived, Side, TradeReceived
from pyrt.runtime.bus import FEEDBACK_WARN_DEPTH, Bus, Policy


def trade(i: int, symbol: str = "AAPL") -> TradeReceived:
    return TradeReceived(symbol=symbol, price=100.0 + i, size=1.0, ts_event=i, ts_init=i)


def quote(i: int, symbol: str = "AAPL") -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol,
        bid_price=100.0 + i,
        bid_size=1.0,
        ask_price=100.5 + i,
        ask_size=1.0,
        ts_event=i,
        ts_init=i,
    )


def fill(i: int) -> OrderFilled:
    return OrderFilled(
        client_order_id=f"c{i}",
        venue_order_id=f"v{i}",
        execution_id=f"e{i}",
        symbol="AAPL",
        side=Side.BUY,
        fill_price=100.0,
        fill_quantity=1.0,
        cumulative_quantity=1.0,
        leaves_quantity=0.0,
        ts_event=i,
        ts_init=i,
    )


async def test_publish_routes_by_prefix_and_by_class() -> None:
    bus = Bus()
    market = bus.subscribe("market.", name="md")
    fills = bus.subscribe(OrderFilled, name="fills")
    everything = bus.subscribe("", name="all")

    await bus.publish(trade(1))
    await bus.publish(fill(2))

    assert market.receive_nowait() == (trade(1),)
    with pytest.raises(trio.WouldBlock):
        market.receive_nowait()
    assert fills.receive_nowait() == (fill(2),)
    assert everything.receive_nowait() == (trade(1),)
    assert everything.receive_nowait() == (fill(2),)


async def test_publish_batch_splits_mixed_topics_per_subscriber_in_order() -> None:
    bus = Bus()
    trades = bus.subscribe("market.trade", name="t")
    market = bus.subscribe("market.", name="m")
    batch = [trade(1), quote(2), trade(3), fill(4)]

    await bus.publish_batch(batch)

    assert trades.receive_nowait() == (trade(1), trade(3))
    assert market.receive_nowait() == (trade(1), quote(2), trade(3))
    assert bus.statistics().unrouted_messages == 1  # the fill: nobody subscribed to order.*


async def test_block_policy_applies_backpressure_and_loses_nothing() -> None:
    bus = Bus()
    inbox = bus.subscribe("market.", name="slow", buffer=2)
    received: list[int] = []
    n = 50

    async def producer() -> None:
        for i in range(n):
            await bus.publish(trade(i))
        bus.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        # the producer is stuck on a full channel: 2 buffered, nothing read yet
        stats = inbox.statistics()
        assert stats.depth == 2
        assert stats.blocked_count == 1
        async for batch in inbox:
            received.extend(m.ts_event for m in batch)

    assert received == list(range(n))
    stats = inbox.statistics()
    assert stats.dropped == 0
    assert stats.delivered_messages == n
    assert stats.peak_depth == 2


async def test_conflate_keeps_latest_per_symbol_and_counts_drops() -> None:
    bus = Bus()
    inbox = bus.subscribe(QuoteReceived, name="marks", policy=Policy.CONFLATE)

    for i in range(5):
        await bus.publish(quote(i, "AAPL"))
    await bus.publish(quote(10, "MSFT"))
    await bus.publish(quote(11, "AAPL"))

    assert inbox.receive_nowait() == (quote(11, "AAPL"), quote(10, "MSFT"))
    assert inbox.statistics().dropped == 5
    with pytest.raises(trio.WouldBlock):
        inbox.receive_nowait()


async def test_conflate_publisher_never_waits_on_slow_reader() -> None:
    bus = Bus()
    inbox = bus.subscribe("market.quote", name="marks", policy=Policy.CONFLATE)

    with trio.fail_after(5):  # virtual guard: no reader at all, publish must still return
        for i in range(1000):
            await bus.publish(quote(i))

    assert inbox.receive_nowait() == (quote(999),)
    assert inbox.statistics().dropped == 999


async def test_feedback_never_blocks_publisher_and_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    inbox = bus.subscribe(OrderFilled, name="risk.feedback", policy=Policy.FEEDBACK)
    n = FEEDBACK_WARN_DEPTH * 2 + 5

    with trio.fail_after(5):  # virtual guard: no reader at all, publish must still return
        for i in range(n):
            await bus.publish(fill(i))

    stats = inbox.statistics()
    assert (stats.depth, stats.peak_depth, stats.blocked_count, stats.dropped) == (n, n, 0, 0)
    assert stats.max_buffer_size == 0
    # the depth is watched: one warning per doubling past the threshold, not one per message
    warnings = [r for r in caplog.records if "falling behind" in r.getMessage()]
    assert [int(r.getMessage().split()[1]) for r in warnings] == [
        FEEDBACK_WARN_DEPTH,
        FEEDBACK_WARN_DEPTH * 2,
    ]
    bus.close()
    got = [m.client_order_id async for batch in inbox for m in batch]  # type: ignore[union-attr]
    assert got == [f"c{i}" for i in range(n)]


async def test_feedback_breaks_a_cycle_that_deadlocks_with_block(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two actors feeding each other: with both edges ``block`` they freeze; a feedback edge cannot."""

    async def run(back: Policy) -> int:
        bus = Bus()
        forward = bus.subscribe(TradeReceived, name="downstream", buffer=1)
        backward = bus.subscribe(OrderFilled, name="upstream", policy=back, buffer=1)
        done = 0

        async def upstream() -> None:
            nonlocal done
            for i in range(20):
                await bus.publish(trade(i))  # forward, blocks when downstream is behind
                try:
                    backward.receive_nowait()  # reads feedback only between sends
                    done += 1
                except trio.WouldBlock:
                    pass

        async def downstream() -> None:
            async for batch in forward:
                for msg in batch:
                    await bus.publish(fill(msg.ts_event))  # feedback to upstream
                    await bus.publish(fill(msg.ts_event))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(downstream)
            with trio.move_on_after(10) as scope:  # virtual: autojump ends a deadlock here
                await upstream()
            nursery.cancel_scope.cancel()
        return 0 if scope.cancelled_caught else 1

    assert await run(Policy.BLOCK) == 0  # the freeze of issue 8 §1, in miniature
    assert await run(Policy.FEEDBACK) == 1


async def test_conflate_reader_wakes_on_publish_and_ends_on_close() -> None:
    bus = Bus()
    inbox = bus.subscribe("market.", name="m", policy=Policy.CONFLATE)
    got: list[tuple[object, ...]] = []

    async def reader() -> None:
        async for batch in inbox:
            got.append(batch)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        await bus.publish(quote(1))
        await trio.testing.wait_all_tasks_blocked()
        bus.close()

    assert got == [(quote(1),)]


async def test_closed_subscription_is_unrouted() -> None:
    bus = Bus()
    with bus.subscribe("market.", name="m") as inbox:
        await bus.publish(trade(1))
    await bus.publish(trade(2))

    assert inbox.statistics().delivered_messages == 1
    assert bus.statistics().unrouted_messages == 1
    assert bus.statistics().subscriptions == ()


def test_subscribe_rejects_bad_arguments() -> None:
    bus = Bus()
    with pytest.raises(ValueError, match="at least one topic"):
        bus.subscribe(name="x")
    with pytest.raises(TypeError, match="topic prefixes or message classes"):
        bus.subscribe(42, name="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer must be >= 0"):
        bus.subscribe("market.", name="x", buffer=-1)


async def test_publisher_blocked_on_an_inbox_that_closes_is_released_not_crashed() -> None:
    """A subscriber that stops (an actor restarting) while its publisher waits on its full inbox."""
    bus = Bus()
    inbox = bus.subscribe("market.", name="restarting", buffer=1)
    other = bus.subscribe("market.", name="other", buffer=8)
    published = 0

    async def producer() -> None:
        nonlocal published
        for i in range(3):
            await bus.publish(trade(i))
            published += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.statistics().blocked_count == 1  # waiting on the full inbox
        inbox.close()

    assert published == 3  # released; the closed inbox is unrouted and the rest still flows
    assert [
        m.ts_event
        for b in (other.receive_nowait(), other.receive_nowait(), other.receive_nowait())
        for m in b
    ] == [0, 1, 2]


async def test_statistics_show_inbox_age_and_how_long_a_publisher_is_blocked_now(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = Bus()
    inbox = bus.subscribe("market.", name="slow", buffer=1)
    start = trio.current_time()

    async with trio.open_nursery() as nursery:
        await bus.publish(trade(0))  # fills the inbox
        await trio.sleep(2.0)  # virtual
        nursery.start_soon(bus.publish, trade(1))  # waits on the full inbox
        await trio.sleep(3.0)  # virtual
        stats = inbox.statistics()
        stalled = bus.stalled(2.5)
        assert stats.inbox_age_seconds == trio.current_time() - start == 5.0
        assert stats.blocked_now_seconds == 3.0
        assert stalled == ((inbox, 3.0),)
        assert bus.stalled(3.0) == ()  # over the threshold only

        inbox.receive_nowait()  # the reader takes the oldest; the blocked publisher gets in
        await trio.testing.wait_all_tasks_blocked()
        stats = inbox.statistics()
        assert stats.blocked_now_seconds == 0.0
        assert stats.blocked_seconds == 3.0
        assert stats.inbox_age_seconds == 3.0  # the second batch began to wait 3 s ago
        inbox.receive_nowait()

    stats = inbox.statistics()
    assert (stats.depth, stats.inbox_age_seconds, stats.blocked_now_seconds) == (0, 0.0, 0.0)
    assert bus.stalled(0.0) == ()


async def test_a_publisher_cancelled_while_blocked_leaves_no_age_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = Bus()
    inbox = bus.subscribe("market.", name="slow", buffer=1)
    await bus.publish(trade(0))
    with trio.move_on_after(1.0):  # virtual
        await bus.publish(trade(1))
    await trio.sleep(1.0)  # virtual

    assert inbox.statistics().blocked_now_seconds == 0.0
    inbox.receive_nowait()
    assert inbox.statistics().inbox_age_seconds == 0.0
    with pytest.raises(trio.WouldBlock):
        inbox.receive_nowait()


async def test_conflate_and_feedback_inboxes_report_their_age_and_never_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = Bus()
    quotes = bus.subscribe("market.quote", name="marks", policy=Policy.CONFLATE)
    fills = bus.subscribe("order.", name="feedback", policy=Policy.FEEDBACK)
    await bus.publish(quote(0))
    await bus.publish(fill(0))
    await trio.sleep(4.0)  # virtual
    await bus.publish(quote(1))  # replaces the first: the inbox is as old as its first unread
    await bus.publish(fill(1))

    assert quotes.statistics().inbox_age_seconds == 4.0
    assert fills.statistics().inbox_age_seconds == 4.0
    assert bus.stalled(0.0) == ()
    quotes.receive_nowait()
    fills.receive_nowait()
    assert quotes.statistics().inbox_age_seconds == 0.0
    assert fills.statistics().inbox_age_seconds == 0.0  # the second fill is from now


async def test_tap_sees_every_batch_whole_in_publish_order_until_removed() -> None:
    bus = Bus()
    seen: list[tuple[object, ...]] = []
    with bus.subscribe(TradeReceived, name="trades", buffer=4) as trades:
        with bus.tap(seen.append):
            await bus.publish_batch([trade(1), quote(1)])
            await bus.publish(fill(2))
        await bus.publish(trade(3))  # after the tap is gone

        assert seen == [(trade(1), quote(1)), (fill(2),)]
        assert trades.receive_nowait() == (trade(1),)  # subscribers still get their part
        assert trades.receive_nowait() == (trade(3),)

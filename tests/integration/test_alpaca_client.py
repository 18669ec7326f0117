"""pyrt's Alpaca client against the real local venue on 127.0.0.1 (port 0), faults included.

Most tests run on the real clock inside a ``trio.fail_after`` guard and wait on what the client
emits (never on sleeps). Tests whose point is a long wait (the execution actor's 1 s, 2 s, 4 s
backoff, the 406 long backoff) use MockClock with a 10 ms autojump threshold, so virtual time
only moves while every task, the venue included, is idle.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from pyrt.errors import RateLimited, TransportError, VenueRejected, VenueUnavailable
from pyrt.execution.actor import ExecutionActor
from pyrt.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
    TradeReceived,
)
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import VirtualClock, WallClock
from pyrt.venues.alpaca import AlpacaBroker, AlpacaFeed, open_alpaca_venue
from pyrt.venues.local import LocalVenue, VenueFaults, WsFault
from tests.integration.conftest import start_venue

GUARD_SECONDS = 15.0
KEY = "PKINTEGRATIONKEY"
SECRET = "integration-secret-do-not-log"
START_NS = 1_700_000_000 * 1_000_000_000


class Collector:
    """An ``emit`` that keeps every batch and wakes waiters on each one."""

    def __init__(self) -> None:
        self.batches: list[list[Message]] = []
        self._changed = trio.Event()

    async def emit(self, batch: Sequence[Message]) -> None:
        self.batches.append(list(batch))
        self._changed.set()
        self._changed = trio.Event()
        await trio.lowlevel.checkpoint()

    @property
    def messages(self) -> list[Message]:
        return [m for batch in self.batches for m in batch]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    def of(self, kind: type[Message], client_order_id: str) -> list[Message]:
        return [
            m
            for m in self.messages
            if isinstance(m, kind) and getattr(m, "client_order_id", None) == client_order_id
        ]


def make_feed(venue: LocalVenue, *, path: str = "/v2/iex", **options: object) -> AlpacaFeed:
    settings: dict[str, object] = {
        "key_id": KEY,
        "secret_key": SECRET,
        "clock": WallClock(),
        "rng": random.Random(7),
        "reconnect_delay_secs": 0.01,
        "max_reconnect_delay": 0.05,
        "silence_timeout": 2.0,  # the venue ticks every 10 ms: only a real stall is this quiet
        "ping_timeout": 1.0,
        "connection_limit_delay": 0.2,
    }
    settings.update(options)
    return AlpacaFeed(url=f"ws://127.0.0.1:{venue.port}{path}", **settings)  # type: ignore[arg-type]  # test options


def make_broker(venue: LocalVenue, **options: object) -> AlpacaBroker:
    settings: dict[str, object] = {
        "key_id": KEY,
        "secret_key": SECRET,
        "clock": WallClock(),
        "rng": random.Random(8),
        "retry_backoff": 0.01,
        "reconnect_delay": 0.02,
        "max_reconnect_delay": 0.05,
        "poll_interval": 0.02,
        "timeout": 5.0,
    }
    settings.update(options)
    return AlpacaBroker(base_url=venue.url, **settings)  # type: ignore[arg-type]  # test options


@asynccontextmanager
async def running_broker(
    venue: LocalVenue, updates: Collector, **options: object
) -> AsyncIterator[AlpacaBroker]:
    """A broker with its trade_updates running; the stream stops before the broker closes."""
    async with make_broker(venue, **options) as broker, trio.open_nursery() as nursery:
        await nursery.start(broker.run_updates, updates.emit)
        yield broker
        nursery.cancel_scope.cancel()


def order(
    client_order_id: str,
    *,
    quantity: float = 5.0,
    order_type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
    symbol: str = "AAPL",
) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY,
        quantity=quantity,
        order_type=order_type,
        time_in_force=TimeInForce.GTC if order_type is OrderType.LIMIT else TimeInForce.DAY,
        limit_price=limit_price,
        ts_event=0,
        ts_init=0,
    )


def venue_orders(venue: LocalVenue, client_order_id: str) -> int:
    return sum(1 for o in venue.engine.orders() if o.client_order_id == client_order_id)


# ---------------------------------------------------------------------------------- REST


async def test_broker_round_trip_submit_get_list_cancel(venue: LocalVenue) -> None:
    updates = Collector()
    with trio.fail_after(GUARD_SECONDS):
        async with running_broker(venue, updates) as broker:
            placed = await broker.submit_order(order("rt-1", order_type=OrderType.LIMIT, limit_price=1.0))
            found = await broker.get_order_by_client_id("rt-1")
            missing = await broker.get_order_by_client_id("never-sent")
            listed = await broker.list_open_orders()
            await broker.cancel_order(placed.venue_order_id)
            await updates.wait_for(lambda: bool(updates.of(OrderCanceled, "rt-1")))
            after = await broker.get_order_by_client_id("rt-1")

    assert (placed.status, placed.quantity, placed.limit_price) == ("new", 5.0, 1.0)
    assert found == placed
    assert missing is None
    assert [o.client_order_id for o in listed] == ["rt-1"]
    (canceled,) = updates.of(OrderCanceled, "rt-1")
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.venue_order_id, canceled.reason, canceled.filled_quantity) == (
        placed.venue_order_id,
        "canceled",
        0.0,
    )
    assert after is not None
    assert after.status == "canceled"


async def test_broker_when_market_order_fills_streams_order_filled_and_position(venue: LocalVenue) -> None:
    updates = Collector()
    with trio.fail_after(GUARD_SECONDS):
        async with running_broker(venue, updates) as broker:
            placed = await broker.submit_order(order("fill-1", quantity=7.0))
            await updates.wait_for(lambda: bool(updates.of(OrderFilled, "fill-1")))
            positions = await broker.list_positions()
            account = await broker.get_account()

    (fill,) = updates.of(OrderFilled, "fill-1")
    assert isinstance(fill, OrderFilled)
    assert (fill.venue_order_id, fill.fill_quantity, fill.cumulative_quantity, fill.leaves_quantity) == (
        placed.venue_order_id,
        7.0,
        7.0,
        0.0,
    )
    assert "-cum-" not in fill.execution_id  # the venue's own id, not a synthesised one
    assert [(p.symbol, p.quantity) for p in positions] == [("AAPL", 7.0)]
    assert account.cash == pytest.approx(100_000.0 - 7.0 * fill.fill_price)
    assert broker.statistics().synthesized_fills == 0


@pytest.mark.parametrize("html", [True, False], ids=["html", "json"])
async def test_submit_when_venue_answers_503_raises_venue_unavailable_and_places_nothing(
    venue: LocalVenue, html: bool
) -> None:
    venue.faults = VenueFaults(rest_error_next=1, rest_error_status=503, rest_error_html=html)
    async with make_broker(venue) as broker:
        with trio.fail_after(GUARD_SECONDS), pytest.raises(VenueUnavailable) as info:
            await broker.submit_order(order("u-1"))

    assert info.value.status_code == 503
    assert venue_orders(venue, "u-1") == 0


async def test_submit_when_venue_answers_429_raises_rate_limited(venue: LocalVenue) -> None:
    venue.faults = VenueFaults(rest_429_next=1)
    async with make_broker(venue) as broker:
        with trio.fail_after(GUARD_SECONDS), pytest.raises(RateLimited) as info:
            await broker.submit_order(order("r-1"))

    assert info.value.retry_after == 1.0
    assert venue_orders(venue, "r-1") == 0


async def test_submit_when_reply_dropped_after_accept_raises_transport_error_and_lookup_finds_it(
    venue: LocalVenue,
) -> None:
    venue.faults = VenueFaults(rest_drop_next=1)
    async with make_broker(venue) as broker:
        with trio.fail_after(GUARD_SECONDS):
            with pytest.raises(TransportError):
                await broker.submit_order(order("drop-1"))
            found = await broker.get_order_by_client_id("drop-1")

    assert found is not None
    assert found.client_order_id == "drop-1"
    assert venue_orders(venue, "drop-1") == 1


async def test_submit_when_venue_rejects_raises_venue_rejected_with_its_message(venue: LocalVenue) -> None:
    async with make_broker(venue) as broker:
        with trio.fail_after(GUARD_SECONDS):
            await broker.submit_order(order("dup-1", order_type=OrderType.LIMIT, limit_price=1.0))
            with pytest.raises(VenueRejected) as info:
                await broker.submit_order(order("dup-1", order_type=OrderType.LIMIT, limit_price=1.0))

    assert info.value.status_code == 422
    assert "client_order_id" in str(info.value)


async def test_reads_when_venue_fails_twice_retry_and_succeed(venue: LocalVenue) -> None:
    venue.faults = VenueFaults(rest_error_next=2, rest_error_status=502, rest_error_html=True)
    async with make_broker(venue) as broker:
        with trio.fail_after(GUARD_SECONDS):
            account = await broker.get_account()

    assert account.cash == 100_000.0
    assert broker.statistics().responses_by_status == {502: 2, 200: 1}


async def test_broker_when_keys_are_wrong_rest_and_stream_raise_venue_rejected(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = await start_venue(nursery, key=KEY, secret=SECRET)
    async with make_broker(venue, secret_key="wrong-secret-value") as broker:
        with trio.fail_after(GUARD_SECONDS):
            with pytest.raises(VenueRejected) as rest_error:
                await broker.get_account()
            with pytest.raises(VenueRejected) as stream_error:
                await broker.run_updates(Collector().emit)

    assert rest_error.value.status_code == 401
    assert stream_error.value.status_code == 401
    assert str(stream_error.value) == "trade_updates authorization failed: unauthorized"
    assert "wrong-secret-value" not in caplog.text
    assert SECRET not in caplog.text


async def test_trade_updates_when_stream_drops_mid_update_recovers_fill_by_polling(venue: LocalVenue) -> None:
    updates = Collector()
    with trio.fail_after(GUARD_SECONDS):
        async with running_broker(venue, updates) as broker:
            venue.faults = VenueFaults(trade_ws_faults=(WsFault.CLOSE_MID_FRAME,))
            await broker.submit_order(order("gap-1", quantity=3.0))
            await updates.wait_for(lambda: bool(updates.of(OrderFilled, "gap-1")))
            await broker.wait_listening()
            # a second order after the reconnect arrives on the stream again
            await broker.submit_order(order("gap-2", quantity=2.0))
            await updates.wait_for(lambda: bool(updates.of(OrderFilled, "gap-2")))

    (recovered,) = updates.of(OrderFilled, "gap-1")
    assert isinstance(recovered, OrderFilled)
    assert (recovered.fill_quantity, recovered.leaves_quantity) == (3.0, 0.0)
    assert recovered.execution_id == f"{recovered.venue_order_id}-cum-3"
    stats = broker.statistics()
    assert (stats.synthesized_fills, stats.stream_disconnects, stats.stream_connects) == (1, 1, 2)
    (streamed,) = updates.of(OrderFilled, "gap-2")
    assert isinstance(streamed, OrderFilled)
    assert "-cum-" not in streamed.execution_id  # the venue's execution id: it came on the stream


async def test_open_alpaca_venue_when_local_base_url_builds_working_broker_and_feed(
    venue: LocalVenue, nursery: trio.Nursery
) -> None:
    data = Collector()
    with trio.fail_after(GUARD_SECONDS):
        async with open_alpaca_venue(
            key_id=KEY, secret_key=SECRET, clock=WallClock(), rng=random.Random(1), base_url=venue.url
        ) as alpaca:
            await nursery.start(alpaca.feed.run, ["AAPL", "BTC/USD"], data.emit)
            await data.wait_for(
                lambda: (
                    {m.symbol for m in data.messages if isinstance(m, QuoteReceived)} >= {"AAPL", "BTC/USD"}
                )
            )
            account = await alpaca.broker.get_account()

    assert account.equity == 100_000.0


# ---------------------------------------------------------------------------------- market data


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
async def test_feed_streams_trades_and_quotes_as_batches(
    venue: LocalVenue, nursery: trio.Nursery, encoding: str
) -> None:
    feed = make_feed(venue, encoding=encoding)
    data = Collector()
    with trio.fail_after(GUARD_SECONDS):
        await nursery.start(feed.run, ["AAPL", "MSFT"], data.emit)
        await data.wait_for(lambda: {type(m) for m in data.messages} >= {TradeReceived, QuoteReceived})

    symbols = {m.symbol for m in data.messages if isinstance(m, TradeReceived | QuoteReceived)}
    assert symbols <= {"AAPL", "MSFT"}
    stats = feed.statistics()
    assert (stats.connects, stats.items_dropped, stats.frames_skipped) == (1, {}, {})
    assert stats.messages == len(data.messages)


async def test_feed_when_server_closes_mid_frame_reconnects_and_resubscribes(
    venue: LocalVenue, nursery: trio.Nursery
) -> None:
    feed = make_feed(venue)
    data = Collector()
    with trio.fail_after(GUARD_SECONDS):
        await nursery.start(feed.run, ["AAPL"], data.emit)
        venue.faults = VenueFaults(data_ws_faults=(WsFault.CLOSE_MID_FRAME,))
        await data.wait_for(lambda: feed.statistics().connects == 2)
        seen = len(data.messages)
        await data.wait_for(lambda: len(data.messages) > seen)  # data flows on the new session

    stats = feed.statistics()
    assert (stats.disconnects, stats.connected) == (1, True)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
async def test_feed_when_bad_items_and_frames_arrive_counts_them_and_keeps_running(
    nursery: trio.Nursery, encoding: str
) -> None:
    # room for the 2 MiB frame in the venue's output buffer, and time to read it before a ping
    venue = await start_venue(nursery, tick_interval=0.01, output_limit=16 << 20)
    feed = make_feed(venue, encoding=encoding, max_frame_bytes=256 * 1024, silence_timeout=5.0)
    data = Collector()
    faults = (WsFault.NAN_PRICE, WsFault.UNKNOWN_MESSAGE, WsFault.TRUNCATED_PAYLOAD, WsFault.OVERSIZED_FRAME)
    with trio.fail_after(GUARD_SECONDS):
        await nursery.start(feed.run, ["AAPL"], data.emit)
        venue.faults = VenueFaults(data_ws_faults=faults)
        await data.wait_for(lambda: sum(feed.statistics().frames_skipped.values()) == 2)
        seen = len(data.messages)
        await data.wait_for(lambda: len(data.messages) > seen)

    stats = feed.statistics()
    assert stats.items_dropped == {"invalid_value": 1, "unknown_type": 1}
    assert stats.frames_skipped == {"malformed": 1, "oversized": 1}
    assert (stats.connects, stats.disconnects) == (1, 0)
    assert all(
        m.price == m.price for m in data.messages if isinstance(m, TradeReceived)
    )  # no NaN got through


async def test_feed_when_frame_breaks_the_websocket_protocol_reconnects(
    venue: LocalVenue, nursery: trio.Nursery
) -> None:
    feed = make_feed(venue)
    data = Collector()
    with trio.fail_after(GUARD_SECONDS):
        await nursery.start(feed.run, ["AAPL"], data.emit)
        venue.faults = VenueFaults(data_ws_faults=(WsFault.MALFORMED_FRAME,))
        await data.wait_for(lambda: feed.statistics().connects == 2)

    assert feed.statistics().disconnects == 1


@pytest.mark.slow
async def test_feed_when_connection_goes_silent_replaces_it(venue: LocalVenue, nursery: trio.Nursery) -> None:
    feed = make_feed(venue, silence_timeout=0.1, ping_timeout=0.1)
    data = Collector()
    with trio.fail_after(GUARD_SECONDS):
        await nursery.start(feed.run, ["AAPL"], data.emit)
        venue.faults = VenueFaults(data_ws_faults=(WsFault.GO_SILENT,))
        await data.wait_for(lambda: feed.statistics().connects == 2)

    assert feed.statistics().disconnects == 1


async def test_feed_when_keys_are_wrong_raises_auth_failed_and_never_logs_the_secret(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = await start_venue(nursery, key=KEY, secret=SECRET)
    feed = make_feed(venue, secret_key="wrong-" + SECRET)

    with (
        trio.fail_after(GUARD_SECONDS),
        pytest.raises(VenueRejected, match=r"error 402 auth failed$") as info,
    ):
        await feed.run(["AAPL"], Collector().emit)

    assert (info.value.status_code, feed.statistics().connects) == (402, 0)
    assert SECRET not in caplog.text


@pytest.mark.slow
async def test_feed_when_another_session_holds_the_key_backs_off_long_not_in_a_tight_loop(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await start_venue(
        nursery, key=KEY, secret=SECRET, tick_interval=5.0, clock=VirtualClock(START_NS)
    )
    mock_clock.autojump_threshold = 0.01
    holder = make_feed(venue, clock=VirtualClock(START_NS), silence_timeout=600.0)
    second = make_feed(
        venue, clock=VirtualClock(START_NS), connection_limit_delay=60.0, silence_timeout=600.0
    )
    data = Collector()
    await nursery.start(holder.run, ["AAPL"], data.emit)
    start = trio.current_time()

    with trio.CancelScope() as scope:
        nursery.start_soon(second.run, ["AAPL"], data.emit)
        await VirtualClock(START_NS).sleep(300.0)
        scope.cancel()

    hits = second.statistics().connection_limit_hits
    assert trio.current_time() - start >= 300.0
    assert 5 <= hits <= 11  # one attempt every 30-60 s, not hundreds
    assert any(r.levelno == logging.ERROR and "connection limit" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------- execution actor


@pytest.mark.slow
async def test_execution_actor_with_faults_places_exactly_one_venue_order_per_intent(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    venue = await start_venue(nursery, rate_limit=None, tick_interval=0.5)
    mock_clock.autojump_threshold = 0.01
    clock = VirtualClock(START_NS)
    bus = Bus()
    ctx = ActorContext(bus=bus, clock=clock, rng=random.Random(4))
    outcomes = bus.subscribe("order.", name="test")
    broker = make_broker(
        venue,
        clock=clock,
        timeout=1.0,
        retry_backoff=1.0,
        reconnect_delay=0.5,
        max_reconnect_delay=4.0,
        poll_interval=0.5,
    )
    scenarios = {
        "i-503": VenueFaults(rest_error_next=1, rest_error_status=503),
        "i-504-twice": VenueFaults(rest_error_next=3, rest_error_status=504),
        "i-drop": VenueFaults(rest_drop_next=1),
        "i-timeout": VenueFaults(rest_delay_next=1, rest_delay_seconds=5.0),
        "i-429": VenueFaults(rest_429_next=1),
    }
    seen: dict[str, list[str]] = {}
    async with broker, trio.open_nursery() as actors:
        await actors.start(ExecutionActor(broker, max_retries=3, max_slippage_bps=10_000).run, ctx)
        for n, (client_order_id, faults) in enumerate(scenarios.items()):
            venue.faults = faults
            now = clock.now_ns()  # an approval older than execution.max_order_age_secs is stale
            signal = SignalGenerated(
                signal_id=f"s-{n}",
                strategy="test",
                symbol="AAPL",
                side=Side.BUY,
                quantity=2.0,
                ts_event=now,
                ts_init=now,
            )
            await bus.publish(
                RiskApproved(signal=signal, client_order_id=client_order_id, ts_event=now, ts_init=now)
            )
            with trio.fail_after(120.0):  # virtual seconds: covers 1 + 2 + 4 s of backoff
                while not {"order.accepted", "order.filled"} <= set(seen.get(client_order_id, [])):
                    for msg in await outcomes.receive():
                        if isinstance(msg, OrderAccepted | OrderFilled | OrderRejected | OrderSubmitted):
                            seen.setdefault(msg.client_order_id, []).append(msg.TOPIC)
                        assert not isinstance(msg, OrderRejected), msg
        actors.cancel_scope.cancel()

    assert dict(venue.statistics().faults_injected) == {
        "error_status": 4,
        "drop_after_accept": 1,
        "delay": 1,
        "rate_limited": 1,
    }
    assert broker.statistics().transport_errors == 2  # the dropped reply and the timeout
    for client_order_id in scenarios:
        assert venue_orders(venue, client_order_id) == 1, client_order_id
        assert seen[client_order_id].count("order.filled") == 1, seen[client_order_id]
    assert len(venue.engine.orders()) == len(scenarios)

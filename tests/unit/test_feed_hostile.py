"""Hostile market data through the real feed path: a test-owned WebSocket server on 127.0.0.1
writes raw frames, :class:`AlpacaFeed` decodes them, :class:`MarketDataActor` screens them and
builds bars, and the bus shows what got through (``specs/marketdata.md``).

The server is the test's own (not the local venue) so every frame is exactly the bytes the test
chose, the handshake included. The real clock runs, inside a ``trio.fail_after`` guard; the test
waits on a sentinel trade sent after the hostile frames, never on sleeps.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence

import orjson
import pytest
import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, serve_websocket

from pyrt.marketdata.actor import MarketDataActor
from pyrt.messages import BarReceived, Message, QuoteReceived, TradeReceived
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import WallClock
from pyrt.venues.alpaca import AlpacaFeed

GUARD_SECONDS = 15.0
NS = 1_000_000_000
MINUTE = 60 * NS
SENTINEL_ID = 999_999


def rfc3339(ns: int) -> str:
    import datetime

    seconds, fraction = divmod(ns, NS)
    head = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{fraction:09d}Z"


def trade(symbol: str, price: float, size: float, trade_id: int, ts: int) -> dict[str, object]:
    return {"T": "t", "S": symbol, "i": trade_id, "x": "V", "p": price, "s": size, "t": rfc3339(ts), "z": "C"}


def frame(*items: dict[str, object]) -> str:
    return orjson.dumps(list(items)).decode()


class HostileServer:
    """Speaks Alpaca's data-stream handshake, then writes the frames it was given, raw."""

    def __init__(
        self, *, before_auth: Sequence[str | bytes] = (), frames: Sequence[str | bytes] = ()
    ) -> None:
        self.before_auth = list(before_auth)
        self.frames = list(frames)
        self.port = 0
        self.sessions = 0

    async def _send(self, ws: WebSocketConnection, message: object) -> None:
        await ws.send_message(orjson.dumps(message).decode())

    async def handler(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        self.sessions += 1
        await self._send(ws, [{"T": "success", "msg": "connected"}])
        for raw in self.before_auth:
            await ws.send_message(raw)
        auth = orjson.loads(await ws.get_message())
        assert auth["action"] == "auth"
        await self._send(ws, [{"T": "success", "msg": "authenticated"}])
        subscribe = orjson.loads(await ws.get_message())
        await self._send(ws, [{"T": "subscription", "trades": subscribe.get("trades", []), "quotes": []}])
        for raw in self.frames:
            await ws.send_message(raw)
        await trio.sleep_forever()

    async def start(self, nursery: trio.Nursery) -> None:
        serve = functools.partial(serve_websocket, max_message_size=64 << 20)
        server = await nursery.start(serve, self.handler, "127.0.0.1", 0, None)
        self.port = server.port


class Tape:
    """Every ``market.*`` batch the actor publishes; wakes waiters on each."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = trio.Event()

    async def follow(
        self, bus: Bus, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with bus.subscribe("market.", name="tape") as sub:
            task_status.started()
            async for batch in sub:
                self.messages.extend(batch)
                self._changed.set()
                self._changed = trio.Event()

    async def wait_for_sentinel(self) -> None:
        while not any(isinstance(m, TradeReceived) and m.trade_id == SENTINEL_ID for m in self.messages):
            await self._changed.wait()

    def of(self, kind: type[Message]) -> list[Message]:
        return [m for m in self.messages if isinstance(m, kind)]


async def run_tree(
    nursery: trio.Nursery, server: HostileServer, **feed_options: object
) -> tuple[AlpacaFeed, MarketDataActor, Tape]:
    await server.start(nursery)
    clock = WallClock()
    feed = AlpacaFeed(
        url=f"ws://127.0.0.1:{server.port}/v2/iex",
        key_id="PKHOSTILE",
        secret_key="hostile-secret",
        clock=clock,
        rng=random.Random(3),
        encoding="json",
        reconnect_delay_secs=0.01,
        max_reconnect_delay=0.05,
        **feed_options,  # type: ignore[arg-type]  # test options
    )
    ctx = ActorContext(bus=Bus(), clock=clock, rng=random.Random(4))
    tape = Tape()
    await nursery.start(tape.follow, ctx.bus)
    actor = MarketDataActor(feed, ["AAPL", "MSFT"], timeframes=["1m"])
    await nursery.start(actor.run, ctx)
    return feed, actor, tape


def windows() -> tuple[int, int]:
    """Two consecutive minute windows in the recent past (inside the plausible window)."""
    now = WallClock().now_ns()
    first = now - now % MINUTE - 3 * MINUTE
    return first, first + MINUTE


async def test_M13_hostile_frames_through_the_feed_leave_the_actor_running_and_bars_clean(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    a, b = windows()
    now = WallClock().now_ns()
    ten_years = 10 * 365 * 86_400 * NS
    copies = [trade("AAPL", 100.5, 1, 3, a + 3 * NS)] * 1000
    oversized = frame(*([trade("AAPL", 100.0, 7, 4, a + 4 * NS)] * 22_000))
    assert len(oversized) > 2 << 20
    server = HostileServer(
        before_auth=["[" * 200_000, oversized],
        frames=[
            frame(trade("AAPL", 100.0, 10, 1, a + NS), trade("AAPL", 101.0, 5, 2, a + 2 * NS)),
            frame(trade("AAPL", 1e308, 2, 10, a + 5 * NS)),  # the VWAP overflow of issue 8
            "[" * 200_000,
            "[NaN," + "[" * 200_000,  # orjson refuses the NaN: the standard library decoder would recurse
            oversized,
            frame(*copies),
            frame(trade("AAPL", 1000.0, 1, 11, a + 6 * NS)),  # 10x the last trade
            frame(trade("AAPL", 100.0, 1e15, 12, a + 7 * NS)),
            frame(trade("ZZZZ", 100.0, 1, 13, a + 8 * NS)),  # never subscribed
            frame(trade("AAPL", 100.0, 1, 14, now + ten_years)),
            frame(trade("AAPL", 100.0, 1, 15, 0)),
            frame(trade("AAPL", 100.0, 1, SENTINEL_ID, b + NS)),  # closes window a's bar
        ],
    )
    with trio.fail_after(GUARD_SECONDS):
        feed, actor, tape = await run_tree(nursery, server)
        await tape.wait_for_sentinel()

    bars = [m for m in tape.of(BarReceived) if isinstance(m, BarReceived)]
    assert [(bar.ts_event, bar.volume, bar.trade_count, bar.high) for bar in bars] == [(a, 16.0, 3, 101.0)]
    assert bars[0].vwap == pytest.approx((100.0 * 10 + 101.0 * 5 + 100.5) / 16)
    trades = [m for m in tape.of(TradeReceived) if isinstance(m, TradeReceived)]
    assert [t.trade_id for t in trades] == [1, 2, 3, SENTINEL_ID]
    stats = actor.statistics()
    assert stats.refused == {
        "price_out_of_bounds": 1,
        "duplicate_trade": 999,
        "price_jump": 1,
        "size_out_of_bounds": 1,
        "unsubscribed_symbol": 1,
        "future_timestamp": 1,
        "stale_timestamp": 1,
    }
    assert stats.accepted == 4
    feed_stats = feed.statistics()
    assert feed_stats.frames_skipped == {"too_deep": 3, "oversized": 2}
    assert (feed_stats.connects, feed_stats.disconnects, server.sessions) == (1, 0, 1)
    refusals = [r for r in caplog.records if r.name == "pyrt.marketdata.screen"]
    assert 1 <= len(refusals) <= 7  # one per reason at most in a 10 s log interval, not one per item


async def test_M8_a_2_mib_frame_of_one_repeated_trade_adds_it_once_even_when_frames_that_large_are_allowed(
    nursery: trio.Nursery,
) -> None:
    a, b = windows()
    repeated = frame(*([trade("AAPL", 100.0, 7, 4, a + 4 * NS)] * 22_000))
    assert len(repeated) > 2 << 20
    server = HostileServer(frames=[repeated, frame(trade("AAPL", 100.0, 1, SENTINEL_ID, b + NS))])
    with trio.fail_after(GUARD_SECONDS):
        feed, actor, tape = await run_tree(nursery, server, max_frame_bytes=4 << 20)
        await tape.wait_for_sentinel()

    bars = [m for m in tape.of(BarReceived) if isinstance(m, BarReceived)]
    assert [(bar.volume, bar.trade_count) for bar in bars] == [(7.0, 1)]
    assert actor.statistics().refused == {"duplicate_trade": 21_999}
    assert feed.statistics().frames_skipped == {}


async def test_M1_a_frame_over_the_limit_is_skipped_undecoded_in_the_handshake_and_after(
    nursery: trio.Nursery,
) -> None:
    _, b = windows()
    big = frame(*([trade("AAPL", 100.0, 1, 5, b)] * 12_000))  # just over the 1 MiB default
    assert 1 << 20 < len(big) < 2 << 20
    server = HostileServer(
        before_auth=[big], frames=[big, frame(trade("AAPL", 100.0, 1, SENTINEL_ID, b + NS))]
    )
    with trio.fail_after(GUARD_SECONDS):
        feed, _, tape = await run_tree(nursery, server)
        await tape.wait_for_sentinel()

    assert feed.statistics().frames_skipped == {"oversized": 2}
    assert [t.trade_id for t in tape.of(TradeReceived) if isinstance(t, TradeReceived)] == [SENTINEL_ID]


async def test_M9_crossed_and_one_sided_quotes_reach_the_bus_flagged(nursery: trio.Nursery) -> None:
    _, b = windows()
    quotes = [
        {"T": "q", "S": "AAPL", "bp": 159.52, "bs": 1, "ap": 158.65, "as": 2, "t": rfc3339(b)},
        {"T": "q", "S": "AAPL", "bp": 0, "bs": 0, "ap": 158.65, "as": 2, "t": rfc3339(b)},
    ]
    server = HostileServer(frames=[frame(*quotes), frame(trade("AAPL", 158.7, 1, SENTINEL_ID, b + NS))])
    with trio.fail_after(GUARD_SECONDS):
        _, actor, tape = await run_tree(nursery, server)
        await tape.wait_for_sentinel()

    published = [q for q in tape.of(QuoteReceived) if isinstance(q, QuoteReceived)]
    assert [(q.crossed, q.two_sided, q.mid) for q in published] == [(True, True, None), (False, False, None)]
    assert actor.statistics().flagged == {"crossed_quote": 1, "one_sided_quote": 1}

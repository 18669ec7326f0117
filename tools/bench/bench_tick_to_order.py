"""Benchmark: tick to order, from a quote frame leaving the venue to the order reaching its REST API.

Path measured (the real live path, over loopback sockets)::

    venue process ── quote frame (WebSocket, msgpack) ──▶ AlpacaFeed → MarketDataActor → bus
      → SignalActor (a strategy sending one market order per quote) → bus → RiskActor (RiskEngine
      checks) → bus → ExecutionActor (OrderTracker, slippage guard) → AlpacaBroker.submit_order
      ── POST /v2/orders (httpx, keep-alive) ──▶ venue process

The venue is a minimal Alpaca-compatible server in a **separate process** (this script with
``--serve``), because the local venue has no hook to timestamp a frame as it leaves or a request
as it arrives (see the closing report of issue #3). It speaks the same wire formats: the data
stream (connected/auth/subscribe, msgpack), ``trade_updates`` (authorize/listen, and one ``fill``
per order, so risk and execution see each order end) and ``POST /v2/orders``. Both timestamps are
``time.perf_counter_ns()`` in the venue process, so no clocks are compared across processes.

The loop is closed: the venue sends quote k, waits for the order it causes (the first order to
arrive while quote k is the one outstanding), waits ``--gap`` ms and sends quote k+1, so each
latency is one tick's path with no queueing behind earlier ticks. A strategy decides once per
symbol until it knows how its last intent ended, so a quote that overtakes the previous order's
fill gets no order: it counts as ``missing`` (after ``ORDER_WAIT_SECONDS``) and the loop goes on. The first
``--warmup`` orders of each repeat are not counted. The recorder/journal actor is not on this
path and not running.

Baseline in the same run (``floor``): a bare client that reads the same frames with
trio-websocket and POSTs through the same ``AlpacaBroker`` at once: sockets, HTTP and WebSocket
framing, without decode, bus or actors.

Run: ``python tools/bench/bench_tick_to_order.py [--orders N] [--repeats R] [--gap MS]
[--warmup W] [--seed S]``. The last line is one JSON object: ``p50_us``/``p99_us`` over all counted
orders of all repeats, and ``orders``, how many were counted. Target (issue #3): p99 ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

import h11
import httpx
import msgpack
import orjson
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from pyrt.execution.actor import ExecutionActor
from pyrt.marketdata.actor import MarketDataActor
from pyrt.messages import OrderSubmitted, OrderType, QuoteReceived, Side, TimeInForce
from pyrt.risk.actor import RiskActor
from pyrt.risk.engine import RiskEngine
from pyrt.risk.limits import RiskLimits
from pyrt.risk.portfolio import Portfolio
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import WallClock
from pyrt.strategy import Strategy
from pyrt.strategy.actor import SignalActor
from pyrt.venues.alpaca import AlpacaBroker, AlpacaFeed

SYMBOL = "AAPL"
ORDER_WAIT_SECONDS = 0.1  # a quote whose order does not come within this counts as missing
SETTLE_SECONDS = 0.2  # between the subscription reply and the first quote


def _sequence(client_order_id: str) -> int:
    # "pyrt-<strategy>-<ns>-<seq>" (risk's id for the strategy's signal) or "floor-<seq>"
    return int(client_order_id.rsplit("-", 1)[1])


def _order_json(client_order_id: str, k: int, side: str, *, filled: bool) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{k:012d}",
        "client_order_id": client_order_id,
        "symbol": SYMBOL,
        "qty": "1",
        "filled_qty": "1" if filled else "0",
        "filled_avg_price": "100" if filled else None,
        "type": "market",
        "side": side,
        "time_in_force": "day",
        "status": "filled" if filled else "new",
        "created_at": "2024-01-02T15:51:44Z",
        "updated_at": "2024-01-02T15:51:44Z",
        "submitted_at": "2024-01-02T15:51:44Z",
    }


class BenchVenue:
    """The venue side: quotes out, orders in, both stamped with this process's perf counter."""

    def __init__(self, *, orders: int, gap: float, seed: int) -> None:
        self.orders = orders
        self.gap = gap
        self.rng = random.Random(seed)
        self.sent: dict[int, int] = {}
        self.arrived: dict[int, int] = {}
        self.waiters: dict[int, trio.Event] = {}
        self.current: int | None = None  # the quote whose order is awaited
        self.trade_streams: list[WebSocketConnection] = []
        self.done = trio.Event()
        self.results: dict[str, object] = {}

    # -- WebSockets -------------------------------------------------------------------------

    async def websocket(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            if request.path == "/stream":
                await self._trade_updates(ws)
            else:
                await self._market_data(ws)
        except ConnectionClosed:
            pass
        finally:
            if ws in self.trade_streams:
                self.trade_streams.remove(ws)

    async def _trade_updates(self, ws: WebSocketConnection) -> None:
        await ws.get_message()  # authenticate
        auth = {"action": "authenticate", "status": "authorized"}
        await ws.send_message(orjson.dumps({"stream": "authorization", "data": auth}).decode())
        await ws.get_message()  # listen
        await ws.send_message(
            orjson.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}}).decode()
        )
        self.trade_streams.append(ws)
        while True:
            await ws.get_message()

    async def _market_data(self, ws: WebSocketConnection) -> None:
        def pack(message: dict[str, object]) -> bytes:
            data: bytes = msgpack.packb([message], use_bin_type=True)
            return data

        await ws.send_message(pack({"T": "success", "msg": "connected"}))
        await ws.get_message()
        await ws.send_message(pack({"T": "success", "msg": "authenticated"}))
        await ws.get_message()
        self.sent.clear()
        self.arrived.clear()
        self.done = trio.Event()  # before the reply: a client asks for results once subscribed
        await ws.send_message(pack({"T": "subscription", "trades": [], "quotes": [SYMBOL], "bars": []}))
        await trio.sleep(SETTLE_SECONDS)
        missing = 0
        for k in range(1, self.orders + 1):
            bid = round(100.0 + self.rng.uniform(-0.5, 0.5), 2)
            quote = {
                "T": "q",
                "S": SYMBOL,
                "bx": "V",
                "bp": bid,
                "bs": 100,
                "ax": "V",
                "ap": round(bid + 0.01, 2),
                "as": 100,
                "c": ["R"],
                "t": msgpack.Timestamp.from_unix_nano(time.time_ns()),
                "z": "C",
            }
            frame = pack(quote)
            waiter = self.waiters[k] = trio.Event()
            self.current = k
            self.sent[k] = time.perf_counter_ns()
            await ws.send_message(frame)
            with trio.move_on_after(ORDER_WAIT_SECONDS):
                await waiter.wait()
            self.current = None
            if not waiter.is_set():
                missing += 1
            del self.waiters[k]
            await trio.sleep(self.gap)
        latencies = [self.arrived[k] - self.sent[k] for k in sorted(self.arrived) if k in self.sent]
        self.results = {"latencies_ns": latencies, "missing": missing}
        self.done.set()
        await ws.get_message()  # until the client goes

    # -- REST -------------------------------------------------------------------------------

    async def http(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return
                if not data:
                    return
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request, body = event, bytearray()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                arrived = time.perf_counter_ns()
                status, payload, after = await self._route(request, bytes(body), arrived)
                content = orjson.dumps(payload)
                headers = [("content-type", "application/json"), ("content-length", str(len(content)))]
                await stream.send_all(
                    conn.send(h11.Response(status_code=status, headers=headers))
                    + conn.send(h11.Data(data=content))
                    + conn.send(h11.EndOfMessage())
                )
                if after is not None:
                    await after()
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def _route(self, request: h11.Request, body: bytes, arrived: int) -> tuple[int, object, Any]:
        method, target = request.method.decode(), request.target.decode()
        if method == "POST" and target == "/v2/orders":
            order: dict[str, Any] = orjson.loads(body)
            client_order_id = order["client_order_id"]
            k = _sequence(client_order_id)
            current = self.current
            if current is not None and current not in self.arrived:  # the order quote `current` caused
                self.arrived[current] = arrived
                self.waiters[current].set()
            side = order["side"]
            return (
                200,
                _order_json(client_order_id, k, side, filled=False),
                functools.partial(self._fill, client_order_id, k, side),
            )
        if method == "GET" and target.startswith("/v2/orders:by_client_order_id"):
            return 404, {"code": 40410000, "message": "order not found"}, None
        if method == "GET" and target.startswith("/v2/orders"):
            return 200, [], None
        if method == "GET" and target == "/bench/results":
            await self.done.wait()
            return 200, self.results, None
        return 404, {"code": 40410000, "message": "endpoint not found"}, None

    async def _fill(self, client_order_id: str, k: int, side: str) -> None:
        update = {
            "stream": "trade_updates",
            "data": {
                "event": "fill",
                "timestamp": "2024-01-02T15:51:44.000000001Z",
                "price": "100",
                "qty": "1",
                "position_qty": "0",
                "execution_id": f"exec-{k}",
                "order": _order_json(client_order_id, k, side, filled=True),
            },
        }
        text = orjson.dumps(update).decode()
        for ws in list(self.trade_streams):
            try:
                await ws.send_message(text)
            except ConnectionClosed:
                pass


async def serve(args: argparse.Namespace) -> None:
    venue = BenchVenue(orders=args.orders + args.warmup, gap=args.gap / 1000.0, seed=args.seed)
    async with trio.open_nursery() as nursery:
        ws_server = await nursery.start(
            functools.partial(serve_websocket, venue.websocket, "127.0.0.1", 0, None)
        )
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        await nursery.start(trio.serve_listeners, venue.http, listeners)
        print(ws_server.port, listeners[0].socket.getsockname()[1], flush=True)


# ------------------------------------------------------------------------------ client side


class OnePerQuote(Strategy):
    """Sends one market order of 1 share per quote, alternating buy and sell (flat on average)."""

    NAME = "bench"

    def __init__(self) -> None:
        super().__init__()
        self._quotes = 0

    def on_quote(self, quote: QuoteReceived) -> None:
        self._quotes += 1
        if self._quotes % 2:
            self.buy(quote.symbol, 1.0)
        else:
            self.sell(quote.symbol, 1.0)


async def results(http_port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=None) as client:
        response = await client.get("/bench/results")
    outcome: dict[str, Any] = response.json()
    return outcome


def _broker(ws_port: int, http_port: int, clock: WallClock, rng: random.Random) -> AlpacaBroker:
    return AlpacaBroker(
        base_url=f"http://127.0.0.1:{http_port}",
        stream_url=f"ws://127.0.0.1:{ws_port}/stream",
        key_id="bench",
        secret_key="bench",
        clock=clock,
        rng=rng,
        rate_limit_per_minute=None,  # the limiter would dominate: 200/min is Alpaca's, not ours
    )


async def through_pyrt(ws_port: int, http_port: int, seed: int) -> dict[str, Any]:
    clock = WallClock()
    rng = random.Random(seed)
    bus = Bus()
    ctx = ActorContext(bus=bus, clock=clock, rng=rng)
    feed = AlpacaFeed(
        url=f"ws://127.0.0.1:{ws_port}/v2/iex",
        key_id="bench",
        secret_key="bench",
        clock=clock,
        rng=rng,
        channels=("quotes",),
        silence_timeout=60.0,
    )
    engine = RiskEngine(
        RiskLimits(max_order_size=10.0, max_position_size=1e6, max_daily_loss=1e9), Portfolio(1e9)
    )
    async with _broker(ws_port, http_port, clock, rng) as broker, trio.open_nursery() as nursery:
        # downstream first, as the trading tree starts them
        await nursery.start(ExecutionActor(broker, max_slippage_bps=10_000.0).run, ctx)
        await nursery.start(RiskActor(engine).run, ctx)
        await nursery.start(SignalActor(OnePerQuote).run, ctx)
        await nursery.start(MarketDataActor(feed, [SYMBOL], timeframes=()).run, ctx)
        outcome = await results(http_port)
        nursery.cancel_scope.cancel()
    return outcome


async def floor(ws_port: int, http_port: int, seed: int) -> dict[str, Any]:
    clock = WallClock()
    headers = [(b"Content-Type", b"application/msgpack")]
    async with (
        _broker(ws_port, http_port, clock, random.Random(seed)) as broker,
        open_websocket_url(f"ws://127.0.0.1:{ws_port}/v2/iex", extra_headers=headers) as ws,
        trio.open_nursery() as nursery,
    ):
        await ws.get_message()
        await ws.send_message(msgpack.packb({"action": "auth", "key": "bench", "secret": "bench"}))
        await ws.get_message()
        await ws.send_message(msgpack.packb({"action": "subscribe", "quotes": [SYMBOL]}))
        await ws.get_message()

        async def submit_per_quote() -> None:
            k = 0
            while True:
                await ws.get_message()
                k += 1
                side = Side.BUY if k % 2 else Side.SELL
                order = OrderSubmitted(
                    client_order_id=f"floor-{k}",
                    symbol=SYMBOL,
                    side=side,
                    quantity=1.0,
                    order_type=OrderType.MARKET,
                    time_in_force=TimeInForce.DAY,
                    ts_event=0,
                    ts_init=0,
                )
                await broker.submit_order(order)

        nursery.start_soon(submit_per_quote)
        outcome = await results(http_port)
        nursery.cancel_scope.cancel()
    return outcome


def percentile(sorted_values: list[int], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1000.0


def summarise(label: str, latencies: list[int], missing: int) -> tuple[float, float]:
    ordered = sorted(latencies)
    p50, p99 = percentile(ordered, 0.50), percentile(ordered, 0.99)
    print(
        f"{label}: {len(ordered):6d} orders  p50 {p50:8.1f} µs  p99 {p99:8.1f} µs  "
        f"max {ordered[-1] / 1000:9.1f} µs  missing {missing}"
    )
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=4000, help="counted orders per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="orders per repeat not counted")
    parser.add_argument("--gap", type=float, default=0.5, help="ms between an order and the next quote")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve, args)
        return

    command = [
        sys.executable,
        __file__,
        "--serve",
        "--orders",
        str(args.orders),
        "--warmup",
        str(args.warmup),
    ]
    command += ["--gap", str(args.gap), "--seed", str(args.seed)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ws_port, http_port = (int(part) for part in server.stdout.readline().split())
        base = trio.run(floor, ws_port, http_port, args.seed)
        floor_latencies = base["latencies_ns"][args.warmup :]
        floor_p50, _ = summarise("floor (socket → POST)   ", floor_latencies, base["missing"])
        pooled: list[int] = []
        per_repeat: list[tuple[float, float]] = []
        missing = 0
        for repeat in range(args.repeats):
            outcome = trio.run(through_pyrt, ws_port, http_port, args.seed + repeat)
            counted = outcome["latencies_ns"][args.warmup :]
            missing += outcome["missing"]
            per_repeat.append(summarise(f"pyrt tree, repeat {repeat + 1}   ", counted, outcome["missing"]))
            pooled.extend(counted)
    finally:
        server.terminate()
        server.wait(10)
    p50, p99 = summarise("pyrt tree, all repeats  ", pooled, missing)
    print(
        f"median of repeats: p50 {statistics.median(r[0] for r in per_repeat):.1f} µs, "
        f"p99 {statistics.median(r[1] for r in per_repeat):.1f} µs; "
        f"p50 / floor p50 = {p50 / floor_p50:.2f}"
    )
    print(
        json.dumps(
            {"p50_us": round(p50, 1), "p99_us": round(p99, 1), "orders": len(pooled), "missing": missing}
        )
    )


if __name__ == "__main__":
    main()

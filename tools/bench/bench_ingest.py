"""Benchmark: market-data ingest, Alpaca frames over a loopback WebSocket → pyrt messages on the bus.

A minimal Alpaca-compatible data server runs in a **separate process** (this script with
``--serve``): it answers ``connected`` / auth / subscribe like Alpaca, waits a moment, then pushes
N pre-encoded trades and quotes (half each, 10 symbols) in batched frames as fast as the socket
takes them. The local venue is not used here: it pushes what its market simulator makes per
tick (a few messages every tick_interval), far below what this measures.

In this process, :class:`pyrt.venues.alpaca.AlpacaFeed` connects, decodes every frame into ONE
batch of :class:`~pyrt.messages.TradeReceived`/:class:`~pyrt.messages.QuoteReceived` and
publishes it on a :class:`pyrt.runtime.bus.Bus`, where one subscriber task counts messages. The rate is
counted from the first batch to the last.

Baseline in the same run: ``decode_only``, the feed's own ``decode_frame`` over the same frames
(no socket, no bus), i.e. the decode floor. Both encodings' decode floors are printed; the
socket path runs the chosen encoding (default msgpack, what Alpaca's SDKs use).

Run: ``python tools/bench/bench_ingest.py [--messages N] [--batch B] [--repeats R]
[--encoding msgpack|json] [--seed S]``. The last line is one JSON object; ``msgs_per_s`` is the
median socket→bus rate, ``decode_only_msgs_per_s`` the median decode floor. Target (issue #3):
``msgs_per_s`` ≥ 500,000.
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

import msgpack
import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import WallClock
from pyrt.venues.alpaca import AlpacaFeed

SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "QQQ", "AMD", "TSLA", "AMZN", "META", "GOOG")
START_NS = 1_704_210_704_000_000_000
PUSH_DELAY = 0.2  # seconds between the subscription reply and the first data frame


def make_items(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = round(100.0 + rng.random() * 50.0, 2)
        ts = START_NS + i * 1_000
        if i % 2:
            items.append(
                {
                    "T": "t",
                    "S": symbol,
                    "i": i,
                    "x": "V",
                    "p": price,
                    "s": rng.randint(1, 500),
                    "c": ["@"],
                    "t": ts,
                    "z": "C",
                }
            )
        else:
            items.append(
                {
                    "T": "q",
                    "S": symbol,
                    "bx": "V",
                    "bp": price,
                    "bs": rng.randint(1, 9) * 100,
                    "ax": "V",
                    "ap": round(price + 0.01 * rng.randint(1, 5), 2),
                    "as": rng.randint(1, 9) * 100,
                    "c": ["R"],
                    "t": ts,
                    "z": "C",
                }
            )
    return items


def _rfc3339(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def make_frames(n: int, batch: int, encoding: str, seed: int) -> list[str | bytes]:
    """Pre-encode the frames as the server sends them (``t`` as Timestamp or RFC 3339 text)."""
    items = make_items(n, seed)
    frames: list[str | bytes] = []
    for start in range(0, n, batch):
        chunk = items[start : start + batch]
        if encoding == "msgpack":
            packed = [{**item, "t": msgpack.Timestamp.from_unix_nano(item["t"])} for item in chunk]
            frames.append(msgpack.packb(packed, use_bin_type=True))
        else:
            frames.append(orjson.dumps([{**item, "t": _rfc3339(item["t"])} for item in chunk]).decode())
    return frames


# ------------------------------------------------------------------------------ server process


async def serve(args: argparse.Namespace) -> None:
    frames = make_frames(args.messages, args.batch, args.encoding, args.seed)

    def encode(message: dict[str, object]) -> str | bytes:
        if args.encoding == "msgpack":
            packed: bytes = msgpack.packb([message], use_bin_type=True)
            return packed
        return orjson.dumps([message]).decode()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.send_message(encode({"T": "success", "msg": "connected"}))
            await ws.get_message()  # auth
            await ws.send_message(encode({"T": "success", "msg": "authenticated"}))
            await ws.get_message()  # subscribe
            await ws.send_message(
                encode({"T": "subscription", "trades": list(SYMBOLS), "quotes": list(SYMBOLS)})
            )
            await trio.sleep(PUSH_DELAY)
            for frame in frames:
                await ws.send_message(frame)
            await ws.get_message()  # until the client goes
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve_websocket, handler, "127.0.0.1", 0, None, receive_buffer_size=256 * 1024)
        )
        print(server.port, flush=True)


# ------------------------------------------------------------------------------ measurements


def decode_only(frames: list[str | bytes], encoding: str) -> float:
    feed = AlpacaFeed(
        url="ws://127.0.0.1:1/v2/iex",
        key_id="k",
        secret_key="s",
        clock=WallClock(),
        rng=random.Random(0),
        encoding=encoding,  # type: ignore[arg-type]
    )
    decode = feed.decode_frame
    count = 0
    start = time.perf_counter()
    for frame in frames:
        count += len(decode(frame))
    elapsed = time.perf_counter() - start
    assert not feed.statistics().items_dropped, feed.statistics()
    return count / elapsed


async def through_socket(port: int, n: int, encoding: str) -> float:
    bus = Bus()
    inbox = bus.subscribe("market.", name="counter")
    feed = AlpacaFeed(
        url=f"ws://127.0.0.1:{port}/v2/iex",
        key_id="k",
        secret_key="s",
        clock=WallClock(),
        rng=random.Random(0),
        encoding=encoding,  # type: ignore[arg-type]
        silence_timeout=60.0,
    )
    done = trio.Event()
    first_at = 0.0
    first_size = 0
    last_at = 0.0
    count = 0

    async def consume() -> None:
        nonlocal count, first_at, first_size, last_at
        async for batch in inbox:
            if not count:
                first_at = time.perf_counter()
                first_size = len(batch)
            count += len(batch)
            if count >= n:
                last_at = time.perf_counter()
                done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await nursery.start(feed.run, SYMBOLS, bus.publish_batch)
        await done.wait()
        nursery.cancel_scope.cancel()
    stats = feed.statistics()
    assert (stats.messages, stats.disconnects) == (n, 0), stats
    return (n - first_size) / (last_at - first_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100, help="messages per frame")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--encoding", choices=("msgpack", "json"), default="msgpack")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve, args)
        return

    floors: dict[str, float] = {}
    for encoding in ("msgpack", "json"):
        frames = make_frames(args.messages, args.batch, encoding, args.seed)
        decode_only(frames, encoding)  # warm-up (caches, allocator)
        floors[encoding] = statistics.median(decode_only(frames, encoding) for _ in range(args.repeats))
        print(f"decode only ({encoding:7}): {floors[encoding]:12,.0f} msgs/s  (median of {args.repeats})")

    command = [
        sys.executable,
        __file__,
        "--serve",
        "--messages",
        str(args.messages),
        "--batch",
        str(args.batch),
    ]
    command += ["--encoding", args.encoding, "--seed", str(args.seed)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        rates = [
            trio.run(through_socket, port, args.messages, args.encoding) for _ in range(args.repeats + 1)
        ][1:]
    finally:
        server.terminate()
        server.wait(10)
    rate = statistics.median(rates)
    floor = floors[args.encoding]
    print(
        f"socket → feed → bus ({args.encoding}, {args.batch}/frame): {rate:12,.0f} msgs/s  "
        f"(median of {args.repeats}; runs {', '.join(f'{r:,.0f}' for r in rates)})"
    )
    print(f"ratio to the decode floor: {rate / floor:.2f}")
    print(json.dumps({"msgs_per_s": round(rate), "decode_only_msgs_per_s": round(floor)}))


if __name__ == "__main__":
    main()

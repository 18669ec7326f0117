"""Publish→deliver cost on the bus, against a bare trio memory channel in the same run.

Three measurements, each the median of REPEATS runs of N messages through one hop
(one publisher task, one consumer task):

- bare channel: ``await send.send(msg)`` / ``async for msg in receive`` on a trio memory channel;
- unbatched: ``bus.publish(msg)``, one message per item;
- batched: ``bus.publish_batch(batch)`` with batches of 100 messages.

Targets (issue #2): batched ≥ 2,000,000 msgs/s; unbatched within 1.5× of the bare channel.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import trio

from pyrt.messages import TradeReceived
from pyrt.runtime.bus import DEFAULT_BUFFER, Bus


def make_messages(n: int, seed: int) -> list[TradeReceived]:
    rng = random.Random(seed)
    return [
        TradeReceived(
            symbol=rng.choice(("AAPL", "MSFT", "SPY")),
            price=round(100 + rng.random(), 2),
            size=float(rng.randint(1, 500)),
            ts_event=i,
            ts_init=i,
        )
        for i in range(n)
    ]


async def bare(msgs: list[TradeReceived]) -> float:
    send, receive = trio.open_memory_channel[TradeReceived](DEFAULT_BUFFER)
    count = 0

    async def consume() -> None:
        nonlocal count
        async for _ in receive:
            count += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        async with send:
            for m in msgs:
                await send.send(m)
    elapsed = time.perf_counter() - start
    assert count == len(msgs)
    return len(msgs) / elapsed


async def via_bus(msgs: list[TradeReceived], batch_size: int) -> float:
    bus = Bus()
    inbox = bus.subscribe("market.", name="bench")
    count = 0

    async def consume() -> None:
        nonlocal count
        async for batch in inbox:
            count += len(batch)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        if batch_size == 1:
            for m in msgs:
                await bus.publish(m)
        else:
            for i in range(0, len(msgs), batch_size):
                await bus.publish_batch(msgs[i : i + batch_size])
        bus.close()
    elapsed = time.perf_counter() - start
    assert count == len(msgs), (count, len(msgs))
    return len(msgs) / elapsed


async def main_async(n: int, repeats: int) -> dict[str, float]:
    msgs = make_messages(n, seed=42)
    results: dict[str, list[float]] = {"bare": [], "unbatched": [], "batched": []}
    for _ in range(repeats):  # interleaved, so machine noise hits all three alike
        results["bare"].append(await bare(msgs))
        results["unbatched"].append(await via_bus(msgs, 1))
        results["batched"].append(await via_bus(msgs, 100))
    return {k: statistics.median(v) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200_000, help="messages per run")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    med = trio.run(main_async, args.n, args.repeats)
    print(f"messages per run: {args.n:,}, repeats: {args.repeats}, medians:")
    print(f"  bare trio channel     {med['bare']:>14,.0f} msgs/s  ({1e6 / med['bare']:.3f} µs/msg)")
    print(f"  bus, unbatched        {med['unbatched']:>14,.0f} msgs/s  ({1e6 / med['unbatched']:.3f} µs/msg)")
    print(f"  bus, batches of 100   {med['batched']:>14,.0f} msgs/s  ({1e6 / med['batched']:.3f} µs/msg)")
    print(f"  unbatched cost / bare cost: {med['bare'] / med['unbatched']:.2f}x (target <= 1.5x)")
    print(f"  batched speed / bare speed: {med['batched'] / med['bare']:.1f}x (target >= 2,000,000 msgs/s)")
    print(
        json.dumps(
            {
                "batched_msgs_per_s": round(med["batched"]),
                "unbatched_msgs_per_s": round(med["unbatched"]),
                "bare_channel_msgs_per_s": round(med["bare"]),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Bars in → signals out through the real SignalActor on a Bus, against the strategy driven directly.

The strategy is the SMA crossover (fast 10, slow 30, subscribed to the bars' timeframe, so the
actor's bar filter is on the path) over seeded geometric-Brownian-motion bars of SYMBOLS symbols,
generated with ``random.Random(seed)`` outside the timed region.

- actor: one trio run; a publisher task sends the bars with ``bus.publish_batch`` in batches of
  ``--batch`` (what one clock tick of bar closes looks like), the SignalActor (StrategyDriver
  inside) turns them into ``signal.generated`` batches, and a consumer task counts them. The
  clock stops when every task is blocked again: all bars consumed, all signals received.
- unbatched: the same with batches of one bar (a hop per bar), on fewer bars.
- baseline: the same strategy class driven directly, ``set_time`` + ``handle_bar`` per bar and
  ``drain_signals`` per batch: no actor, no bus, no trio.

Each figure is the median of ``--repeats`` runs. Target (issue #4): >= 100,000 bars/s through the
actor (the seed's Python bridge topped out near 1,000 signals/s).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time

import trio
import trio.testing

from pyrt.messages import BarReceived, SignalGenerated
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import WallClock
from pyrt.strategy import SmaCrossover
from pyrt.strategy.actor import SignalActor

SYMBOLS = 10
TIMEFRAME = "1s"
START_NS = 1_767_312_000 * 1_000_000_000


def make_bars(n: int, seed: int) -> list[BarReceived]:
    """``n`` bars, round-robin over SYMBOLS symbols, each a GBM path with 1 s steps."""
    rng = random.Random(seed)
    prices = [rng.uniform(20.0, 300.0) for _ in range(SYMBOLS)]
    bars = []
    for i in range(n):
        s = i % SYMBOLS
        step = i // SYMBOLS
        open_ = prices[s]
        close = round(open_ * math.exp(rng.gauss(0.0, 0.002)), 2)
        prices[s] = close
        high = round(max(open_, close) * (1 + abs(rng.gauss(0.0, 0.0005))), 2)
        low = round(min(open_, close) * (1 - abs(rng.gauss(0.0, 0.0005))), 2)
        ts = START_NS + step * 1_000_000_000
        bars.append(
            BarReceived(
                symbol=f"S{s:02d}",
                timeframe=TIMEFRAME,
                open=round(open_, 2),
                high=max(high, round(open_, 2), close),
                low=min(low, round(open_, 2), close),
                close=close,
                volume=float(rng.randint(100, 10_000)),
                ts_event=ts,
                ts_init=ts,
            )
        )
    return bars


def strategy() -> SmaCrossover:
    return SmaCrossover(fast=10, slow=30, quantity=100, timeframe=TIMEFRAME)


def batches(bars: list[BarReceived], size: int) -> list[list[BarReceived]]:
    return [bars[i : i + size] for i in range(0, len(bars), size)]


def time_direct(chunks: list[list[BarReceived]]) -> tuple[float, int]:
    sma = strategy()
    handle = sma.handle_bar
    signals = 0
    start = time.perf_counter()
    for chunk in chunks:
        sma.set_time(chunk[-1].ts_event)
        for bar in chunk:
            handle(bar)
        signals += len(sma.drain_signals())
    elapsed = time.perf_counter() - start
    return elapsed, signals


async def _through_actor(chunks: list[list[BarReceived]], result: list[float]) -> None:
    bus = Bus()
    ctx = ActorContext(bus=bus, clock=WallClock(), rng=random.Random(0))
    actor = SignalActor(strategy)
    received = 0

    async def count_signals(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal received
        with bus.subscribe(SignalGenerated, name="bench") as inbox:
            task_status.started()
            async for batch in inbox:
                received += len(batch)

    async with trio.open_nursery() as nursery:
        await nursery.start(count_signals)
        await nursery.start(actor.run, ctx)
        start = time.perf_counter()
        for chunk in chunks:
            await bus.publish_batch(chunk)
        await trio.testing.wait_all_tasks_blocked()  # the actor and the counter are idle again
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    assert received == actor.signals, (received, actor.signals)
    result.extend((elapsed, float(received)))


def time_actor(chunks: list[list[BarReceived]]) -> tuple[float, int]:
    result: list[float] = []
    trio.run(_through_actor, chunks, result)
    return result[0], int(result[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200_000, help="bars per repeat")
    parser.add_argument("--batch", type=int, default=1_000, help="bars per published batch")
    parser.add_argument("--unbatched", type=int, default=20_000, help="bars for the one-bar-per-batch run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    bars = make_bars(args.n, args.seed)
    chunks = batches(bars, args.batch)
    singles = batches(bars[: args.unbatched], 1)
    time_direct(chunks[:10])  # warm up: imports, first allocations
    time_actor(chunks[:10])

    runs: dict[str, list[float]] = {"direct": [], "actor": [], "unbatched": []}
    signals: dict[str, int] = {}
    for _ in range(args.repeats):  # interleaved, so machine noise hits each alike
        for key, fn, data in (
            ("direct", time_direct, chunks),
            ("actor", time_actor, chunks),
            ("unbatched", time_actor, singles),
        ):
            elapsed, count = fn(data)
            runs[key].append(elapsed)
            signals[key] = count
    assert signals["direct"] == signals["actor"], signals  # same decisions through the actor
    med = {k: statistics.median(v) for k, v in runs.items()}
    rate = {
        "direct": args.n / med["direct"],
        "actor": args.n / med["actor"],
        "unbatched": args.unbatched / med["unbatched"],
    }
    signals_per_s = signals["actor"] / med["actor"]

    print(
        f"SMA crossover 10/30 on {args.n:,} GBM bars ({SYMBOLS} symbols, {TIMEFRAME}), "
        f"{signals['actor']:,} signals; batches of {args.batch}; median of {args.repeats}:"
    )
    print(f"  baseline: strategy driven directly    {rate['direct']:>12,.0f} bars/s")
    print(
        f"  SignalActor on a Bus                  {rate['actor']:>12,.0f} bars/s "
        f"({1e6 / rate['actor']:.2f} µs/bar, {signals_per_s:,.0f} signals/s)"
    )
    print(
        f"  SignalActor, one bar per batch        {rate['unbatched']:>12,.0f} bars/s ({args.unbatched:,} bars)"
    )
    print(f"  actor / direct: {rate['actor'] / rate['direct']:.2f}x of the direct rate")
    print(
        f"  target: >= 100,000 bars/s through the actor -> {'met' if rate['actor'] >= 100_000 else 'NOT met'}"
    )
    print(
        json.dumps(
            {
                "bars_per_s": round(rate["actor"]),
                "baseline_bars_per_s": round(rate["direct"]),
                "ratio_vs_baseline": round(rate["actor"] / rate["direct"], 3),
                "unbatched_bars_per_s": round(rate["unbatched"]),
                "signals_per_s": round(signals_per_s),
                "signals": signals["actor"],
            }
        )
    )


if __name__ == "__main__":
    main()

"""Per-update latency of the order book, against a bare dict update in the same run.

Each update is one ``BookReceived`` delta with one level, applied through ``BookManager.apply``
(dispatch by symbol, then ``OrderBook.apply``) to one of SYMBOLS books of ~50 levels per side.
The deltas are generated from ``random.Random(seed)`` in chunks, outside the timed region, with
the mix a live crypto feed shows: mostly size changes near the top, some inserts and removes.
Every call is timed on its own with ``time.perf_counter_ns()``; the cost of the two timer calls is
measured the same way (an empty timed region) and reported, and the percentiles are shown both
raw and net of its median. The baseline is ``d[price] = size`` on a plain dict, timed the same way.

Memory: ``tracemalloc`` around building 100 books of ~50 levels per side from snapshots (the
messages are dropped before measuring, so what remains is what the books hold).

Target (issue #4): p99 <= 5 µs per update. The JSON figures are raw (timer included) medians
of the repeats.
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import random
import statistics
import time
import tracemalloc

from pyrt.marketdata.book import BookManager
from pyrt.messages import BookLevel, BookReceived

SYMBOLS = 10
LEVELS = 50  # per side, on average
GRID = 100  # price slots per side; about half are occupied
TICK = 0.5
CHUNK = 100_000


class _Model:
    """What one symbol's book holds, so generated deltas stay meaningful (uncrossed)."""

    def __init__(self, symbol: str, mid: float, rng: random.Random) -> None:
        self.symbol = symbol
        self.mid = mid
        slots = list(range(1, GRID + 1))
        # slot k on a side is k ticks away from the mid; the book holds LEVELS of them
        self.bids = sorted(rng.sample(slots, LEVELS))
        self.asks = sorted(rng.sample(slots, LEVELS))

    def price(self, is_bid: bool, slot: int) -> float:
        return round(self.mid - slot * TICK if is_bid else self.mid + slot * TICK, 2)

    def snapshot(self, rng: random.Random, ts: int) -> BookReceived:
        return BookReceived(
            symbol=self.symbol,
            bids=tuple(BookLevel(price=self.price(True, k), size=_size(rng)) for k in self.bids),
            asks=tuple(BookLevel(price=self.price(False, k), size=_size(rng)) for k in self.asks),
            reset=True,
            ts_event=ts,
            ts_init=ts,
        )

    def delta(self, rng: random.Random, ts: int) -> BookReceived:
        is_bid = rng.random() < 0.5
        held = self.bids if is_bid else self.asks
        roll = rng.random()
        # keep the side near LEVELS: inserts and removes balance around it
        remove_p = 0.10 + 0.02 * (len(held) - LEVELS)
        if roll < 0.80 or (roll < 0.80 + remove_p and len(held) <= 1):
            slot = held[min(int(rng.expovariate(0.25)), len(held) - 1)]  # near the top
            size = _size(rng)
        elif roll < 0.80 + remove_p:
            slot = held.pop(min(int(rng.expovariate(0.1)), len(held) - 1))
            size = 0.0
        else:
            free = [k for k in range(1, GRID + 1) if k not in held] or [GRID + len(held)]
            slot = free[min(int(rng.expovariate(0.1)), len(free) - 1)]
            held.append(slot)
            held.sort()
            size = _size(rng)
        level = (BookLevel(price=self.price(is_bid, slot), size=size),)
        return BookReceived(
            symbol=self.symbol,
            bids=level if is_bid else (),
            asks=() if is_bid else level,
            ts_event=ts,
            ts_init=ts,
        )


def _size(rng: random.Random) -> float:
    return round(rng.uniform(0.001, 5.0), 3)


def _percentiles(samples: array.array[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return ordered[n // 2] / 1000.0, ordered[min(n - 1, (n * 99) // 100)] / 1000.0


def time_book(n: int, seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    models = [_Model(f"S{i:03d}/USD", 100.0 + 10.0 * i, rng) for i in range(SYMBOLS)]
    manager = BookManager()
    for model in models:
        manager.apply(model.snapshot(rng, 0))
    apply = manager.apply
    clock = time.perf_counter_ns
    samples = array.array("q", bytes(8 * n))
    done = 0
    while done < n:
        count = min(CHUNK, n - done)
        msgs = [rng.choice(models).delta(rng, done + i) for i in range(count)]
        for i, msg in enumerate(msgs, done):
            t0 = clock()
            apply(msg)
            samples[i] = clock() - t0
        done += count
    stats = manager.statistics()
    assert stats.totals.deltas == n, stats
    assert stats.totals.crossed == stats.totals.unknown_removals == 0, stats
    return _percentiles(samples)


def time_dict(n: int, seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    d = {round(100.0 + k * TICK, 2): 1.0 for k in range(LEVELS)}
    keys = list(d)
    pairs = [(rng.choice(keys), _size(rng)) for _ in range(min(n, CHUNK))]
    clock = time.perf_counter_ns
    samples = array.array("q", bytes(8 * n))
    for i in range(n):
        price, size = pairs[i % len(pairs)]
        t0 = clock()
        d[price] = size
        samples[i] = clock() - t0
    return _percentiles(samples)


def time_timer(n: int) -> tuple[float, float]:
    clock = time.perf_counter_ns
    samples = array.array("q", bytes(8 * n))
    for i in range(n):
        t0 = clock()
        samples[i] = clock() - t0
    return _percentiles(samples)


def bytes_per_symbol(books: int, seed: int) -> float:
    rng = random.Random(seed)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    manager = BookManager()
    for i in range(books):
        snapshot = _Model(f"M{i:03d}/USD", 100.0 + i, rng).snapshot(rng, 0)
        manager.apply(snapshot)
    del snapshot
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(manager) == books
    return (after - before) / books


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="updates per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    per_symbol = bytes_per_symbol(100, args.seed)
    runs: dict[str, list[tuple[float, float]]] = {"book": [], "dict": [], "timer": []}
    for r in range(args.repeats):  # interleaved, so machine noise hits all three alike
        runs["timer"].append(time_timer(args.n))
        runs["dict"].append(time_dict(args.n, args.seed + r))
        runs["book"].append(time_book(args.n, args.seed + r))
    med = {
        k: (statistics.median(p50 for p50, _ in v), statistics.median(p99 for _, p99 in v))
        for k, v in runs.items()
    }
    overhead = med["timer"][0]
    print(
        f"updates per repeat: {args.n:,} ({SYMBOLS} books, ~{LEVELS} levels per side), "
        f"repeats: {args.repeats}, medians (µs):"
    )
    print(f"  timer pair (empty region)       p50 {med['timer'][0]:7.3f}  p99 {med['timer'][1]:7.3f}")
    for key, label in (("dict", "baseline d[price] = size"), ("book", "BookManager.apply, one level")):
        p50, p99 = med[key]
        print(
            f"  {label:<31} p50 {p50:7.3f}  p99 {p99:7.3f}   "
            f"net of timer: p50 {p50 - overhead:7.3f}  p99 {p99 - overhead:7.3f}"
        )
    print(
        f"  book / baseline (net of timer): p50 "
        f"{(med['book'][0] - overhead) / max(med['dict'][0] - overhead, 1e-3):.1f}x, p99 "
        f"{(med['book'][1] - overhead) / max(med['dict'][1] - overhead, 1e-3):.1f}x"
    )
    print(f"  target: p99 <= 5 µs per update -> {'met' if med['book'][1] <= 5.0 else 'NOT met'}")
    print(f"  memory: {per_symbol:,.0f} bytes per symbol (100 books, ~{LEVELS} levels per side)")
    print(
        json.dumps(
            {
                "p50_us": round(med["book"][0], 3),
                "p99_us": round(med["book"][1], 3),
                "baseline_p99_us": round(med["dict"][1], 3),
                "bytes_per_symbol": round(per_symbol),
            }
        )
    )


if __name__ == "__main__":
    main()

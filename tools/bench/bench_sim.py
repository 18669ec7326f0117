"""Benchmark: the whole tree on virtual time (``pyrt sim --venue sim``), wall seconds per session.

The default config with 10 symbols: :class:`~pyrt.venues.sim.SimVenue` steps its market every
``tick_interval`` (0.1 s) and each step makes one quote per symbol (and a trade with
probability 0.3), so 10 quotes/s per symbol, 100 quotes/s in all, plus trades, bars, signals,
orders and fills. Each repeat runs :func:`pyrt.modes.simulation.run_simulation` for
``--minutes`` virtual minutes, journal included (to a temp directory), and the 6.5-hour
session's wall time is that run's scaled by 6.5 h / its length; ``--full`` also runs the
whole 6.5 h once and reports that measurement instead (``session_measured`` says which).

Baseline in the same run: the bare market, :meth:`MarketSimulator.step` for the same ticks
with every message encoded as the journal does (no tree, no trio): the floor of making and
recording the market. Logging is set up as ``pyrt`` sets it (WARNING) but written to
``os.devnull``. ``--venue local`` (the embedded venue through the simulated network) is
measured by :func:`local_session_wall_s`, ``null`` until ``pyrt.venues.simnet`` lands.

Run: ``python tools/bench/bench_sim.py [--minutes M] [--repeats R] [--full] [--seed S]``.
The last line is one JSON object starting with ``events_per_s`` (journal records per wall
second), ``session_wall_s``, ``compression`` (virtual / wall) and ``local_session_wall_s``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from pyrt.config import PyrtConfig, load_config
from pyrt.messages import encode
from pyrt.modes.simulation import DEFAULT_START_NS, run_simulation
from pyrt.runtime.clock import NS_PER_SECOND
from pyrt.venues.sim import MarketSimulator

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "SPY", "QQQ", "AMD")
SESSION_S = 6.5 * 3600
TICK_INTERVAL = 0.1  # SimVenue's default: one quote per symbol per tick → 10 quotes/s per symbol
TARGET_SESSION_S = 40.0


def make_config(seed: int) -> PyrtConfig:
    return load_config(env={}, overrides={"run.seed": seed, "symbols": list(SYMBOLS)})


def time_sim(config: PyrtConfig, duration: float, directory: Path) -> tuple[float, int, int, float]:
    """Return (wall seconds, journal records, filled orders, CPU seconds) of one simulated run."""
    path = directory / "sim.pyrtj"
    cpu = time.process_time()
    start = time.perf_counter()
    summary = run_simulation(config, journal_path=path, duration=duration)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    path.unlink()
    return wall, summary.journal_records, summary.status.count("order.filled"), cpu


def time_bare_market(seed: int, duration: float) -> tuple[float, int]:
    """Return (wall seconds, messages) of stepping and encoding the market alone."""
    market = MarketSimulator(list(SYMBOLS), random.Random(seed))
    ticks = round(duration / TICK_INTERVAL)
    step_ns = round(TICK_INTERVAL * NS_PER_SECOND)
    now = DEFAULT_START_NS
    count = 0
    size = 0
    start = time.perf_counter()
    for _ in range(ticks):
        for msg in market.step(now):
            size += len(encode(msg))
            count += 1
        now += step_ns
    wall = time.perf_counter() - start
    assert size > 0
    return wall, count


def local_session_wall_s(seed: int, duration: float) -> float | None:
    # --venue local: the Alpaca client against the embedded venue over the simulated network
    # (pyrt.venues.simnet, issue 10). Until it lands there is nothing to run; then this runs it
    # for `duration` virtual seconds like time_sim and returns the 6.5 h session's wall seconds
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="virtual minutes per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also run the whole 6.5 h session once")
    parser.add_argument("--seed", type=int, default=20240607)
    args = parser.parse_args()
    # as `pyrt` configures it (WARNING, its format), into the void: every rejection the demo
    # strategy meets is formatted as it would be on a terminal, without flooding this one
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    logging.basicConfig(
        level=logging.WARNING, stream=devnull, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    duration = args.minutes * 60.0
    scale = SESSION_S / duration
    config = make_config(args.seed)
    walls: list[float] = []
    records: list[int] = []
    fills: list[int] = []
    cpus: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        directory = Path(tmp)
        time_sim(config, 10.0, directory)  # warm-up: imports, numba, codec caches
        for _ in range(args.repeats):
            wall, n, filled, cpu = time_sim(config, duration, directory)
            cpus.append(cpu)
            walls.append(wall)
            records.append(n)
            fills.append(filled)
            bare_wall, market_messages = time_bare_market(args.seed, duration)
            bare.append(bare_wall)
        full_wall: float | None = None
        if args.full:
            full_wall, full_records, _, _ = time_sim(config, SESSION_S, directory)

    wall = statistics.median(walls)
    events = statistics.median(records)
    events_per_s = events / wall
    session_wall = full_wall if full_wall is not None else wall * scale
    compression = SESSION_S / session_wall
    bare_wall = statistics.median(bare)
    local = local_session_wall_s(args.seed, duration)

    print(
        f"{len(SYMBOLS)} symbols, tick {TICK_INTERVAL} s ({1 / TICK_INTERVAL:.0f} quotes/s per symbol), "
        f"{args.minutes:g} virtual min per repeat, {args.repeats} repeats, medians"
    )
    print(
        f"  tree (--venue sim)     {wall:>8.2f} s wall   {events:>10,.0f} journal records   {events_per_s:>10,.0f} events/s"
    )
    print(
        f"  CPU of the process     {statistics.median(cpus):>8.2f} s (wall minus waiting for a core on a busy machine)"
    )
    print(f"  fills per run          {statistics.median(fills):>8,.0f}")
    how = "measured once" if full_wall is not None else f"scaled x{scale:g} from {args.minutes:g} min"
    print(f"  6.5 h session          {session_wall:>8.1f} s wall ({how}), compression {compression:,.0f}x")
    print(
        f"  baseline bare market   {bare_wall:>8.2f} s wall   {market_messages:>10,} messages "
        f"(step + encode, no tree)   tree / bare {wall / bare_wall:.2f}x"
    )
    print(
        "  --venue local          "
        + (f"{local:.1f} s per 6.5 h" if local is not None else "not yet (simnet)")
    )
    status = "meets" if session_wall <= TARGET_SESSION_S else "MISSES"
    print(f"  target 6.5 h <= {TARGET_SESSION_S:g} s: {status}")
    print(
        json.dumps(
            {
                "events_per_s": round(events_per_s, 1),
                "session_wall_s": round(session_wall, 2),
                "compression": round(compression, 1),
                "local_session_wall_s": None if local is None else round(local, 2),
                "session_measured": full_wall is not None,
                "full_session_records": full_records if full_wall is not None else None,
                "run_virtual_s": duration,
                "run_wall_s": round(wall, 3),
                "run_cpu_s": round(statistics.median(cpus), 3),
                "run_records": events,
                "bare_market_wall_s": round(bare_wall, 3),
                "ratio_vs_bare_market": round(wall / bare_wall, 2),
                "symbols": len(SYMBOLS),
                "quotes_per_s_per_symbol": round(1 / TICK_INTERVAL),
                "repeats": args.repeats,
                "local_note": "null until pyrt.venues.simnet (--venue local) lands",
            }
        )
    )


if __name__ == "__main__":
    main()

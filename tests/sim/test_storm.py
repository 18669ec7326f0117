"""A REST fault storm on virtual time: the whole tree comes through it and trades on by itself.

Issue 8 §1 and §1b: under 429 bursts, 5xx, slow replies and replies lost after the venue took the
order, the tree froze (two blocking channels in a cycle) or drove a long-only strategy short
(late intents sent after the one before them failed). The same storm here, seeded, on trio's
MockClock against the in-process venue; the checks are the ones ``tools/storm.py`` makes against a
real ``pyrt run``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import trio
import trio.testing

from pyrt.config import load_config
from pyrt.messages import (
    Message,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    SignalGenerated,
)
from pyrt.modes.simulation import DEFAULT_START_NS
from pyrt.modes.tree import TradingTree
from pyrt.runtime.clock import VirtualClock, make_rng, seed_trio_scheduler
from pyrt.runtime.journal import JournalReader, JournalWriter
from pyrt.venues.sim import SimFaults
from pyrt.venues.sim.venue import SimVenue

NS = 1_000_000_000
CALM = SimFaults()
STORM = SimFaults(
    submit_rate_limited=0.3,
    submit_unavailable=0.25,
    submit_timeout=0.15,
    submit_delay=0.2,
    submit_delay_seconds=12.0,
    request_unavailable=0.3,
    retry_after=1.0,
)
STORM_FROM, STORM_TO, END = 20.0, 80.0, 140.0


async def storm_run(seed: int, journal_path: Path) -> tuple[SimVenue, TradingTree]:
    config = load_config(env={}, overrides={"run.seed": seed, "symbols": ["AAPL", "MSFT"]})
    clock = VirtualClock(DEFAULT_START_NS)
    rng = make_rng(seed)
    venue = SimVenue(config.symbols, clock=clock, rng=rng, starting_cash=config.risk.starting_cash)
    with JournalWriter.create(journal_path, metadata={"seed": seed}) as journal:
        tree = TradingTree(
            config, feed=venue, broker=venue, clock=clock, rng=rng, journal=journal, virtual_time=True
        )

        async def plan() -> None:
            await clock.sleep(STORM_FROM)
            venue.faults = STORM
            await clock.sleep(STORM_TO - STORM_FROM)
            venue.faults = CALM

        async with trio.open_nursery() as nursery:
            nursery.start_soon(plan)
            with trio.fail_after(END * 10):  # virtual: a frozen tree never reaches its end
                await tree.run(duration=END)
    return venue, tree


def run_storm(seed: int, journal_path: Path) -> tuple[SimVenue, TradingTree, list[Message]]:
    seed_trio_scheduler(seed)
    venue, tree = trio.run(storm_run, seed, journal_path, clock=trio.testing.MockClock(autojump_threshold=0))
    return venue, tree, list(JournalReader(journal_path))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tree_comes_through_a_rest_storm_and_trades_on(tmp_path: Path, seed: int) -> None:
    venue, tree, messages = run_storm(seed, tmp_path / "storm.pyrtj")

    injected = venue.statistics().faults_injected
    assert injected >= 10, "the storm must actually hit the run"
    submitted = Counter(m.client_order_id for m in messages if isinstance(m, OrderSubmitted))
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    ended = {m.client_order_id for m in messages if isinstance(m, OrderCanceled | OrderRejected)}
    ended |= {f.client_order_id for f in fills if f.leaves_quantity == 0}
    venue_orders = venue.engine.orders()
    at_venue = Counter(o.client_order_id for o in venue_orders)
    open_at_venue = {o.client_order_id for o in venue_orders if o.is_open}

    # one intent, at most one order: nothing sent twice, nothing at the venue pyrt did not send
    assert [cid for cid, n in submitted.items() if n > 1] == []
    assert [cid for cid, n in at_venue.items() if n > 1] == []
    assert set(at_venue) <= set(submitted)
    # nothing stuck: every order pyrt sent ended, or is still working at the venue
    assert [cid for cid in submitted if cid not in ended and cid not in open_at_venue] == []
    # what pyrt holds is what the venue holds, and the long-only strategy is never short
    venue_positions = {p.symbol: p.qty for p in venue.engine.positions() if p.qty}
    run_positions = {p.symbol: p.quantity for p in tree.portfolio.positions() if p.quantity}
    assert run_positions.keys() == venue_positions.keys()
    for symbol, qty in venue_positions.items():
        assert math.isclose(run_positions[symbol], qty, abs_tol=1e-9), symbol
        assert qty >= 0, f"long-only strategy short {qty} {symbol}"
    # trading resumed by itself once the storm stopped
    calm_ns = DEFAULT_START_NS + round((STORM_TO + 5) * NS)
    assert sum(1 for m in messages if isinstance(m, SignalGenerated) and m.ts_init > calm_ns) > 0
    assert sum(1 for f in fills if f.ts_init > calm_ns) > 0
    assert tree.risk_engine.state.value == "active"

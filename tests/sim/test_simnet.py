"""The Alpaca client against the embedded venue's server code over the simulated network.

Everything runs on trio's MockClock (autojump): every network delay, retry and reconnect is a
sleep on virtual time, and every fault is drawn from a seeded RNG.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs
import pytest
import trio
import trio.testing

from pyrt.config import load_config
from pyrt.errors import TransportError
from pyrt.messages import (
    BarReceived,
    Heartbeat,
    Message,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
)
from pyrt.modes.simulation import DEFAULT_START_NS
from pyrt.modes.tree import TradingTree
from pyrt.runtime.clock import VirtualClock, make_rng, seed_trio_scheduler
from pyrt.runtime.journal import JournalReader, JournalWriter
from pyrt.venues.simnet import LocalSimulation, NetworkFaults, Partition, open_local_venue

START_NS = 1_767_312_000 * 1_000_000_000
ROOT = Path(__file__).resolve().parents[2]


class Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = trio.Event()

    async def emit(self, batch: Sequence[Message]) -> None:
        self.messages.extend(batch)
        self._changed.set()
        self._changed = trio.Event()
        await trio.lowlevel.checkpoint()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()


def order(client_order_id: str, *, quantity: float = 5.0, symbol: str = "AAPL") -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        ts_event=0,
        ts_init=0,
    )


async def test_clean_network_carries_rest_and_market_data(autojump_clock: trio.testing.MockClock) -> None:
    clock = VirtualClock(START_NS)
    async with open_local_venue(clock=clock, rng=random.Random(1), symbols=["AAPL", "MSFT"]) as local:
        account = await local.broker.get_account()
        placed = await local.broker.submit_order(order("c-1"))
        quotes = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.feed.run, ["AAPL", "MSFT"], quotes.emit)
            await quotes.wait_for(lambda: sum(isinstance(m, QuoteReceived) for m in quotes.messages) >= 20)
            nursery.cancel_scope.cancel()

    assert account.cash > 0
    assert placed.client_order_id == "c-1"
    assert local.network.statistics().connections >= 2


def venue_orders(local: LocalSimulation, client_order_id: str) -> int:
    return sum(1 for o in local.venue.engine.orders() if o.client_order_id == client_order_id)


def quote_count(collector: Collector) -> int:
    return sum(isinstance(m, QuoteReceived) for m in collector.messages)


async def test_reset_mid_frame_makes_the_feed_reconnect_and_resubscribe(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(START_NS)
    faults = NetworkFaults(reset_probability=0.01)
    async with open_local_venue(
        clock=clock, rng=random.Random(2), symbols=["AAPL"], network_faults=faults
    ) as local:
        stocks = local.feed.stocks
        assert stocks is not None
        quotes = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.feed.run, ["AAPL"], quotes.emit)
            await quotes.wait_for(lambda: stocks.statistics().connects >= 3)
            before = quote_count(quotes)
            await quotes.wait_for(lambda: quote_count(quotes) >= before + 10)
            nursery.cancel_scope.cancel()

    injected = dict(local.network.statistics().faults_injected)
    assert injected["reset"] >= 2
    assert stocks.statistics().disconnects >= 2
    assert stocks.statistics().items_dropped == {}  # a frame cut short is never half-decoded


async def test_lost_reply_after_accept_is_found_by_lookup_without_a_duplicate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(START_NS)
    async with open_local_venue(clock=clock, rng=random.Random(3), symbols=["AAPL"]) as local:
        await local.broker.get_account()
        clean = local.network.faults
        local.network.faults = attrs.evolve(clean, lost_reply_probability=1.0)
        with pytest.raises(TransportError):
            await local.broker.submit_order(order("lost-1"))
        local.network.faults = clean
        found = await local.broker.get_order_by_client_id("lost-1")

    assert found is not None
    assert found.client_order_id == "lost-1"
    assert venue_orders(local, "lost-1") == 1
    assert dict(local.network.statistics().faults_injected)["lost_reply"] == 1


async def test_partition_holds_the_order_and_a_lookup_after_it_heals_prevents_a_duplicate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(START_NS)
    async with open_local_venue(clock=clock, rng=random.Random(4), symbols=["AAPL"]) as local:
        await local.broker.get_account()
        network = local.network
        network.faults = attrs.evolve(
            network.faults, partitions=(Partition(start=network.elapsed, duration=30.0),)
        )
        started = trio.current_time()
        with pytest.raises(TransportError):
            await local.broker.submit_order(order("part-1"))  # no reply within the 10 s timeout
        timed_out = trio.current_time() - started
        while True:  # the execution engine's rule: look up before resubmitting
            try:
                found = await local.broker.get_order_by_client_id("part-1")
                break
            except TransportError:
                continue
        if found is None:
            await local.broker.submit_order(order("part-1"))
        healed = trio.current_time() - started

    assert timed_out == pytest.approx(10.0)
    assert healed >= 30.0
    assert venue_orders(local, "part-1") == 1
    assert dict(network.statistics().faults_injected)["partition_held"] >= 1


async def test_slow_reader_keeps_backpressure_and_nothing_deadlocks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(START_NS)
    faults = NetworkFaults(
        slow_reader_probability=1.0, slow_reader_window=512, slow_reader_bytes_per_second=400.0
    )
    async with open_local_venue(
        clock=clock, rng=random.Random(5), symbols=["AAPL", "MSFT"], network_faults=faults
    ) as local:
        quotes = Collector()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.feed.run, ["AAPL", "MSFT"], quotes.emit)
            ticks = local.venue.statistics().ticks
            await clock.sleep(60.0)
            placed = await local.broker.submit_order(order("slow-1"))  # REST is not held up by the feed
            nursery.cancel_scope.cancel()
        stats = local.venue.statistics()

    assert placed.client_order_id == "slow-1"
    assert stats.ticks - ticks >= 60.0 / 0.05 - 1  # the market never waited on the slow reader
    assert quote_count(quotes) > 0
    network = local.network.statistics()
    assert dict(network.faults_injected)["slow_reader"] >= 1
    # the venue's writer waited on the window: the reader got a fraction of what was sent
    assert network.peak_in_flight <= NetworkFaults().window
    assert quote_count(quotes) < stats.data_frames_sent / 2


# ------------------------------------------------------------------ the whole tree over simnet

HARSH = NetworkFaults(
    latency=0.002,
    jitter=0.003,
    reset_probability=0.002,
    lost_reply_probability=0.05,
    partitions=(Partition(start=12.0, duration=4.0),),
)


async def simulate_local(
    seed: int, journal_path: Path, *, duration: float, faults: NetworkFaults
) -> LocalSimulation:
    config = load_config(env={}, overrides={"run.seed": seed, "symbols": ["AAPL", "MSFT"]})
    clock = VirtualClock(DEFAULT_START_NS)
    rng = make_rng(seed)
    async with open_local_venue(
        clock=clock,
        rng=rng,
        symbols=config.symbols,
        network_faults=faults,
        starting_cash=config.risk.starting_cash,
        rate_limit_per_minute=config.execution.rate_limit_per_minute,
        max_retries=config.execution.max_retries,
        reconnect_delay_secs=config.market_data.reconnect_delay_secs,
    ) as local:
        with JournalWriter.create(
            journal_path, metadata={"mode": "simulation", "venue": "local", "seed": seed}
        ) as journal:
            tree = TradingTree(
                config,
                feed=local.feed,
                broker=local.broker,
                clock=clock,
                rng=rng,
                journal=journal,
                virtual_time=True,
            )
            await tree.run(duration=duration)
    return local


def run_local_session(seed: int, journal_path: str, duration: float = 20.0) -> None:
    """Run one short ``--venue local`` session in this process (the determinism test's child).

    Raises:
        AssertionError: trio finalized an async generator that was garbage collected unfinished:
            the task it starts for that shifts trio's seeded scheduler, so journals would follow
            garbage collection.
    """
    seed_trio_scheduler(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)  # trio's finalizer warns, then starts its task
        trio.run(
            functools.partial(simulate_local, seed, Path(journal_path), duration=duration, faults=HARSH),
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    abandoned = [str(w.message) for w in caught if str(w.message).startswith("Async generator")]
    assert not abandoned, abandoned


@pytest.mark.slow
async def test_tree_trades_over_a_faulty_network_without_duplicate_orders(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    local = await simulate_local(7, tmp_path / "j.pyrtj", duration=40.0, faults=HARSH)

    messages = list(JournalReader(tmp_path / "j.pyrtj"))
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    submitted = [m for m in messages if isinstance(m, OrderSubmitted)]
    assert fills
    ids = [o.client_order_id for o in local.venue.engine.orders()]
    assert len(ids) == len(set(ids))  # no intent became two orders at the venue
    assert set(ids) <= {m.client_order_id for m in submitted}
    network = local.network.statistics()
    injected = dict(network.faults_injected)
    assert injected.get("reset", 0) + injected.get("lost_reply", 0) >= 1
    assert injected.get("partition_held", 0) + network.connects_held >= 1


#: Children that lay memory out differently: trio breaks a tie between two wake-ups due at one
#: virtual instant by object address (cancel scopes in its deadline heap, tasks in sets), not by
#: its seeded RNG, and addresses follow the hash seed and garbage collection. Before issue 10's
#: fix, a --venue local run of seed 11 journaled an extra heartbeat at its end in some of these
#: and not in others (which ones depends on the checkout: in one, only the gc-off child did).
CHILDREN: Final = (("0", True), ("1", True), ("2", True), ("3", False))

_CHILD: Final = (
    "import gc, sys\n"
    "if sys.argv[3] == 'off': gc.disable()\n"
    "from tests.sim.test_simnet import run_local_session\n"
    "run_local_session(int(sys.argv[1]), sys.argv[2])\n"
)


def _run_child(seed: int, path: Path, *, hash_seed: str, gc_enabled: bool = True) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    args = [sys.executable, "-c", _CHILD, str(seed), str(path), "on" if gc_enabled else "off"]
    subprocess.run(args, check=True, cwd=ROOT, env=env, timeout=300)
    return path.read_bytes()


@pytest.mark.slow
def test_same_seed_gives_byte_identical_journal_across_processes_and_another_seed_does_not(
    tmp_path: Path,
) -> None:
    journals = [
        _run_child(11, tmp_path / f"a{i}.pyrtj", hash_seed=h, gc_enabled=gc_on)
        for i, (h, gc_on) in enumerate(CHILDREN)
    ]
    other = _run_child(12, tmp_path / "c.pyrtj", hash_seed="0")

    assert all(journal == journals[0] for journal in journals[1:])
    assert journals[0] != other
    end_ns = DEFAULT_START_NS + 20 * 1_000_000_000
    periodic = (Heartbeat, BarReceived)
    late = [
        m for m in JournalReader(tmp_path / "a0.pyrtj") if isinstance(m, periodic) and m.ts_init >= end_ns
    ]
    assert late == []  # nothing periodic at or after the run's end (issue 10)

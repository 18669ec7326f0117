"""Reconciliation while running: a venue whose account changed under the run halts it."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from pyrt.config import load_config
from pyrt.messages import ControlCommand, OrderSubmitted, OrderType, Side, TimeInForce, TradingStateChanged
from pyrt.modes.tree import TradingTree
from pyrt.runtime.clock import VirtualClock, make_rng
from pyrt.runtime.journal import JournalReader, JournalWriter
from pyrt.venues.sim.venue import SimVenue

START_NS = 1_767_312_000 * 1_000_000_000


def test_a_position_changed_behind_the_runs_back_halts_it_after_two_rounds(tmp_path: Path) -> None:
    path = tmp_path / "j.pyrtj"
    config = load_config(
        env={},
        overrides={"run.seed": 3, "symbols": ["AAPL"], "execution.reconcile_interval_secs": 5.0},
    )
    seen: dict[str, object] = {}

    async def main() -> None:
        clock = VirtualClock(START_NS)
        rng = make_rng(3)
        venue = SimVenue(config.symbols, clock=clock, rng=rng, tick_interval=0.1)
        with JournalWriter.create(path, metadata={}) as journal:
            tree = TradingTree(
                config, feed=venue, broker=venue, clock=clock, rng=rng, journal=journal, virtual_time=True
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: tree.run(duration=60.0, task_status=task_status))
                await clock.sleep(12.0)  # virtual: a few clean rounds first
                seen["before"] = tree.risk_engine.state.value
                now = clock.now_ns()
                await venue.submit_order(  # someone else trades the account
                    OrderSubmitted(
                        client_order_id="outsider-1",
                        symbol="AAPL",
                        side=Side.BUY,
                        quantity=7.0,
                        order_type=OrderType.MARKET,
                        time_in_force=TimeInForce.DAY,
                        ts_event=now,
                        ts_init=now,
                    )
                )
                await clock.sleep(20.0)  # virtual: two rounds and more
                seen["after"] = tree.risk_engine.state.value
                assert tree.reconciler is not None
                seen["halts"] = tree.reconciler.halts_requested

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert seen == {"before": "active", "after": "halted", "halts": 1}
    messages = list(JournalReader(path))
    commands = [m for m in messages if isinstance(m, ControlCommand)]
    assert [(c.command, c.source) for c in commands] == [("halt", "reconciler")]
    assert "positions differ" in commands[0].reason
    assert "AAPL" in commands[0].reason
    halted = [m for m in messages if isinstance(m, TradingStateChanged) and m.state == "halted"]
    assert len(halted) == 1
    assert halted[0].automatic

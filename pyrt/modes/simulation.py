"""Simulation mode: the whole tree on virtual time against the in-process venue, reproducible by seed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Final

import trio
import trio.testing

from ..config import PyrtConfig, config_to_dict
from ..runtime.clock import NS_PER_SECOND, VirtualClock, make_rng, seed_trio_scheduler
from ..runtime.journal import JournalWriter
from ..strategy import Strategy
from ..venues.sim.venue import SimVenue
from .live import pyrt_version
from .tree import RunSummary, TradingTree

__all__ = ["DEFAULT_START_NS", "run_simulation", "simulate"]

DEFAULT_START_NS: Final = 1_767_312_000 * NS_PER_SECOND  # 2026-01-02T00:00:00Z


async def simulate(
    config: PyrtConfig,
    *,
    journal_path: Path,
    duration: float,
    start_ns: int = DEFAULT_START_NS,
    strategy_factory: Callable[[], Strategy] | None = None,
    tick_interval: float = 0.1,
) -> RunSummary:
    """Run the tree for ``duration`` virtual seconds; call inside a run on a ``MockClock``.

    Same config (seed included) and same start: the same journal, byte for byte.
    """
    clock = VirtualClock(start_ns)
    rng = make_rng(config.run.seed)
    venue = SimVenue(
        config.symbols,
        clock=clock,
        rng=rng,
        tick_interval=tick_interval,
        starting_cash=config.risk.starting_cash,
    )
    metadata: dict[str, object] = {
        "pyrt_version": pyrt_version(),
        "mode": "simulation",
        "venue": "sim",
        "seed": config.run.seed,
        "start_ns": start_ns,
        "duration": duration,
        "config": config_to_dict(config),
    }
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    with JournalWriter.create(journal_path, metadata=metadata) as journal:
        tree = TradingTree(
            config,
            feed=venue,
            broker=venue,
            clock=clock,
            rng=rng,
            journal=journal,
            strategy_factory=strategy_factory,
            virtual_time=True,
        )
        return await tree.run(duration=duration)


def run_simulation(
    config: PyrtConfig,
    *,
    journal_path: Path,
    duration: float,
    start_ns: int = DEFAULT_START_NS,
    strategy_factory: Callable[[], Strategy] | None = None,
) -> RunSummary:
    """Run :func:`simulate` in its own trio run, on an autojumping ``MockClock``, seeded.

    Raises:
        pyrt.errors.SupervisionError: an actor crashed past the restart intensity.
    """
    seed_trio_scheduler(config.run.seed)
    return trio.run(
        functools.partial(
            simulate,
            config,
            journal_path=journal_path,
            duration=duration,
            start_ns=start_ns,
            strategy_factory=strategy_factory,
        ),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )

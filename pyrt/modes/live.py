"""Live mode: the tree on the wall clock against a venue (the in-process sim venue for now)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import trio

from ..clock import WallClock, make_rng
from ..config import PyrtConfig, config_to_dict
from ..journal import JournalWriter
from ..venues.sim.venue import SimVenue
from .tree import RunStatus, RunSummary, TradingTree

__all__ = ["default_journal_path", "pyrt_version", "run_live"]

logger = logging.getLogger(__name__)


def pyrt_version() -> str:
    """Return the installed pyrt version."""
    try:
        return version("pyrt")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def default_journal_path(config: PyrtConfig, now: dt.datetime) -> Path:
    """Return ``<data_dir>/journals/<UTC date and time>.pyrtj`` for a session started at ``now``."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return config.run.data_dir / "journals" / f"{stamp}.pyrtj"


async def run_live(
    config: PyrtConfig,
    *,
    journal_path: Path | None = None,
    duration: float | None = None,
    on_status: Callable[[RunStatus], None] | None = None,
    on_started: Callable[[Path], None] | None = None,
    stop: trio.Event | None = None,
) -> RunSummary:
    """Run the trading tree on the wall clock until ``duration`` passes or ``stop`` is set.

    Raises:
        pyrt.errors.ConfigError: the configured venue is not available in this mode.
        pyrt.errors.JournalError: the journal cannot be created.
        pyrt.errors.SupervisionError: an actor crashed past the restart intensity.
    """
    clock = WallClock()
    rng = make_rng(config.run.seed)
    started = dt.datetime.fromtimestamp(clock.now_ns() / 1e9, dt.UTC)
    path = journal_path if journal_path is not None else default_journal_path(config, started)
    path.parent.mkdir(parents=True, exist_ok=True)
    venue = SimVenue(
        config.symbols,
        clock=clock,
        rng=rng,
        tick_interval=0.05,
        starting_cash=config.risk.starting_cash,
    )
    metadata: dict[str, object] = {
        "pyrt_version": pyrt_version(),
        "mode": "live",
        "venue": config.run.venue,
        "seed": config.run.seed,
        "started_at": started.isoformat(),
        "config": config_to_dict(config),
    }
    with JournalWriter.create(path, metadata=metadata) as journal:
        tree = TradingTree(config, feed=venue, broker=venue, clock=clock, rng=rng, journal=journal)
        if on_started is not None:
            on_started(path)
        return await tree.run(duration=duration, on_status=on_status, stop=stop)

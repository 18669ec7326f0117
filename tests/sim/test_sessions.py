"""A strategy in the whole tree sees the session boundary: bars stop at the close, resume at the open."""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path

import pytest
import trio
import trio.testing

from pyrt.config import load_config
from pyrt.messages import BarReceived
from pyrt.modes.tree import TradingTree
from pyrt.runtime.clock import VirtualClock, make_rng
from pyrt.runtime.journal import JournalWriter
from pyrt.strategy import Strategy
from pyrt.venues.calendar import NYSE
from pyrt.venues.sim.venue import SimVenue

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def ny(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()) * 10**9


class BarWatcher(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.bars: list[BarReceived] = []

    def on_bar(self, bar: BarReceived) -> None:
        self.bars.append(bar)


@pytest.mark.slow
def test_a_strategy_sees_bars_stop_at_the_close_and_resume_after_the_gap(tmp_path: Path) -> None:
    watchers: list[BarWatcher] = []

    def factory() -> Strategy:
        watchers.append(BarWatcher())
        return watchers[-1]

    async def main() -> None:
        clock = VirtualClock(ny("2026-01-08 15:50"))
        config = load_config(env={}, overrides={"run.seed": 5, "symbols": ["AAPL"]})
        rng = make_rng(5)
        venue = SimVenue(config.symbols, clock=clock, rng=rng, tick_interval=0.5, calendar=NYSE)
        with JournalWriter.create(tmp_path / "j.pyrtj", metadata={}) as journal:
            tree = TradingTree(
                config,
                feed=venue,
                broker=venue,
                clock=clock,
                rng=rng,
                journal=journal,
                strategy_factory=factory,
                virtual_time=True,
            )
            await tree.run(duration=(ny("2026-01-09 09:45") - ny("2026-01-08 15:50")) / 1e9)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    watcher = watchers[-1]  # the first one was the tree's probe
    before = [bar for bar in watcher.bars if bar.ts_event < ny("2026-01-08 16:00")]
    after = [bar for bar in watcher.bars if bar.ts_event > ny("2026-01-08 16:00")]
    assert before
    assert after
    assert max(bar.ts_event for bar in before) <= ny("2026-01-08 16:00")
    assert min(bar.ts_event for bar in after) >= ny("2026-01-09 09:30")
    assert len(after) >= 10  # a bar a minute again, from 09:30 on
    assert after[0].open != before[-1].close  # the open gaps from the last close

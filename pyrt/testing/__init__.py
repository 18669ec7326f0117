"""Test helpers for strategy authors and venue implementers (and pyrt's own tests).

- **Virtual time**: :func:`run_virtual` runs an async test on trio's ``MockClock`` (sleeps,
  timeouts and retries take no real time), :func:`virtual_context` gives an actor a bus, a
  :class:`~pyrt.runtime.VirtualClock` and a seeded random source.
- **A fake broker**: :func:`fake_venue` builds a seeded :class:`~pyrt.venues.sim.SimVenue`, the
  in-process exchange that implements the broker and market-data protocols, faults included.
- **Feeding a strategy**: :func:`bar` and :func:`bars_from_closes` make bars,
  :func:`approval_of` and :func:`fill_of` make the answers to its signals, and
  :func:`replay_bars` feeds it bars, fills each intent at once and returns what it traded.

Example, a strategy's rules on a few bars::

    from pyrt.messages import Side
    from pyrt.strategy import SmaCrossover
    from pyrt.testing import bars_from_closes, replay_bars

    strategy = SmaCrossover(fast=2, slow=3, quantity=10)
    orders = replay_bars(strategy, bars_from_closes([5, 4, 3, 6, 7, 4, 3, 2, 5, 6]))
    assert [(o.bar_index, o.side) for o in orders] == [(3, Side.BUY), (5, Side.SELL), (8, Side.BUY)]
"""

from __future__ import annotations

from ._strategy import (
    ReplayedOrder as ReplayedOrder,
    approval_of as approval_of,
    bar as bar,
    bars_from_closes as bars_from_closes,
    fill_all as fill_all,
    fill_of as fill_of,
    replay_bars as replay_bars,
)
from ._time import (
    DEFAULT_START_NS as DEFAULT_START_NS,
    run_virtual as run_virtual,
    virtual_context as virtual_context,
)
from ._venue import fake_venue as fake_venue

__all__ = [
    "DEFAULT_START_NS",
    "ReplayedOrder",
    "approval_of",
    "bar",
    "bars_from_closes",
    "fake_venue",
    "fill_all",
    "fill_of",
    "replay_bars",
    "run_virtual",
    "virtual_context",
]

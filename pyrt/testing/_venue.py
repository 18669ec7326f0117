"""A fake venue for tests: the in-process exchange, seeded, as broker and market-data feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..runtime.clock import make_rng
from ..venues.sim import SimFaults, SimVenue

if TYPE_CHECKING:
    from ..runtime.clock import Clock

__all__ = ["fake_venue"]


def fake_venue(
    symbols: Sequence[str],
    *,
    clock: Clock,
    seed: int = 0,
    tick_interval: float = 0.1,
    start_prices: Mapping[str, float] | None = None,
    starting_cash: float = 100_000.0,
    faults: SimFaults | None = None,
) -> SimVenue:
    """Return a seeded :class:`~pyrt.venues.sim.SimVenue`: a fake broker and feed in one.

    The simulated venue already implements the :class:`~pyrt.venues.Broker` and
    :class:`~pyrt.venues.MarketDataFeed` protocols (orders, fills, positions, account, quotes),
    so a test needs no other fake: hand it to an actor or a tree as ``broker=`` and ``feed=``.
    The same seed gives the same market path and the same fills. ``faults`` injects rate limits,
    5xx errors, timeouts and dropped updates, to test a venue client's or an actor's handling.

    Args:
        symbols: what the venue lists.
        clock: the run's clock (a :class:`~pyrt.runtime.VirtualClock` in tests).
        seed: seeds the market, the matching engine and the faults.
        tick_interval: seconds between two market steps.
        start_prices: first price per symbol; the simulator's default if ``None``.
        starting_cash: the account's cash at the start.
        faults: failures to inject; none if ``None``.
    """
    return SimVenue(
        symbols,
        clock=clock,
        rng=make_rng(seed),
        tick_interval=tick_interval,
        start_prices=start_prices,
        starting_cash=starting_cash,
        faults=faults,
    )

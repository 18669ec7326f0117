"""The in-process simulated exchange: a matching engine, a market simulator and SimVenue.

- :class:`MatchingEngine` is the synchronous exchange-and-broker core (Alpaca semantics); the
  Alpaca-compatible server in ``pyrt.venues.local`` runs on it too.
- :class:`MarketSimulator` makes seeded random-walk quotes and trades.
- :class:`SimVenue` puts both behind the :class:`pyrt.venues.MarketDataFeed` and
  :class:`pyrt.venues.Broker` protocols, on the run's clock, with optional :class:`SimFaults`.
"""

from __future__ import annotations

from .engine import (
    EngineAccount as EngineAccount,
    EngineEvent as EngineEvent,
    EngineOrder as EngineOrder,
    EnginePosition as EnginePosition,
    EngineRejected as EngineRejected,
    EngineStatistics as EngineStatistics,
    MatchingEngine as MatchingEngine,
)
from .market import MarketSimulator as MarketSimulator
from .venue import SimFaults as SimFaults, SimVenue as SimVenue, SimVenueStatistics as SimVenueStatistics

__all__ = [
    "EngineAccount",
    "EngineEvent",
    "EngineOrder",
    "EnginePosition",
    "EngineRejected",
    "EngineStatistics",
    "MarketSimulator",
    "MatchingEngine",
    "SimFaults",
    "SimVenue",
    "SimVenueStatistics",
]

"""The in-process simulated exchange: a matching engine, its account, a market simulator and SimVenue.

- :class:`MatchingEngine` (``matching.py``) is the synchronous exchange-and-broker core (Alpaca
  semantics); the Alpaca-compatible server in ``pyrt.venues.local`` runs on it too.
- :class:`SimAccount` (``account.py``) holds the engine's cash and average-cost positions and
  values them as :class:`EnginePosition` and :class:`EngineAccount`.
- :class:`MarketSimulator` makes seeded random-walk quotes and trades.
- :class:`SimVenue` puts both behind the :class:`pyrt.venues.MarketDataFeed` and
  :class:`pyrt.venues.Broker` protocols, on the run's clock, with optional :class:`SimFaults`.
"""

from __future__ import annotations

from .account import (
    EngineAccount as EngineAccount,
    EnginePosition as EnginePosition,
    SimAccount as SimAccount,
)
from .market import MarketSimulator as MarketSimulator
from .matching import (
    EngineEvent as EngineEvent,
    EngineOrder as EngineOrder,
    EngineRejected as EngineRejected,
    EngineStatistics as EngineStatistics,
    MatchingEngine as MatchingEngine,
)
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
    "SimAccount",
    "SimFaults",
    "SimVenue",
    "SimVenueStatistics",
]

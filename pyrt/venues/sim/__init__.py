"""The in-process simulated exchange: a matching engine, a market simulator and SimVenue.

- :class:`MatchingEngine` is the synchronous exchange-and-broker core (Alpaca semantics); the
  Alpaca-compatible server in ``pyrt.venues.local`` runs on it too.
- :class:`MarketSimulator` makes seeded random-walk quotes and trades.
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

__all__ = [
    "EngineAccount",
    "EngineEvent",
    "EngineOrder",
    "EnginePosition",
    "EngineRejected",
    "EngineStatistics",
    "MarketSimulator",
    "MatchingEngine",
]

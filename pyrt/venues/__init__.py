"""Venues: what the actors talk to. Every venue implements the two protocols below.

- :class:`MarketDataFeed` pushes batches of ``market.*`` messages.
- :class:`Broker` takes orders and pushes ``order.*`` updates.

Implementations: ``pyrt.venues.sim`` (in-process exchange, virtual time),
``pyrt.venues.local`` (an Alpaca-compatible server on 127.0.0.1) and ``pyrt.venues.alpaca``
(the Alpaca wire client, for Alpaca itself or the local server). The client and the local
server write and read Alpaca's scalars (decimal strings, numbers, RFC 3339) through one private
module, ``_alpaca_wire.py``; each keeps its side-specific shapes in its own ``_wire.py``.
"""

from __future__ import annotations

from ._protocols import (
    AccountSnapshot as AccountSnapshot,
    Broker as Broker,
    Emit as Emit,
    MarketDataFeed as MarketDataFeed,
    VenueOrder as VenueOrder,
    VenuePosition as VenuePosition,
)

__all__ = ["AccountSnapshot", "Broker", "Emit", "MarketDataFeed", "VenueOrder", "VenuePosition"]

"""The Alpaca wire client: market data (WebSocket) and order entry (REST + trade_updates).

The same classes talk to Alpaca itself (paper or live) and to pyrt's local Alpaca-compatible
venue: :func:`open_alpaca_venue` builds both halves from one base URL.

- :class:`AlpacaBroker` implements :class:`pyrt.venues.Broker` (REST v2 + ``trade_updates``).
- :class:`AlpacaFeed` implements :class:`pyrt.venues.MarketDataFeed` for one data endpoint;
  :class:`RoutedFeed` sends stock symbols to one feed and crypto pairs to another.
- :class:`UnsupportedOrder`: an Alpaca order pyrt cannot represent (trailing stop, bracket …),
  refused rather than reshaped.
"""

from __future__ import annotations

from ._broker import AlpacaBroker as AlpacaBroker, AlpacaBrokerStatistics as AlpacaBrokerStatistics
from ._feed import (
    AlpacaFeed as AlpacaFeed,
    AlpacaFeedStatistics as AlpacaFeedStatistics,
    RoutedFeed as RoutedFeed,
)
from ._venue import (
    AlpacaEndpoints as AlpacaEndpoints,
    AlpacaVenue as AlpacaVenue,
    alpaca_endpoints as alpaca_endpoints,
    open_alpaca_venue as open_alpaca_venue,
)
from ._wire import UnsupportedOrder as UnsupportedOrder
from ._ws import StreamConnector as StreamConnector

__all__ = [
    "AlpacaBroker",
    "AlpacaBrokerStatistics",
    "AlpacaEndpoints",
    "AlpacaFeed",
    "AlpacaFeedStatistics",
    "AlpacaVenue",
    "RoutedFeed",
    "StreamConnector",
    "UnsupportedOrder",
    "alpaca_endpoints",
    "open_alpaca_venue",
]

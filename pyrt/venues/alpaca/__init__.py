"""The Alpaca wire client: market data (WebSocket) and order entry (REST + trade_updates)."""

from __future__ import annotations

from ._broker import AlpacaBroker as AlpacaBroker, AlpacaBrokerStatistics as AlpacaBrokerStatistics
from ._feed import (
    AlpacaFeed as AlpacaFeed,
    AlpacaFeedStatistics as AlpacaFeedStatistics,
    RoutedFeed as RoutedFeed,
)

__all__ = ["AlpacaBroker", "AlpacaBrokerStatistics", "AlpacaFeed", "AlpacaFeedStatistics", "RoutedFeed"]

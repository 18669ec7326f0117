"""Market data: order books, bars from trades, the screen every venue frame passes, and the
market-data actor that puts a feed onto the bus.
"""

from __future__ import annotations

from .actor import MarketDataActor as MarketDataActor, MarketDataStatistics as MarketDataStatistics
from .bars import (
    BarAggregator as BarAggregator,
    BarResampler as BarResampler,
    BarStatistics as BarStatistics,
    parse_timeframe as parse_timeframe,
)
from .book import BookManager as BookManager, BookMode as BookMode, OrderBook as OrderBook
from .screen import MarketDataScreen as MarketDataScreen, ScreenStatistics as ScreenStatistics

__all__ = [
    "BarAggregator",
    "BarResampler",
    "BarStatistics",
    "BookManager",
    "BookMode",
    "MarketDataActor",
    "MarketDataScreen",
    "MarketDataStatistics",
    "OrderBook",
    "ScreenStatistics",
    "parse_timeframe",
]

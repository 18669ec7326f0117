"""Risk: limits and reason codes, the trading state, the pre-trade engine, the portfolio, and the
risk actor (the thin trio shell around the engine). ``specs/risk.md`` numbers its invariants.
"""

from __future__ import annotations

from .actor import RiskActor as RiskActor
from .engine import (
    OpenOrderView as OpenOrderView,
    RiskEngine as RiskEngine,
    RiskStatistics as RiskStatistics,
)
from .ids import client_order_id_for as client_order_id_for
from .limits import REASON_CODES as REASON_CODES, RiskLimits as RiskLimits
from .portfolio import (
    Portfolio as Portfolio,
    PortfolioStatistics as PortfolioStatistics,
    PositionView as PositionView,
)
from .state import TradingState as TradingState, TradingStateChange as TradingStateChange

__all__ = [
    "REASON_CODES",
    "OpenOrderView",
    "Portfolio",
    "PortfolioStatistics",
    "PositionView",
    "RiskActor",
    "RiskEngine",
    "RiskLimits",
    "RiskStatistics",
    "TradingState",
    "TradingStateChange",
    "client_order_id_for",
]

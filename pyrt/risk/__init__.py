"""Risk: the pre-trade checks and everything they stand on, one module per job.

- :mod:`~pyrt.risk.limits`: :class:`RiskLimits` (built from ``RiskConfig``) and the reason codes;
- :mod:`~pyrt.risk.state`: the trading state machine and New York trading sessions;
- :mod:`~pyrt.risk.ids`: the client order id an approval carries;
- :mod:`~pyrt.risk.portfolio`: positions, cash and P&L;
- :mod:`~pyrt.risk.engine`: :class:`RiskEngine`, the checks and open-order reservations;
- :mod:`~pyrt.risk.actor`: :class:`RiskActor`, the thin trio shell around the engine.

``specs/risk.md`` numbers the engine's invariants.
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

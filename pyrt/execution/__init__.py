"""Execution: the order tracker (the one order state machine), the execution engine (the policy
as plain data) and the execution actor that performs its I/O.
"""

from __future__ import annotations

from .actor import ExecutionActor as ExecutionActor
from .engine import ExecutionEngine as ExecutionEngine, ExecutionStatistics as ExecutionStatistics
from .orders import (
    AnomalyKind as AnomalyKind,
    OrderAnomaly as OrderAnomaly,
    OrderState as OrderState,
    OrderTracker as OrderTracker,
    OrderView as OrderView,
)

__all__ = [
    "AnomalyKind",
    "ExecutionActor",
    "ExecutionEngine",
    "ExecutionStatistics",
    "OrderAnomaly",
    "OrderState",
    "OrderTracker",
    "OrderView",
]

"""Persistence: the SQLite store of orders, fills, positions and the trading state; reconciliation
with the venue; start-up recovery; and the actors that record and check while a run goes on.
"""

from __future__ import annotations

from .actor import StoreActor as StoreActor
from .reconcile import (
    ReconcileReport as ReconcileReport,
    SessionCheck as SessionCheck,
    reconcile as reconcile,
)
from .reconciler import ReconcilerActor as ReconcilerActor
from .recorder import RecorderActor as RecorderActor
from .recovery import Recovery as Recovery, recover as recover
from .store import Store as Store, StoredOrder as StoredOrder, StoredPosition as StoredPosition

__all__ = [
    "ReconcileReport",
    "ReconcilerActor",
    "RecorderActor",
    "Recovery",
    "SessionCheck",
    "Store",
    "StoreActor",
    "StoredOrder",
    "StoredPosition",
    "reconcile",
    "recover",
]

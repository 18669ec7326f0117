from __future__ import annotations

import logging
from typing import final

import trio

from ..messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskApproved,
    TradingStateChanged,
)
from ..runtime.actor import ActorContext
from .store import Store

logger = logging.getLogger(__name__)


@final
class StoreActor:
    """Keeps orders, fills and the trading state in SQLite, one transaction per bus batch.

    Started right after the recorder, so it is subscribed before risk approves anything. A batch
    is committed when it is read: a process killed with SIGKILL loses nothing already read (WAL),
    and the next start rebuilds from the store and reconciles with the venue.

    Args:
        store: the open store (the caller closes it).
    """

    def __init__(self, store: Store) -> None:
        self.name = "store"
        self._store = store

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        topics = (
            RiskApproved,
            OrderSubmitted,
            OrderAccepted,
            OrderFilled,
            OrderCanceled,
            OrderRejected,
            TradingStateChanged,
        )
        with ctx.bus.subscribe(*topics, name=self.name, buffer=256) as inbox:
            task_status.started()
            async for batch in inbox:
                self._store.record_many(batch)
                for msg in batch:
                    if isinstance(msg, TradingStateChanged):
                        self._store.record_trading_state(msg.state, msg.reason, msg.ts_event)

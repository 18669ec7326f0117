"""The store actor: keeps the bus's order messages and trading states in SQLite as a run goes on.

A thin trio shell over :class:`pyrt.persistence.store.Store`. Its commits run in a worker thread,
never on the event loop: on a slow disk an fsync may take tens of milliseconds, and the whole tree
would stall behind it (issue 9). What arrives while a commit is under way waits in the inbox and
goes into the next commit, so a slow disk makes transactions bigger, not the loop slower.
"""

from __future__ import annotations

import logging
from typing import Final, final

import trio

from ..messages import (
    Message,
    TradingStateChanged,
)
from ..runtime.actor import ActorContext
from ..runtime.bus import Subscription
from .store import RECORDED_TYPES, Store

__all__ = ["StoreActor"]

logger = logging.getLogger(__name__)

_TOPICS: Final = (*RECORDED_TYPES, TradingStateChanged)
_SHUTDOWN_SECONDS: Final = 5.0  # what a final commit at shutdown may take before it is given up


@final
class StoreActor:
    """Keeps orders, fills and the trading state in SQLite, one transaction per commit.

    Started right after the recorder, so it is subscribed before risk approves anything. Each
    commit takes every batch that has arrived since the last one, in bus order, and runs in one
    worker thread (a limiter of one: the store's calls never overlap, and commits stay in order).
    A process killed with SIGKILL loses nothing already committed (WAL); what was read but not yet
    committed is in the journal, and the next start rebuilds from the store and reconciles with
    the venue. When the actor is cancelled it still commits what it had read or was delivered,
    shielded and bounded in time.

    Args:
        store: the open store (the caller closes it).
    """

    def __init__(self, store: Store) -> None:
        self.name = "store"
        self._store = store
        self._limiter = trio.CapacityLimiter(1)
        self.commits = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with ctx.bus.subscribe(*_TOPICS, name=self.name, buffer=256) as inbox:
            task_status.started()
            pending: list[Message] = []
            try:
                async for batch in inbox:
                    pending.extend(batch)
                    _drain(inbox, pending)
                    await self._commit(pending)
            finally:
                with trio.move_on_after(_SHUTDOWN_SECONDS, shield=True) as scope:
                    _drain(inbox, pending)
                    if pending:
                        await self._commit(pending)
                if scope.cancelled_caught:
                    logger.error("store: %d message(s) not committed at shutdown (timed out)", len(pending))

    async def _commit(self, pending: list[Message]) -> None:
        # trio.to_thread.run_sync waits for the thread even when cancelled, so a commit is never
        # torn; the thread empties ``pending`` once it committed, so what a failed or interrupted
        # commit left there is committed at shutdown, and nothing twice
        await trio.to_thread.run_sync(self._write, pending, limiter=self._limiter)

    def _write(self, pending: list[Message]) -> None:
        store = self._store
        store.record_many(pending)
        for msg in pending:
            if isinstance(msg, TradingStateChanged):
                store.record_trading_state(msg.state, msg.reason, msg.ts_event)
        pending.clear()
        self.commits += 1


def _drain(inbox: Subscription, into: list[Message]) -> None:
    while True:
        try:
            into.extend(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return

"""The reconciler actor: compares the run with the venue every few seconds while it trades.

Each round reads the venue and hands it, with our positions, to
:class:`pyrt.persistence.reconcile.SessionCheck`; a disagreement becomes a ``control.command``
halt. Start-up reconciliation is :mod:`pyrt.persistence.recovery`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import final

import trio

from ..errors import VenueError
from ..messages import ControlCommand
from ..runtime.actor import ActorContext
from ..venues import Broker
from .reconcile import SessionCheck

logger = logging.getLogger(__name__)


@final
class ReconcilerActor:
    """Reconciles with the venue every ``interval`` seconds while the tree runs.

    Each round reads the venue's account (its id), open orders and positions and hands them,
    with ours, to a :class:`pyrt.persistence.reconcile.SessionCheck`. When that says the account changed
    under the run, the account may no longer trade, or positions differ, it publishes a ``control.command`` halt (source
    ``reconciler``): the risk actor applies it, publishes ``risk.state`` and the journal has
    both. It halts rather than reduces: with an account we no longer understand, a "reducing"
    order is judged against a position that may be wrong, and could open one. A venue that
    cannot be read this round is logged and tried again next round. It subscribes to nothing.
    No round starts at or after the run's end (``ctx.deadline``).

    Args:
        broker: the venue.
        positions: our signed quantity per symbol (the portfolio), read at each round.
        open_orders: how many orders we track as open, read at each round.
        interval: seconds between rounds, on the run's clock.
        confirmations: see :class:`pyrt.persistence.reconcile.SessionCheck`.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        positions: Callable[[], Mapping[str, float]],
        open_orders: Callable[[], int],
        interval: float,
        confirmations: int = 2,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, was {interval!r}")
        self.name = "reconciler"
        self._broker = broker
        self._positions = positions
        self._open_orders = open_orders
        self._interval = interval
        self.check = SessionCheck(confirmations=confirmations)  # kept across restarts: the first account
        self.rounds = 0
        self.failed_rounds = 0
        self.halts_requested = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await self.reconcile_once(ctx)
            await ctx.clock.sleep(self._interval)
            if ctx.deadline.passed():
                await trio.sleep_forever()  # the run is over: no round races the shutdown

    async def reconcile_once(self, ctx: ActorContext) -> str | None:
        """Run one round; return the halt reason it published, or None."""
        try:
            account = await self._broker.get_account()
            venue_open = await self._broker.list_open_orders()
            venue_positions = await self._broker.list_positions()
        except VenueError as exc:
            self.failed_rounds += 1
            logger.warning("reconcile: the venue could not be read (%d so far): %s", self.failed_rounds, exc)
            return None
        self.rounds += 1
        reason = self.check.check(
            account_id=account.account_id,
            ours=self._positions(),
            venue=venue_positions,
            open_orders=self._open_orders() + len(venue_open),
            account_problem=account.halt_reason(),
        )
        if reason is None:
            return None
        self.halts_requested += 1
        logger.error("%s; halting", reason)
        now = ctx.clock.now_ns()
        await ctx.bus.publish(
            ControlCommand(command="halt", reason=reason, source="reconciler", ts_event=now, ts_init=now)
        )
        return reason

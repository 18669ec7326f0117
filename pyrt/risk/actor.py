"""The risk actor: the trio shell around :class:`~pyrt.risk.engine.RiskEngine`.

It subscribes to signals (``block``), order outcomes and operator commands (``feedback``) and
marks (``conflate``), feeds each to the engine and publishes what the engine decided:
``risk.approved`` / ``risk.rejected`` per signal and ``risk.state`` per change of the trading
state. Which quote prices a mark is the quote's business (:attr:`~pyrt.messages.QuoteReceived.mid`);
every decision is the engine's; the actor holds no policy of its own.
"""

from __future__ import annotations

import logging
from typing import final

import attrs
import trio

from ..messages import (
    MARKING_TYPES,
    BarReceived,
    ControlApplied,
    ControlCommand,
    Message,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteReceived,
    RiskRejected,
    SignalGenerated,
    TradeReceived,
    TradingStateChanged,
    mark_price,
)
from ..runtime.actor import ActorContext
from ..runtime.bus import Batch, Policy, Subscription
from .engine import RiskEngine
from .state import TradingState

logger = logging.getLogger(__name__)


@final
class RiskActor:
    """Pre-trade risk: every ``signal.generated`` becomes ``risk.approved`` or ``risk.rejected``.

    Signals travel on a ``block`` subscription (nothing lost), order outcomes and commands on
    ``feedback`` ones (never blocking their publisher, applied before each batch of signals);
    marks come on a ``conflate`` one (the latest price per symbol is all risk needs). The engine
    lives on the actor, so a restart keeps positions and open-order reservations. Every change of
    the trading state (a daily-loss breach, an operator's halt) is published as ``risk.state`` and
    so journaled.

    Args:
        engine: the pre-trade checks, positions and P&L.
    """

    def __init__(self, engine: RiskEngine) -> None:
        self.name = "risk"
        self.engine = engine
        self._ctx: ActorContext | None = None
        self._cancel_on_halt = False

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with (
            ctx.bus.subscribe(SignalGenerated, name=self.name) as orders,
            # order outcomes flow back from execution: feedback, so execution never waits on risk
            # (two block channels in a cycle froze the tree, issue 8)
            ctx.bus.subscribe("order.", name=f"{self.name}.orders", policy=Policy.FEEDBACK) as outcomes,
            ctx.bus.subscribe(
                QuoteReceived, TradeReceived, BarReceived, name=f"{self.name}.marks", policy=Policy.CONFLATE
            ) as marks,
            # commands flow back upstream (execution, the reconciler): never block their publisher
            ctx.bus.subscribe(ControlCommand, name=f"{self.name}.control", policy=Policy.FEEDBACK) as control,
        ):
            self._ctx = ctx
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._marks, ctx, marks)
                    nursery.start_soon(self._control, ctx, control)
                    nursery.start_soon(self._outcomes, ctx, outcomes)
                    task_status.started()
                    async for batch in orders:
                        # apply any waiting marks first, so checks see the freshest prices
                        try:
                            self._apply_marks(marks.receive_nowait(), ctx.clock.now_ns())
                        except trio.WouldBlock:
                            pass
                        # and the order outcomes that arrived before these signals
                        self._drain_outcomes(outcomes, ctx.clock.now_ns())
                        out = self._decide(batch, ctx.clock.now_ns())
                        out.extend(self._state_messages(ctx.clock.now_ns()))
                        if out:
                            await ctx.bus.publish_batch(out)
                    nursery.cancel_scope.cancel()
            finally:
                self._ctx = None

    async def _outcomes(self, ctx: ActorContext, outcomes: Subscription) -> None:
        async for batch in outcomes:
            now = ctx.clock.now_ns()
            out = self._decide(batch, now)
            out.extend(self._state_messages(now))  # a fill can breach the daily loss
            if out:
                await ctx.bus.publish_batch(out)

    def _drain_outcomes(self, outcomes: Subscription, now: int) -> None:
        while True:
            try:
                batch = outcomes.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            self._decide(batch, now)

    def _decide(self, batch: Batch, now: int) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            if isinstance(msg, SignalGenerated):
                decision = self.engine.check(msg, now_ns=now)
                if isinstance(decision, RiskRejected):
                    logger.warning(
                        "rejected %s %s %s: %s (%s)",
                        msg.side,
                        msg.quantity,
                        msg.symbol,
                        decision.reason,
                        decision.reason_code,
                    )
                out.append(decision)
            elif isinstance(msg, OrderFilled):
                self.engine.on_fill(msg, now_ns=now)
            elif isinstance(msg, OrderCanceled | OrderRejected):
                self.engine.on_order_closed(msg.client_order_id, now_ns=now)
        return out

    def _state_messages(self, now: int, *, automatic: bool | None = None) -> list[Message]:
        # the engine logs each change once; logging it here too would say it twice
        out: list[Message] = []
        for change in self.engine.state_changes():
            cancel = change.state is TradingState.HALTED and self._cancel_on_halt
            out.append(
                TradingStateChanged(
                    state=change.state.value,
                    previous=change.previous.value,
                    reason=change.reason,
                    automatic=change.automatic if automatic is None else automatic,
                    cancel_open_orders=cancel,
                    ts_event=change.ts_event,
                    ts_init=now,
                )
            )
        self._cancel_on_halt = False
        return out

    async def _control(self, ctx: ActorContext, control: Subscription) -> None:
        async for batch in control:
            out: list[Message] = []
            for msg in batch:
                if isinstance(msg, ControlCommand):
                    out.extend(self._apply_command(msg, ctx.clock.now_ns()))
            if out:
                await ctx.bus.publish_batch(out)

    def _apply_command(self, command: ControlCommand, now: int) -> list[Message]:
        """Apply a ``control.command`` (halt, reduce, resume); return the ``risk.state`` it makes
        and the ``control.applied`` answer."""
        # the engine logs the change it makes, once; the requester logs why it asked
        logger.debug("%s requested by %s: %s", command.command, command.source, command.reason)
        if command.command == "halt":
            self._cancel_on_halt = command.cancel_orders
            self.engine.halt(command.reason, now_ns=now)
        elif command.command == "reduce":
            self.engine.reduce_only(command.reason, now_ns=now)
        else:
            self.engine.resume(command.reason, now_ns=now)
        out = self._state_messages(now, automatic=command.automatic)
        engine = self.engine
        out.append(
            ControlApplied(
                command=command.command,
                source=command.source,
                command_ts=command.ts_event,
                state=engine.state.value,
                state_reason=engine.state_reason,
                ts_event=now,
                ts_init=now,
            )
        )
        return out

    def positions(self) -> dict[str, float]:
        """Return the signed quantity of every symbol held now (flat ones left out), a snapshot."""
        return {p.symbol: p.quantity for p in self.engine.portfolio.positions() if p.quantity}

    def status(self) -> dict[str, object]:
        """Return the trading state, the limits in use and P&L per symbol, as plain data."""
        engine = self.engine
        pf = engine.portfolio
        return {
            "state": engine.state.value,
            "state_reason": engine.state_reason,
            "limits": {k: v for k, v in sorted(_limits(engine).items())},
            "positions": {
                p.symbol: {
                    "quantity": p.quantity,
                    "avg_price": p.avg_price,
                    "last_price": p.last_price,
                    "realized_pnl": p.realized_pnl,
                    "unrealized_pnl": p.unrealized_pnl,
                }
                for p in pf.positions()
            },
            "realized_pnl": pf.realized_pnl,
            "unrealized_pnl": pf.unrealized_pnl,
            "equity": pf.equity,
        }

    async def _marks(self, ctx: ActorContext, marks: Subscription) -> None:
        async for batch in marks:
            self._apply_marks(batch, ctx.clock.now_ns())
            changes = self._state_messages(ctx.clock.now_ns())  # a mark can breach the daily loss
            if changes:
                await ctx.bus.publish_batch(changes)

    def _apply_marks(self, batch: Batch, now: int) -> None:
        for msg in batch:
            if isinstance(msg, MARKING_TYPES):
                price = mark_price(msg)  # None for a crossed or one-sided quote: no mark
                if price is not None:
                    self.engine.on_mark(msg.symbol, price, now_ns=now)


def _limits(engine: RiskEngine) -> dict[str, object]:
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in attrs.asdict(engine.limits).items()}

"""The execution actor: a thin trio shell that performs what the execution engine decides.

It feeds approvals, quotes, trading-state changes and venue updates to
:class:`pyrt.execution.engine.ExecutionEngine` and performs the actions it returns (submits,
lookups, timers, cancels, publishes), each request in its own task so the inbox loop never
awaits the venue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, TypeVar, final

import trio

from ..errors import VenueError
from ..messages import Message, OrderSubmitted, QuoteReceived, RiskApproved, TradingStateChanged
from ..runtime.actor import ActorContext
from ..runtime.bus import Batch, Policy, Subscription
from ..venues import Broker
from .engine import Action, Cancel, ExecutionEngine, Lookup, Publish, Submit, Wait
from .orders import OrderTracker, OrderView, TrackerInput

logger = logging.getLogger(__name__)

_Arg = TypeVar("_Arg")
_Answer = TypeVar("_Answer")

BACKOFF_BASE: Final = 1.0  # seconds: 1, 2, 4 … (the seed's policy)
_EXPIRY_MARGIN: Final = 0.001  # seconds past a deadline, so the engine sees it passed


@final
class ExecutionActor:
    """Turns ``risk.approved`` into venue orders and venue updates into ``order.*``.

    A thin trio shell over :class:`pyrt.execution.engine.ExecutionEngine`, which decides everything —
    retries and backoff, the lookup before a resend after an ambiguous failure, staleness, the
    slippage guard, duplicate suppression, the halt on a contradicting fill — and returns it as
    actions. The actor performs them: each submit, lookup, timer and cancel runs in its own task,
    so **the inbox loop never awaits the venue** (issue 8: a loop that retried with sleeps filled
    its inbox and froze the tree). The engine bounds the orders in flight (``max_in_flight``);
    the broker's token bucket bounds the request rate; cancels are started at once, never behind
    the submits. Every order goes out under the ``client_order_id`` risk assigned, the
    idempotency key.

    The engine and its :class:`OrderTracker` live on the actor, so a restart keeps them; the
    requests lost with the old incarnation's tasks are looked up first (:meth:`ExecutionEngine.resume`).

    Args:
        broker: the venue's order entry.
        max_retries: retries after the first attempt.
        max_slippage_bps: the slippage guard's limit, in basis points of the mid.
        max_order_age_secs: how long after its approval an order may still be sent.
        max_in_flight: orders submitted concurrently at most.
        backoff_base: first backoff of a 5xx or transport error (doubles per retry).
    """

    def __init__(
        self,
        broker: Broker,
        *,
        max_retries: int = 3,
        max_slippage_bps: float = 50.0,
        max_order_age_secs: float = 5.0,
        max_in_flight: int = 8,
        backoff_base: float = BACKOFF_BASE,
    ) -> None:
        self.name = "execution"
        self._broker = broker
        self.tracker = OrderTracker()
        self.engine = ExecutionEngine(
            self.tracker,
            max_retries=max_retries,
            max_slippage_bps=max_slippage_bps,
            max_order_age_secs=max_order_age_secs,
            max_in_flight=max_in_flight,
            backoff_base=backoff_base,
        )
        self._ctx: ActorContext | None = None
        self._nursery: trio.Nursery | None = None
        self._expiry_at: int | None = None

    @property
    def anomalies(self) -> int:
        """Order updates the tracker refused so far."""
        return self.engine.statistics().anomalies

    def open_orders(self) -> tuple[OrderView, ...]:
        """Return snapshots of the orders not yet ended, oldest first (read-only)."""
        return self.tracker.open_orders()

    def restore(self, messages: Iterable[TrackerInput]) -> None:
        """Replay recorded order messages into the order states (before :meth:`run`)."""
        for msg in messages:
            self.tracker.on_message(msg)

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        engine = self.engine
        with (
            ctx.bus.subscribe(RiskApproved, TradingStateChanged, name=self.name) as approvals,
            ctx.bus.subscribe(QuoteReceived, name=f"{self.name}.quotes", policy=Policy.CONFLATE) as quotes,
        ):
            try:
                async with trio.open_nursery() as nursery:
                    self._ctx, self._nursery, self._expiry_at = ctx, nursery, None
                    nursery.start_soon(self._track_quotes, quotes)

                    async def on_updates(batch: Sequence[Message]) -> None:
                        await self._perform(engine.on_updates(batch, ctx.clock.now_ns()))

                    await nursery.start(self._broker.run_updates, on_updates)
                    await self._perform(engine.resume())
                    task_status.started()
                    async for batch in approvals:
                        self._apply_quotes(quotes)
                        now = ctx.clock.now_ns()
                        actions: list[Action] = []
                        for msg in batch:
                            if isinstance(msg, RiskApproved):
                                actions.extend(engine.on_approved(msg, now))
                            elif isinstance(msg, TradingStateChanged):
                                actions.extend(engine.on_trading_state(msg, now))
                        await self._perform(actions)
                    nursery.cancel_scope.cancel()
            finally:
                self._ctx = self._nursery = None

    async def _perform(self, actions: Iterable[Action]) -> None:
        """Start the requests and timers the engine asked for, then publish its messages."""
        ctx, nursery = self._ctx, self._nursery
        if ctx is None or nursery is None:  # pragma: no cover - only called while running
            raise RuntimeError("the execution actor is not running")
        out: list[Message] = []
        for action in actions:
            if isinstance(action, Publish):
                out.extend(action.messages)
            elif isinstance(action, Submit):
                nursery.start_soon(self._submit, action.order)
            elif isinstance(action, Lookup):
                nursery.start_soon(self._lookup, action.client_order_id)
            elif isinstance(action, Wait):
                nursery.start_soon(self._wake_after, action)
            elif isinstance(action, Cancel):
                nursery.start_soon(self._cancel, action)
        self._arm_expiry()
        if out:
            await ctx.bus.publish_batch(out)

    def _arm_expiry(self) -> None:
        # one timer for the oldest queued approval's deadline
        deadline = self.engine.next_deadline_ns()
        if deadline is None or (self._expiry_at is not None and self._expiry_at <= deadline):
            return
        assert self._nursery is not None
        self._expiry_at = deadline
        self._nursery.start_soon(self._expire_at, deadline)

    async def _expire_at(self, deadline: int) -> None:
        assert self._ctx is not None
        clock = self._ctx.clock
        await clock.sleep(max(0.0, (deadline - clock.now_ns()) / 1e9) + _EXPIRY_MARGIN)
        if self._expiry_at == deadline:
            self._expiry_at = None
        await self._perform(self.engine.expire(clock.now_ns()))

    async def _submit(self, order: OrderSubmitted) -> None:
        await self._ask(self._broker.submit_order, order, self.engine.on_submit_result, order.client_order_id)

    async def _lookup(self, client_order_id: str) -> None:
        await self._ask(
            self._broker.get_order_by_client_id,
            client_order_id,
            self.engine.on_lookup_result,
            client_order_id,
        )

    async def _ask(
        self,
        request: Callable[[_Arg], Awaitable[_Answer]],
        arg: _Arg,
        report: Callable[[str, _Answer | VenueError, int], list[Action]],
        client_order_id: str,
    ) -> None:
        # one venue request, its answer (or the error it raised) reported to the engine
        result: _Answer | VenueError
        try:
            result = await request(arg)
        except VenueError as exc:
            result = exc
        assert self._ctx is not None
        await self._perform(report(client_order_id, result, self._ctx.clock.now_ns()))

    async def _wake_after(self, wait: Wait) -> None:
        assert self._ctx is not None
        clock = self._ctx.clock
        await clock.sleep(wait.seconds)
        await self._perform(self.engine.on_wake(wait.client_order_id, wait.token, clock.now_ns()))

    async def _cancel(self, cancel: Cancel) -> None:
        try:
            await self._broker.cancel_order(cancel.venue_order_id)
        except VenueError as exc:
            logger.error("cancel of %s failed: %s", cancel.client_order_id, exc)

    async def _track_quotes(self, quotes: Subscription) -> None:
        async for batch in quotes:
            self._set_mids(batch)

    def _apply_quotes(self, quotes: Subscription) -> None:
        try:
            self._set_mids(quotes.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            pass

    def _set_mids(self, batch: Batch) -> None:
        on_quote = self.engine.on_quote
        for q in batch:
            if isinstance(q, QuoteReceived):
                on_quote(q)

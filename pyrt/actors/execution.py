from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, final

import trio

from ..bus import Batch, Policy, Subscription
from ..errors import RateLimited, TransportError, VenueError, VenueRejected, VenueUnavailable
from ..messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    TradingStateChanged,
)
from ..orders import OrderTracker
from ..venues import Broker, VenueOrder
from .base import ActorContext

logger = logging.getLogger(__name__)

BACKOFF_BASE: Final = 1.0  # seconds: 1, 2, 4 … (the seed's policy)


@final
class ExecutionActor:
    """Turns ``risk.approved`` into venue orders and venue updates into ``order.*``.

    Every order goes out under the ``client_order_id`` risk assigned, the idempotency key:

    - ``VenueRejected`` (a 4xx other than 429) is never retried and becomes ``order.rejected``
      with the venue's message;
    - ``RateLimited`` waits the venue's ``retry_after``; ``VenueUnavailable`` and
      ``TransportError`` back off exponentially (1 s, 2 s, 4 s …) up to ``max_retries``;
    - after an *ambiguous* failure (a timeout, a dropped connection, a 5xx such as 504 — the venue
      may have taken the order) the order is looked up by ``client_order_id`` before any resubmit,
      so one intent never becomes two orders.

    The slippage guard rejects, before sending, a limit order priced more than
    ``max_slippage_bps`` away from the current mid, and a market order whose signal's reference
    price is that far from it (the market moved since the strategy decided).

    Orders are sent one at a time in approval order: deterministic, and the venue's rate limit
    is the bottleneck anyway. Updates from the venue pass through the :class:`OrderTracker`,
    which drops duplicates (the same fill seen on the stream and in a REST reply).

    Args:
        broker: the venue's order entry.
        max_retries: retries after the first attempt.
        max_slippage_bps: the slippage guard's limit, in basis points of the mid.
    """

    def __init__(self, broker: Broker, *, max_retries: int = 3, max_slippage_bps: float = 50.0) -> None:
        self.name = "execution"
        self._broker = broker
        self._max_retries = max_retries
        self._max_slippage_bps = max_slippage_bps
        self.tracker = OrderTracker()
        self._mids: dict[str, float] = {}
        self.anomalies = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with (
            ctx.bus.subscribe(RiskApproved, TradingStateChanged, name=self.name) as approvals,
            ctx.bus.subscribe(QuoteReceived, name=f"{self.name}.quotes", policy=Policy.CONFLATE) as quotes,
        ):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._track_quotes, quotes)

                async def on_updates(batch: Sequence[Message]) -> None:
                    fresh = [msg for msg in batch if self._track(msg)]
                    if fresh:
                        await ctx.bus.publish_batch(fresh)

                await nursery.start(self._broker.run_updates, on_updates)
                task_status.started()
                async for batch in approvals:
                    self._apply_quotes(quotes)
                    for msg in batch:
                        if isinstance(msg, RiskApproved):
                            await self._execute(ctx, msg)
                        elif isinstance(msg, TradingStateChanged) and msg.cancel_open_orders:
                            await self._cancel_open_orders(msg.reason)
                nursery.cancel_scope.cancel()

    async def _cancel_open_orders(self, reason: str) -> None:
        """Ask the venue to cancel every open order (a halt with cancel); outcomes arrive as updates."""
        orders = self.tracker.open_orders()
        logger.error("cancelling %d open order(s): %s", len(orders), reason)
        for order in orders:
            if order.venue_order_id is None:
                continue  # never reached the venue: nothing to cancel there
            try:
                await self._broker.cancel_order(order.venue_order_id)
            except VenueError as exc:
                logger.error("cancel of %s failed: %s", order.client_order_id, exc)

    async def _track_quotes(self, quotes: Subscription) -> None:
        async for batch in quotes:
            self._set_mids(batch)

    def _apply_quotes(self, quotes: Subscription) -> None:
        try:
            self._set_mids(quotes.receive_nowait())
        except trio.WouldBlock:
            pass

    def _set_mids(self, batch: Batch) -> None:
        for q in batch:
            if isinstance(q, QuoteReceived) and q.mid is not None:  # a crossed/one-sided quote has no mid
                self._mids[q.symbol] = q.mid

    def _track(self, msg: Message) -> bool:
        """Apply an update to the tracker; return whether it is news worth publishing."""
        # an order.submitted from the venue is the replacement of an order of ours: track it
        if not isinstance(msg, OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected):
            return True
        already_accepted = False
        if isinstance(msg, OrderAccepted):
            view = self.tracker.get(msg.client_order_id)
            already_accepted = view is not None and view.venue_order_id is not None
        anomaly = self.tracker.on_message(msg)
        if anomaly is not None:
            self.anomalies += 1
            logger.warning(
                "order update not applied (%s, %d so far): %s", anomaly.kind, self.anomalies, anomaly.detail
            )
            return False
        return not already_accepted

    def _slippage_breach(self, order: OrderSubmitted, reference: float | None) -> str | None:
        mid = self._mids.get(order.symbol)
        if mid is None:
            return None
        limit = self._max_slippage_bps
        price = (
            order.limit_price if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else reference
        )
        if price is None:
            return None
        bps = abs(price - mid) / mid * 10_000
        if bps > limit:
            what = "limit price" if order.limit_price is not None else "reference price"
            return f"{what} {price} is {bps:.1f} bps from the mid {mid}, over max_slippage_bps {limit}"
        return None

    async def _execute(self, ctx: ActorContext, approval: RiskApproved) -> None:
        sig = approval.signal
        now = ctx.clock.now_ns()
        order = OrderSubmitted(
            client_order_id=approval.client_order_id,
            symbol=sig.symbol,
            side=sig.side,
            quantity=sig.quantity,
            order_type=sig.order_type,
            time_in_force=sig.time_in_force,
            limit_price=sig.limit_price,
            stop_price=sig.stop_price,
            ts_event=now,
            ts_init=now,
        )
        self.tracker.on_approved(approval)
        breach = self._slippage_breach(order, sig.reference_price)
        if breach is not None:
            logger.warning("slippage guard rejected %s: %s", order.client_order_id, breach)
            await self._reject(ctx, order, f"slippage guard: {breach}", None)
            return
        self.tracker.on_submitted(order)
        await ctx.bus.publish(order)
        venue_order = await self._submit_with_retries(ctx, order)
        if isinstance(venue_order, VenueOrder):
            now = ctx.clock.now_ns()
            accepted = OrderAccepted(
                client_order_id=order.client_order_id,
                venue_order_id=venue_order.venue_order_id,
                symbol=order.symbol,
                ts_event=now,
                ts_init=now,
            )
            if self._track(accepted):
                await ctx.bus.publish(accepted)
            logger.info("order %s accepted as %s", order.client_order_id, venue_order.venue_order_id)
        else:
            await self._reject(ctx, order, venue_order[0], venue_order[1])

    async def _reject(
        self, ctx: ActorContext, order: OrderSubmitted, reason: str, status: int | None
    ) -> None:
        now = ctx.clock.now_ns()
        rejected = OrderRejected(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            reason=reason,
            status_code=status,
            ts_event=now,
            ts_init=now,
        )
        if self._track(rejected):
            await ctx.bus.publish(rejected)

    async def _lookup(self, client_order_id: str) -> VenueOrder | None:
        try:
            return await self._broker.get_order_by_client_id(client_order_id)
        except VenueError as exc:
            logger.warning("lookup of %s failed: %s", client_order_id, exc)
            return None

    async def _submit_with_retries(
        self, ctx: ActorContext, order: OrderSubmitted
    ) -> VenueOrder | tuple[str, int | None]:
        """Return the venue's order, or ``(reason, status)`` when it was refused or never confirmed."""
        last: VenueError | None = None
        for attempt in range(self._max_retries + 1):
            if attempt:
                delay = (
                    last.retry_after if isinstance(last, RateLimited) else BACKOFF_BASE * 2 ** (attempt - 1)
                )
                logger.warning(
                    "retrying %s in %.1f s (attempt %d of %d) after: %s",
                    order.client_order_id,
                    delay,
                    attempt + 1,
                    self._max_retries + 1,
                    last,
                )
                await ctx.clock.sleep(delay)
                if isinstance(last, TransportError | VenueUnavailable):
                    # ambiguous: the venue may have the order; never send it twice
                    found = await self._lookup(order.client_order_id)
                    if found is not None:
                        return found
            try:
                return await self._broker.submit_order(order)
            except VenueRejected as exc:
                if attempt and exc.status_code == 422:
                    found = await self._lookup(order.client_order_id)  # "client_order_id must be unique"
                    if found is not None:
                        return found
                logger.warning("venue rejected %s: %s", order.client_order_id, exc)
                return str(exc), exc.status_code
            except (RateLimited, VenueUnavailable, TransportError) as exc:
                last = exc
        if isinstance(last, TransportError | VenueUnavailable):
            found = await self._lookup(order.client_order_id)
            if found is not None:
                return found
        logger.error(
            "gave up on %s after %d attempts: %s", order.client_order_id, self._max_retries + 1, last
        )
        status = (
            last.status_code
            if isinstance(last, VenueUnavailable)
            else (429 if isinstance(last, RateLimited) else None)
        )
        return f"gave up after {self._max_retries + 1} attempts: {last}", status

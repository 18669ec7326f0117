"""Start-up recovery for live runs: rebuild from the store, reconcile with the venue (#5).

1. Read what the store recorded (orders, fills, trading state).
2. Ask the venue for its open orders, for each of our open orders it did not list (by
   ``client_order_id``: it may have ended while we were down), and for its positions.
3. :func:`pyrt.persistence.reconcile.reconcile` says what happened while we were down: fills we missed,
   orders that ended, venue ids we never learned. Those messages are recorded in the store
   first, then applied, so a crash during recovery repeats the same recovery.
4. Orders open at the venue that we never recorded are cancelled (we cannot know their intent).
5. Positions that still differ from the venue's halt trading: the operator decides.
"""

from __future__ import annotations

import logging

import attrs

from ..errors import VenueError
from ..execution.orders import OrderState
from ..venues import Broker, VenueOrder
from .reconcile import ReconcileReport, reconcile
from .store import Store

__all__ = ["Recovery", "recover"]

logger = logging.getLogger(__name__)

_ENDED = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED})


@attrs.frozen(kw_only=True)
class Recovery:
    """What start-up recovery found and did."""

    report: ReconcileReport
    """The reconciliation's findings."""
    cancelled_unknown: tuple[str, ...]
    """Venue ids of orders open at the venue that we never recorded, cancelled."""
    halt_reason: str | None
    """Why trading starts halted (positions differ from the venue's), or None."""


async def recover(store: Store, broker: Broker, *, now_ns: int) -> Recovery:
    """Reconcile the store with the venue and record the outcome; see the module docstring.

    Raises:
        pyrt.errors.VenueError: the venue could not be read (recovery needs it; nothing was changed).
    """
    stored = store.orders()
    venue_orders: list[VenueOrder] = list(await broker.list_open_orders())
    listed = {v.client_order_id for v in venue_orders}
    for order in stored:
        if order.state not in _ENDED and order.client_order_id not in listed:
            found = await broker.get_order_by_client_id(order.client_order_id)
            if found is not None:
                venue_orders.append(found)
    positions = await broker.list_positions()
    report = reconcile(stored, store.fills(), venue_orders, positions, now_ns=now_ns)
    if report.is_clean:
        logger.info("recovery: the store agrees with the venue (%d orders recorded)", len(stored))
    else:
        logger.warning("recovery: %s", report.summary())
    store.record_many(report.messages())
    cancelled: list[str] = []
    for adopted in report.adopted_orders:
        try:
            await broker.cancel_order(adopted.venue_order_id)
            cancelled.append(adopted.venue_order_id)
            logger.warning(
                "recovery: cancelled %s %s %s (client id %s): open at the venue, never recorded here",
                adopted.side,
                adopted.quantity,
                adopted.symbol,
                adopted.client_order_id,
            )
        except VenueError as exc:
            logger.error("recovery: could not cancel unrecorded order %s: %s", adopted.venue_order_id, exc)
    halt = None
    if report.position_mismatches:
        halt = "recovery: positions differ from the venue's: " + "; ".join(
            f"{m.symbol} ours {m.quantity:g} venue {m.venue_quantity:g}" for m in report.position_mismatches
        )
        logger.error("%s; trading starts HALTED", halt)
    return Recovery(report=report, cancelled_unknown=tuple(cancelled), halt_reason=halt)

"""trade_updates payloads and REST order snapshots → ``order.*`` messages, without loss or repeats.

:class:`OrderUpdateMapper` is plain synchronous logic (no I/O). It remembers, per
``client_order_id``, how much of each order it has already reported filled, so that

- a stream fill already covered (by an earlier poll, or a redelivery) is not reported again;
- a fill the stream skipped (an update lost with a dropped connection) is reported as a
  synthesised fill for the missing quantity, priced from the venue's running average;
- while the stream is down, REST snapshots of the same orders yield the fills, cancels and
  rejections that happened meanwhile.

A synthesised fill has the deterministic ``execution_id`` ``"<venue order id>-cum-<cumulative>"``,
so the same gap seen twice is reported under one id (the execution actor's ``OrderTracker``
drops repeated execution ids).

Orders this broker submitted are *expected* from the start (nothing reported yet). An order first
seen on the stream or in a snapshot without having been submitted here (another client, an earlier
run) is taken at face value: its history before that first sighting is not synthesised.

How Alpaca's events and statuses map (``/work/shared/alpaca-protocol.md`` sections 2.5, 3.4):

================================  ==============================================================
``new``, ``accepted``             ``OrderAccepted`` (once)
``fill``, ``partial_fill``        ``OrderFilled`` (a missed earlier fill first, synthesised)
``canceled``, ``expired``         ``OrderCanceled`` with the event as reason (the tracker makes
                                  ``expired`` EXPIRED); fills the venue shows first
``rejected``                      ``OrderRejected``
``replaced``                      ``OrderCanceled`` with reason ``"replaced by <venue id of the
                                  replacement>"`` (Alpaca's ``replaced_by``), fills first. The
                                  replacement (its ``replaces`` names an order of ours) is ours
                                  too: it is announced as ``OrderSubmitted`` under its own
                                  ``client_order_id`` (an ``OrderTracker`` given it tracks it, the store
                                  records it), then accepted, and every fill it gets is reported.
                                  A replacement of an order not ours is left foreign.
``done_for_day``                  **no end**: the order stays open (ACCEPTED or PARTIALLY_FILLED
                                  in the tracker, its risk reservation kept, still polled), since a
                                  GTC order works again the next session and a DAY order still
                                  gets its own ``expired``. Only what the order shows is reported:
                                  the accept if unseen, a fill the stream missed.
``held``, ``calculated``,         the same: working states, never an end
``stopped``, ``suspended``,
``pending_*``, ``accepted_for_
bidding``, ``*_rejected`` …
================================  ==============================================================

A REST snapshot of an order (a poll, a lookup) is read the same way, by its ``status``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final, final

import attrs

from ...errors import DecodeError
from ...messages import (
    FILL_TOLERANCE,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    Side,
)
from .._protocols import OPEN_STATUSES, VenueOrder
from ._wire import format_decimal, order_from_wire, parse_optional_number, parse_timestamp

logger = logging.getLogger(__name__)

#: Relative slack for float sums of fill quantities: the order lifecycle's, once.
_EPSILON: Final = FILL_TOLERANCE
ACCEPT_EVENTS: Final = frozenset({"new", "accepted"})
FILL_EVENTS: Final = frozenset({"fill", "partial_fill"})
#: Events and statuses that end an order unfilled (``expired`` becomes EXPIRED in the tracker).
CANCEL_EVENTS: Final = frozenset({"canceled", "expired", "replaced"})
REJECT_EVENTS: Final = frozenset({"rejected"})
#: Statuses of an order the venue has taken (``pending_new``, ``pending_review`` and ``rejected``
#: are not): a snapshot in one of them teaches the venue id.
_LIVE_STATUSES: Final = (OPEN_STATUSES | {"filled"}) - {"pending_new", "pending_review"}
DEFAULT_MAX_ENDED: Final = 10_000


@attrs.define(eq=False)
class _Known:
    client_order_id: str
    symbol: str | None = None
    side: Side | None = None
    quantity: float | None = None
    venue_order_id: str | None = None
    filled: float = 0.0
    """Cumulative quantity already reported as fills."""
    notional: float = 0.0
    """Sum of quantity × price of the reported fills."""
    accepted: bool = False
    ended: bool = False
    ours: bool = False
    """Submitted by this broker, or the replacement of such an order."""
    announce: bool = False
    """A replacement of ours not yet reported as ``OrderSubmitted``."""


def _lenient_number(value: object) -> float | None:
    try:
        return parse_optional_number(value, name="value")
    except DecodeError:
        return None


def _scale(order: VenueOrder) -> float:
    """The order's size, for float tolerances: its quantity, or what filled of a notional order."""
    return max(order.quantity if order.quantity is not None else order.filled_quantity, 1.0)


def _leaves(order: VenueOrder, cumulative: float) -> float:
    """Quantity still working after ``cumulative`` filled; 0 once the venue says ``filled``.

    A notional order has no quantity: what is left of its dollars, at its average fill price.
    """
    if order.status == "filled":
        return 0.0
    if order.quantity is not None:
        return max(order.quantity - cumulative, 0.0)
    average = order.filled_avg_price
    if order.notional is None or average is None or not average > 0.0:
        return 0.0
    return max((order.notional - average * order.filled_quantity) / average, 0.0)


def synthetic_execution_id(venue_order_id: str, cumulative: float) -> str:
    """Return the deterministic execution id of a fill pyrt inferred up to ``cumulative``."""
    return f"{venue_order_id}-cum-{format_decimal(cumulative)}"


@final
class OrderUpdateMapper:
    """Turns Alpaca order updates and snapshots into pyrt messages, each fill reported once.

    Args:
        max_ended: ended orders remembered (to recognise late duplicates) before the oldest go.
    """

    __slots__ = ("_ended", "_max_ended", "_orders", "_venue_ids", "duplicates", "synthesized_fills")

    def __init__(self, *, max_ended: int = DEFAULT_MAX_ENDED) -> None:
        self._orders: dict[str, _Known] = {}
        self._venue_ids: dict[str, str] = {}  # venue order id -> client order id
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._max_ended = max_ended
        self.duplicates = 0
        self.synthesized_fills = 0

    # -- bookkeeping -------------------------------------------------------------------------

    def expect(self, client_order_id: str) -> None:
        """Note an order about to be submitted: every fill it gets must be reported."""
        if client_order_id not in self._orders:
            self._orders[client_order_id] = _Known(client_order_id=client_order_id, ours=True)

    def forget(self, client_order_id: str) -> None:
        """Drop an expected order the venue never took (refused, or not found after a failure)."""
        known = self._orders.get(client_order_id)
        if known is not None and known.venue_order_id is None:
            del self._orders[client_order_id]

    def on_submit_reply(self, order: VenueOrder) -> None:
        """Record the venue's reply to a submit (the caller reports the acceptance itself)."""
        known = self._orders.get(order.client_order_id)
        if known is None:
            known = self._orders[order.client_order_id] = _Known(client_order_id=order.client_order_id)
        self._learn(known, order)
        known.accepted = True
        known.ours = True

    def on_lookup(self, order: VenueOrder) -> None:
        """Record an expected order found by a lookup (after an ambiguous submit), reporting nothing."""
        known = self._orders.get(order.client_order_id)
        if known is not None:
            self._learn(known, order)
            known.accepted = True

    def open_client_order_ids(self) -> list[str]:
        """Return the orders not known to have ended, oldest first (what a poll must check)."""
        return [cid for cid, known in self._orders.items() if not known.ended]

    def is_open(self, client_order_id: str) -> bool:
        known = self._orders.get(client_order_id)
        return known is not None and not known.ended

    def _learn(self, known: _Known, order: VenueOrder) -> None:
        known.symbol = order.symbol
        known.side = order.side
        known.quantity = order.quantity
        known.venue_order_id = order.venue_order_id
        self._venue_ids[order.venue_order_id] = known.client_order_id

    def _end(self, known: _Known) -> None:
        known.ended = True
        self._ended[known.client_order_id] = None
        while len(self._ended) > self._max_ended:
            oldest, _ = self._ended.popitem(last=False)
            gone = self._orders.pop(oldest, None)
            if gone is not None and gone.venue_order_id is not None:
                self._venue_ids.pop(gone.venue_order_id, None)

    def _record(self, order: VenueOrder) -> tuple[_Known, bool]:
        """Return the order's record and whether it was first seen just now (not expected)."""
        known = self._orders.get(order.client_order_id)
        fresh = known is None
        if known is None:
            known = self._orders[order.client_order_id] = _Known(client_order_id=order.client_order_id)
            if self._replaces_ours(order):  # the replacement of an order of ours is ours, from zero
                known.ours = known.announce = True
                fresh = False
        self._learn(known, order)
        return known, fresh

    def _replaces_ours(self, order: VenueOrder) -> bool:
        if order.replaces is None:
            return False
        replaced = self._orders.get(self._venue_ids.get(order.replaces, ""))
        return replaced is not None and replaced.ours

    def _announce(self, known: _Known, order: VenueOrder, ts_event: int, ts_init: int) -> list[Message]:
        """Report a replacement of ours as ``OrderSubmitted`` (once), so its fills are tracked."""
        if not known.announce:
            return []
        known.announce = False
        logger.warning(
            "order %s (client id %s) replaced %s at the venue; tracking it as a new order",
            order.venue_order_id,
            order.client_order_id,
            order.replaces,
        )
        if order.quantity is None:
            logger.error("replacement %s has no quantity (notional); not tracked", order.client_order_id)
            return []
        try:
            submitted = OrderSubmitted.of(
                order, client_order_id=order.client_order_id, ts_event=ts_event, ts_init=ts_init
            )
        except ValueError as exc:
            logger.error("replacement %s cannot be tracked: %s", order.client_order_id, exc)
            return []
        return [submitted]

    # -- messages ----------------------------------------------------------------------------

    def _accepted(self, known: _Known, order: VenueOrder, ts_event: int, ts_init: int) -> list[Message]:
        if known.accepted or known.ended:
            return []
        known.accepted = True
        return [
            OrderAccepted(
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                symbol=order.symbol,
                ts_event=ts_event,
                ts_init=ts_init,
            )
        ]

    def _fill(
        self,
        known: _Known,
        order: VenueOrder,
        *,
        quantity: float,
        price: float,
        execution_id: str,
        ts_event: int,
        ts_init: int,
    ) -> OrderFilled:
        cumulative = known.filled + quantity
        known.filled = cumulative
        known.notional += quantity * price
        return OrderFilled(
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            execution_id=execution_id,
            symbol=order.symbol,
            side=order.side,
            fill_price=price,
            fill_quantity=quantity,
            cumulative_quantity=cumulative,
            leaves_quantity=_leaves(order, cumulative),
            ts_event=ts_event,
            ts_init=ts_init,
        )

    def _gap_price(self, known: _Known, order: VenueOrder, gap: float, then: float, fallback: float) -> float:
        """Price of ``gap`` units filled before a fill of notional ``then``, from the venue's average."""
        average = order.filled_avg_price
        if average is None:
            return fallback
        price = (average * order.filled_quantity - known.notional - then) / gap
        # an inconsistent average (rounded by the venue) must not make an invalid message
        return price if price > 0.0 and price < float("inf") else average

    def _catch_up(self, known: _Known, order: VenueOrder, ts_event: int, ts_init: int) -> list[Message]:
        """Report fills the venue shows beyond what was reported, as one synthesised fill."""
        gap = order.filled_quantity - known.filled
        if gap <= _EPSILON * _scale(order):
            return []
        fallback = order.filled_avg_price if order.filled_avg_price is not None else 0.0
        price = self._gap_price(known, order, gap, 0.0, fallback)
        if not price > 0.0:
            logger.warning(
                "order %s shows %s more filled but no price; fill not reported",
                order.client_order_id,
                gap,
            )
            return []
        self.synthesized_fills += 1
        execution_id = synthetic_execution_id(order.venue_order_id, order.filled_quantity)
        return [
            self._fill(
                known,
                order,
                quantity=gap,
                price=price,
                execution_id=execution_id,
                ts_event=ts_event,
                ts_init=ts_init,
            )
        ]

    def _stream_fill(
        self,
        known: _Known,
        fresh: bool,
        order: VenueOrder,
        payload: Mapping[str, object],
        ts_event: int,
        ts_init: int,
    ) -> list[Message]:
        # an unreadable qty or price (NaN …) must not lose the fill: it is then inferred below
        quantity = _lenient_number(payload.get("qty"))
        price = _lenient_number(payload.get("price"))
        execution_id = payload.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            execution_id = synthetic_execution_id(order.venue_order_id, order.filled_quantity)
        if fresh:  # not submitted here: what filled before this first sighting is not ours to report
            if quantity is None:
                known.filled = order.filled_quantity  # this fill's size is unknown: nothing to report
                return []
            known.filled = max(order.filled_quantity - quantity, 0.0)
            if order.filled_avg_price is not None and price is not None:
                known.notional = max(order.filled_avg_price * order.filled_quantity - quantity * price, 0.0)
        tolerance = _EPSILON * _scale(order)
        delta = order.filled_quantity - known.filled
        if delta <= tolerance:
            self.duplicates += 1
            return []
        if quantity is None or price is None or not (0.0 < quantity <= delta + tolerance and price > 0.0):
            return self._catch_up(known, order, ts_event, ts_init)
        out: list[Message] = []
        gap = delta - quantity
        if gap > tolerance:  # an earlier fill was never seen: report it first
            gap_price = self._gap_price(known, order, gap, quantity * price, price)
            self.synthesized_fills += 1
            out.append(
                self._fill(
                    known,
                    order,
                    quantity=gap,
                    price=gap_price,
                    execution_id=synthetic_execution_id(order.venue_order_id, known.filled + gap),
                    ts_event=ts_event,
                    ts_init=ts_init,
                )
            )
        out.append(
            self._fill(
                known,
                order,
                quantity=quantity,
                price=price,
                execution_id=execution_id,
                ts_event=ts_event,
                ts_init=ts_init,
            )
        )
        return out

    def _ending(
        self, known: _Known, order: VenueOrder, reason: str, ts_event: int, ts_init: int
    ) -> list[Message]:
        if known.ended:
            self.duplicates += 1
            return []
        self._end(known)
        if reason == "replaced" and order.replaced_by is not None:
            reason = f"replaced by {order.replaced_by}"
        if reason == "rejected":
            return [
                OrderRejected(
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    reason=reason,
                    ts_event=ts_event,
                    ts_init=ts_init,
                )
            ]
        return [
            OrderCanceled(
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                symbol=order.symbol,
                filled_quantity=order.filled_quantity,
                reason=reason,
                ts_event=ts_event,
                ts_init=ts_init,
            )
        ]

    def on_stream(self, payload: Mapping[str, object], *, ts_init: int) -> list[Message]:
        """Map one ``trade_updates`` payload (section 3.3) to messages.

        Raises:
            DecodeError: the payload has no ``event`` or no readable ``order``.
        """
        event = payload.get("event")
        if not isinstance(event, str):
            raise DecodeError(f"event must be a string, was {event!r}", source="alpaca.trade_updates")
        order = order_from_wire(payload.get("order"))
        ts_event = parse_timestamp(payload.get("timestamp")) or ts_init
        known, fresh = self._record(order)
        out = self._announce(known, order, ts_event, ts_init)
        if event in ACCEPT_EVENTS:
            return out + self._accepted(known, order, ts_event, ts_init)
        if event in FILL_EVENTS:
            out += self._stream_fill(known, fresh, order, payload, ts_event, ts_init)
            if order.status == "filled":
                self._end(known)
            return out
        if event in CANCEL_EVENTS or event in REJECT_EVENTS:
            if not fresh:
                out += self._catch_up(known, order, ts_event, ts_init)
            return out + self._ending(known, order, event, ts_event, ts_init)
        # done_for_day, stopped, calculated, suspended, held, pending_*, *_rejected, restated …:
        # the order carried is the venue's current view; it ends the order only if its status does
        return out + self._apply_state(known, fresh, order, ts_event, ts_init)

    def on_snapshot(self, order: VenueOrder, *, ts_event: int, ts_init: int) -> list[Message]:
        """Map the venue's current view of an order (a REST read) to what changed since.

        An order seen here for the first time without having been expected is only recorded.
        """
        known, fresh = self._record(order)
        return self._announce(known, order, ts_event, ts_init) + self._apply_state(
            known, fresh, order, ts_event, ts_init
        )

    def _apply_state(
        self, known: _Known, fresh: bool, order: VenueOrder, ts_event: int, ts_init: int
    ) -> list[Message]:
        """Report what the venue's view of ``order`` shows beyond what was reported: accept, fills, end."""
        if fresh:
            known.filled = order.filled_quantity
            if order.filled_avg_price is not None:
                known.notional = order.filled_avg_price * order.filled_quantity
            known.accepted = True
            if not order.is_open:
                self._end(known)
            return []
        out: list[Message] = []
        if order.status in _LIVE_STATUSES or order.filled_quantity > 0.0:
            out.extend(self._accepted(known, order, ts_event, ts_init))
        out.extend(self._catch_up(known, order, ts_event, ts_init))
        status = order.status
        if status in CANCEL_EVENTS or status in REJECT_EVENTS:
            out.extend(self._ending(known, order, status, ts_event, ts_init))
        elif status == "filled" and not known.ended:
            self._end(known)
        return out

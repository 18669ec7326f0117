"""Order state per ``client_order_id``: the plain logic behind the execution actor.

The tracker is the one that *decides*: it applies the lifecycle rules of
:mod:`pyrt.messages` (:class:`~pyrt.messages.OrderState`, which state may follow which, what a
fill does, :class:`~pyrt.messages.ExecutionLedger`) to each input, and the store persists what
it decided.

::

    PENDING_SUBMIT ──▶ SUBMITTED ──▶ ACCEPTED ──▶ PARTIALLY_FILLED ──▶ FILLED
          └───────────────┴──────────────┴────────────────┴──▶ CANCELED | EXPIRED | REJECTED

Venue updates race REST replies, so the tracker takes events in the order they arrive: a fill
before the accept moves the order straight to ``PARTIALLY_FILLED`` or ``FILLED`` (and teaches
it the venue id); an accept or submit arriving after that changes nothing. A fill after a
cancel (the venue filled before the cancel took effect) still counts while the total stays
within the order's quantity. Everything else that cannot be right (a fill for an unknown order,
a duplicate ``execution_id``, an overfill, a cancel after the fill) is returned as an
:class:`OrderAnomaly`, counted, and changes nothing.

An ``execution_id`` seen again is a *duplicate* only when the fill says the same thing (same
order, venue order, symbol, side, price, quantity and ``ts_event``): a redelivery, dropped
quietly. The same id with other content is a ``CONTRADICTORY_EXECUTION``: the venue reused an id
(e.g. it restarted and minted its ids again), so a real fill may be hidden behind it. That kind
is an *alarm* (:attr:`AnomalyKind.is_alarm`): logged as an error, and the execution actor halts
trading on it (a ``control.command`` halt) for a human to look at; it is never silently dropped.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import TypeAlias, final

import attrs

from ..messages import (
    ExecutionLedger,
    ExecutionVerdict,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderSubmitted,
    OrderType,
    RiskApproved,
    Side,
    TimeInForce,
    advanced,
    canceled_state,
    is_overfill,
    state_after_fill,
)

__all__ = [
    "AnomalyKind",
    "OrderAnomaly",
    "OrderState",
    "OrderTracker",
    "OrderTrackerStatistics",
    "OrderView",
    "TrackerInput",
]

logger = logging.getLogger(__name__)

#: What an :class:`OrderTracker` consumes.
TrackerInput: TypeAlias = (
    RiskApproved | OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected
)


class AnomalyKind(enum.StrEnum):
    """Why an input was not applied."""

    UNKNOWN_ORDER = "unknown_order"
    """The ``client_order_id`` was never approved or submitted here."""
    DUPLICATE_ORDER = "duplicate_order"
    """An approval for a ``client_order_id`` that is already tracked."""
    DUPLICATE_EXECUTION = "duplicate_execution"
    """A fill whose ``execution_id`` was applied before, with the same content (a redelivery)."""
    CONTRADICTORY_EXECUTION = "contradictory_execution"
    """A fill whose ``execution_id`` was seen before with other content (order, price, quantity,
    time): the venue reused an id, so this may be a real fill. An alarm, never a quiet drop."""
    OVERFILL = "overfill"
    """A fill that would take the filled quantity past the order's quantity."""
    MISMATCH = "mismatch"
    """An input whose symbol, side or venue id contradicts what is known about the order."""
    ILLEGAL_TRANSITION = "illegal_transition"
    """An end (cancel, reject) for an order that has already ended."""

    @property
    def is_alarm(self) -> bool:
        """Whether the anomaly means our records may be wrong (halt and look), not a harmless repeat."""
        return self is AnomalyKind.CONTRADICTORY_EXECUTION


@final
@attrs.frozen(kw_only=True)
class OrderAnomaly:
    """An input the tracker refused; the order (if any) is unchanged."""

    kind: AnomalyKind
    """Why it was refused."""
    client_order_id: str
    """The order the input named."""
    detail: str
    """What was expected and what was found."""
    message: TrackerInput
    """The refused input."""


@final
@attrs.frozen(kw_only=True)
class OrderView:
    """A snapshot of one tracked order."""

    client_order_id: str
    """pyrt's id for the order (from the risk approval)."""
    symbol: str
    """The instrument."""
    side: Side
    """Buy or sell."""
    quantity: float
    """The ordered quantity."""
    order_type: OrderType
    """Market, limit, stop or stop-limit."""
    time_in_force: TimeInForce
    """How long it works."""
    limit_price: float | None
    """The limit, for limit and stop-limit orders."""
    stop_price: float | None
    """The trigger, for stop and stop-limit orders."""
    state: OrderState
    """Where the order is in its life."""
    venue_order_id: str | None
    """The venue's id, once an accept or a fill carried it."""
    filled_quantity: float
    """Sum of the applied fills."""
    avg_fill_price: float | None
    """Quantity-weighted average fill price; None before the first fill."""
    fill_notional: float
    """Sum of quantity × price of the applied fills."""
    fees: float
    """Sum of the applied fills' fees."""
    reason: str
    """The venue's text for a cancel, expiry or rejection; empty otherwise."""
    signal_id: str | None
    """The signal the order came from; None for an order first seen as submitted."""
    ts_last: int
    """``ts_event`` of the last input applied to the order."""

    @property
    def leaves_quantity(self) -> float:
        """Quantity still working: 0 once the order has ended."""
        return 0.0 if self.state.is_terminal else max(self.quantity - self.filled_quantity, 0.0)

    @property
    def is_open(self) -> bool:
        return not self.state.is_terminal


@final
@attrs.frozen(kw_only=True)
class OrderTrackerStatistics:
    """A snapshot of an :class:`OrderTracker`'s counters."""

    orders: int
    """Orders tracked, open or ended."""
    open_orders: int
    """Orders not in a terminal state."""
    orders_by_state: Mapping[OrderState, int]
    """Orders per state; every state is present."""
    fills_applied: int
    """Fills counted into an order."""
    anomalies: int
    """Inputs refused (the sum of ``anomalies_by_kind``)."""
    anomalies_by_kind: Mapping[AnomalyKind, int]
    """Refused inputs per kind; every kind is present."""


@attrs.define
class _Order:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None
    stop_price: float | None
    state: OrderState
    signal_id: str | None
    ts_last: int
    venue_order_id: str | None = None
    filled_quantity: float = 0.0
    fill_notional: float = 0.0
    fees: float = 0.0
    reason: str = ""

    def view(self) -> OrderView:
        return OrderView(
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            state=self.state,
            venue_order_id=self.venue_order_id,
            filled_quantity=self.filled_quantity,
            avg_fill_price=self.fill_notional / self.filled_quantity if self.filled_quantity else None,
            fill_notional=self.fill_notional,
            fees=self.fees,
            reason=self.reason,
            signal_id=self.signal_id,
            ts_last=self.ts_last,
        )


@final
class OrderTracker:
    """The state machine of every order, keyed by ``client_order_id``.

    Each ``on_*`` method applies one input and returns None, or returns the
    :class:`OrderAnomaly` that explains why the input was refused. It never raises on an input.
    """

    __slots__ = ("_anomalies", "_executions", "_fills_applied", "_orders")

    def __init__(self) -> None:
        self._orders: dict[str, _Order] = {}
        # what the first fill with each execution id said, to tell a redelivery from a reuse
        self._executions = ExecutionLedger()
        self._fills_applied = 0
        self._anomalies = dict.fromkeys(AnomalyKind, 0)

    def _anomaly(self, kind: AnomalyKind, message: TrackerInput, detail: str) -> OrderAnomaly:
        self._anomalies[kind] += 1
        client_order_id = message.client_order_id
        logger.log(
            logging.ERROR if kind.is_alarm else logging.WARNING,
            "order %s: %s refused: %s (%d %s so far)",
            client_order_id,
            message.TOPIC,
            detail,
            self._anomalies[kind],
            kind,
        )
        return OrderAnomaly(kind=kind, client_order_id=client_order_id, detail=detail, message=message)

    def _lookup(self, message: TrackerInput) -> _Order | OrderAnomaly:
        order = self._orders.get(message.client_order_id)
        if order is None:
            return self._anomaly(
                AnomalyKind.UNKNOWN_ORDER, message, f"no order {message.client_order_id} is tracked"
            )
        return order

    def on_message(self, message: TrackerInput) -> OrderAnomaly | None:
        """Dispatch ``message`` to the matching ``on_*`` method and return its result."""
        if isinstance(message, RiskApproved):
            return self.on_approved(message)
        if isinstance(message, OrderSubmitted):
            return self.on_submitted(message)
        if isinstance(message, OrderAccepted):
            return self.on_accepted(message)
        if isinstance(message, OrderFilled):
            return self.on_filled(message)
        if isinstance(message, OrderCanceled):
            return self.on_canceled(message)
        return self.on_rejected(message)

    def on_approved(self, approved: RiskApproved) -> OrderAnomaly | None:
        """Track a new order in ``PENDING_SUBMIT``.

        Returns:
            None, or a ``DUPLICATE_ORDER`` anomaly if the id is already tracked.
        """
        client_order_id = approved.client_order_id
        if client_order_id in self._orders:
            state = self._orders[client_order_id].state
            return self._anomaly(
                AnomalyKind.DUPLICATE_ORDER, approved, f"order {client_order_id} is already tracked ({state})"
            )
        signal = approved.signal
        self._orders[client_order_id] = _Order(
            client_order_id=client_order_id,
            symbol=signal.symbol,
            side=signal.side,
            quantity=signal.quantity,
            order_type=signal.order_type,
            time_in_force=signal.time_in_force,
            limit_price=signal.limit_price,
            stop_price=signal.stop_price,
            state=OrderState.PENDING_SUBMIT,
            signal_id=signal.signal_id,
            ts_last=approved.ts_event,
        )
        return None

    def on_submitted(self, submitted: OrderSubmitted) -> OrderAnomaly | None:
        """Move an order to ``SUBMITTED``, or start tracking one sent without an approval here.

        The submitted details (quantity, prices) replace the approved ones while the order is
        ``PENDING_SUBMIT``, since execution may round them. A submit arriving after the order
        moved on changes nothing.

        Returns:
            None, or a ``MISMATCH`` anomaly if symbol or side differ from the approval.
        """
        order = self._orders.get(submitted.client_order_id)
        if order is None:
            self._orders[submitted.client_order_id] = _Order(
                client_order_id=submitted.client_order_id,
                symbol=submitted.symbol,
                side=submitted.side,
                quantity=submitted.quantity,
                order_type=submitted.order_type,
                time_in_force=submitted.time_in_force,
                limit_price=submitted.limit_price,
                stop_price=submitted.stop_price,
                state=OrderState.SUBMITTED,
                signal_id=None,
                ts_last=submitted.ts_event,
            )
            return None
        if (order.symbol, order.side) != (submitted.symbol, submitted.side):
            return self._anomaly(
                AnomalyKind.MISMATCH,
                submitted,
                f"expected {order.side} {order.symbol}, submitted {submitted.side} {submitted.symbol}",
            )
        if order.state is OrderState.PENDING_SUBMIT:
            order.state = OrderState.SUBMITTED
            order.quantity = submitted.quantity
            order.order_type = submitted.order_type
            order.time_in_force = submitted.time_in_force
            order.limit_price = submitted.limit_price
            order.stop_price = submitted.stop_price
            order.ts_last = submitted.ts_event
        return None

    def on_accepted(self, accepted: OrderAccepted) -> OrderAnomaly | None:
        """Record the venue id and move a not-yet-filled order to ``ACCEPTED``.

        An accept after a fill or an end (a REST reply slower than the stream) only fills in
        the venue id.

        Returns:
            None, or an ``UNKNOWN_ORDER`` or ``MISMATCH`` (another venue id, symbol) anomaly.
        """
        order = self._lookup(accepted)
        if isinstance(order, OrderAnomaly):
            return order
        mismatch = self._venue_mismatch(order, accepted.venue_order_id, accepted.symbol)
        if mismatch is not None:
            return self._anomaly(AnomalyKind.MISMATCH, accepted, mismatch)
        order.venue_order_id = accepted.venue_order_id
        state = advanced(order.state, OrderState.ACCEPTED)
        if state is not order.state:
            order.state = state
            order.ts_last = accepted.ts_event
        return None

    @staticmethod
    def _venue_mismatch(order: _Order, venue_order_id: str, symbol: str) -> str | None:
        if order.venue_order_id is not None and venue_order_id != order.venue_order_id:
            return f"expected venue_order_id {order.venue_order_id}, was {venue_order_id}"
        if symbol != order.symbol:
            return f"expected symbol {order.symbol}, was {symbol}"
        return None

    def on_filled(self, fill: OrderFilled) -> OrderAnomaly | None:
        """Count one execution into its order.

        Allowed in every state (a fill may beat the accept, or the cancel) while the filled
        total stays within the order's quantity. The order becomes ``FILLED`` once all of it
        filled or the venue reports nothing left; otherwise a working order becomes
        ``PARTIALLY_FILLED`` and an ended one keeps its end state.

        Returns:
            None, or an ``UNKNOWN_ORDER``, ``DUPLICATE_EXECUTION``, ``CONTRADICTORY_EXECUTION``,
            ``MISMATCH`` or ``OVERFILL`` anomaly (the fill is then not counted).
        """
        verdict = self._executions.check(fill)
        if verdict is ExecutionVerdict.CONTRADICTORY:
            return self._anomaly(
                AnomalyKind.CONTRADICTORY_EXECUTION, fill, self._executions.contradiction(fill)
            )
        if verdict is ExecutionVerdict.DUPLICATE:
            return self._anomaly(
                AnomalyKind.DUPLICATE_EXECUTION, fill, f"execution {fill.execution_id} was applied before"
            )
        order = self._lookup(fill)
        if isinstance(order, OrderAnomaly):
            return order
        mismatch = self._venue_mismatch(order, fill.venue_order_id, fill.symbol)
        if mismatch is None and fill.side is not order.side:
            mismatch = f"expected side {order.side}, was {fill.side}"
        if mismatch is not None:
            return self._anomaly(AnomalyKind.MISMATCH, fill, mismatch)
        filled = order.filled_quantity + fill.fill_quantity
        if is_overfill(filled, order.quantity):
            # Remember it, so a redelivery is reported as the duplicate it is
            self._executions.remember(fill)
            return self._anomaly(
                AnomalyKind.OVERFILL,
                fill,
                f"filled {order.filled_quantity:.12g} + {fill.fill_quantity:.12g} exceeds quantity "
                f"{order.quantity:.12g} ({order.state})",
            )
        self._executions.remember(fill)
        self._fills_applied += 1
        order.filled_quantity = filled
        order.fill_notional += fill.fill_quantity * fill.fill_price
        order.fees += fill.fee
        order.venue_order_id = fill.venue_order_id
        order.ts_last = fill.ts_event
        order.state = state_after_fill(
            order.state, filled=filled, quantity=order.quantity, is_final=fill.is_final
        )
        logger.debug(
            "order %s %s: filled %s of %s", order.client_order_id, order.state, filled, order.quantity
        )
        return None

    def _end(
        self, message: OrderCanceled | OrderRejected, state: OrderState, reason: str
    ) -> OrderAnomaly | None:
        order = self._lookup(message)
        if isinstance(order, OrderAnomaly):
            return order
        if message.symbol != order.symbol:
            return self._anomaly(
                AnomalyKind.MISMATCH, message, f"expected symbol {order.symbol}, was {message.symbol}"
            )
        if order.state.is_terminal:
            return self._anomaly(
                AnomalyKind.ILLEGAL_TRANSITION, message, f"order already {order.state}, cannot become {state}"
            )
        order.state = state
        order.reason = reason
        order.ts_last = message.ts_event
        return None

    def on_canceled(self, canceled: OrderCanceled) -> OrderAnomaly | None:
        """End a working order as ``CANCELED``, or ``EXPIRED`` when its reason says it expired.

        Returns:
            None, or an ``UNKNOWN_ORDER``, ``MISMATCH`` or ``ILLEGAL_TRANSITION`` (already
            ended) anomaly.
        """
        anomaly = self._end(canceled, canceled_state(canceled.reason), canceled.reason)
        if anomaly is None:
            order = self._orders[canceled.client_order_id]
            order.venue_order_id = order.venue_order_id or canceled.venue_order_id or None
        return anomaly

    def on_rejected(self, rejected: OrderRejected) -> OrderAnomaly | None:
        """End a working order as ``REJECTED``.

        Returns:
            None, or an ``UNKNOWN_ORDER``, ``MISMATCH`` or ``ILLEGAL_TRANSITION`` (already
            ended) anomaly.
        """
        return self._end(rejected, OrderState.REJECTED, rejected.reason)

    def get(self, client_order_id: str) -> OrderView | None:
        """Return a snapshot of the order, or None if it is not tracked."""
        order = self._orders.get(client_order_id)
        return None if order is None else order.view()

    def is_known(self, client_order_id: str) -> bool:
        """Return whether ``client_order_id`` is tracked (open or ended)."""
        return client_order_id in self._orders

    def open_orders(self) -> tuple[OrderView, ...]:
        """Return snapshots of the orders not yet ended, oldest first."""
        return tuple(order.view() for order in self._orders.values() if not order.state.is_terminal)

    def statistics(self) -> OrderTrackerStatistics:
        """Return a snapshot of the tracker's counters."""
        by_state = dict.fromkeys(OrderState, 0)
        for order in self._orders.values():
            by_state[order.state] += 1
        return OrderTrackerStatistics(
            orders=len(self._orders),
            open_orders=sum(by_state[state] for state in OrderState if not state.is_terminal),
            orders_by_state=by_state,
            fills_applied=self._fills_applied,
            anomalies=sum(self._anomalies.values()),
            anomalies_by_kind=dict(self._anomalies),
        )

"""The order lifecycle as data: its states, which may follow which, and what an execution is.

::

    PENDING_SUBMIT ──▶ SUBMITTED ──▶ ACCEPTED ──▶ PARTIALLY_FILLED ──▶ FILLED
          └───────────────┴──────────────┴────────────────┴──▶ CANCELED | EXPIRED | REJECTED

These are the rules once, for everything that follows an order: the execution actor's
:class:`pyrt.execution.orders.OrderTracker` (the one that decides), the store that persists its
decisions, and the Alpaca update mapper, which sits in ``venues`` below execution; so they live
with the messages, the vocabulary every layer may import (issue 9).

- A submit or an accept only moves an order forward (:func:`advanced`): a late REST reply never
  moves it back.
- A fill counts in every state while the total stays within the quantity (:func:`is_overfill`);
  it makes the order ``FILLED`` once all of it filled or the venue reports nothing left, else a
  working order ``PARTIALLY_FILLED`` and an ended one keeps its end (:func:`state_after_fill`).
- A cancel or rejection ends only a working order; a cancel whose reason says it expired ends
  it as ``EXPIRED`` (:func:`canceled_state`).
- An ``execution_id`` is one execution: seen again with the same content it is a redelivery,
  with other content a contradiction (:class:`ExecutionLedger`).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, TypeAlias, final

if TYPE_CHECKING:
    from .trading import OrderFilled

__all__ = [
    "FILL_TOLERANCE",
    "ExecutionLedger",
    "ExecutionVerdict",
    "OrderState",
    "advanced",
    "canceled_state",
    "is_complete",
    "is_overfill",
    "state_after_fill",
]

FILL_TOLERANCE: Final = 1e-9
"""A filled quantity within this fraction of the order's quantity is complete (float sums of
partial fills); the same slack lets such sums through the overfill check."""


class OrderState(enum.StrEnum):
    """Where an order is in its life."""

    PENDING_SUBMIT = "pending_submit"
    """Approved by risk, not yet sent."""
    SUBMITTED = "submitted"
    """Sent to the venue, no reply yet."""
    ACCEPTED = "accepted"
    """The venue acknowledged it (its venue id is known)."""
    PARTIALLY_FILLED = "partially_filled"
    """Some, not all, of the quantity filled; still working."""
    FILLED = "filled"
    """All of the quantity filled."""
    CANCELED = "canceled"
    """Ended without filling completely."""
    EXPIRED = "expired"
    """Ended by its time in force without filling completely."""
    REJECTED = "rejected"
    """Refused by the venue or by execution's own guards."""

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL: Final = frozenset(
    {OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED}
)
# Progress before any fill, so a late submit or accept never moves an order backwards
_RANK: Final = {OrderState.PENDING_SUBMIT: 0, OrderState.SUBMITTED: 1, OrderState.ACCEPTED: 2}


def advanced(state: OrderState, to: OrderState) -> OrderState:
    """Return the state after a submit (``to`` is SUBMITTED) or accept (ACCEPTED) reached ``state``."""
    return to if _RANK.get(state, len(_RANK)) < _RANK[to] else state


def is_complete(filled: float, quantity: float) -> bool:
    """Return whether ``filled`` is all of ``quantity``, within :data:`FILL_TOLERANCE`."""
    return filled >= quantity * (1.0 - FILL_TOLERANCE)


def is_overfill(filled: float, quantity: float) -> bool:
    """Return whether ``filled`` exceeds ``quantity`` by more than :data:`FILL_TOLERANCE`."""
    return filled > quantity * (1.0 + FILL_TOLERANCE)


def state_after_fill(state: OrderState, *, filled: float, quantity: float, is_final: bool) -> OrderState:
    """Return the state once a fill took the filled total to ``filled`` (not an overfill).

    Args:
        state: the state before the fill.
        filled: the filled total, this fill included.
        quantity: the order's quantity.
        is_final: the venue reported nothing left (``leaves_quantity`` 0).
    """
    if is_complete(filled, quantity) or (is_final and not state.is_terminal):
        return OrderState.FILLED
    return state if state.is_terminal else OrderState.PARTIALLY_FILLED


def canceled_state(reason: str) -> OrderState:
    """Return the end a cancel with ``reason`` gives: ``EXPIRED`` if it says it expired, else ``CANCELED``."""
    return OrderState.EXPIRED if "expire" in reason.lower() else OrderState.CANCELED


class ExecutionVerdict(enum.Enum):
    """What an :class:`ExecutionLedger` makes of a fill."""

    NEW = "new"
    """Its ``execution_id`` was not seen before."""
    DUPLICATE = "duplicate"
    """Seen before with the same content: a redelivery."""
    CONTRADICTORY = "contradictory"
    """Seen before with other content: the venue reused an id, so a real fill may hide behind it."""


# What identifies one execution's content: order, venue order, symbol, side, price, quantity, time
_ExecutionKey: TypeAlias = tuple[str, str, str, str, float, float, int]


def _key(fill: OrderFilled) -> _ExecutionKey:
    return (
        fill.client_order_id,
        fill.venue_order_id,
        fill.symbol,
        str(fill.side),
        fill.fill_price,
        fill.fill_quantity,
        fill.ts_event,
    )


def _describe(key: _ExecutionKey) -> str:
    client_order_id, venue_order_id, symbol, side, price, quantity, ts_event = key
    return (
        f"{side} {quantity:.12g} {symbol} @ {price:.12g} for {client_order_id} "
        f"(venue {venue_order_id}, ts {ts_event})"
    )


@final
class ExecutionLedger:
    """The executions seen, by ``execution_id``: the one rule that tells new, redelivered and
    contradicting fills apart.

    :meth:`check` only looks; :meth:`remember` records a fill as seen (its first content wins).
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, _ExecutionKey] = {}

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, fill: OrderFilled) -> ExecutionVerdict:
        """Return whether ``fill`` is new, a redelivery or a contradiction of one seen before."""
        seen = self._seen.get(fill.execution_id)
        if seen is None:
            return ExecutionVerdict.NEW
        return ExecutionVerdict.DUPLICATE if seen == _key(fill) else ExecutionVerdict.CONTRADICTORY

    def remember(self, fill: OrderFilled) -> None:
        """Record ``fill`` as seen; an id seen before keeps its first content."""
        self._seen.setdefault(fill.execution_id, _key(fill))

    def contradiction(self, fill: OrderFilled) -> str:
        """Return what the first fill with ``fill``'s id said and what ``fill`` says."""
        seen = self._seen.get(fill.execution_id)
        first = "nothing" if seen is None else _describe(seen)
        return (
            f"execution {fill.execution_id} was seen before as {first}, "
            f"now as {_describe(_key(fill))}: the venue reused an execution id"
        )

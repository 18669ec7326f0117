"""Decisions and order lifecycle: ``signal.generated``, ``risk.*`` and ``order.*``."""

from __future__ import annotations

from typing import ClassVar, Protocol, final

import attrs

from .._validators import (
    finite_non_negative,
    finite_positive,
    is_symbol,
    non_empty,
    optional_finite_positive,
)
from .enums import OrderType, Side, TimeInForce

__all__ = [
    "OrderAccepted",
    "OrderCanceled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "RiskApproved",
    "RiskRejected",
    "SignalGenerated",
    "TradingStateChanged",
]


class OrderTerms(Protocol):
    """What an order asks for, as a signal, a venue order or a submit spells it."""

    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def quantity(self) -> float | None: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def limit_price(self) -> float | None: ...
    @property
    def stop_price(self) -> float | None: ...


TRADING_STATES: frozenset[str] = frozenset({"active", "reducing", "halted"})


def _is_trading_state(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in TRADING_STATES:
        raise ValueError(f"{attribute.name} must be one of {sorted(TRADING_STATES)}, was {value!r}")


def _check_prices(order_type: OrderType, limit_price: float | None, stop_price: float | None) -> None:
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit != (limit_price is not None):
        raise ValueError(
            f"limit_price must be {'set' if needs_limit else 'null'} for a {order_type} order, was {limit_price}"
        )
    if needs_stop != (stop_price is not None):
        raise ValueError(
            f"stop_price must be {'set' if needs_stop else 'null'} for a {order_type} order, was {stop_price}"
        )


@final
@attrs.frozen(kw_only=True)
class SignalGenerated:
    """A strategy's wish to trade; nothing reaches the venue before risk approves it.

    ``reference_price`` is the market price the strategy saw (used to value market orders and
    for the slippage guard); ``signal_id`` is unique per run and seeds the client order id.
    """

    TOPIC: ClassVar[str] = "signal.generated"
    signal_id: str = attrs.field(validator=non_empty)
    strategy: str = attrs.field(validator=non_empty)
    symbol: str = attrs.field(validator=is_symbol)
    side: Side
    quantity: float = attrs.field(validator=finite_positive)
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: float | None = attrs.field(default=None, validator=optional_finite_positive)
    stop_price: float | None = attrs.field(default=None, validator=optional_finite_positive)
    reference_price: float | None = attrs.field(default=None, validator=optional_finite_positive)
    ts_event: int
    ts_init: int

    def __attrs_post_init__(self) -> None:
        _check_prices(self.order_type, self.limit_price, self.stop_price)


@final
@attrs.frozen(kw_only=True)
class RiskApproved:
    """The risk manager passed a signal; execution sends it under ``client_order_id``."""

    TOPIC: ClassVar[str] = "risk.approved"
    signal: SignalGenerated
    client_order_id: str = attrs.field(validator=non_empty)
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class RiskRejected:
    """The risk manager refused a signal; ``reason_code`` is stable (``MAX_ORDER_SIZE`` …)."""

    TOPIC: ClassVar[str] = "risk.rejected"
    signal: SignalGenerated
    reason_code: str = attrs.field(validator=non_empty)
    reason: str
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class OrderSubmitted:
    """Execution sent an order to the venue (the request, before any reply)."""

    TOPIC: ClassVar[str] = "order.submitted"
    client_order_id: str = attrs.field(validator=non_empty)
    symbol: str = attrs.field(validator=is_symbol)
    side: Side
    quantity: float = attrs.field(validator=finite_positive)
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None = attrs.field(default=None, validator=optional_finite_positive)
    stop_price: float | None = attrs.field(default=None, validator=optional_finite_positive)
    ts_event: int
    ts_init: int

    def __attrs_post_init__(self) -> None:
        _check_prices(self.order_type, self.limit_price, self.stop_price)

    @classmethod
    def of(cls, terms: OrderTerms, *, client_order_id: str, ts_event: int, ts_init: int) -> OrderSubmitted:
        """Return the submit of an order with ``terms`` (a signal's, a venue order's) under ``client_order_id``.

        Raises:
            ValueError: the terms make no valid order (no quantity, e.g. a notional order).
        """
        if terms.quantity is None:
            raise ValueError(f"quantity must be set for {client_order_id}, was None (a notional order)")
        return cls(
            client_order_id=client_order_id,
            symbol=terms.symbol,
            side=terms.side,
            quantity=terms.quantity,
            order_type=terms.order_type,
            time_in_force=terms.time_in_force,
            limit_price=terms.limit_price,
            stop_price=terms.stop_price,
            ts_event=ts_event,
            ts_init=ts_init,
        )


@final
@attrs.frozen(kw_only=True)
class OrderAccepted:
    """The venue acknowledged the order and gave it ``venue_order_id``."""

    TOPIC: ClassVar[str] = "order.accepted"
    client_order_id: str = attrs.field(validator=non_empty)
    venue_order_id: str = attrs.field(validator=non_empty)
    symbol: str = attrs.field(validator=is_symbol)
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class OrderFilled:
    """One execution against an order; ``leaves_quantity == 0`` means the order is complete."""

    TOPIC: ClassVar[str] = "order.filled"
    client_order_id: str = attrs.field(validator=non_empty)
    venue_order_id: str = attrs.field(validator=non_empty)
    execution_id: str = attrs.field(validator=non_empty)
    symbol: str = attrs.field(validator=is_symbol)
    side: Side
    fill_price: float = attrs.field(validator=finite_positive)
    fill_quantity: float = attrs.field(validator=finite_positive)
    cumulative_quantity: float = attrs.field(validator=finite_positive)
    leaves_quantity: float = attrs.field(validator=finite_non_negative)
    fee: float = attrs.field(default=0.0, validator=finite_non_negative)
    ts_event: int
    ts_init: int

    def __attrs_post_init__(self) -> None:
        if self.cumulative_quantity < self.fill_quantity:
            raise ValueError(
                "cumulative_quantity must be >= fill_quantity, was "
                f"{self.cumulative_quantity} < {self.fill_quantity}"
            )

    @property
    def is_final(self) -> bool:
        return self.leaves_quantity == 0.0


@final
@attrs.frozen(kw_only=True)
class OrderCanceled:
    """The order ended without filling completely (canceled, expired, IOC remainder)."""

    TOPIC: ClassVar[str] = "order.canceled"
    client_order_id: str = attrs.field(validator=non_empty)
    venue_order_id: str
    symbol: str = attrs.field(validator=is_symbol)
    filled_quantity: float = attrs.field(default=0.0, validator=finite_non_negative)
    reason: str = ""
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class OrderRejected:
    """The venue (or the execution actor's own guards) refused the order; never retried."""

    TOPIC: ClassVar[str] = "order.rejected"
    client_order_id: str = attrs.field(validator=non_empty)
    symbol: str = attrs.field(validator=is_symbol)
    reason: str
    status_code: int | None = None
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class TradingStateChanged:
    """The risk manager's trading state changed: ``active``, ``reducing`` (only orders that shrink
    exposure pass) or ``halted`` (nothing new). ``automatic`` is set when a limit tripped it
    (daily loss), clear when an operator did (``pyrt halt``, SIGUSR1)."""

    TOPIC: ClassVar[str] = "risk.state"
    state: str = attrs.field(validator=_is_trading_state)
    previous: str = attrs.field(validator=_is_trading_state)
    reason: str
    automatic: bool = False
    cancel_open_orders: bool = False
    ts_event: int
    ts_init: int

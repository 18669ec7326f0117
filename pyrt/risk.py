"""Pre-trade risk: the plain logic behind the risk actor.

:class:`RiskEngine` turns each ``signal.generated`` into a ``risk.approved`` or a
``risk.rejected`` with a stable reason code, against :class:`RiskLimits` and a
:class:`~pyrt.portfolio.Portfolio`. An approved order counts as open (its quantity against the
position limits, its cost against buying power) until it fills or ends.

Checks run in this order; the first that fails names the rejection:

1. ``DUPLICATE_SIGNAL``: the signal's order id was approved before (a redelivered signal).
2. ``SYMBOL_NOT_ALLOWED``: the symbol is outside ``allowed_symbols``.
3. ``MAX_ORDER_SIZE``: the order's quantity.
4. ``MAX_POSITION_SIZE``: ``abs(position + open orders on the same side + this order)``.
5. ``MAX_DAILY_LOSS``: once the day's P&L is at or below ``-max_daily_loss``, only orders that
   reduce the position (with the open orders on their side) pass.
6. ``MAX_OPEN_ORDERS``: orders approved and not yet ended.
7. ``NO_PRICE``: no limit, stop, reference price or mark to value the order with.
8. ``MAX_ORDER_NOTIONAL``: quantity × price.
9. ``MAX_GROSS_EXPOSURE``: the gross exposure once every open order and this one have filled.
10. ``BUYING_POWER`` (buys): cash minus what open buys have reserved must cover quantity × price.

A position or exposure limit never blocks an order that leaves the checked figure smaller than
it is now (for a position: on the same side, without flipping), so a book already over a
(lowered) limit can always be reduced.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, final

import attrs

from .messages import OrderType, RiskApproved, RiskRejected, Side

if TYPE_CHECKING:
    from .messages import OrderFilled, SignalGenerated
    from .portfolio import Portfolio

__all__ = [
    "BUYING_POWER",
    "DUPLICATE_SIGNAL",
    "MAX_DAILY_LOSS",
    "MAX_GROSS_EXPOSURE",
    "MAX_OPEN_ORDERS",
    "MAX_ORDER_NOTIONAL",
    "MAX_ORDER_SIZE",
    "MAX_POSITION_SIZE",
    "NO_PRICE",
    "REASON_CODES",
    "SYMBOL_NOT_ALLOWED",
    "RiskEngine",
    "RiskLimits",
    "RiskStatistics",
    "client_order_id_for",
]

logger = logging.getLogger(__name__)

MAX_ORDER_SIZE: Final = "MAX_ORDER_SIZE"
MAX_POSITION_SIZE: Final = "MAX_POSITION_SIZE"
MAX_DAILY_LOSS: Final = "MAX_DAILY_LOSS"
BUYING_POWER: Final = "BUYING_POWER"
NO_PRICE: Final = "NO_PRICE"
MAX_ORDER_NOTIONAL: Final = "MAX_ORDER_NOTIONAL"
MAX_GROSS_EXPOSURE: Final = "MAX_GROSS_EXPOSURE"
SYMBOL_NOT_ALLOWED: Final = "SYMBOL_NOT_ALLOWED"
MAX_OPEN_ORDERS: Final = "MAX_OPEN_ORDERS"
DUPLICATE_SIGNAL: Final = "DUPLICATE_SIGNAL"

#: Every reason code a :class:`RiskRejected` from this module can carry, in check order.
REASON_CODES: Final[tuple[str, ...]] = (
    DUPLICATE_SIGNAL,
    SYMBOL_NOT_ALLOWED,
    MAX_ORDER_SIZE,
    MAX_POSITION_SIZE,
    MAX_DAILY_LOSS,
    MAX_OPEN_ORDERS,
    NO_PRICE,
    MAX_ORDER_NOTIONAL,
    MAX_GROSS_EXPOSURE,
    BUYING_POWER,
)

# Limits compare with this relative slack so that float sums (0.1 + 0.2 against 0.3) exactly at
# a limit pass; anything a real order size can express over the limit still fails
_SLACK: Final = 1e-12
# Remaining quantities at or below this fraction of the order are float noise: the order is done
_DONE_TOLERANCE: Final = 1e-10

_CLIENT_ORDER_ID_PREFIX: Final = "pyrt-"
_CLIENT_ORDER_ID_MAX: Final = 48
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")


def client_order_id_for(signal_id: str) -> str:
    """Return the deterministic client order id for a signal.

    ``pyrt-<signal_id>`` when that is at most 48 characters of ``[A-Za-z0-9_-]``; otherwise a
    sanitized prefix of the signal id plus a hash of the whole id, so distinct signals still
    get distinct ids and a replayed signal gets the same one.

    Args:
        signal_id: the signal's id (non-empty).

    Returns:
        An id of at most 48 characters from ``[A-Za-z0-9_-]``.
    """
    plain = _CLIENT_ORDER_ID_PREFIX + signal_id
    if len(plain) <= _CLIENT_ORDER_ID_MAX and _SAFE_ID.match(signal_id):
        return plain
    digest = hashlib.blake2b(signal_id.encode("utf-8"), digest_size=8).hexdigest()
    room = _CLIENT_ORDER_ID_MAX - len(_CLIENT_ORDER_ID_PREFIX) - len(digest) - 1
    stem = _UNSAFE_CHARS.sub("_", signal_id)[:room]
    return f"{_CLIENT_ORDER_ID_PREFIX}{stem}-{digest}"


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number > 0, was {value!r}")


def _optional_positive(_inst: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number > 0 or None, was {value!r}")


def _optional_positive_int(_inst: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be an integer >= 1 or None, was {value!r}")


def _to_symbol_set(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"allowed_symbols must be a collection of symbols, was the string {value!r}")
    return frozenset(value)


@final
@attrs.frozen(kw_only=True)
class RiskLimits:
    """The limits a :class:`RiskEngine` enforces; None switches an optional limit off."""

    max_order_size: float = attrs.field(validator=_positive)
    """Largest quantity of one order."""
    max_position_size: float = attrs.field(validator=_positive)
    """Largest absolute quantity per symbol, counting open orders on the same side."""
    max_daily_loss: float = attrs.field(validator=_positive)
    """Loss (a positive currency amount) at which only reducing orders pass."""
    max_order_notional: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest quantity × price of one order."""
    max_gross_exposure: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest sum of absolute position values once all open orders have filled."""
    allowed_symbols: frozenset[str] | None = attrs.field(default=None, converter=_to_symbol_set)
    """The only symbols that may be traded."""
    max_open_orders: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Most orders approved and not yet ended, over all symbols."""


@final
@attrs.frozen(kw_only=True)
class RiskStatistics:
    """A snapshot of a :class:`RiskEngine`'s counters."""

    checks: int
    """Signals checked."""
    approvals: int
    """Signals approved."""
    rejections: int
    """Signals rejected (the sum of ``rejections_by_reason``)."""
    rejections_by_reason: Mapping[str, int]
    """Rejections per reason code; every code in :data:`REASON_CODES` is present."""
    open_orders: int
    """Approved orders not yet filled, canceled or rejected."""
    reserved_cash: float
    """Cash held back for the unfilled part of open buy orders."""
    daily_pnl: float
    """Total P&L since the start of the day (or of the engine)."""
    reduce_only: bool
    """Whether the daily loss limit is hit, so only reducing orders pass."""
    fills: int
    """Fills applied to the portfolio."""
    duplicate_fills: int
    """Fills ignored because their ``execution_id`` had been applied already."""
    unknown_order_events: int
    """Fills or closes for client order ids with no open order here (applied or ignored)."""


@attrs.define
class _OpenOrder:
    symbol: str
    side: Side
    quantity: float
    remaining: float
    price: float  # what one unit is valued at for reservations and exposure


@attrs.define
class _SymbolBook:
    buys: float = 0.0
    sells: float = 0.0
    price: float = 0.0  # highest valuation among the open orders, when the symbol has no mark


def _num(value: float) -> str:
    return f"{value:.12g}"


def _exceeds(value: float, limit: float) -> bool:
    return value > limit + _SLACK * max(1.0, abs(limit))


@final
class RiskEngine:
    """Pre-trade checks against :class:`RiskLimits`, with open-order reservations.

    The engine owns the updates to ``portfolio``: feed it every fill (:meth:`on_fill`), every
    order end (:meth:`on_order_closed`) and the marks the run prices positions with
    (:meth:`on_mark`).

    Args:
        limits: the limits to enforce.
        portfolio: positions, cash and P&L; the engine applies fills to it.
    """

    __slots__ = (
        "_approvals",
        "_approved_ids",
        "_checks",
        "_day_start_pnl",
        "_limits",
        "_open",
        "_portfolio",
        "_rejections",
        "_unknown_order_events",
    )

    def __init__(self, limits: RiskLimits, portfolio: Portfolio) -> None:
        self._limits = limits
        self._portfolio = portfolio
        self._open: dict[str, _OpenOrder] = {}
        self._approved_ids: set[str] = set()
        self._checks = 0
        self._approvals = 0
        self._rejections = dict.fromkeys(REASON_CODES, 0)
        self._unknown_order_events = 0
        self._day_start_pnl = 0.0

    @property
    def limits(self) -> RiskLimits:
        """The limits enforced."""
        return self._limits

    @property
    def portfolio(self) -> Portfolio:
        """The portfolio the engine keeps up to date."""
        return self._portfolio

    @property
    def daily_pnl(self) -> float:
        """Total P&L since :meth:`start_new_day` (or since the engine was built)."""
        return self._portfolio.total_pnl - self._day_start_pnl

    @property
    def reserved_cash(self) -> float:
        """Cash held back for the unfilled part of open buy orders."""
        return sum(o.remaining * o.price for o in self._open.values() if o.side is Side.BUY)

    def is_open(self, client_order_id: str) -> bool:
        """Return whether ``client_order_id`` is an approved order that has not ended."""
        return client_order_id in self._open

    def start_new_day(self) -> None:
        """Measure the daily loss from the current total P&L on (call at the session start)."""
        self._day_start_pnl = self._portfolio.total_pnl

    def check(self, signal: SignalGenerated, *, now_ns: int) -> RiskApproved | RiskRejected:
        """Decide on one signal; an approval is recorded as an open order.

        Args:
            signal: the strategy's order wish.
            now_ns: the clock's time, stamped on the decision as ``ts_event`` and ``ts_init``.

        Returns:
            A :class:`~pyrt.messages.RiskApproved` carrying ``client_order_id_for(signal_id)``,
            or a :class:`~pyrt.messages.RiskRejected` with the first failing check's code.
        """
        self._checks += 1
        client_order_id = client_order_id_for(signal.signal_id)
        decision = self._decide(signal, client_order_id)
        if isinstance(decision, tuple):
            code, reason = decision
            self._rejections[code] += 1
            logger.info(
                "signal %s rejected: %s: %s (%d %s rejections so far)",
                signal.signal_id,
                code,
                reason,
                self._rejections[code],
                code,
            )
            return RiskRejected(
                signal=signal, reason_code=code, reason=reason, ts_event=now_ns, ts_init=now_ns
            )
        self._open[client_order_id] = _OpenOrder(
            symbol=signal.symbol,
            side=signal.side,
            quantity=signal.quantity,
            remaining=signal.quantity,
            price=decision,
        )
        self._approved_ids.add(client_order_id)
        self._approvals += 1
        logger.debug("signal %s approved as %s", signal.signal_id, client_order_id)
        return RiskApproved(signal=signal, client_order_id=client_order_id, ts_event=now_ns, ts_init=now_ns)

    def _valuation_price(self, signal: SignalGenerated) -> float | None:
        # A limit bounds what the order can cost; otherwise the price the strategy saw, then
        # the last mark. A stop trades at or through its trigger, so it is valued at no less
        price = signal.limit_price
        if price is None:
            price = signal.reference_price
        if price is None:
            price = self._portfolio.last_price(signal.symbol)
        if signal.order_type is OrderType.STOP and signal.stop_price is not None:
            price = signal.stop_price if price is None else max(price, signal.stop_price)
        return price

    def _symbol_books(self) -> dict[str, _SymbolBook]:
        books: dict[str, _SymbolBook] = {}
        for order in self._open.values():
            book = books.get(order.symbol)
            if book is None:
                book = books[order.symbol] = _SymbolBook()
            if order.side is Side.BUY:
                book.buys += order.remaining
            else:
                book.sells += order.remaining
            book.price = max(book.price, order.price)
        return books

    def _decide(self, signal: SignalGenerated, client_order_id: str) -> tuple[str, str] | float:
        # The first failing check as (reason code, reason), or the price the order is valued at
        limits = self._limits
        symbol = signal.symbol
        quantity = signal.quantity
        if client_order_id in self._approved_ids:
            return DUPLICATE_SIGNAL, f"signal {signal.signal_id} was already approved as {client_order_id}"
        if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
            return SYMBOL_NOT_ALLOWED, f"symbol {symbol} is not in allowed_symbols"
        if _exceeds(quantity, limits.max_order_size):
            return (
                MAX_ORDER_SIZE,
                f"quantity {_num(quantity)} exceeds max_order_size {_num(limits.max_order_size)}",
            )

        books = self._symbol_books()
        book = books.get(symbol) or _SymbolBook()
        position = self._portfolio.position(symbol).quantity
        if signal.side is Side.BUY:
            same_side_open = book.buys
            projected = position + book.buys + quantity
        else:
            same_side_open = book.sells
            projected = position - book.sells - quantity
        shrinks = projected * position >= 0.0 and abs(projected) <= abs(position)
        if _exceeds(abs(projected), limits.max_position_size) and not shrinks:
            return MAX_POSITION_SIZE, (
                f"projected position {_num(projected)} (position {_num(position)}, open "
                f"{signal.side} orders {_num(same_side_open)}, order {_num(quantity)}) exceeds "
                f"max_position_size {_num(limits.max_position_size)}"
            )

        daily_pnl = self.daily_pnl
        if daily_pnl <= -limits.max_daily_loss:
            reduces = position != 0.0 and (position > 0.0) != (signal.side is Side.BUY)
            if not reduces or _exceeds(same_side_open + quantity, abs(position)):
                return MAX_DAILY_LOSS, (
                    f"daily P&L {_num(daily_pnl)} is at or below -max_daily_loss "
                    f"{_num(-limits.max_daily_loss)}: only orders reducing the position "
                    f"{_num(position)} pass, order {signal.side} {_num(quantity)} with open "
                    f"{signal.side} orders {_num(same_side_open)} does not"
                )

        if limits.max_open_orders is not None and len(self._open) >= limits.max_open_orders:
            return MAX_OPEN_ORDERS, (
                f"open orders {len(self._open)} + 1 exceeds max_open_orders {limits.max_open_orders}"
            )

        price = self._valuation_price(signal)
        if price is None:
            return NO_PRICE, (
                f"{signal.order_type} order for {symbol} has no reference_price and {symbol} has no mark"
            )
        notional = quantity * price
        if limits.max_order_notional is not None and _exceeds(notional, limits.max_order_notional):
            return MAX_ORDER_NOTIONAL, (
                f"notional {_num(notional)} ({_num(quantity)} x {_num(price)}) exceeds "
                f"max_order_notional {_num(limits.max_order_notional)}"
            )

        if limits.max_gross_exposure is not None:
            now, after = self._gross_exposures(books, signal, price)
            if _exceeds(after, limits.max_gross_exposure) and after > now:
                return MAX_GROSS_EXPOSURE, (
                    f"projected gross exposure {_num(after)} (now {_num(now)} with open orders) "
                    f"exceeds max_gross_exposure {_num(limits.max_gross_exposure)}"
                )

        if signal.side is Side.BUY:
            cash = self._portfolio.cash
            reserved = self.reserved_cash
            available = cash - reserved
            if notional > available + _SLACK * max(1.0, abs(available)):
                return BUYING_POWER, (
                    f"order cost {_num(notional)} ({_num(quantity)} x {_num(price)}) exceeds "
                    f"buying power {_num(available)} (cash {_num(cash)}, reserved by open buys "
                    f"{_num(reserved)})"
                )
        return price

    def _gross_exposures(
        self, books: dict[str, _SymbolBook], signal: SignalGenerated, price: float
    ) -> tuple[float, float]:
        # Worst case per symbol once the open orders fill: all buys or all sells first
        positions = {pos.symbol: pos.quantity for pos in self._portfolio.positions()}
        now = after = 0.0
        # sorted: a set's order varies with hash seeds, and so would the float sum's last bits
        for symbol in sorted(positions.keys() | books.keys() | {signal.symbol}):
            book = books.get(symbol) or _SymbolBook()
            position = positions.get(symbol, 0.0)
            mark = self._portfolio.last_price(symbol)
            if mark is None:
                mark = max(book.price, price) if symbol == signal.symbol else book.price
            worst = max(abs(position + book.buys), abs(position - book.sells))
            now += worst * mark
            if symbol == signal.symbol:
                if signal.side is Side.BUY:
                    worst = max(abs(position + book.buys + signal.quantity), abs(position - book.sells))
                else:
                    worst = max(abs(position + book.buys), abs(position - book.sells - signal.quantity))
            after += worst * mark
        return now, after

    def on_fill(self, fill: OrderFilled) -> None:
        """Apply a fill to the portfolio and shrink its order's reservation.

        A fill whose ``execution_id`` was applied before changes nothing. A fill for an order
        this engine did not approve (a manual order, one from before a restart) still moves
        the portfolio.

        Args:
            fill: the execution.
        """
        duplicate = self._portfolio.has_execution(fill.execution_id)
        self._portfolio.apply_fill(fill)  # a duplicate is counted there
        if duplicate:
            return
        order = self._open.get(fill.client_order_id)
        if order is None:
            self._unknown_order_events += 1
            logger.warning(
                "fill %s for %s, which has no open order here, applied to the portfolio (%d so far)",
                fill.execution_id,
                fill.client_order_id,
                self._unknown_order_events,
            )
            return
        # The venue's leaves quantity wins when it is smaller (the venue reduced the order)
        order.remaining = min(order.remaining - fill.fill_quantity, fill.leaves_quantity)
        if fill.is_final or order.remaining <= _DONE_TOLERANCE * order.quantity:
            del self._open[fill.client_order_id]

    def on_order_closed(self, client_order_id: str) -> None:
        """Release the reservation of an order that ended unfilled (canceled, rejected, expired).

        Args:
            client_order_id: the order's id; an id with no open order is counted and ignored.
        """
        if self._open.pop(client_order_id, None) is None:
            self._unknown_order_events += 1
            logger.debug("close of %s, which has no open order here, ignored", client_order_id)

    def on_mark(self, symbol: str, price: float) -> None:
        """Mark ``symbol`` at ``price`` in the portfolio.

        Raises:
            ValueError: ``price`` is not a finite number > 0.
        """
        self._portfolio.mark(symbol, price)

    def statistics(self) -> RiskStatistics:
        """Return a snapshot of the engine's counters."""
        daily_pnl = self.daily_pnl
        portfolio_stats = self._portfolio.statistics()
        return RiskStatistics(
            checks=self._checks,
            approvals=self._approvals,
            rejections=sum(self._rejections.values()),
            rejections_by_reason=dict(self._rejections),
            open_orders=len(self._open),
            reserved_cash=self.reserved_cash,
            daily_pnl=daily_pnl,
            reduce_only=daily_pnl <= -self._limits.max_daily_loss,
            fills=portfolio_stats.fills_applied,
            duplicate_fills=portfolio_stats.duplicate_fills,
            unknown_order_events=self._unknown_order_events,
        )

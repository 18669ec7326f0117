"""Pre-trade risk: the checks and open-order reservations behind the risk actor.

:class:`RiskEngine` turns each ``signal.generated`` into a ``risk.approved`` or a
``risk.rejected`` with a stable reason code, against :class:`~pyrt.risk.limits.RiskLimits` and a
:class:`~pyrt.risk.portfolio.Portfolio`. An approved order counts as open (its quantity against the
position limits, its value against exposure, its cost against buying power) until it fills or
ends. ``specs/risk.md`` numbers the promises (R1, R2, ...); each has a property test.

Checks run in this order; the first that fails names the rejection (optional limits that are
``None`` are skipped):

1. ``INVALID_INPUT``: a quantity or price that is not a finite number > 0 (defensive: messages
   are validated at construction).
2. ``DUPLICATE_SIGNAL``: the signal's order id was approved before (a redelivered signal).
3. ``TRADING_HALTED``: the engine is :attr:`TradingState.HALTED`.
4. ``SYMBOL_NOT_ALLOWED``: the symbol is outside ``allowed_symbols``.
5. ``MAX_ORDER_SIZE``: the order's quantity.
6. ``SHORT_NOT_ALLOWED``: ``allow_short`` is off (the strategy is long-only) and a sell, with the
   open sells, is larger than the long position: it would open or grow a short. Refused, not cut
   down to the position: an approval carries the strategy's own order, and the strategy learns
   from the rejection that it holds less than it thought.
7. ``MAX_POSITION_SIZE``: ``abs(position + open orders on the same side + this order)``.
8. ``MAX_DAILY_LOSS`` / ``REDUCE_ONLY``: the engine is :attr:`TradingState.REDUCING` (because the
   day's loss reached ``max_daily_loss``, or by :meth:`RiskEngine.reduce_only`) and the order,
   with the open orders on its side, does not shrink the position without flipping it.
9. ``MAX_OPEN_ORDERS``: orders approved and not yet ended.
10. ``MAX_ORDERS_PER_SECOND`` / ``MAX_ORDERS_PER_MINUTE``: approvals in the last second / minute.
11. ``NO_PRICE``: no limit, stop, reference price or mark to value the order with.
12. ``STALE_MARKET_DATA``: the symbol has no mark within ``max_quote_age_secs`` of ``now_ns``.
13. ``PRICE_COLLAR``: a limit order's limit price, or the reference price, is more than
    ``price_collar_bps`` from the symbol's last mark (a fat finger).
14. ``MAX_ORDER_NOTIONAL``: quantity × price.
15. ``MAX_POSITION_VALUE``: the projected position of check 7 × the higher of price and mark.
16. ``MAX_GROSS_EXPOSURE``: the gross exposure once every open order and this one have filled.
17. ``BUYING_POWER`` (buys): cash minus what open buys have reserved must cover quantity × price.

An order is valued at its limit price (limit and stop-limit orders); otherwise (market and
stop orders) at the higher of its reference price and the symbol's last mark, and a stop at no
less than its stop price. A market order is never valued at zero: with neither a reference price
nor a mark it is rejected ``NO_PRICE``.

A position or position-value limit never blocks an order that leaves the position smaller than
it is now (on the same side, without flipping), and the gross exposure limit never blocks one
that does not grow its symbol's term, so a book already over a (lowered) limit can be reduced.

Time comes only from the ``now_ns`` the caller passes (never the wall clock), and never goes
backwards: an earlier ``now_ns`` than one seen before counts as the latest one. The daily loss
is measured from the start of the trading session, which begins at the first check, mark or
fill at or after midnight America/New_York.

Every check and update is O(1) in the number of open orders: per-symbol open quantities,
reservations and exposures are kept as running sums. A symbol with no mark is valued at its
dearest open order: a count of open orders per valuation lets that price step down exactly when
the dearest ends (only then is it recomputed, over the symbol's distinct prices).
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Protocol, final

import attrs

from ..messages import OrderType, RiskApproved, RiskRejected, Side
from ..runtime.clock import NS_PER_SECOND
from .ids import client_order_id_for
from .limits import (
    BUYING_POWER,
    DUPLICATE_SIGNAL,
    INVALID_INPUT,
    MAX_DAILY_LOSS,
    MAX_GROSS_EXPOSURE,
    MAX_OPEN_ORDERS,
    MAX_ORDER_NOTIONAL,
    MAX_ORDER_SIZE,
    MAX_ORDERS_PER_MINUTE,
    MAX_ORDERS_PER_SECOND,
    MAX_POSITION_SIZE,
    MAX_POSITION_VALUE,
    NO_PRICE,
    PRICE_COLLAR,
    REASON_CODES,
    REDUCE_ONLY,
    SHORT_NOT_ALLOWED,
    STALE_MARKET_DATA,
    SYMBOL_NOT_ALLOWED,
    TRADING_HALTED,
)
from .state import (
    SESSION_TIME_ZONE,
    TradingState,
    TradingStateChange,
    TradingStateMachine,
    check_reason,
    next_session_start_ns,
)

if TYPE_CHECKING:
    from ..messages import OrderFilled, SignalGenerated
    from .limits import RiskLimits
    from .portfolio import Portfolio

__all__ = [
    "OpenOrderView",
    "RestorableOrder",
    "RiskEngine",
    "RiskStatistics",
]

logger = logging.getLogger(__name__)

_NS: Final = NS_PER_SECOND
_SECOND_NS: Final = _NS
_MINUTE_NS: Final = 60 * _NS

# Limits compare with this relative slack so that float sums (0.1 + 0.2 against 0.3) exactly at
# a limit pass; anything a real order size can express over the limit still fails
_SLACK: Final = 1e-12
# Remaining quantities at or below this fraction of the order are float noise: the order is done
_DONE_TOLERANCE: Final = 1e-10
# The engine's running sum of exposures is recomputed exactly after this many updates
_RESYNC_EVERY: Final = 1024
_INF: Final = math.inf


class RestorableOrder(Protocol):
    """What :meth:`RiskEngine.restore_open_orders` reads from an order (e.g. ``pyrt.execution.orders.OrderView``)."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def quantity(self) -> float: ...
    @property
    def filled_quantity(self) -> float: ...
    @property
    def limit_price(self) -> float | None: ...
    @property
    def stop_price(self) -> float | None: ...


@final
@attrs.frozen(kw_only=True)
class OpenOrderView:
    """A snapshot of one approved order that has not ended."""

    client_order_id: str
    """The id the approval carried."""
    symbol: str
    """The instrument."""
    side: Side
    """Buy or sell."""
    quantity: float
    """The approved quantity."""
    remaining: float
    """The quantity not yet filled: what still counts against the limits."""
    price: float
    """What one unit is valued at for reservations and exposure (> 0)."""


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
    projected_gross_exposure: float
    """Gross exposure once every open order has filled (the worst side per symbol)."""
    daily_pnl: float
    """Total P&L since the start of the session."""
    state: TradingState
    """What new orders pass."""
    reduce_only: bool
    """Whether ``state`` is REDUCING."""
    fills: int
    """Fills applied to the portfolio."""
    duplicate_fills: int
    """Fills ignored because their ``execution_id`` had been applied already."""
    unknown_order_events: int
    """Fills or closes for client order ids with no open order here (applied or ignored)."""
    invalid_marks: int
    """Marks ignored because the price was not a finite number > 0."""
    sessions: int
    """Trading sessions started since the engine was built (the first one included)."""


class _OpenOrder:
    # A plain slotted class: one is built per approval, on the hot path
    __slots__ = ("price", "quantity", "remaining", "side", "symbol")

    def __init__(self, symbol: str, side: Side, quantity: float, price: float) -> None:
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.remaining = quantity
        self.price = price  # what one unit is valued at for reservations and exposure


@attrs.define
class _SymbolBook:
    # Running sums over the symbol's open orders, and its term of the engine's gross exposure
    buys: float = 0.0
    sells: float = 0.0
    reserved: float = 0.0  # remaining x price of the open buys
    orders: int = 0
    price: float = 0.0  # the dearest valuation of an open order (the symbol's price while unmarked)
    exposure: float = 0.0  # max(|position + buys|, |position - sells|) x price
    # how many priced open orders are valued at each price, so `price` can step down exactly
    # when the dearest one ends (a running max alone would keep an ended order's price)
    prices: dict[float, int] = attrs.field(factory=dict)

    def add_price(self, price: float) -> None:
        prices = self.prices
        prices[price] = prices.get(price, 0) + 1
        if price > self.price:
            self.price = price

    def remove_price(self, price: float) -> None:
        prices = self.prices
        count = prices.get(price)
        if count is None:  # a restored order that never got a price
            return
        if count > 1:
            prices[price] = count - 1
            return
        del prices[price]
        if price >= self.price:  # the dearest ended: O(distinct prices), only then
            self.price = max(prices) if prices else 0.0


_EMPTY_BOOK: Final = _SymbolBook()  # read-only stand-in for a symbol with no book yet


def _num(value: float) -> str:
    return f"{value:.12g}"


def _exceeds(value: float, limit: float) -> bool:
    return value > limit + _SLACK * max(1.0, abs(limit))


def _threshold(limit: float | None) -> float:
    # The largest value that passes `limit` (with float slack); inf when the limit is off
    return _INF if limit is None else limit + _SLACK * max(1.0, abs(limit))


@final
class RiskEngine:
    """Pre-trade checks against :class:`RiskLimits`, with open-order reservations and a kill switch.

    The engine owns the updates to ``portfolio``: feed it every fill (:meth:`on_fill`), every
    order end (:meth:`on_order_closed`) and the marks the run prices positions with
    (:meth:`on_mark`). The operator's controls are :meth:`halt`, :meth:`reduce_only` and
    :meth:`resume`; every change of :attr:`state` is queued for :meth:`state_changes`.

    Args:
        limits: the limits to enforce.
        portfolio: positions, cash and P&L; the engine applies fills to it.
    """

    __slots__ = (
        "_approvals",
        "_approved_ids",
        "_books",
        "_checks",
        "_collar_limit",
        "_gross",
        "_gross_limit",
        "_invalid_marks",
        "_last_minute",
        "_last_second",
        "_limits",
        "_long_only",
        "_loss_floor",
        "_mark_ns",
        "_max_age_ns",
        "_notional_limit",
        "_now_ns",
        "_open",
        "_open_orders_limit",
        "_order_size_limit",
        "_per_minute_limit",
        "_per_second_limit",
        "_portfolio",
        "_position_size_limit",
        "_position_value_limit",
        "_rejections",
        "_reserved",
        "_session_end_ns",
        "_session_start_pnl",
        "_sessions",
        "_trading",
        "_unknown_order_events",
        "_unpriced",
        "_unstamped",
        "_updates",
    )

    def __init__(self, limits: RiskLimits, portfolio: Portfolio) -> None:
        self._limits = limits
        self._portfolio = portfolio
        self._open: dict[str, _OpenOrder] = {}
        self._books: dict[str, _SymbolBook] = {}
        self._approved_ids: set[str] = set()
        self._checks = 0
        self._approvals = 0
        self._rejections = dict.fromkeys(REASON_CODES, 0)
        self._unknown_order_events = 0
        self._invalid_marks = 0
        self._unpriced: set[str] = set()  # restored orders waiting for their symbol's first mark
        self._reserved = 0.0
        self._gross = 0.0
        self._updates = 0
        self._mark_ns: dict[str, int] = {}
        self._unstamped: set[str] = set()
        # approval times within the rate windows (None: that limit is off)
        self._last_second: collections.deque[int] | None = (
            None if limits.max_orders_per_second is None else collections.deque()
        )
        self._last_minute: collections.deque[int] | None = (
            None if limits.max_orders_per_minute is None else collections.deque()
        )
        # the limits as thresholds the hot path compares with (inf when off)
        self._order_size_limit = _threshold(limits.max_order_size)
        self._position_size_limit = _threshold(limits.max_position_size)
        self._notional_limit = _threshold(limits.max_order_notional)
        self._position_value_limit = _threshold(limits.max_position_value)
        self._gross_limit = _threshold(limits.max_gross_exposure)
        self._collar_limit = _threshold(limits.price_collar_bps)
        self._open_orders_limit = _INF if limits.max_open_orders is None else limits.max_open_orders
        self._per_second_limit = limits.max_orders_per_second or 0
        self._per_minute_limit = limits.max_orders_per_minute or 0
        self._max_age_ns = None if limits.max_quote_age_secs is None else limits.max_quote_age_secs * _NS
        self._loss_floor = -limits.max_daily_loss
        self._long_only = not limits.allow_short
        self._now_ns: int | None = None
        self._session_end_ns = -1  # the first nanosecond of the next session; -1: no time seen yet
        self._session_start_pnl = portfolio.total_pnl
        self._sessions = 1
        self._trading = TradingStateMachine()
        for position in portfolio.positions():  # a portfolio carried over from before
            self._refresh(position.symbol)

    # --- queries ---

    @property
    def limits(self) -> RiskLimits:
        """The limits enforced."""
        return self._limits

    @property
    def portfolio(self) -> Portfolio:
        """The portfolio the engine keeps up to date."""
        return self._portfolio

    @property
    def state(self) -> TradingState:
        """What new orders pass: ACTIVE, REDUCING or HALTED."""
        return self._trading.state

    @property
    def state_reason(self) -> str:
        """Why the engine is in its state (the reason of the last change)."""
        return self._trading.reason

    @property
    def daily_pnl(self) -> float:
        """Total P&L since the session started (or since the engine was built)."""
        return self._portfolio.total_pnl - self._session_start_pnl

    @property
    def reserved_cash(self) -> float:
        """Cash held back for the unfilled part of open buy orders."""
        return self._reserved

    @property
    def buying_power(self) -> float:
        """Cash less what open buys have reserved."""
        return self._portfolio.cash - self._reserved

    @property
    def projected_gross_exposure(self) -> float:
        """Gross exposure once every open order has filled, taking the worse side per symbol."""
        return self._gross

    def is_open(self, client_order_id: str) -> bool:
        """Return whether ``client_order_id`` is an approved order that has not ended."""
        return client_order_id in self._open

    def open_orders(self) -> tuple[OpenOrderView, ...]:
        """Return snapshots of the approved orders that have not ended, oldest approval first.

        Returns:
            One view per open order (O(open orders): for reconciliation and cancel-all, not
            the hot path).
        """
        return tuple(
            OpenOrderView(
                client_order_id=client_order_id,
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                remaining=order.remaining,
                price=order.price,
            )
            for client_order_id, order in self._open.items()
        )

    def last_mark_ns(self, symbol: str) -> int | None:
        """Return the engine time of ``symbol``'s last mark, or None (never marked, or not yet stamped)."""
        return self._mark_ns.get(symbol)

    def state_changes(self) -> list[TradingStateChange]:
        """Return the state changes since the last call, oldest first, and forget them.

        Returns:
            One :class:`TradingStateChange` per change of :attr:`state` (or of who holds it);
            empty if nothing changed.
        """
        return self._trading.changes()

    # --- time, sessions and the trading state ---

    def _observe(self, now_ns: int | None) -> int:
        # Advance the engine's time (never backwards) and roll the session; returns the time
        last = self._now_ns
        if now_ns is None:
            return 0 if last is None else last
        if last is not None and now_ns < last:
            now_ns = last
        self._now_ns = now_ns
        if self._unstamped:
            for symbol in sorted(self._unstamped):
                self._mark_ns[symbol] = now_ns
            self._unstamped.clear()
        end = self._session_end_ns
        if end < 0 or now_ns >= end:
            self._session_end_ns = next_session_start_ns(now_ns)
            if end >= 0:
                self._start_session(now_ns, f"{SESSION_TIME_ZONE} midnight passed")
                self._check_loss(now_ns)
        return now_ns

    def _start_session(self, now_ns: int, reason: str) -> None:
        self._session_start_pnl = self._portfolio.total_pnl
        self._sessions += 1
        logger.info("trading session %d started: %s", self._sessions, reason)
        self._trading.start_session(reason, now_ns=now_ns)

    def start_new_session(self, *, now_ns: int | None = None) -> None:
        """Measure the daily loss from the current total P&L on, as at a session start.

        A REDUCING state the daily loss set ends (back to ACTIVE); one the operator set stays,
        and so does HALTED. Sessions start by themselves at midnight America/New_York; this is
        for callers with their own session calendar.

        Args:
            now_ns: the clock's time; None uses the latest time the engine has seen.
        """
        now = self._observe(now_ns)
        self._start_session(now, "new session started by the caller")
        self._check_loss(now)

    def _check_loss(self, now_ns: int) -> None:
        # A breach of the daily loss limit switches ACTIVE to REDUCING until the next session
        if self._trading.state is not TradingState.ACTIVE:
            return
        daily_pnl = self._portfolio.total_pnl - self._session_start_pnl
        if daily_pnl <= self._loss_floor:
            self._trading.trip(
                f"{MAX_DAILY_LOSS}: daily P&L {_num(daily_pnl)} is at or below -max_daily_loss "
                f"{_num(-self._limits.max_daily_loss)}",
                now_ns=now_ns,
            )

    def halt(self, reason: str, *, now_ns: int | None = None) -> None:
        """Stop approving anything (a kill switch) until :meth:`resume` or :meth:`reduce_only`.

        Open orders stay open here; cancelling them at the venue is the caller's business.

        Args:
            reason: why, for the journal.
            now_ns: the clock's time; None uses the latest time the engine has seen.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        now = self._observe(now_ns)
        self._trading.halt(reason, now_ns=now)

    def reduce_only(self, reason: str, *, now_ns: int | None = None) -> None:
        """Approve only orders that shrink a position, until :meth:`resume` or :meth:`halt`.

        The operator's REDUCING outlasts the session end (a daily-loss REDUCING does not); called
        in a daily-loss REDUCING it takes that state over.

        Args:
            reason: why, for the journal.
            now_ns: the clock's time; None uses the latest time the engine has seen.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        now = self._observe(now_ns)
        self._trading.reduce_only(reason, now_ns=now)

    def resume(self, reason: str = "resumed by the operator", *, now_ns: int | None = None) -> None:
        """Go back to ACTIVE, or to REDUCING if the daily loss limit is still breached.

        Args:
            reason: why, for the journal.
            now_ns: the clock's time; None uses the latest time the engine has seen.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        now = self._observe(now_ns)
        self._trading.resume(reason, now_ns=now)
        self._check_loss(now)

    # --- running sums ---

    def _book(self, symbol: str) -> _SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _SymbolBook()
        return book

    def _refresh(self, symbol: str) -> None:
        # Recompute the symbol's term of the projected gross exposure
        book = self._book(symbol)
        portfolio = self._portfolio
        position = portfolio.quantity(symbol)
        price = portfolio.last_price(symbol)
        if price is None:
            price = book.price
        exposure = max(abs(position + book.buys), abs(position - book.sells)) * price
        self._updates += 1
        if self._updates % _RESYNC_EVERY == 0:
            book.exposure = exposure
            self._gross = sum(b.exposure for b in self._books.values())
        else:
            self._gross += exposure - book.exposure
            book.exposure = exposure

    # --- the check ---

    def check(self, signal: SignalGenerated, *, now_ns: int) -> RiskApproved | RiskRejected:
        """Decide on one signal; an approval is recorded as an open order.

        Args:
            signal: the strategy's order wish.
            now_ns: the clock's time: stamped on the decision as ``ts_event`` and ``ts_init``,
                and the time of the rate, staleness and session rules.

        Returns:
            A :class:`~pyrt.messages.RiskApproved` carrying ``client_order_id_for(signal_id)``,
            or a :class:`~pyrt.messages.RiskRejected` with the first failing check's code.
        """
        self._checks += 1
        now = self._observe(now_ns)
        client_order_id = client_order_id_for(signal.signal_id)
        decision = self._decide(signal, client_order_id, now)
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
        self._add_open(
            client_order_id, _OpenOrder(signal.symbol, signal.side, signal.quantity, decision), decision
        )
        if self._last_second is not None:
            self._last_second.append(now)
        if self._last_minute is not None:
            self._last_minute.append(now)
        self._approvals += 1
        logger.debug("signal %s approved as %s", signal.signal_id, client_order_id)
        return RiskApproved(signal=signal, client_order_id=client_order_id, ts_event=now_ns, ts_init=now_ns)

    def _decide(self, signal: SignalGenerated, client_order_id: str, now: int) -> tuple[str, str] | float:
        # The first failing check as (reason code, reason), or the price the order is valued at.
        # The hot path: limits are pre-computed thresholds (inf when off), failures build text
        symbol = signal.symbol
        quantity = signal.quantity
        side = signal.side
        order_type = signal.order_type
        limit_price = signal.limit_price
        stop_price = signal.stop_price
        reference_price = signal.reference_price
        if (
            not 0.0 < quantity < _INF
            or (limit_price is not None and not 0.0 < limit_price < _INF)
            or (stop_price is not None and not 0.0 < stop_price < _INF)
            or (reference_price is not None and not 0.0 < reference_price < _INF)
        ):
            return INVALID_INPUT, (
                f"quantity {quantity!r}, limit_price {limit_price!r}, stop_price {stop_price!r} and "
                f"reference_price {reference_price!r} must be finite numbers > 0 (or None for the prices)"
            )
        if client_order_id in self._approved_ids:
            return DUPLICATE_SIGNAL, f"signal {signal.signal_id} was already approved as {client_order_id}"
        trading = self._trading
        state = trading.state
        if state is TradingState.HALTED:
            return TRADING_HALTED, f"trading is halted: {trading.reason}"
        limits = self._limits
        allowed = limits.allowed_symbols
        if allowed is not None and symbol not in allowed:
            return SYMBOL_NOT_ALLOWED, f"symbol {symbol} is not in allowed_symbols"
        if quantity > self._order_size_limit:
            return (
                MAX_ORDER_SIZE,
                f"quantity {_num(quantity)} exceeds max_order_size {_num(limits.max_order_size)}",
            )

        book = self._books.get(symbol) or _EMPTY_BOOK
        portfolio = self._portfolio
        position = portfolio.quantity(symbol)
        if side is Side.BUY:
            same_side_open = book.buys
            projected = position + same_side_open + quantity
        else:
            same_side_open = book.sells
            projected = position - same_side_open - quantity
        # the order leaves its side's worst case no bigger than the position now, and not flipped
        if (
            side is Side.SELL
            and self._long_only
            and _exceeds(same_side_open + quantity, position if position > 0.0 else 0.0)
        ):
            return SHORT_NOT_ALLOWED, (
                f"sell {_num(quantity)} with open sells {_num(same_side_open)} exceeds the long "
                f"position {_num(position)}: {symbol} would go short, and the strategy does not "
                f"allow short positions (allow_short is off)"
            )
        size = abs(projected)
        shrinks = projected * position >= 0.0 and size <= abs(position)
        if size > self._position_size_limit and not shrinks:
            return MAX_POSITION_SIZE, (
                f"projected position {_num(projected)} (position {_num(position)}, open "
                f"{side} orders {_num(same_side_open)}, order {_num(quantity)}) exceeds "
                f"max_position_size {_num(limits.max_position_size)}"
            )

        if state is TradingState.REDUCING:
            reduces = position != 0.0 and (position > 0.0) != (side is Side.BUY)
            if not reduces or _exceeds(same_side_open + quantity, abs(position)):
                code = MAX_DAILY_LOSS if trading.automatic else REDUCE_ONLY
                return code, (
                    f"only orders reducing the position {_num(position)} pass "
                    f"({trading.reason}); order {side} {_num(quantity)} with open {side} "
                    f"orders {_num(same_side_open)} does not"
                )

        if len(self._open) >= self._open_orders_limit:
            return MAX_OPEN_ORDERS, (
                f"open orders {len(self._open)} + 1 exceeds max_open_orders {limits.max_open_orders}"
            )
        window = self._last_second
        if window is not None:
            while window and window[0] <= now - _SECOND_NS:
                window.popleft()
            if len(window) >= self._per_second_limit:
                return MAX_ORDERS_PER_SECOND, (
                    f"{len(window)} orders approved in the last second; max_orders_per_second is "
                    f"{limits.max_orders_per_second}"
                )
        window = self._last_minute
        if window is not None:
            while window and window[0] <= now - _MINUTE_NS:
                window.popleft()
            if len(window) >= self._per_minute_limit:
                return MAX_ORDERS_PER_MINUTE, (
                    f"{len(window)} orders approved in the last minute; max_orders_per_minute is "
                    f"{limits.max_orders_per_minute}"
                )

        # The valuation: a limit bounds what the order can cost; otherwise the dearer of the price
        # the strategy saw and the last mark, and a stop at no less than its trigger
        mark = portfolio.last_price(symbol)
        price: float | None
        if order_type is OrderType.LIMIT or order_type is OrderType.STOP_LIMIT:
            price = limit_price
        else:
            price = reference_price
            if mark is not None and (price is None or mark > price):
                price = mark
            if (
                order_type is OrderType.STOP
                and stop_price is not None
                and (price is None or stop_price > price)
            ):
                price = stop_price
        if price is None:
            return NO_PRICE, (
                f"{order_type} order for {symbol} has no reference_price and {symbol} has no mark"
            )
        max_age_ns = self._max_age_ns
        if max_age_ns is not None:
            marked_at = self._mark_ns.get(symbol)
            if marked_at is None:
                return STALE_MARKET_DATA, (
                    f"{symbol} has no mark; max_quote_age_secs is {_num(limits.max_quote_age_secs or 0.0)}"
                )
            if now - marked_at > max_age_ns:
                return STALE_MARKET_DATA, (
                    f"{symbol}'s last mark is {_num((now - marked_at) / _NS)} s old; max_quote_age_secs "
                    f"is {_num(limits.max_quote_age_secs or 0.0)}"
                )
        collar = self._collar_limit
        if mark is not None and collar < _INF:
            # distance in bps: |p - mark| / mark * 10_000 > collar, without dividing
            band = mark * collar / 10_000.0
            if order_type is OrderType.LIMIT and limit_price is not None and abs(limit_price - mark) > band:
                return self._collar_breach("limit_price", limit_price, mark)
            if reference_price is not None and abs(reference_price - mark) > band:
                return self._collar_breach("reference_price", reference_price, mark)

        notional = quantity * price
        if notional > self._notional_limit:
            return MAX_ORDER_NOTIONAL, (
                f"notional {_num(notional)} ({_num(quantity)} x {_num(price)}) exceeds "
                f"max_order_notional {_num(limits.max_order_notional or 0.0)}"
            )
        value_price = price if mark is None or price >= mark else mark
        if size * value_price > self._position_value_limit and not shrinks:
            return MAX_POSITION_VALUE, (
                f"projected position value {_num(size * value_price)} ({_num(projected)} x "
                f"{_num(value_price)}) exceeds max_position_value {_num(limits.max_position_value or 0.0)}"
            )

        gross_limit = self._gross_limit
        if gross_limit < _INF:
            # The symbol's term is its worse side x price. The order moves only its own side, so
            # the term grows only if that side ends up worse than the term is now
            mine = abs(position + same_side_open) if side is Side.BUY else abs(position - same_side_open)
            other = abs(position - book.sells) if side is Side.BUY else abs(position + book.buys)
            worst_now = mine if mine > other else other
            if size > worst_now:
                symbol_price = mark if mark is not None else (book.price if book.price > price else price)
                others = self._gross - book.exposure
                after = others + size * symbol_price
                if after > gross_limit:
                    return MAX_GROSS_EXPOSURE, (
                        f"projected gross exposure {_num(after)} (now "
                        f"{_num(others + worst_now * symbol_price)} with open orders) "
                        f"exceeds max_gross_exposure {_num(limits.max_gross_exposure or 0.0)}"
                    )

        if side is Side.BUY:
            cash = portfolio.cash
            available = cash - self._reserved
            if notional > available and notional - available > _SLACK * max(1.0, abs(available)):
                return BUYING_POWER, (
                    f"order cost {_num(notional)} ({_num(quantity)} x {_num(price)}) exceeds "
                    f"buying power {_num(available)} (cash {_num(cash)}, reserved by open buys "
                    f"{_num(self._reserved)})"
                )
        return price

    def _collar_breach(self, name: str, price: float, mark: float) -> tuple[str, str]:
        distance_bps = abs(price - mark) / mark * 10_000.0
        return PRICE_COLLAR, (
            f"{name} {_num(price)} is {_num(distance_bps)} bps from the last mark {_num(mark)}; "
            f"price_collar_bps is {_num(self._limits.price_collar_bps or 0.0)}"
        )

    # --- order outcomes and marks ---

    def restore_open_orders(self, orders: Iterable[RestorableOrder], *, now_ns: int | None = None) -> int:
        """Count orders that are open at the venue but were approved before a restart.

        Each becomes an open order here (its unfilled quantity against the limits, a buy's cost
        against buying power) and its client order id counts as approved, so a redelivered signal
        is still a duplicate. It is valued at its limit price, else the higher of its stop price
        and the symbol's mark; with none of these it is valued at the symbol's first mark, when
        that arrives. Orders already open here, and orders with nothing left to fill, are skipped.
        Restored orders do not count against the order rate.

        Args:
            orders: the open orders, e.g. ``OrderTracker.open_orders()`` rebuilt from the store.
            now_ns: the clock's time; None uses the latest time the engine has seen.

        Returns:
            How many orders were restored.
        """
        self._observe(now_ns)
        restored = 0
        for order in orders:
            client_order_id = order.client_order_id
            remaining = order.quantity - order.filled_quantity
            if client_order_id in self._open or remaining <= _DONE_TOLERANCE * order.quantity:
                continue
            symbol = order.symbol
            price = order.limit_price
            if price is None:
                mark = self._portfolio.last_price(symbol)
                stop = order.stop_price
                price = mark if stop is None else (stop if mark is None or stop > mark else mark)
            open_order = _OpenOrder(symbol, order.side, order.quantity, price or 0.0)
            open_order.remaining = remaining
            self._add_open(client_order_id, open_order, price)
            restored += 1
        logger.info("restored %d open orders from before the restart", restored)
        return restored

    def _add_open(self, client_order_id: str, order: _OpenOrder, price: float | None) -> None:
        # Count an order as open: its remaining quantity on its side and, once it has a price,
        # its cost reserved and its valuation in the symbol's prices; then the exposure term
        self._open[client_order_id] = order
        self._approved_ids.add(client_order_id)
        book = self._book(order.symbol)
        if order.side is Side.BUY:
            book.buys += order.remaining
        else:
            book.sells += order.remaining
        book.orders += 1
        if price is None:
            self._unpriced.add(client_order_id)
        else:
            self._price(order, price)
        self._refresh(order.symbol)

    def _price(self, order: _OpenOrder, price: float) -> None:
        # Value an order (restored without a price) at `price`
        order.price = price
        book = self._book(order.symbol)
        if order.side is Side.BUY:
            cost = order.remaining * price
            book.reserved += cost
            self._reserved += cost
        book.add_price(price)

    def _release(self, order: _OpenOrder, quantity: float) -> None:
        # Take `quantity` of the order's remaining quantity off its symbol's running sums
        book = self._book(order.symbol)
        if order.side is Side.BUY:
            book.buys -= quantity
            cost = quantity * order.price
            book.reserved -= cost
            self._reserved -= cost
        else:
            book.sells -= quantity
        order.remaining -= quantity

    def _close(self, client_order_id: str, order: _OpenOrder) -> None:
        if client_order_id in self._unpriced:
            self._unpriced.discard(client_order_id)
        else:
            self._book(order.symbol).remove_price(order.price)
        self._release(order, order.remaining)
        del self._open[client_order_id]
        book = self._book(order.symbol)
        book.orders -= 1
        if book.orders == 0:  # no open order: the sums are exactly zero, whatever float residue
            self._reserved -= book.reserved
            book.buys = book.sells = book.reserved = book.price = 0.0
            book.prices.clear()
        if not self._open:
            self._reserved = 0.0

    def on_fill(self, fill: OrderFilled, *, now_ns: int | None = None) -> None:
        """Apply a fill to the portfolio and shrink its order's reservation.

        A fill whose ``execution_id`` was applied before changes nothing. A fill for an order
        this engine did not approve (a manual order, one from before a restart) still moves
        the portfolio. A fill that takes the daily loss past the limit switches to REDUCING.

        Args:
            fill: the execution.
            now_ns: the clock's time; None uses the latest time the engine has seen.
        """
        now = self._observe(now_ns)
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
        else:
            # The venue's leaves quantity wins when it is smaller (the venue reduced the order)
            remaining = min(order.remaining - fill.fill_quantity, fill.leaves_quantity)
            if fill.is_final or remaining <= _DONE_TOLERANCE * order.quantity:
                self._close(fill.client_order_id, order)
            else:
                self._release(order, order.remaining - remaining)
        self._refresh(fill.symbol)
        self._check_loss(now)

    def on_order_closed(self, client_order_id: str, *, now_ns: int | None = None) -> None:
        """Release the reservation of an order that ended unfilled (canceled, rejected, expired).

        Args:
            client_order_id: the order's id; an id with no open order is counted and ignored.
            now_ns: the clock's time; None uses the latest time the engine has seen.
        """
        self._observe(now_ns)
        order = self._open.get(client_order_id)
        if order is None:
            self._unknown_order_events += 1
            logger.debug("close of %s, which has no open order here, ignored", client_order_id)
            return
        self._close(client_order_id, order)
        self._refresh(order.symbol)

    def on_mark(self, symbol: str, price: float, *, now_ns: int | None = None) -> bool:
        """Mark ``symbol`` at ``price``: P&L, exposure, the price collar and staleness use it.

        A price that is not a finite number > 0 is ignored, counted in
        ``statistics().invalid_marks`` and logged. A mark that takes the daily loss past the
        limit switches to REDUCING.

        Args:
            symbol: the instrument.
            price: a quote's mid, a trade's price or a bar's close.
            now_ns: the clock's time of the mark, for the staleness check and the session;
                None stamps it with the time of the next call that passes one.

        Returns:
            Whether the mark was applied.
        """
        if not (0.0 < price < _INF):  # NaN fails too
            self._invalid_marks += 1
            logger.warning(
                "mark %r for %s ignored: not a finite price > 0 (%d so far)",
                price,
                symbol,
                self._invalid_marks,
            )
            return False
        now = self._observe(now_ns)
        self._portfolio.mark(symbol, price)
        if now_ns is None:
            self._unstamped.add(symbol)
        else:
            self._mark_ns[symbol] = now
        if self._unpriced:
            for client_order_id in sorted(c for c in self._unpriced if self._open[c].symbol == symbol):
                self._unpriced.discard(client_order_id)
                self._price(self._open[client_order_id], price)
        book = self._books.get(symbol)
        if book is not None or self._portfolio.quantity(symbol) != 0.0:
            self._refresh(symbol)
        self._check_loss(now)
        return True

    def statistics(self) -> RiskStatistics:
        """Return a snapshot of the engine's counters."""
        portfolio_stats = self._portfolio.statistics()
        return RiskStatistics(
            checks=self._checks,
            approvals=self._approvals,
            rejections=sum(self._rejections.values()),
            rejections_by_reason=dict(self._rejections),
            open_orders=len(self._open),
            reserved_cash=self._reserved,
            projected_gross_exposure=self._gross,
            daily_pnl=self.daily_pnl,
            state=self._trading.state,
            reduce_only=self._trading.state is TradingState.REDUCING,
            fills=portfolio_stats.fills_applied,
            duplicate_fills=portfolio_stats.duplicate_fills,
            unknown_order_events=self._unknown_order_events,
            invalid_marks=self._invalid_marks,
            sessions=self._sessions,
        )

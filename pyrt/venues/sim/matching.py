"""The matching engine: one plain, synchronous, deterministic exchange-and-broker core.

:class:`MatchingEngine` keeps the orders of one account and matches them against the top of book
it is fed (:meth:`MatchingEngine.on_quote`, :meth:`MatchingEngine.on_trade`); the account's cash
and positions are a :class:`pyrt.venues.sim.account.SimAccount` it books every fill into.
Filtering order lists as ``GET /v2/orders`` does is the local venue's REST layer's
(``pyrt.venues.local._rest.list_orders``); the engine hands out :meth:`MatchingEngine.orders`.
It has no ``await`` and no clock of its own: every call takes ``now_ns``. The same engine sits
behind :class:`pyrt.venues.sim.SimVenue` (in process) and the Alpaca-compatible server in
``pyrt.venues.local``, so its statuses, events and errors follow Alpaca's trading API.

Matching rules (documented choices where Alpaca has no single answer):

- Fills happen at the quote: buys at the ask, sells at the bid, never better. A limit buy fills
  only while ``ask <= limit_price`` (at the ask); a limit sell while ``bid >= limit_price``.
- Liquidity is the quote's displayed size. Orders take it in time priority and what they take
  is gone until the next quote, which replaces the displayed sizes. An order larger than the
  displayed size fills partially; a ``day``/``gtc`` remainder rests and fills on later quotes.
- ``ioc`` fills what it can when it becomes active and cancels the rest; ``fok`` fills
  completely when it becomes active or is canceled without any fill. A market or limit order
  becomes active on submit; a stop or stop-limit order when its stop triggers (so a ``fok``
  stop waits for its trigger, then fills all-or-nothing against that quote).
- Stops trigger on quotes: a buy stop when ``ask >= stop_price``, a sell stop when
  ``bid <= stop_price``, including on submit if the current quote already meets the condition.
  A triggered stop is a market order; a triggered stop-limit is a limit order.
- A trade (:meth:`MatchingEngine.on_trade`) updates the mark and, unless the engine was built
  with ``fill_on_trades=False``, fills resting limit orders the trade price strictly crosses
  (a buy limit above the trade, a sell limit below it) at their limit price, sharing the trade's
  size among them in time priority. Trades never trigger stops and never fill market orders.
- Shorts are allowed and a sell may exceed a long position (flipping it to short in one order);
  real Alpaca answers 403 to an order that would flip a position. The sim allows it so that
  strategies may reverse in one order; no short-sale margin is modelled.
- Buying power is ``cash`` minus what open buy orders have reserved (unfilled quantity times the
  limit price, or the ask at submit for market and stop orders, or the larger of the stop price
  and the ask for a stop buy). A buy that needs more is refused with 403. Short-sale proceeds
  count as cash, as in a cash account's ``cash`` figure. Sells need no buying power.
- Money and quantities are floats rounded to 1e-9 after every update (``round_amount``), so
  repeated fills of 0.1 add up to exactly what a person would write and ``leaves`` reaches
  exactly 0.
- Positions use average cost (``account.py``). Reducing a position leaves its average price
  unchanged and books realized P&L into cash (cash moves by every fill's notional and fee); a
  fill through zero opens the new side at the fill price.
- A symbol's market may be closed (:meth:`MatchingEngine.close_market`, a session's end):
  its open ``day`` orders expire, its quotes and trades fill nothing, and orders submitted or
  replaced meanwhile are accepted (``new``) and held, as Alpaca queues orders placed outside
  market hours for the next session; :meth:`MatchingEngine.open_market` reopens it and a held
  order becomes active on the first quote after that (market orders fill at that quote, an
  ``ioc``/``fok`` is decided against it). Every market is open until closed.
- Marks (``current_price``) are the latest of the last trade price and the last quote's mid.
- Ids (order, execution and generated client order ids) are UUID4 strings drawn from the
  injected ``rng``, so a run is reproduced by its seed.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections.abc import Iterable
from typing import Final, Literal, TypeVar, final

import attrs

from ...errors import PyrtError
from ...messages import OrderType, Side, TimeInForce
from .account import EngineAccount, EnginePosition, SimAccount, round_amount

__all__ = [
    "EngineEvent",
    "EngineOrder",
    "EngineRejected",
    "EngineStatistics",
    "MatchingEngine",
]

logger = logging.getLogger(__name__)

#: Alpaca's error codes (the first three digits are the HTTP status, except 40010001 on 422).
CODE_INVALID: Final = 40010001
CODE_FORBIDDEN: Final = 40310000
CODE_NOT_FOUND: Final = 40410000
CODE_UNPROCESSABLE: Final = 42210000

OPEN_STATUSES: Final = frozenset({"new", "partially_filled"})
MAX_CLIENT_ORDER_ID_LENGTH: Final = 128


class EngineRejected(PyrtError):
    """A request the engine refuses: an Alpaca error reply, or ``order.rejected`` in the sim.

    Attributes:
        status_code: the HTTP status: 403 (buying power, quantity unavailable), 404 (no such
            order or position) or 422 (invalid request, duplicate client order id, not cancelable).
        code: Alpaca's 8-digit error code: 40310000, 40410000, 42210000 or 40010001.
        message: Alpaca-style text, e.g. ``"insufficient buying power"``.
    """

    def __init__(self, message: str, *, status_code: int, code: int) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        super().__init__(message)

    def __repr__(self) -> str:
        return f"EngineRejected({self.message!r}, status_code={self.status_code}, code={self.code})"


def _invalid(message: str) -> EngineRejected:
    return EngineRejected(message, status_code=422, code=CODE_INVALID)


def _not_found(message: str = "order not found") -> EngineRejected:
    return EngineRejected(message, status_code=404, code=CODE_NOT_FOUND)


@final
@attrs.frozen(kw_only=True)
class EngineOrder:
    """An immutable snapshot of one order; the engine keeps its mutable state internally."""

    id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None
    stop_price: float | None
    status: str
    """Alpaca's spelling: ``new``, ``partially_filled``, ``filled``, ``canceled``, ``expired``,
    ``replaced`` or ``rejected``."""
    filled_qty: float
    filled_avg_price: float | None
    created_at_ns: int
    updated_at_ns: int
    submitted_at_ns: int
    filled_at_ns: int | None
    canceled_at_ns: int | None
    expired_at_ns: int | None
    replaced_at_ns: int | None
    replaced_by: str | None
    replaces: str | None

    @property
    def is_open(self) -> bool:
        """Whether the order is still working (and so cancelable)."""
        return self.status in OPEN_STATUSES

    @property
    def leaves_qty(self) -> float:
        """Quantity still to fill while open; 0 once the order is closed."""
        return round_amount(self.qty - self.filled_qty) if self.is_open else 0.0


@final
@attrs.frozen(kw_only=True)
class EngineEvent:
    """One ``trade_updates`` event."""

    event: str
    """``new``, ``partial_fill``, ``fill``, ``canceled``, ``expired``, ``replaced`` or ``rejected``."""
    order: EngineOrder
    """The order as it is after the event."""
    ts_ns: int
    price: float | None = None
    """This execution's price (fills only)."""
    qty: float | None = None
    """This execution's quantity (fills only)."""
    position_qty: float | None = None
    """The signed position after the fill (fills only)."""
    execution_id: str | None = None
    """A UUID string (fills only)."""


@final
@attrs.frozen(kw_only=True)
class EngineStatistics:
    """Counters of one engine since it was built."""

    orders_submitted: int
    """Orders accepted by :meth:`MatchingEngine.submit` and :meth:`MatchingEngine.replace`."""
    requests_rejected: int
    """Requests refused with :class:`EngineRejected`."""
    fills: int
    """Executions (partial or complete)."""
    open_orders: int
    """Orders working now."""


@attrs.define(eq=False)
class _Order:
    id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None
    stop_price: float | None
    reserve_price: float  # per unfilled unit, for buys: what buying power holds back
    seq: int
    created_at_ns: int
    status: str = "new"
    filled_qty: float = 0.0
    filled_notional: float = 0.0
    triggered: bool = False
    held: bool = False  # submitted while its market was closed: activates on the open's first quote
    updated_at_ns: int = 0
    filled_at_ns: int | None = None
    canceled_at_ns: int | None = None
    expired_at_ns: int | None = None
    replaced_at_ns: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None

    @property
    def leaves(self) -> float:
        return round_amount(self.qty - self.filled_qty)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def snapshot(self) -> EngineOrder:
        avg = round_amount(self.filled_notional / self.filled_qty) if self.filled_qty > 0 else None
        return EngineOrder(
            id=self.id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            status=self.status,
            filled_qty=self.filled_qty,
            filled_avg_price=avg,
            created_at_ns=self.created_at_ns,
            updated_at_ns=self.updated_at_ns,
            submitted_at_ns=self.created_at_ns,
            filled_at_ns=self.filled_at_ns,
            canceled_at_ns=self.canceled_at_ns,
            expired_at_ns=self.expired_at_ns,
            replaced_at_ns=self.replaced_at_ns,
            replaced_by=self.replaced_by,
            replaces=self.replaces,
        )


@attrs.define
class _Quote:
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    bid_left: float  # displayed size not yet taken by our orders
    ask_left: float


_E = TypeVar("_E", Side, OrderType, TimeInForce)


def _coerce_enum(enum_type: type[_E], value: object, name: str) -> _E:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value)
        except ValueError:
            pass
    raise _invalid(f"invalid {name}: {value!r}")


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name} must be a number, was {value!r}")
    number = float(value)
    if not (number > 0.0 and math.isfinite(number)):
        raise _invalid(f"{name} must be a finite number > 0, was {value!r}")
    return number


def _check_order_prices(
    order_type: OrderType, limit_price: object, stop_price: object
) -> tuple[float | None, float | None]:
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and limit_price is None:
        raise _invalid(f"limit_price is required for {order_type} orders")
    if not needs_limit and limit_price is not None:
        raise _invalid(f"limit_price must not be set for {order_type} orders, was {limit_price!r}")
    if needs_stop and stop_price is None:
        raise _invalid(f"stop_price is required for {order_type} orders")
    if not needs_stop and stop_price is not None:
        raise _invalid(f"stop_price must not be set for {order_type} orders, was {stop_price!r}")
    limit = _check_positive("limit_price", limit_price) if limit_price is not None else None
    stop = _check_positive("stop_price", stop_price) if stop_price is not None else None
    return limit, stop


@final
class MatchingEngine:
    """Orders, positions and cash of one account, matched against the quotes it is fed.

    Synchronous and deterministic: the same calls with the same ``rng`` seed give the same
    ids, fills and events. Not thread-safe; one trio task (or one backtest loop) drives it.

    Args:
        starting_cash: the account's cash before any trade.
        rng: the source of every id the engine makes.
        fee_per_share: charged on every fill (``qty * fee_per_share``), taken from cash.
        symbols: symbols the engine knows before any quote (others become known on a quote or
            through :meth:`register_symbol`).
        fill_on_trades: whether :meth:`on_trade` fills resting limit orders the trade crosses.
    """

    def __init__(
        self,
        *,
        starting_cash: float = 100_000.0,
        rng: random.Random,
        fee_per_share: float = 0.0,
        symbols: Iterable[str] = (),
        fill_on_trades: bool = True,
    ) -> None:
        self._account = SimAccount(starting_cash=starting_cash, fee_per_share=fee_per_share)
        self._rng = rng
        self.fee_per_share: Final = fee_per_share
        self._fill_on_trades = fill_on_trades
        self._symbols: set[str] = set(symbols)
        self._quotes: dict[str, _Quote] = {}
        self._marks: dict[str, float] = {}
        self._orders: dict[str, _Order] = {}  # every order ever, in submission order
        self._by_client_id: dict[str, _Order] = {}
        self._open: dict[str, dict[str, _Order]] = {}  # symbol -> open orders in time priority
        self._closed: set[str] = set()  # symbols whose market is closed
        self._seq = 0
        self._orders_submitted = 0
        self._requests_rejected = 0
        self._fills = 0

    # ---------------------------------------------------------------- reference data

    def register_symbol(self, symbol: str) -> None:
        """Make ``symbol`` tradable before its first quote."""
        self._symbols.add(symbol)

    @property
    def symbols(self) -> frozenset[str]:
        """Every symbol the engine knows."""
        return frozenset(self._symbols)

    def last_quote(self, symbol: str) -> tuple[float, float] | None:
        """Return the last ``(bid, ask)`` for ``symbol``, or ``None`` before its first quote."""
        quote = self._quotes.get(symbol)
        return None if quote is None else (quote.bid, quote.ask)

    def mark(self, symbol: str) -> float | None:
        """Return the price positions in ``symbol`` are valued at, ``None`` if never priced."""
        return self._marks.get(symbol)

    def statistics(self) -> EngineStatistics:
        """Return the engine's counters."""
        return EngineStatistics(
            orders_submitted=self._orders_submitted,
            requests_rejected=self._requests_rejected,
            fills=self._fills,
            open_orders=sum(len(book) for book in self._open.values()),
        )

    # ---------------------------------------------------------------- ids

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # ---------------------------------------------------------------- order entry

    def submit(
        self,
        *,
        symbol: str,
        side: Side | str,
        qty: float,
        order_type: OrderType | str,
        time_in_force: TimeInForce | str,
        limit_price: float | None = None,
        stop_price: float | None = None,
        client_order_id: str | None = None,
        now_ns: int,
    ) -> tuple[EngineOrder, list[EngineEvent]]:
        """Accept an order and match it against the current quote.

        Args:
            symbol: a symbol the engine knows.
            side: ``buy`` or ``sell``.
            qty: quantity, > 0; fractional quantities are allowed for every symbol.
            order_type: ``market``, ``limit``, ``stop`` or ``stop_limit``.
            time_in_force: ``day``, ``gtc``, ``ioc`` or ``fok``.
            limit_price: required for limit and stop-limit orders, refused otherwise.
            stop_price: required for stop and stop-limit orders, refused otherwise.
            client_order_id: unique forever (open or closed); a UUID is generated when omitted.
            now_ns: the time of the request.

        Returns:
            The order as it is after the request (possibly already filled or canceled), and
            the events it caused: ``new`` first, then any fills and a final ``canceled``.

        Raises:
            EngineRejected: 422 for invalid input or a duplicate ``client_order_id``, 403 for
                insufficient buying power.
        """
        try:
            order = self._new_order(
                symbol=symbol,
                side=side,
                qty=qty,
                order_type=order_type,
                time_in_force=time_in_force,
                limit_price=limit_price,
                stop_price=stop_price,
                client_order_id=client_order_id,
                now_ns=now_ns,
            )
        except EngineRejected as exc:
            self._requests_rejected += 1
            logger.debug("submit %s %s %s refused: %s", side, qty, symbol, exc.message)
            raise
        events = [EngineEvent(event="new", order=order.snapshot(), ts_ns=now_ns)]
        self._activate(order, now_ns, events)
        return order.snapshot(), events

    def _new_order(
        self,
        *,
        symbol: str,
        side: object,
        qty: object,
        order_type: object,
        time_in_force: object,
        limit_price: object,
        stop_price: object,
        client_order_id: str | None,
        now_ns: int,
        replaces: _Order | None = None,
    ) -> _Order:
        side_ = _coerce_enum(Side, side, "side")
        type_ = _coerce_enum(OrderType, order_type, "order type")
        tif = _coerce_enum(TimeInForce, time_in_force, "time_in_force")
        qty_ = round_amount(_check_positive("qty", qty))
        if qty_ <= 0.0:
            raise _invalid(f"qty must be >= 1e-9, was {qty!r}")
        limit, stop = _check_order_prices(type_, limit_price, stop_price)
        if symbol not in self._symbols:
            raise EngineRejected(f'asset "{symbol}" not found', status_code=422, code=CODE_UNPROCESSABLE)
        if client_order_id:
            if len(client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
                raise _invalid(
                    f"client_order_id must be at most {MAX_CLIENT_ORDER_ID_LENGTH} characters, "
                    f"was {len(client_order_id)}"
                )
            if client_order_id in self._by_client_id:
                raise _invalid("client_order_id must be unique")
        reserve = 0.0
        if side_ is Side.BUY:
            reserve = self._reserve_price(symbol, type_, limit, stop)
            # an order being replaced gives its reservation back first
            released = replaces.leaves * replaces.reserve_price if replaces is not None else 0.0
            available = self._account.cash - self._reserved() + released
            if round_amount(qty_ * reserve) > round_amount(available):
                raise EngineRejected("insufficient buying power", status_code=403, code=CODE_FORBIDDEN)
        order_id = self._new_uuid()
        cid = client_order_id or self._new_uuid()
        self._seq += 1
        order = _Order(
            id=order_id,
            client_order_id=cid,
            symbol=symbol,
            side=side_,
            qty=qty_,
            order_type=type_,
            time_in_force=tif,
            limit_price=limit,
            stop_price=stop,
            reserve_price=reserve,
            seq=self._seq,
            created_at_ns=now_ns,
            updated_at_ns=now_ns,
            replaces=replaces.id if replaces is not None else None,
        )
        self._orders[order_id] = order
        self._by_client_id[cid] = order
        self._open.setdefault(symbol, {})[order_id] = order
        self._orders_submitted += 1
        logger.info("order %s (%s) new: %s %s %s %s %s", order_id, cid, side_, qty_, symbol, type_, tif)
        return order

    def _reserve_price(
        self, symbol: str, order_type: OrderType, limit: float | None, stop: float | None
    ) -> float:
        if limit is not None:
            return limit
        quote = self._quotes.get(symbol)
        reference = quote.ask if quote is not None else self._marks.get(symbol)
        if order_type is OrderType.STOP and stop is not None:
            return stop if reference is None else max(stop, reference)
        if reference is None:
            raise EngineRejected(
                f"no price for {symbol} yet: cannot value a {order_type} order",
                status_code=422,
                code=CODE_UNPROCESSABLE,
            )
        return reference

    def _reserved(self) -> float:
        return sum(
            order.leaves * order.reserve_price
            for book in self._open.values()
            for order in book.values()
            if order.side is Side.BUY
        )

    # ---------------------------------------------------------------- matching

    def _activate(self, order: _Order, now_ns: int, events: list[EngineEvent]) -> None:
        """Match an order that just became active (submitted, or its stop triggered)."""
        if order.symbol in self._closed:
            order.held = True
            return
        if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and not order.triggered:
            quote = self._quotes.get(order.symbol)
            if quote is None or not self._stop_hit(order, quote):
                return  # rests until a quote triggers it, whatever its time in force
            order.triggered = True
        tif = order.time_in_force
        if tif is TimeInForce.FOK:
            price, available = self._liquidity(order)
            if price is None or available < order.leaves:
                self._close(order, "canceled", now_ns, events)
                return
        self._match(order, now_ns, events)
        if tif in (TimeInForce.IOC, TimeInForce.FOK) and order.is_open:
            self._close(order, "canceled", now_ns, events)

    @staticmethod
    def _stop_hit(order: _Order, quote: _Quote) -> bool:
        assert order.stop_price is not None
        if order.side is Side.BUY:
            return quote.ask >= order.stop_price
        return quote.bid <= order.stop_price

    def _liquidity(self, order: _Order) -> tuple[float | None, float]:
        """Return the price this order would fill at now and the size there (0 if none)."""
        quote = self._quotes.get(order.symbol)
        if quote is None:
            return None, 0.0
        limit = order.limit_price
        if order.side is Side.BUY:
            if quote.ask_left <= 0.0 or (limit is not None and quote.ask > limit):
                return None, 0.0
            return quote.ask, quote.ask_left
        if quote.bid_left <= 0.0 or (limit is not None and quote.bid < limit):
            return None, 0.0
        return quote.bid, quote.bid_left

    def _match(self, order: _Order, now_ns: int, events: list[EngineEvent]) -> None:
        price, available = self._liquidity(order)
        if price is None:
            return
        qty = min(order.leaves, available)
        quote = self._quotes[order.symbol]
        if order.side is Side.BUY:
            quote.ask_left = round_amount(quote.ask_left - qty)
        else:
            quote.bid_left = round_amount(quote.bid_left - qty)
        self._fill(order, price, qty, now_ns, events)

    def _fill(self, order: _Order, price: float, qty: float, now_ns: int, events: list[EngineEvent]) -> None:
        order.filled_qty = round_amount(order.filled_qty + qty)
        order.filled_notional += price * qty
        order.updated_at_ns = now_ns
        position_qty = self._account.apply_fill(order.symbol, qty * order.side.sign, price)
        if order.leaves <= 0.0:
            order.status = "filled"
            order.filled_at_ns = now_ns
            self._open[order.symbol].pop(order.id, None)
            event = "fill"
        else:
            order.status = "partially_filled"
            event = "partial_fill"
        self._fills += 1
        logger.info(
            "order %s %s: %s %s %s @ %s (filled %s of %s)",
            order.id,
            event,
            order.side,
            qty,
            order.symbol,
            price,
            order.filled_qty,
            order.qty,
        )
        events.append(
            EngineEvent(
                event=event,
                order=order.snapshot(),
                ts_ns=now_ns,
                price=price,
                qty=qty,
                position_qty=position_qty,
                execution_id=self._new_uuid(),
            )
        )

    def _close(
        self, order: _Order, status: Literal["canceled", "expired"], now_ns: int, events: list[EngineEvent]
    ) -> None:
        order.status = status
        order.updated_at_ns = now_ns
        if status == "canceled":
            order.canceled_at_ns = now_ns
        else:
            order.expired_at_ns = now_ns
        self._open[order.symbol].pop(order.id, None)
        logger.info("order %s %s (filled %s of %s)", order.id, status, order.filled_qty, order.qty)
        events.append(EngineEvent(event=status, order=order.snapshot(), ts_ns=now_ns))

    # ---------------------------------------------------------------- market data

    def on_quote(
        self, symbol: str, bid: float, bid_size: float, ask: float, ask_size: float, *, now_ns: int
    ) -> list[EngineEvent]:
        """Take a new top of book for ``symbol`` and match its resting orders against it.

        The quote's sizes replace what earlier quotes displayed; stops are checked first, in
        time priority with the other orders.

        Args:
            symbol: the symbol; it becomes known to the engine.
            bid: best bid price, > 0.
            bid_size: size displayed at the bid, >= 0.
            ask: best ask price, >= bid.
            ask_size: size displayed at the ask, >= 0.
            now_ns: the quote's time.

        Returns:
            The fills (and IOC/FOK cancels of just-triggered stops) the quote caused.

        Raises:
            ValueError: a price that is not finite and positive, a negative size, or a crossed quote.
        """
        if not (bid > 0.0 and ask > 0.0 and math.isfinite(bid) and math.isfinite(ask)):
            raise ValueError(f"quote prices must be finite and > 0, was bid={bid} ask={ask}")
        if not (bid_size >= 0.0 and ask_size >= 0.0 and math.isfinite(bid_size) and math.isfinite(ask_size)):
            raise ValueError(f"quote sizes must be finite and >= 0, was bid={bid_size} ask={ask_size}")
        if ask < bid:
            raise ValueError(f"ask must be >= bid, was ask={ask} bid={bid}")
        self._symbols.add(symbol)
        self._quotes[symbol] = _Quote(
            bid=bid, bid_size=bid_size, ask=ask, ask_size=ask_size, bid_left=bid_size, ask_left=ask_size
        )
        self._marks[symbol] = (bid + ask) / 2.0
        events: list[EngineEvent] = []
        book = self._open.get(symbol)
        if not book or symbol in self._closed:
            return events
        for order in list(book.values()):
            if not order.is_open:
                continue
            if order.held or (
                order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and not order.triggered
            ):
                order.held = False
                self._activate(order, now_ns, events)
            else:
                self._match(order, now_ns, events)
        return events

    def on_trade(self, symbol: str, price: float, size: float, *, now_ns: int) -> list[EngineEvent]:
        """Take a trade printed for ``symbol``: update its mark and fill crossed resting limits.

        A resting buy limit above ``price`` (or sell limit below it) fills at its limit price;
        the trade's ``size`` is shared among them in time priority. Nothing fills when the engine
        was built with ``fill_on_trades=False``.

        Args:
            symbol: the symbol; it becomes known to the engine.
            price: trade price, > 0.
            size: trade size, > 0.
            now_ns: the trade's time.

        Returns:
            The fills the trade caused.

        Raises:
            ValueError: a price or size that is not finite and positive.
        """
        if not (price > 0.0 and size > 0.0 and math.isfinite(price) and math.isfinite(size)):
            raise ValueError(f"trade price and size must be finite and > 0, was price={price} size={size}")
        self._symbols.add(symbol)
        self._marks[symbol] = price
        events: list[EngineEvent] = []
        book = self._open.get(symbol)
        if not book or not self._fill_on_trades or symbol in self._closed:
            return events
        left = size
        for order in list(book.values()):
            if left <= 0.0:
                break
            limit = order.limit_price
            if not order.is_open or limit is None or order.held:
                continue
            if order.order_type is OrderType.STOP_LIMIT and not order.triggered:
                continue
            crossed = price < limit if order.side is Side.BUY else price > limit
            if not crossed:
                continue
            qty = min(order.leaves, left)
            left = round_amount(left - qty)
            self._fill(order, limit, qty, now_ns, events)
        return events

    def end_of_day(self, *, now_ns: int) -> list[EngineEvent]:
        """Expire every open ``day`` order.

        Returns:
            One ``expired`` event per expired order, in submission order.
        """
        events: list[EngineEvent] = []
        for order in self._open_orders():
            if order.time_in_force is TimeInForce.DAY:
                self._close(order, "expired", now_ns, events)
        return events

    def close_market(self, symbols: Iterable[str], *, now_ns: int) -> list[EngineEvent]:
        """Close the market of ``symbols`` (a session ends): expire their open ``day`` orders.

        Until :meth:`open_market`, their quotes and trades fill nothing and orders submitted
        or replaced are held (``new``, not matched). Symbols already closed are left as they
        are, so their held orders do not expire.

        Args:
            symbols: the symbols whose session ends.
            now_ns: the close.

        Returns:
            One ``expired`` event per expired order, in submission order.
        """
        closing = set(symbols) - self._closed
        self._closed |= closing
        events: list[EngineEvent] = []
        for order in self._open_orders():
            if order.symbol in closing and order.time_in_force is TimeInForce.DAY:
                self._close(order, "expired", now_ns, events)
        return events

    def open_market(self, symbols: Iterable[str]) -> None:
        """Open the market of ``symbols`` (a session starts); held orders act on the next quote."""
        self._closed.difference_update(symbols)

    def is_market_open(self, symbol: str) -> bool:
        """Return whether ``symbol``'s market is open (every market is, until closed)."""
        return symbol not in self._closed

    def _open_orders(self) -> list[_Order]:
        orders = [order for book in self._open.values() for order in book.values()]
        orders.sort(key=lambda order: order.seq)
        return orders

    # ---------------------------------------------------------------- cancel and replace

    def _get(self, order_id: str) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            self._requests_rejected += 1
            raise _not_found()
        return order

    def cancel(self, order_id: str, *, now_ns: int) -> list[EngineEvent]:
        """Cancel an open order.

        Returns:
            The ``canceled`` event.

        Raises:
            EngineRejected: 404 for an unknown order, 422 for one already closed.
        """
        order = self._get(order_id)
        if not order.is_open:
            self._requests_rejected += 1
            raise EngineRejected("order is not cancelable", status_code=422, code=CODE_UNPROCESSABLE)
        events: list[EngineEvent] = []
        self._close(order, "canceled", now_ns, events)
        return events

    def cancel_all(self, *, now_ns: int) -> list[tuple[str, int, list[EngineEvent]]]:
        """Cancel every open order, in submission order.

        Returns:
            One ``(order_id, http_status, events)`` per open order (status 200 each).
        """
        results: list[tuple[str, int, list[EngineEvent]]] = []
        for order in self._open_orders():
            events: list[EngineEvent] = []
            self._close(order, "canceled", now_ns, events)
            results.append((order.id, 200, events))
        return results

    def replace(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str | None = None,
        client_order_id: str | None = None,
        now_ns: int,
    ) -> tuple[EngineOrder, list[EngineEvent]]:
        """Replace an open order with a new one (Alpaca's PATCH): new id, old one ``replaced``.

        Unchanged attributes carry over. The new order's ``qty`` is its whole quantity and it
        starts unfilled; by default it is the old order's unfilled remainder, so a partial fill
        of the old order stays with the old order.

        Args:
            order_id: the open order to replace.
            qty: the new order's quantity.
            limit_price: new limit (limit and stop-limit orders only).
            stop_price: new stop (stop and stop-limit orders only).
            time_in_force: new time in force.
            client_order_id: the new order's client order id (generated when omitted); on its
                own it is not a change.
            now_ns: the time of the request.

        Returns:
            The new order as it is after the request, and the events: ``replaced`` for the old
            order, ``new`` for the new one, then any fills of the new one.

        Raises:
            EngineRejected: 404 for an unknown order; 422 for a closed order, no change or
                invalid values; 403 when the new order needs more buying power than is free.
        """
        old = self._get(order_id)
        try:
            if not old.is_open:
                raise EngineRejected("order is not replaceable", status_code=422, code=CODE_UNPROCESSABLE)
            if qty is None and limit_price is None and stop_price is None and time_in_force is None:
                raise _invalid("replace needs at least one of qty, limit_price, stop_price, time_in_force")
            if limit_price is not None and old.order_type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                raise _invalid(
                    f"limit_price must not be set for {old.order_type} orders, was {limit_price!r}"
                )
            if stop_price is not None and old.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT):
                raise _invalid(f"stop_price must not be set for {old.order_type} orders, was {stop_price!r}")
            new = self._new_order(
                symbol=old.symbol,
                side=old.side,
                qty=qty if qty is not None else old.leaves,
                order_type=old.order_type,
                time_in_force=time_in_force if time_in_force is not None else old.time_in_force,
                limit_price=limit_price if limit_price is not None else old.limit_price,
                stop_price=stop_price if stop_price is not None else old.stop_price,
                client_order_id=client_order_id,
                now_ns=now_ns,
                replaces=old,
            )
        except EngineRejected:
            self._requests_rejected += 1
            raise
        # a stop that had already triggered keeps its trigger only if its stop is unchanged
        new.triggered = old.triggered and stop_price is None
        old.status = "replaced"
        old.replaced_by = new.id
        old.replaced_at_ns = now_ns
        old.updated_at_ns = now_ns
        self._open[old.symbol].pop(old.id, None)
        logger.info("order %s replaced by %s", old.id, new.id)
        events = [
            EngineEvent(event="replaced", order=old.snapshot(), ts_ns=now_ns),
            EngineEvent(event="new", order=new.snapshot(), ts_ns=now_ns),
        ]
        self._activate(new, now_ns, events)
        return new.snapshot(), events

    # ---------------------------------------------------------------- queries

    def get_order(self, order_id: str) -> EngineOrder:
        """Return an order by its id.

        Raises:
            EngineRejected: 404 ``order not found``.
        """
        return self._get(order_id).snapshot()

    def get_order_by_client_id(self, client_order_id: str) -> EngineOrder:
        """Return an order by its client order id.

        Raises:
            EngineRejected: 404 ``order not found``.
        """
        order = self._by_client_id.get(client_order_id)
        if order is None:
            self._requests_rejected += 1
            raise _not_found()
        return order.snapshot()

    def orders(self) -> list[EngineOrder]:
        """Return every order ever accepted, open or closed, in submission order."""
        return [order.snapshot() for order in self._orders.values()]

    def open_orders(self) -> list[EngineOrder]:
        """Return the working orders, in submission order."""
        return [order.snapshot() for order in self._open_orders()]

    # ---------------------------------------------------------------- positions and account

    def positions(self) -> list[EnginePosition]:
        """Return the open (non-zero) positions, sorted by symbol."""
        return self._account.positions(self._marks)

    def position(self, symbol: str) -> EnginePosition:
        """Return the open position in ``symbol``.

        Raises:
            EngineRejected: 404 ``position does not exist``.
        """
        position = self._account.position(symbol, self._marks)
        if position is None:
            self._requests_rejected += 1
            raise _not_found("position does not exist")
        return position

    def realized_pl(self, symbol: str) -> float:
        """Return the P&L realized in ``symbol`` so far (already part of cash; fees excluded)."""
        return self._account.realized_pl(symbol)

    def close_position(
        self,
        symbol: str,
        *,
        qty: float | None = None,
        percentage: float | None = None,
        now_ns: int,
    ) -> tuple[EngineOrder, list[EngineEvent]]:
        """Send a market order that closes all (or ``qty``, or ``percentage`` %) of a position.

        The order is ``day`` for equities and ``gtc`` for crypto pairs (symbols with ``/``).

        Returns:
            The closing order and its events, as :meth:`submit`.

        Raises:
            EngineRejected: 404 when there is no position; 422 for ``qty`` and ``percentage``
                together or out of range; 403 for a ``qty`` larger than the position.
        """
        position_qty = self._account.quantity(symbol)
        try:
            if position_qty == 0.0:
                raise _not_found("position does not exist")
            if qty is not None and percentage is not None:
                raise _invalid("only one of qty or percentage may be given")
            held = abs(position_qty)
            if percentage is not None:
                if not (isinstance(percentage, int | float) and 0.0 < percentage <= 100.0):
                    raise _invalid(f"percentage must be in (0, 100], was {percentage!r}")
                amount = round_amount(held * percentage / 100.0)
            elif qty is not None:
                amount = round_amount(_check_positive("qty", qty))
                if amount > held:
                    raise EngineRejected(
                        f"insufficient qty available for order (requested: {amount}, available: {held})",
                        status_code=403,
                        code=CODE_FORBIDDEN,
                    )
            else:
                amount = held
        except EngineRejected:
            self._requests_rejected += 1
            raise
        return self.submit(
            symbol=symbol,
            side=Side.SELL if position_qty > 0.0 else Side.BUY,
            qty=amount,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.GTC if "/" in symbol else TimeInForce.DAY,
            now_ns=now_ns,
        )

    def account(self) -> EngineAccount:
        """Return cash, buying power, equity and market values at the current marks."""
        return self._account.snapshot(self._marks, reserved=self._reserved())

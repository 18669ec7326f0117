"""Trading REST API v2 over the matching engine (protocol reference section 2).

:class:`TradingApi` is synchronous: it parses a request, calls the engine and builds the reply,
so one trio task serves a request without awaiting. Engine events go to ``publish`` (the
trade_updates hub). Faults, rate limits and key checks happen in the server before this.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Final, Literal, final
from zoneinfo import ZoneInfo

import attrs
import orjson

from ...messages import OrderType, Side, TimeInForce
from .._alpaca_wire import format_decimal, format_timestamp
from ..calendar import NYSE, local_date
from ..sim.account import EngineAccount, EnginePosition
from ..sim.matching import CODE_INVALID, EngineEvent, EngineOrder, EngineRejected, MatchingEngine
from ._http import Request, Response
from ._wire import (
    CRYPTO_EXCHANGE,
    EQUITY_EXCHANGE,
    WireError,
    asset_class,
    asset_id,
    format_decimal_opt,
    format_ts_opt,
    is_crypto,
    parse_bool,
    parse_decimal,
    parse_ts,
)

logger = logging.getLogger(__name__)

_NEW_YORK: Final = ZoneInfo("America/New_York")
_MAX_CALENDAR_DAYS: Final = 3660
_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CRYPTO_TIF: Final = frozenset({TimeInForce.GTC, TimeInForce.IOC})
_CRYPTO_TYPES: Final = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})
_ORDER_FIELDS: Final = frozenset(
    {
        "symbol",
        "qty",
        "notional",
        "side",
        "type",
        "time_in_force",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "extended_hours",
        "client_order_id",
        "order_class",
        "take_profit",
        "stop_loss",
        "position_intent",
        "legs",
    }
)
MAX_LIST_LIMIT: Final = 500


def _invalid_query(message: str) -> EngineRejected:
    return EngineRejected(message, status_code=422, code=CODE_INVALID)


def list_orders(
    orders: Iterable[EngineOrder],
    *,
    status: Literal["open", "closed", "all"] | str = "open",
    limit: int | None = 50,
    after_ns: int | None = None,
    until_ns: int | None = None,
    direction: Literal["asc", "desc"] | str = "desc",
    symbols: Iterable[str] | None = None,
    side: Side | str | None = None,
) -> list[EngineOrder]:
    """Filter orders as Alpaca's ``GET /v2/orders`` does.

    Args:
        orders: every order, in submission order (:meth:`MatchingEngine.orders`).
        status: ``open``, ``closed`` or ``all``.
        limit: at most this many orders (``None``: no limit).
        after_ns: only orders submitted strictly after this time.
        until_ns: only orders submitted strictly before this time.
        direction: ``desc`` (newest first) or ``asc``, by submission time.
        symbols: only these symbols.
        side: only this side.

    Returns:
        The matching orders, ordered by submission time, at most ``limit`` of them.

    Raises:
        EngineRejected: 422 for an unknown status, direction or side, or a limit < 1.
    """
    if status not in ("open", "closed", "all"):
        raise _invalid_query(f"status must be open, closed or all, was {status!r}")
    if direction not in ("asc", "desc"):
        raise _invalid_query(f"direction must be asc or desc, was {direction!r}")
    if limit is not None and limit < 1:
        raise _invalid_query(f"limit must be >= 1, was {limit}")
    side_ = None
    if side is not None:
        try:
            side_ = Side(side)
        except ValueError:
            raise _invalid_query(f"invalid side: {side!r}") from None
    wanted = frozenset(symbols) if symbols is not None else None
    candidates = list(orders)
    if direction == "desc":
        candidates.reverse()
    found: list[EngineOrder] = []
    for order in candidates:
        if status == "open" and not order.is_open:
            continue
        if status == "closed" and order.is_open:
            continue
        if after_ns is not None and order.created_at_ns <= after_ns:
            continue
        if until_ns is not None and order.created_at_ns >= until_ns:
            continue
        if wanted is not None and order.symbol not in wanted:
            continue
        if side_ is not None and order.side is not side_:
            continue
        found.append(order)
        if limit is not None and len(found) >= limit:
            break
    return found


Publish = Callable[[Sequence[EngineEvent]], None]


@final
@attrs.frozen(kw_only=True)
class AccountStatus:
    """The account's standing the venue reports on ``GET /v2/account`` (Alpaca section 2.9).

    Anything but the default (``ACTIVE``, nothing blocked) makes the venue refuse new orders
    with 403, as Alpaca does, so clients can be tested against a blocked or closed account.
    """

    status: str = "ACTIVE"
    """``ACTIVE``, or another of Alpaca's statuses (``ONBOARDING``, ``ACCOUNT_CLOSED`` …)."""
    trading_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False

    @property
    def may_trade(self) -> bool:
        """Whether orders are accepted."""
        return self.status == "ACTIVE" and not (
            self.trading_blocked or self.account_blocked or self.trade_suspended_by_user
        )


def _error(status: int, code: int, message: str) -> Response:
    return Response.json(status, {"code": code, "message": message})


def _parse_date(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text[:10])  # a date, or the date of an RFC 3339 time
    except ValueError:
        raise WireError(f"{name} must be a date (YYYY-MM-DD), was {text!r}") from None


def _not_found(message: str = "endpoint not found") -> Response:
    return _error(404, 40410000, message)


def _method_not_allowed() -> Response:
    return _error(405, 40510000, "method not allowed")


class TradingApi:
    """The ``/v2`` trading routes over one :class:`MatchingEngine`.

    Args:
        engine: the account's engine.
        symbols: the tradable symbols (``BTC/USD`` style for crypto).
        publish: receives every engine event, in order.
        account_id: the account's UUID.
        created_at_ns: when the account was "opened" (the venue's start).
        starting_cash: cash at the start, reported as ``last_equity``.
        account_status: the account's standing (default: active); change it later through
            :attr:`account_status`.
    """

    def __init__(
        self,
        *,
        engine: MatchingEngine,
        symbols: Sequence[str],
        publish: Publish,
        account_id: str,
        created_at_ns: int,
        starting_cash: float,
        account_status: AccountStatus | None = None,
    ) -> None:
        self.engine = engine
        self.account_status = account_status if account_status is not None else AccountStatus()
        self._publish = publish
        self._symbols = frozenset(symbols)
        self._by_compact = {s.replace("/", ""): s for s in symbols}
        self._by_asset_id = {asset_id(s): s for s in symbols}
        self._account_id = account_id
        self._account_number = "PA" + str(uuid.UUID(account_id).int)[:10]
        self._created_at_ns = created_at_ns
        self._last_equity = starting_cash
        self._notional: dict[str, float] = {}
        self._extended_hours: set[str] = set()

    # ---------------------------------------------------------------- wire shapes

    def order_to_wire(self, order: EngineOrder) -> dict[str, object]:
        """Return the Alpaca Order object for an engine order (section 2.4)."""
        notional = self._notional.get(order.id)
        return {
            "id": order.id,
            "client_order_id": order.client_order_id,
            "created_at": format_timestamp(order.created_at_ns),
            "updated_at": format_timestamp(order.updated_at_ns),
            "submitted_at": format_timestamp(order.submitted_at_ns),
            "filled_at": format_ts_opt(order.filled_at_ns),
            "expired_at": format_ts_opt(order.expired_at_ns),
            "canceled_at": format_ts_opt(order.canceled_at_ns),
            "failed_at": None,
            "replaced_at": format_ts_opt(order.replaced_at_ns),
            "replaced_by": order.replaced_by,
            "replaces": order.replaces,
            "asset_id": asset_id(order.symbol),
            "symbol": order.symbol,
            "asset_class": asset_class(order.symbol),
            "notional": format_decimal(notional) if notional is not None else None,
            "qty": format_decimal(order.qty) if notional is None else None,
            "filled_qty": format_decimal(order.filled_qty),
            "filled_avg_price": format_decimal_opt(order.filled_avg_price),
            "order_class": "simple",
            "order_type": str(order.order_type),
            "type": str(order.order_type),
            "side": str(order.side),
            "position_intent": None,
            "time_in_force": str(order.time_in_force),
            "limit_price": format_decimal_opt(order.limit_price),
            "stop_price": format_decimal_opt(order.stop_price),
            "status": order.status,
            "extended_hours": order.id in self._extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "expires_at": None,
            "source": None,
            "subtag": None,
        }

    def event_to_wire(self, event: EngineEvent) -> dict[str, object]:
        """Return the trade_updates payload for one engine event (section 3.3)."""
        payload: dict[str, object] = {
            "event": event.event,
            "timestamp": format_timestamp(event.ts_ns),
            "order": self.order_to_wire(event.order),
        }
        if event.price is not None:
            payload["price"] = format_decimal(event.price)
        if event.qty is not None:
            payload["qty"] = format_decimal(event.qty)
        if event.position_qty is not None:
            payload["position_qty"] = format_decimal(event.position_qty)
        if event.execution_id is not None:
            payload["execution_id"] = event.execution_id
        return payload

    @staticmethod
    def position_to_wire(position: EnginePosition) -> dict[str, object]:
        """Return the Alpaca Position object (section 2.8)."""
        symbol = position.symbol
        basis = abs(position.cost_basis)
        plpc = position.unrealized_pl / basis if basis > 0 else 0.0
        return {
            "asset_id": asset_id(symbol),
            "symbol": symbol,
            "exchange": CRYPTO_EXCHANGE if is_crypto(symbol) else EQUITY_EXCHANGE,
            "asset_class": asset_class(symbol),
            "asset_marginable": not is_crypto(symbol),
            "qty": format_decimal(position.qty),
            "qty_available": format_decimal(position.qty),
            "side": "long" if position.qty > 0 else "short",
            "avg_entry_price": format_decimal(position.avg_entry_price),
            "market_value": format_decimal(position.market_value),
            "cost_basis": format_decimal(position.cost_basis),
            "unrealized_pl": format_decimal(position.unrealized_pl),
            "unrealized_plpc": format_decimal(round(plpc, 10)),
            "unrealized_intraday_pl": format_decimal(position.unrealized_pl),
            "unrealized_intraday_plpc": format_decimal(round(plpc, 10)),
            "current_price": format_decimal(position.current_price),
            "lastday_price": format_decimal(position.current_price),
            "change_today": "0",
        }

    def account_to_wire(self, account: EngineAccount, now_ns: int) -> dict[str, object]:
        """Return the Alpaca Account object (section 2.9), multiplier 1 (a cash account)."""
        buying_power = format_decimal(account.buying_power)
        position_value = account.long_market_value + account.short_market_value
        return {
            "id": self._account_id,
            "account_number": self._account_number,
            "status": self.account_status.status,
            "crypto_status": self.account_status.status,
            "currency": "USD",
            "buying_power": buying_power,
            "regt_buying_power": buying_power,
            "daytrading_buying_power": "0",
            "effective_buying_power": buying_power,
            "non_marginable_buying_power": buying_power,
            "options_buying_power": buying_power,
            "bod_dtbp": "0",
            "cash": format_decimal(account.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": format_decimal(account.equity),
            "pattern_day_trader": False,
            "trading_blocked": self.account_status.trading_blocked,
            "transfers_blocked": False,
            "account_blocked": self.account_status.account_blocked,
            "created_at": format_timestamp(self._created_at_ns),
            "trade_suspended_by_user": self.account_status.trade_suspended_by_user,
            "multiplier": "1",
            "shorting_enabled": True,
            "equity": format_decimal(account.equity),
            "last_equity": format_decimal(self._last_equity),
            "long_market_value": format_decimal(account.long_market_value),
            "short_market_value": format_decimal(account.short_market_value),
            "position_market_value": format_decimal(round(position_value, 9)),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
            "balance_asof": datetime.fromtimestamp(now_ns / 1e9, tz=_NEW_YORK).date().isoformat(),
            "options_approved_level": 0,
            "options_trading_level": 0,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
        }

    @staticmethod
    def clock_to_wire(now_ns: int) -> dict[str, object]:
        """Return the Clock object; ``next_open`` and ``next_close`` are the NYSE sessions'.

        The local venue trades around the clock (its market never closes), so it says it is
        open; the sessions it names skip weekends and holidays (``pyrt.venues.calendar``).
        """
        clock = NYSE.clock(now_ns)

        def local(ns: int) -> str:
            return datetime.fromtimestamp(ns / 1e9, tz=_NEW_YORK).isoformat()

        return {
            "timestamp": local(now_ns),
            "is_open": True,
            "next_open": local(clock.next_open_ns),
            "next_close": local(clock.next_close_ns),
        }

    @staticmethod
    def calendar_to_wire(request: Request, now_ns: int) -> list[dict[str, object]]:
        """Return the Calendar objects from ``start`` to ``end`` (dates; both included).

        ``start`` defaults to today in New York and ``end`` to 30 days after ``start``.
        ``settlement_date`` is the next session's date (T+1).
        """
        start = _parse_date(request.query.get("start"), "start", local_date(now_ns))
        end = _parse_date(request.query.get("end"), "end", start + timedelta(days=30))
        if end < start:
            raise WireError(f"end must not be before start, was start={start} end={end}")
        if (end - start).days > _MAX_CALENDAR_DAYS:
            raise WireError(f"at most {_MAX_CALENDAR_DAYS} days at once, was {(end - start).days}")
        sessions = NYSE.sessions(start, end + timedelta(days=10))  # the last one's settlement too
        out: list[dict[str, object]] = []
        for session, settles in itertools.pairwise(sessions):
            if session.day > end:
                break
            out.append(
                {
                    "date": session.day.isoformat(),
                    "open": datetime.fromtimestamp(session.open_ns / 1e9, tz=_NEW_YORK).strftime("%H:%M"),
                    "close": datetime.fromtimestamp(session.close_ns / 1e9, tz=_NEW_YORK).strftime("%H:%M"),
                    "session_open": "0400",
                    "session_close": "2000",
                    "settlement_date": settles.day.isoformat(),
                }
            )
        return out

    # ---------------------------------------------------------------- routing

    def handle(self, request: Request, now_ns: int) -> Response:
        """Serve one ``/v2`` request."""
        try:
            return self._route(request, now_ns)
        except WireError as exc:
            return _error(exc.status, exc.code, exc.message)
        except EngineRejected as exc:
            return _error(exc.status_code, exc.code, exc.message)

    def _route(self, request: Request, now_ns: int) -> Response:
        method, path = request.method, request.path
        if path == "/v2/orders":
            if method == "GET":
                return self._list_orders(request)
            if method == "POST":
                return self._submit(request, now_ns)
            if method == "DELETE":
                return self._cancel_all(now_ns)
            return _method_not_allowed()
        if path == "/v2/orders:by_client_order_id":  # before /v2/orders/{id}
            if method != "GET":
                return _method_not_allowed()
            client_order_id = request.query.get("client_order_id")
            if not client_order_id:
                raise WireError("client_order_id is required")
            return Response.json(200, self.order_to_wire(self.engine.get_order_by_client_id(client_order_id)))
        if path.startswith("/v2/orders/"):
            order_id = path.removeprefix("/v2/orders/")
            if method == "GET":
                return Response.json(200, self.order_to_wire(self.engine.get_order(order_id)))
            if method == "PATCH":
                return self._replace(order_id, request, now_ns)
            if method == "DELETE":
                self._publish(self.engine.cancel(order_id, now_ns=now_ns))
                return Response(status=204)
            return _method_not_allowed()
        if path == "/v2/positions":
            if method == "GET":
                return Response.json(200, [self.position_to_wire(p) for p in self.engine.positions()])
            if method == "DELETE":
                return self._close_all(request, now_ns)
            return _method_not_allowed()
        if path.startswith("/v2/positions/"):
            symbol = self._symbol(path.removeprefix("/v2/positions/"), not_found=404)
            if method == "GET":
                return Response.json(200, self.position_to_wire(self.engine.position(symbol)))
            if method == "DELETE":
                return self._close_position(symbol, request, now_ns)
            return _method_not_allowed()
        if path == "/v2/account":
            if method != "GET":
                return _method_not_allowed()
            return Response.json(200, self.account_to_wire(self.engine.account(), now_ns))
        if path == "/v2/clock":
            if method != "GET":
                return _method_not_allowed()
            return Response.json(200, self.clock_to_wire(now_ns))
        if path == "/v2/calendar":
            if method != "GET":
                return _method_not_allowed()
            return Response.json(200, self.calendar_to_wire(request, now_ns))
        return _not_found()

    # ---------------------------------------------------------------- helpers

    def _symbol(self, text: str, *, not_found: int = 422) -> str:
        symbol = text.strip().upper()
        if symbol in self._symbols:
            return symbol
        if symbol in self._by_compact:
            return self._by_compact[symbol]
        if _UUID.match(text):
            found = self._by_asset_id.get(text.lower())
            if found is not None:
                return found
        if not_found == 404:
            raise WireError("position does not exist", status=404, code=40410000)
        raise WireError(f'asset "{text}" not found', status=422, code=42210000)

    def _filter_symbol(self, text: str) -> str:
        # a filter naming an unknown symbol matches nothing; it is not an error
        symbol = text.strip().upper()
        return self._by_compact.get(symbol, symbol)

    @staticmethod
    def _body(request: Request) -> dict[str, object]:
        if not request.body:
            raise WireError("request body format is invalid", status=400, code=40010000)
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise WireError("request body format is invalid", status=400, code=40010000) from None
        if not isinstance(body, dict):
            raise WireError("request body format is invalid", status=400, code=40010000)
        return body

    @staticmethod
    def _enum(enum_type: type[Side] | type[OrderType] | type[TimeInForce], value: object, name: str) -> str:
        if not isinstance(value, str):
            raise WireError(f"{name} is required" if value is None else f"invalid {name}: {value!r}")
        try:
            return str(enum_type(value.lower()))
        except ValueError:
            raise WireError(f"invalid {name}: {value!r}") from None

    # ---------------------------------------------------------------- orders

    def _submit(self, request: Request, now_ns: int) -> Response:
        body = self._body(request)
        if not self.account_status.may_trade:
            raise WireError("account is not authorized to trade", status=403, code=40310000)
        order_class = body.get("order_class") or "simple"
        if order_class != "simple":
            raise WireError(f"order_class {order_class} is not supported by the local venue")
        for unsupported in ("take_profit", "stop_loss", "legs", "trail_price", "trail_percent"):
            if body.get(unsupported) is not None:
                raise WireError(f"{unsupported} is not supported by the local venue")
        raw_symbol = body.get("symbol")
        if not isinstance(raw_symbol, str) or not raw_symbol:
            raise WireError("symbol is required")
        symbol = self._symbol(raw_symbol)
        side = Side(self._enum(Side, body.get("side"), "side"))
        raw_type = body.get("type", body.get("order_type"))
        if raw_type == "trailing_stop":
            raise WireError("trailing_stop orders are not supported by the local venue")
        order_type = OrderType(self._enum(OrderType, raw_type, "order type"))
        raw_tif = body.get("time_in_force")
        if raw_tif in ("opg", "cls"):
            raise WireError(f"time_in_force {raw_tif} is not supported by the local venue")
        tif = TimeInForce(self._enum(TimeInForce, raw_tif, "time_in_force"))
        limit_price = (
            None
            if body.get("limit_price") is None
            else parse_decimal(body["limit_price"], name="limit_price")
        )
        stop_price = (
            None if body.get("stop_price") is None else parse_decimal(body["stop_price"], name="stop_price")
        )
        extended_hours = parse_bool(body.get("extended_hours", False), name="extended_hours")
        if extended_hours and not (order_type is OrderType.LIMIT and tif is TimeInForce.DAY):
            raise WireError("extended hours order must be DAY limit orders")
        client_order_id = body.get("client_order_id")
        if client_order_id is not None and not isinstance(client_order_id, str):
            raise WireError(f"client_order_id must be a string, was {client_order_id!r}")
        crypto = is_crypto(symbol)
        if crypto and tif not in _CRYPTO_TIF:
            raise WireError(f"invalid crypto time_in_force: {tif}; use gtc or ioc")
        if crypto and order_type not in _CRYPTO_TYPES:
            raise WireError(f"invalid crypto order type: {order_type}")
        qty_in, notional_in = body.get("qty"), body.get("notional")
        notional: float | None = None
        if (qty_in is None) == (notional_in is None):
            raise WireError("qty or notional is required, not both")
        if qty_in is not None:
            qty = parse_decimal(qty_in, name="qty")
        else:
            notional = parse_decimal(notional_in, name="notional")
            if not crypto and not (order_type is OrderType.MARKET and tif is TimeInForce.DAY):
                raise WireError("notional orders must be DAY market orders")
            quote = self.engine.last_quote(symbol)
            if quote is None:
                raise WireError(f"no price for {symbol} yet: cannot size a notional order", code=42210000)
            reference = quote[1] if side is Side.BUY else quote[0]
            qty = math.floor(notional / reference * 1e9) / 1e9
        fractional_ok = order_type is OrderType.MARKET and tif is TimeInForce.DAY
        if not crypto and not qty.is_integer() and notional is None and not fractional_ok:
            raise WireError("fractional orders must be DAY market orders")
        order, events = self.engine.submit(
            symbol=symbol,
            side=side,
            qty=qty,
            order_type=order_type,
            time_in_force=tif,
            limit_price=limit_price,
            stop_price=stop_price,
            client_order_id=client_order_id or None,
            now_ns=now_ns,
        )
        if notional is not None:
            self._notional[order.id] = notional
        if extended_hours:
            self._extended_hours.add(order.id)
        self._publish(events)
        return Response.json(200, self.order_to_wire(order))

    def _list_orders(self, request: Request) -> Response:
        query = request.query
        raw_limit = query.get("limit", "50")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise WireError(f"limit must be an integer, was {raw_limit!r}") from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise WireError(f"limit must be between 1 and {MAX_LIST_LIMIT}, was {limit}")
        after = query.get("after")
        until = query.get("until")
        symbols = query.get("symbols")
        side = query.get("side")
        if "nested" in query:
            parse_bool(query["nested"], name="nested")  # no multi-leg orders here: nothing to nest
        orders = list_orders(
            self.engine.orders(),
            status=query.get("status", "open"),
            limit=limit,
            after_ns=parse_ts(after, name="after") if after else None,
            until_ns=parse_ts(until, name="until") if until else None,
            direction=query.get("direction", "desc"),
            symbols=[self._filter_symbol(s) for s in symbols.split(",") if s.strip()] if symbols else None,
            side=side or None,
        )
        return Response.json(200, [self.order_to_wire(order) for order in orders])

    def _replace(self, order_id: str, request: Request, now_ns: int) -> Response:
        body = self._body(request)
        if body.get("trail") is not None:
            raise WireError("trail is not supported by the local venue")
        qty = None if body.get("qty") is None else parse_decimal(body["qty"], name="qty")
        limit = (
            None
            if body.get("limit_price") is None
            else parse_decimal(body["limit_price"], name="limit_price")
        )
        stop = (
            None if body.get("stop_price") is None else parse_decimal(body["stop_price"], name="stop_price")
        )
        raw_tif = body.get("time_in_force")
        tif = None if raw_tif is None else TimeInForce(self._enum(TimeInForce, raw_tif, "time_in_force"))
        client_order_id = body.get("client_order_id")
        if client_order_id is not None and not isinstance(client_order_id, str):
            raise WireError(f"client_order_id must be a string, was {client_order_id!r}")
        order, events = self.engine.replace(
            order_id,
            qty=qty,
            limit_price=limit,
            stop_price=stop,
            time_in_force=tif,
            client_order_id=client_order_id or None,
            now_ns=now_ns,
        )
        self._publish(events)
        return Response.json(200, self.order_to_wire(order))

    def _cancel_all(self, now_ns: int) -> Response:
        results = self.engine.cancel_all(now_ns=now_ns)
        body: list[dict[str, object]] = []
        for order_id, status, events in results:
            self._publish(events)
            item: dict[str, object] = {"id": order_id, "status": status}
            if status != 200:
                item["body"] = {"code": 42210000, "message": "order is not cancelable"}
            body.append(item)
        return Response.json(207, body)

    # ---------------------------------------------------------------- positions

    def _close_position(self, symbol: str, request: Request, now_ns: int) -> Response:
        raw_qty = request.query.get("qty")
        raw_pct = request.query.get("percentage")
        if raw_qty is not None and raw_pct is not None:
            raise WireError("only one of qty or percentage may be given")
        qty = None if raw_qty is None else parse_decimal(raw_qty, name="qty")
        percentage = None if raw_pct is None else parse_decimal(raw_pct, name="percentage")
        if percentage is not None and percentage > 100.0:
            raise WireError(f"percentage must be in (0, 100], was {raw_pct!r}")
        order, events = self.engine.close_position(symbol, qty=qty, percentage=percentage, now_ns=now_ns)
        self._publish(events)
        return Response.json(200, self.order_to_wire(order))

    def _close_all(self, request: Request, now_ns: int) -> Response:
        if parse_bool(request.query.get("cancel_orders", "false"), name="cancel_orders"):
            for _order_id, _status, events in self.engine.cancel_all(now_ns=now_ns):
                self._publish(events)
        body: list[dict[str, object]] = []
        for position in self.engine.positions():
            try:
                order, events = self.engine.close_position(position.symbol, now_ns=now_ns)
            except EngineRejected as exc:
                error = {"code": exc.code, "message": exc.message, "symbol": position.symbol}
                body.append({"symbol": position.symbol, "status": exc.status_code, "body": error})
                continue
            self._publish(events)
            item = {
                "symbol": position.symbol,
                "status": 200,
                "order_id": order.id,
                "body": self.order_to_wire(order),
            }
            body.append(item)
        return Response.json(207, body)

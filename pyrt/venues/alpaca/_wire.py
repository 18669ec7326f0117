"""Alpaca wire shapes on the client side: decimals, timestamps, REST objects, data frames.

Outgoing decimals are strings (``"qty": "10"``); incoming ones may be strings or JSON numbers,
and unknown keys are ignored everywhere (``/work/shared/alpaca-protocol.md`` sections 0 and 2).

:class:`FrameDecoder` is the market-data hot path: one WebSocket frame (a JSON or msgpack array)
becomes one list of pyrt messages, built straight from the item dicts. A bad item is dropped on
its own and counted by reason; a frame that does not decode is counted and skipped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import msgpack
import orjson

from ...errors import DecodeError
from ...messages import (
    BarReceived,
    BookLevel,
    BookReceived,
    Message,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
    TradeReceived,
)
from .. import _alpaca_wire as wire
from .._alpaca_wire import (
    format_decimal as format_decimal,  # re-exported: _updates.py formats its synthetic ids with it
    make_timestamp_parser,
)
from .._protocols import AccountSnapshot, VenueOrder, VenuePosition

logger = logging.getLogger(__name__)


#: Reasons a data item is dropped (keys of ``AlpacaFeedStatistics.items_dropped``).
MISSING_FIELD: Final = "missing_field"
INVALID_VALUE: Final = "invalid_value"
BAD_TYPE: Final = "bad_type"
UNKNOWN_TYPE: Final = "unknown_type"
#: Reasons a whole frame is skipped (keys of ``AlpacaFeedStatistics.frames_skipped``).
MALFORMED: Final = "malformed"
OVERSIZED: Final = "oversized"

#: Data message types Alpaca sends that pyrt does not map (they are counted, not warned about).
UNMAPPED_TYPES: Final = frozenset({"u", "d", "s", "l", "c", "x", "i"})
CONTROL_TYPES: Final = frozenset({"success", "error", "subscription"})

#: The order types and times in force pyrt represents; anything else (``trailing_stop``,
#: ``opg``, ``cls`` …) is refused as an :class:`UnsupportedOrder`, never mapped to a near miss.
_ORDER_TYPES: Final = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
}
_TIME_IN_FORCE: Final = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
}
_SIMPLE_CLASSES: Final = frozenset({"", "simple"})


class UnsupportedOrder(DecodeError):
    """A well-formed Alpaca order pyrt cannot represent: a trailing stop, a bracket/OCO/OTO/multi-leg
    order or one of its legs, an auction-only (``opg``/``cls``) order, an unknown type.

    It is refused whole rather than reshaped into something it is not (a trailing stop is not a
    stop with no price). The broker skips such orders in lists and updates, counts them and
    logs each once (:attr:`AlpacaBrokerStatistics.unsupported_orders`).

    Attributes:
        venue_order_id: the venue's id of the order.
        client_order_id: its client order id.
        symbol: its symbol.
        side: ``buy`` or ``sell``.
        status: its Alpaca status.
        reason: what pyrt cannot represent, e.g. ``"type trailing_stop"``.
    """

    def __init__(
        self, *, venue_order_id: str, client_order_id: str, symbol: str, side: str, status: str, reason: str
    ) -> None:
        self.venue_order_id = venue_order_id
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.status = status
        self.reason = reason
        super().__init__(
            f"order {venue_order_id} (client id {client_order_id}, {side} {symbol}, {status}) is not one "
            f"pyrt can represent: {reason}",
            source="alpaca.rest",
        )


# ---------------------------------------------------------------------------------- scalars


def parse_number(value: object, *, name: str) -> float:
    """Parse a decimal sent as a string or a JSON number.

    Raises:
        DecodeError: not a finite number.
    """
    try:
        return wire.parse_number(value, name=name)
    except ValueError as exc:
        raise DecodeError(str(exc), source="alpaca.rest") from None


def parse_optional_number(value: object, *, name: str) -> float | None:
    """Like :func:`parse_number`, with ``None`` (and ``""``) passed through as ``None``."""
    if value is None or value == "":
        return None
    return parse_number(value, name=name)


_PARSE_TS: Final = make_timestamp_parser()


def parse_timestamp(value: object) -> int | None:
    """Parse an optional RFC 3339 timestamp from a REST object; ``None`` if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _PARSE_TS(value)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------- REST


def order_request(order: OrderSubmitted) -> dict[str, str]:
    """Return the ``POST /v2/orders`` body for ``order``: decimals as strings, id always sent."""
    body = {
        "symbol": order.symbol,
        "qty": format_decimal(order.quantity),
        "side": str(order.side),
        "type": str(order.order_type),
        "time_in_force": str(order.time_in_force),
        "client_order_id": order.client_order_id,
    }
    if order.limit_price is not None:
        body["limit_price"] = format_decimal(order.limit_price)
    if order.stop_price is not None:
        body["stop_price"] = format_decimal(order.stop_price)
    return body


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DecodeError(f"{key} must be a non-empty string, was {value!r}", source="alpaca.rest")
    return value


def _unsupported_because(data: Mapping[str, object]) -> str | None:
    """Return what pyrt cannot represent in an order (type, time in force, class, legs), or None."""
    problems: list[str] = []
    raw_type = data.get("type") or data.get("order_type")
    if not (isinstance(raw_type, str) and raw_type.lower() in _ORDER_TYPES):
        problems.append(f"type {raw_type}")
    raw_tif = data.get("time_in_force")
    if not (isinstance(raw_tif, str) and raw_tif.lower() in _TIME_IN_FORCE):
        problems.append(f"time_in_force {raw_tif}")
    order_class = data.get("order_class")
    if not (order_class is None or (isinstance(order_class, str) and order_class.lower() in _SIMPLE_CLASSES)):
        problems.append(f"order_class {order_class}")
    if data.get("legs"):
        problems.append("legs (a multi-leg order)")
    return ", ".join(problems) if problems else None


def order_from_wire(data: object) -> VenueOrder:
    """Build a :class:`VenueOrder` from an Alpaca Order object (section 2.4).

    A notional order (``qty`` null, ``notional`` set) keeps its notional and has no quantity
    until the venue reports one.

    Raises:
        UnsupportedOrder: a well-formed order pyrt cannot represent (see there).
        DecodeError: a required field is missing or unreadable.
    """
    if not isinstance(data, Mapping):
        raise DecodeError(f"an order must be an object, was {type(data).__name__}", source="alpaca.rest")
    venue_order_id = _text(data, "id")
    client_order_id = _text(data, "client_order_id")
    symbol = _text(data, "symbol")
    status = _text(data, "status")
    side_text = _text(data, "side").lower()
    if side_text not in ("buy", "sell"):
        raise DecodeError(f"side must be buy or sell, was {side_text!r}", source="alpaca.rest")
    if data.get("time_in_force") is None:
        raise DecodeError("time_in_force must be set, was None", source="alpaca.rest")
    unsupported = _unsupported_because(data)
    if unsupported is not None:
        raise UnsupportedOrder(
            venue_order_id=venue_order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side_text,
            status=status,
            reason=unsupported,
        )
    filled = parse_optional_number(data.get("filled_qty"), name="filled_qty") or 0.0
    quantity = parse_optional_number(data.get("qty"), name="qty")
    notional = parse_optional_number(data.get("notional"), name="notional")
    if quantity is None and notional is None:
        raise DecodeError("an order needs qty or notional, had neither", source="alpaca.rest")
    raw_type = str(data.get("type") or data.get("order_type"))  # both checked just above
    raw_tif = str(data.get("time_in_force"))
    return VenueOrder(
        venue_order_id=venue_order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side(side_text),
        quantity=quantity,
        notional=notional,
        filled_quantity=filled,
        filled_avg_price=parse_optional_number(data.get("filled_avg_price"), name="filled_avg_price"),
        order_type=_ORDER_TYPES[raw_type.lower()],
        time_in_force=_TIME_IN_FORCE[raw_tif.lower()],
        limit_price=parse_optional_number(data.get("limit_price"), name="limit_price"),
        stop_price=parse_optional_number(data.get("stop_price"), name="stop_price"),
        status=status,
        replaced_by=_optional_text(data, "replaced_by"),
        replaces=_optional_text(data, "replaces"),
    )


def position_from_wire(data: object) -> VenuePosition:
    """Build a :class:`VenuePosition` from an Alpaca Position object (section 2.8).

    Raises:
        DecodeError: a required field is missing or unreadable.
    """
    if not isinstance(data, Mapping):
        raise DecodeError(f"a position must be an object, was {type(data).__name__}", source="alpaca.rest")
    quantity = parse_number(data.get("qty"), name="qty")
    if data.get("side") == "short" and quantity > 0:
        quantity = -quantity  # qty is documented as signed; be safe if a server sends it unsigned
    return VenuePosition(
        symbol=_text(data, "symbol"),
        quantity=quantity,
        avg_entry_price=parse_number(data.get("avg_entry_price"), name="avg_entry_price"),
    )


def account_from_wire(data: object) -> AccountSnapshot:
    """Build an :class:`AccountSnapshot` from an Alpaca Account object (section 2.9).

    ``status`` is required (Alpaca always sends it); the blocking flags may be absent (false)
    but, when present, must be booleans: an account whose standing cannot be read is an error,
    never taken as tradable.

    Raises:
        DecodeError: a required field is missing or unreadable.
    """
    if not isinstance(data, Mapping):
        raise DecodeError(f"an account must be an object, was {type(data).__name__}", source="alpaca.rest")
    cash = parse_number(data.get("cash"), name="cash")
    equity_raw = data.get("equity", data.get("portfolio_value"))
    return AccountSnapshot(
        cash=cash,
        buying_power=parse_number(data.get("buying_power"), name="buying_power"),
        equity=parse_number(equity_raw, name="equity"),
        account_id=_optional_text(data, "id"),
        account_number=_optional_text(data, "account_number"),
        status=_text(data, "status").upper(),
        trading_blocked=_flag(data, "trading_blocked"),
        account_blocked=_flag(data, "account_blocked"),
        trade_suspended_by_user=_flag(data, "trade_suspended_by_user"),
    )


def _optional_text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _flag(data: Mapping[str, object], key: str) -> bool:
    value = data.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DecodeError(f"{key} must be true or false, was {value!r}", source="alpaca.rest")
    return value


# ---------------------------------------------------------------------------------- frames


#: Reason a frame nested too deeply is skipped (a key of ``AlpacaFeedStatistics.frames_skipped``).
TOO_DEEP: Final = "too_deep"
#: Deepest nesting the standard library's (recursive) JSON decoder is given; Alpaca's frames
#: nest 4 deep (array, item, book side, level). orjson and msgpack stop at 1024 on their own.
MAX_FALLBACK_DEPTH: Final = 32
_JSON_TOKENS: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')
_OPENERS: Final = frozenset(b"[{")


class FrameTooDeep(ValueError):
    """A frame nests deeper than a decoder may go; refused before it recurses."""


def _too_deep(raw: bytes, limit: int) -> bool:
    depth = 0
    for match in _JSON_TOKENS.finditer(raw):
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif first != 0x22:  # a closing bracket (0x22 is the quote of a string)
            depth -= 1
    return False


def loads_frame(raw: str | bytes, *, msgpack_frames: bool) -> object:
    """Decode one frame: msgpack (``t`` as int ns) for binary frames when asked, else JSON.

    JSON that orjson refuses is retried with the standard library, which reads the ``NaN`` and
    ``Infinity`` literals some servers write, so such a value is dropped as one bad item rather
    than costing the whole frame. Nesting is bounded before anything recurses: msgpack and
    orjson refuse more than 1024 levels themselves (in C, without recursing in Python), and the
    standard library's decoder only gets frames whose nesting a scan found to be at most
    :data:`MAX_FALLBACK_DEPTH`.

    Raises:
        FrameTooDeep: the frame nests deeper than that.
        ValueError: the frame is not valid JSON/msgpack.
    """
    if msgpack_frames and isinstance(raw, bytes):
        try:
            return msgpack.unpackb(raw, timestamp=2)
        except msgpack.StackError as exc:
            raise FrameTooDeep("msgpack frame nested deeper than 1024") from exc
        except ValueError:
            pass  # not msgpack: a server may still send JSON in a binary frame
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):
            raise FrameTooDeep("JSON frame nested deeper than 1024") from exc
    data = raw.encode() if isinstance(raw, str) else raw
    if _too_deep(data, MAX_FALLBACK_DEPTH):
        raise FrameTooDeep(f"JSON frame nested deeper than {MAX_FALLBACK_DEPTH}")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc


Counter = Callable[[str, object], None]


@final
class FrameDecoder:
    """Decode Alpaca market-data arrays into pyrt messages, counting what it drops.

    ``items_dropped`` counts bad items by reason (:data:`MISSING_FIELD`, :data:`INVALID_VALUE`,
    :data:`BAD_TYPE`, :data:`UNKNOWN_TYPE`); ``unmapped`` counts well-formed Alpaca types pyrt
    does not use (statuses, LULDs, corrections, updated and daily bars …).

    Args:
        on_drop: called with ``(reason, item)`` for each dropped item (for rate-limited logging).
    """

    __slots__ = ("_on_drop", "_parse_ts", "items_dropped", "unmapped")

    def __init__(self, *, on_drop: Counter | None = None) -> None:
        self._parse_ts = make_timestamp_parser()
        self._on_drop = on_drop
        self.items_dropped: dict[str, int] = {}
        self.unmapped = 0

    def _drop(self, reason: str, item: object) -> None:
        self.items_dropped[reason] = self.items_dropped.get(reason, 0) + 1
        if self._on_drop is not None:
            self._on_drop(reason, item)

    def decode(self, items: list[object], ts_init: int) -> tuple[list[Message], list[dict[str, object]]]:
        """Decode one frame's items into messages (in frame order) and control messages.

        Args:
            items: the decoded array.
            ts_init: the time the frame arrived, stamped on every message.

        Returns:
            The messages, and the control items (``success``, ``error``, ``subscription``).
        """
        out: list[Message] = []
        append = out.append
        controls: list[dict[str, object]] = []
        parse_ts = self._parse_ts
        quote = QuoteReceived.checked
        trade = TradeReceived.checked
        item: Any  # wire data: a wrong shape raises below and is counted
        for item in items:
            try:
                kind = item["T"]
                if kind == "q":
                    t = item["t"]
                    append(
                        quote(
                            item["S"],
                            float(item["bp"]),
                            float(item["bs"]),
                            float(item["ap"]),
                            float(item["as"]),
                            t if t.__class__ is int else parse_ts(t),
                            ts_init,
                        )
                    )
                elif kind == "t":
                    t = item["t"]
                    trade_id = item.get("i", 0)
                    append(
                        trade(
                            item["S"],
                            float(item["p"]),
                            float(item["s"]),
                            trade_id if trade_id.__class__ is int else int(trade_id or 0),
                            t if t.__class__ is int else parse_ts(t),
                            ts_init,
                        )
                    )
                elif kind == "b":
                    append(self._bar(item, ts_init))
                elif kind == "o":
                    append(self._book(item, ts_init))
                elif kind in CONTROL_TYPES:
                    controls.append(item)
                elif kind in UNMAPPED_TYPES:
                    self.unmapped += 1
                else:
                    self._drop(UNKNOWN_TYPE, item)
            except KeyError:
                self._drop(MISSING_FIELD, item)
            except ValueError:
                self._drop(INVALID_VALUE, item)
            except (TypeError, AttributeError):
                self._drop(BAD_TYPE, item)
        return out, controls

    def _ts(self, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self._parse_ts(value)
        raise TypeError(f"t must be a timestamp, was {value!r}")

    def _bar(self, data: Mapping[str, object], ts_init: int) -> BarReceived:
        item: Any = data
        vwap = item.get("vw")
        count = item.get("n")
        return BarReceived(
            symbol=item["S"],
            timeframe="1m",
            open=float(item["o"]),
            high=float(item["h"]),
            low=float(item["l"]),
            close=float(item["c"]),
            volume=float(item["v"]),
            vwap=None if vwap is None else float(vwap),
            trade_count=0 if count is None else int(count),
            ts_event=self._ts(item["t"]),
            ts_init=ts_init,
        )

    def _book(self, data: Mapping[str, object], ts_init: int) -> BookReceived:
        item: Any = data
        bids = item.get("b") or ()
        asks = item.get("a") or ()
        return BookReceived(
            symbol=item["S"],
            bids=tuple(BookLevel(price=float(lv["p"]), size=float(lv["s"])) for lv in bids),
            asks=tuple(BookLevel(price=float(lv["p"]), size=float(lv["s"])) for lv in asks),
            reset=bool(item.get("r", False)),
            ts_event=self._ts(item["t"]),
            ts_init=ts_init,
        )

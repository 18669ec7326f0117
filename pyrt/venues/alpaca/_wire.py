"""Alpaca wire shapes on the client side: decimals, timestamps, REST objects, data frames.

Outgoing decimals are strings (``"qty": "10"``); incoming ones may be strings or JSON numbers,
and unknown keys are ignored everywhere (``/work/shared/alpaca-protocol.md`` sections 0 and 2).

:class:`FrameDecoder` is the market-data hot path: one WebSocket frame (a JSON or msgpack array)
becomes one list of pyrt messages, built straight from the item dicts. A bad item is dropped on
its own and counted by reason; a frame that does not decode is counted and skipped.
"""

from __future__ import annotations

import calendar
import json
import logging
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
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
from .._protocols import AccountSnapshot, VenueOrder, VenuePosition

logger = logging.getLogger(__name__)

NS_PER_SECOND: Final = 1_000_000_000
_SECONDS_CACHE_LIMIT: Final = 4096
_PAD: Final = "000000000"

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

_ORDER_TYPES: Final = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
    "trailing_stop": OrderType.STOP,  # a stop whose trigger moves; pyrt has no such type
}
_TIME_IN_FORCE: Final = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
    "opg": TimeInForce.DAY,  # auction-only day orders
    "cls": TimeInForce.DAY,
}


# ---------------------------------------------------------------------------------- scalars


def format_decimal(value: float) -> str:
    """Format a float as a plain decimal string (no exponent): ``10.0 -> "10"``, ``1.5 -> "1.5"``.

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    value = float(value)  # an int passes the float annotation
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, was {value!r}")
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def parse_number(value: object, *, name: str) -> float:
    """Parse a decimal sent as a string or a JSON number.

    Raises:
        DecodeError: not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DecodeError(f"{name} must be a decimal number, was {value!r}", source="alpaca.rest")
    try:
        number = float(value)
    except ValueError:
        raise DecodeError(f"{name} must be a decimal number, was {value!r}", source="alpaca.rest") from None
    if not math.isfinite(number):
        raise DecodeError(f"{name} must be finite, was {value!r}", source="alpaca.rest")
    return number


def parse_optional_number(value: object, *, name: str) -> float | None:
    """Like :func:`parse_number`, with ``None`` (and ``""``) passed through as ``None``."""
    if value is None or value == "":
        return None
    return parse_number(value, name=name)


def make_timestamp_parser() -> Callable[[str], int]:
    """Return a parser of RFC 3339 text to epoch nanoseconds, fast for a stream's stamps.

    The ``YYYY-MM-DDTHH:MM:SS`` head is looked up in a small cache of its own (one ``timegm``
    per distinct second); the fraction (any number of digits, nanoseconds kept) and the offset
    (``Z`` or ``±HH:MM``) are parsed by hand. A closure, not a method: this runs once per
    message on the JSON hot path. The parser raises ``ValueError`` on anything else.
    """
    seconds_cache: dict[str, int] = {}
    cached = seconds_cache.get

    def head_seconds(head: str) -> int:
        if len(head) != 19 or head[4] != "-" or head[7] != "-" or head[10] not in "Tt " or head[13] != ":":
            raise ValueError(f"timestamp must be RFC 3339, was {head!r}")
        seconds = calendar.timegm(
            (
                int(head[0:4]),
                int(head[5:7]),
                int(head[8:10]),
                int(head[11:13]),
                int(head[14:16]),
                int(head[17:19]),
            )
        )
        if len(seconds_cache) >= _SECONDS_CACHE_LIMIT:
            seconds_cache.clear()
        seconds_cache[head] = seconds
        return seconds

    def parse(text: str) -> int:
        head = text[:19]
        seconds = cached(head)
        if seconds is None:
            seconds = head_seconds(head)
        if len(text) == 30 and text[29] == "Z" and text[19] == ".":  # the common nanosecond form
            return seconds * NS_PER_SECOND + int(text[20:29])
        rest = text[19:]
        fraction = 0
        if rest[:1] == ".":
            end = 1
            while end < len(rest) and rest[end].isdigit():
                end += 1
            digits = rest[1:end]
            if not digits:
                raise ValueError(f"timestamp must be RFC 3339, was {text!r}")
            fraction = int((digits + _PAD)[:9])
            rest = rest[end:]
        if rest in ("Z", "z"):
            offset = 0
        elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
            offset = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if rest[0] == "-":
                offset = -offset
        else:
            raise ValueError(f"timestamp must be RFC 3339, was {text!r}")
        return (seconds - offset) * NS_PER_SECOND + fraction

    return parse


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


def _order_type(value: object) -> OrderType:
    found = _ORDER_TYPES.get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise DecodeError(f"type {value!r} is not an order type pyrt knows", source="alpaca.rest")
    return found


def _time_in_force(value: object) -> TimeInForce:
    found = _TIME_IN_FORCE.get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise DecodeError(f"time_in_force {value!r} is not one pyrt knows", source="alpaca.rest")
    return found


def order_from_wire(data: object) -> VenueOrder:
    """Build a :class:`VenueOrder` from an Alpaca Order object (section 2.4).

    Raises:
        DecodeError: a required field is missing or unreadable.
    """
    if not isinstance(data, Mapping):
        raise DecodeError(f"an order must be an object, was {type(data).__name__}", source="alpaca.rest")
    side_text = _text(data, "side").lower()
    if side_text not in ("buy", "sell"):
        raise DecodeError(f"side must be buy or sell, was {side_text!r}", source="alpaca.rest")
    filled = parse_optional_number(data.get("filled_qty"), name="filled_qty") or 0.0
    quantity = parse_optional_number(data.get("qty"), name="qty")
    order_type = _order_type(data.get("type", data.get("order_type")))
    time_in_force = _time_in_force(data.get("time_in_force"))
    return VenueOrder(
        venue_order_id=_text(data, "id"),
        client_order_id=_text(data, "client_order_id"),
        symbol=_text(data, "symbol"),
        side=Side(side_text),
        quantity=quantity if quantity is not None else filled,  # notional orders carry no qty
        filled_quantity=filled,
        filled_avg_price=parse_optional_number(data.get("filled_avg_price"), name="filled_avg_price"),
        order_type=order_type,
        time_in_force=time_in_force,
        limit_price=parse_optional_number(data.get("limit_price"), name="limit_price"),
        stop_price=parse_optional_number(data.get("stop_price"), name="stop_price"),
        status=_text(data, "status"),
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


def loads_frame(raw: str | bytes, *, msgpack_frames: bool) -> object:
    """Decode one frame: msgpack (``t`` as int ns) for binary frames when asked, else JSON.

    JSON that orjson refuses is retried with the standard library, which reads the ``NaN`` and
    ``Infinity`` literals some servers write, so such a value is dropped as one bad item rather
    than costing the whole frame.

    Raises:
        ValueError: the frame is not valid JSON/msgpack.
    """
    if msgpack_frames and isinstance(raw, bytes):
        try:
            return msgpack.unpackb(raw, timestamp=2)
        except ValueError:
            pass  # not msgpack: a server may still send JSON in a binary frame
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
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

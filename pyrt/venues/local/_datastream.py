"""The market-data stream: Alpaca's ``/v2/{iex,sip,test}`` and ``/v1beta3/crypto/us``.

A :class:`DataFeed` per endpoint turns the simulator's quotes and trades into Alpaca data
messages (trades, quotes, bars built from its own trades, daily bars, crypto order books) and
hands each session the batch it subscribed to, as one array per tick. Sessions follow section 1
of the protocol reference: ``connected``, auth within the timeout, subscribe/unsubscribe answered
with the full set, and the error codes of section 1.6.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final

import attrs
import msgpack
import orjson
import trio

from ...messages import QuoteReceived, TradeReceived
from ...runtime.clock import NS_PER_SECOND
from .._alpaca_wire import format_timestamp
from ._faults import FaultState, WsFault
from ._websocket import ServerWebSocket, StreamSession, raw_frame

if TYPE_CHECKING:
    from ...messages import Message

logger = logging.getLogger(__name__)

STOCK_CHANNELS: Final = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
    "imbalances",
)
CRYPTO_CHANNELS: Final = ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars")
ALL_CHANNELS: Final = frozenset(STOCK_CHANNELS) | frozenset(CRYPTO_CHANNELS)
#: Channels that follow ``trades`` and are never subscribed explicitly.
_TRADE_FOLLOWERS: Final = ("corrections", "cancelErrors")
_NS_PER_DAY: Final = 86_400 * NS_PER_SECOND
_SIP_EXCHANGES: Final = ("Q", "N", "P", "V", "K", "Z")


@attrs.define(slots=True, eq=False)
class MarketItem:
    """One data message, ``t`` kept as epoch ns until a session picks its encoding."""

    channel: str
    symbol: str
    data: dict[str, object]
    _json: dict[str, object] | None = None
    _msgpack: dict[str, object] | None = None

    def for_json(self) -> dict[str, object]:
        if self._json is None:
            out = dict(self.data)
            ts = out.get("t")
            if isinstance(ts, int):
                out["t"] = format_timestamp(ts)
            self._json = out
        return self._json

    def for_msgpack(self) -> dict[str, object]:
        if self._msgpack is None:
            out = dict(self.data)
            ts = out.get("t")
            if isinstance(ts, int):
                out["t"] = msgpack.Timestamp.from_unix_nano(ts)
            self._msgpack = out
        return self._msgpack


def _vwap(notional: float, volume: float, low: float, high: float, close: float) -> float:
    if volume <= 0:
        return close
    # float noise must not put the average outside the bar's range
    return min(max(round(notional / volume, 6), low), high)


@attrs.define(eq=False)
class _BarBuilder:
    """Minute (or ``interval``) bars from one symbol's trades, stamped at the bar start."""

    interval_ns: int
    start: int | None = None
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: float = 0.0
    notional: float = 0.0
    count: int = 0
    day_start: int | None = None
    day: dict[str, float] = attrs.Factory(dict)

    def add(self, price: float, size: float, ts: int) -> list[dict[str, object]]:
        done = self.close_due(ts)
        bucket = ts - ts % self.interval_ns
        if self.start is None:
            self.start, self.open, self.high, self.low = bucket, price, price, price
            self.volume = self.notional = 0.0
            self.count = 0
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += size
        self.notional += price * size
        self.count += 1
        return done

    def close_due(self, now_ns: int) -> list[dict[str, object]]:
        if self.start is None or now_ns < self.start + self.interval_ns:
            return []
        bar: dict[str, object] = {
            "o": self.open,
            "h": self.high,
            "l": self.low,
            "c": self.close,
            "v": self.volume,
            "t": self.start,
            "n": self.count,
            "vw": _vwap(self.notional, self.volume, self.low, self.high, self.close),
        }
        day_start = self.start - self.start % _NS_PER_DAY
        if self.day_start != day_start:
            self.day_start = day_start
            self.day = {"o": self.open, "h": self.high, "l": self.low, "v": 0.0, "notional": 0.0, "n": 0}
        day = self.day
        day["h"] = max(day["h"], self.high)
        day["l"] = min(day["l"], self.low)
        day["c"] = self.close
        day["v"] += self.volume
        day["notional"] += self.notional
        day["n"] += self.count
        self.start = None
        return [bar]

    def daily(self) -> dict[str, object]:
        day = self.day
        return {
            "o": day["o"],
            "h": day["h"],
            "l": day["l"],
            "c": day["c"],
            "v": day["v"],
            "t": self.day_start,
            "n": int(day["n"]),
            "vw": _vwap(day["notional"], day["v"], day["l"], day["h"], day["c"]),
        }


@attrs.define(eq=False)
class _SyntheticBook:
    """An L2 book around the simulator's top of book; level sizes stay put while prices do."""

    depth: int
    rng: random.Random
    step: float = 0.0
    bids: dict[float, float] = attrs.Factory(dict)
    asks: dict[float, float] = attrs.Factory(dict)

    def _side(self, old: dict[float, float], top: float, top_size: float, sign: int) -> dict[float, float]:
        # the top level is the quote; deeper levels sit on a fixed grid, so they survive small moves
        new: dict[float, float] = {top: top_size if top_size > 0 else 0.01}
        step = self.step
        grid = math.floor(top / step) * step if sign < 0 else math.ceil(top / step) * step
        level = 0
        while len(new) < self.depth:
            price = round(grid + sign * level * step, 2)
            level += 1
            if price <= 0:
                break
            if (price - top) * sign <= 0:
                continue  # at or inside the top level
            new[price] = old.get(price) or round(self.rng.uniform(0.05, 5.0), 4)
        return new

    def update(self, quote: QuoteReceived) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        if self.step == 0.0:
            self.step = max(round((quote.bid_price + quote.ask_price) * 0.0001, 2), 0.01)
        bids = self._side(self.bids, quote.bid_price, quote.bid_size, -1)
        asks = self._side(self.asks, quote.ask_price, quote.ask_size, 1)
        delta_bids = _diff(self.bids, bids)
        delta_asks = _diff(self.asks, asks)
        self.bids, self.asks = bids, asks
        return delta_bids, delta_asks

    def snapshot(self) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        bids = [{"p": p, "s": s} for p, s in sorted(self.bids.items(), reverse=True)]
        asks = [{"p": p, "s": s} for p, s in sorted(self.asks.items())]
        return bids, asks


def _diff(old: dict[float, float], new: dict[float, float]) -> list[dict[str, float]]:
    out = [{"p": p, "s": s} for p, s in new.items() if old.get(p) != s]
    out.extend({"p": p, "s": 0.0} for p in old if p not in new)
    return out


@attrs.frozen(kw_only=True)
class FeedSpec:
    """What one data endpoint carries."""

    path: str
    crypto: bool
    symbols: tuple[str, ...]
    exchange: str | None = None
    """Exchange code for stock trades and quotes; ``None`` = SIP mix."""


class DataFeed:
    """One market-data endpoint: its sessions, bar builders and books."""

    def __init__(
        self,
        spec: FeedSpec,
        *,
        check_credentials: Callable[[str, str], bool],
        faults: FaultState,
        rng: random.Random,
        bar_interval_ns: int,
        max_symbols: int,
        auth_timeout: float,
        output_limit: int,
        book_depth: int = 10,
    ) -> None:
        self.spec = spec
        self.channels: tuple[str, ...] = CRYPTO_CHANNELS if spec.crypto else STOCK_CHANNELS
        self._symbols = frozenset(spec.symbols)
        self._check_credentials = check_credentials
        self.faults = faults
        self._bar_interval_ns = bar_interval_ns
        self.max_symbols = max_symbols
        self.auth_timeout = auth_timeout
        self.output_limit = output_limit
        self._bars = {symbol: _BarBuilder(bar_interval_ns) for symbol in spec.symbols}
        self._books = {
            symbol: _SyntheticBook(book_depth, random.Random(rng.random())) for symbol in spec.symbols
        }
        self._book_ts: dict[str, int] = {}
        self._trade_ids: dict[str, int] = dict.fromkeys(spec.symbols, 0)
        self._last_quote: dict[str, QuoteReceived] = {}
        self.sessions: dict[DataSession, None] = {}  # insertion-ordered, unlike a set (issue 10)
        self.active_keys: dict[str, DataSession] = {}
        self.frames_sent = 0
        self.slow_clients = 0

    def check_credentials(self, key: str, secret: str) -> bool:
        return self._check_credentials(key, secret)

    # -- data --------------------------------------------------------------------------

    def _trade_item(self, trade: TradeReceived) -> MarketItem:
        symbol = trade.symbol
        trade_id = trade.trade_id or self._trade_ids[symbol] + 1
        self._trade_ids[symbol] = trade_id
        data: dict[str, object]
        if self.spec.crypto:
            quote = self._last_quote.get(symbol)
            taker = "-"
            if quote is not None:
                taker = (
                    "B" if trade.price >= quote.ask_price else "S" if trade.price <= quote.bid_price else "-"
                )
            data = {
                "T": "t",
                "S": symbol,
                "p": trade.price,
                "s": trade.size,
                "t": trade.ts_event,
                "i": trade_id,
                "tks": taker,
            }
        else:
            exchange = self.spec.exchange or _SIP_EXCHANGES[trade_id % len(_SIP_EXCHANGES)]
            data = {
                "T": "t",
                "S": symbol,
                "i": trade_id,
                "x": exchange,
                "p": trade.price,
                "s": max(1, round(trade.size)),
                "c": ["@"],
                "t": trade.ts_event,
                "z": "C",
            }
        return MarketItem("trades", symbol, data)

    def _quote_items(self, quote: QuoteReceived) -> list[MarketItem]:
        symbol = quote.symbol
        self._last_quote[symbol] = quote
        data: dict[str, object]
        if self.spec.crypto:
            data = {
                "T": "q",
                "S": symbol,
                "bp": quote.bid_price,
                "bs": quote.bid_size,
                "ap": quote.ask_price,
                "as": quote.ask_size,
                "t": quote.ts_event,
            }
        else:
            exchange = self.spec.exchange or "Q"
            data = {
                "T": "q",
                "S": symbol,
                "bx": exchange,
                "bp": quote.bid_price,
                "bs": round(quote.bid_size),
                "ax": exchange,
                "ap": quote.ask_price,
                "as": round(quote.ask_size),
                "c": ["R"],
                "t": quote.ts_event,
                "z": "C",
            }
        items = [MarketItem("quotes", symbol, data)]
        if self.spec.crypto:
            bids, asks = self._books[symbol].update(quote)
            self._book_ts[symbol] = quote.ts_event
            if bids or asks:
                book: dict[str, object] = {"T": "o", "S": symbol, "t": quote.ts_event, "b": bids, "a": asks}
                items.append(MarketItem("orderbooks", symbol, book))
        return items

    def _bar_items(self, symbol: str, bars: list[dict[str, object]]) -> list[MarketItem]:
        items: list[MarketItem] = []
        builder = self._bars[symbol]
        for bar in bars:
            if not self.spec.crypto:
                bar["v"] = round(float(bar["v"]))  # type: ignore[arg-type]  # always a float here
            items.append(MarketItem("bars", symbol, {"T": "b", "S": symbol, **bar}))
            daily = builder.daily()
            if not self.spec.crypto:
                daily["v"] = round(float(daily["v"]))  # type: ignore[arg-type]  # always a float here
            items.append(MarketItem("dailyBars", symbol, {"T": "d", "S": symbol, **daily}))
        return items

    def on_market(self, messages: Iterable[Message], now_ns: int) -> None:
        """Translate one tick of simulator output and deliver it to every session.

        With no session connected only the state that outlives a tick (bars, books, trade ids)
        is updated, so idle endpoints cost little.
        """
        wanted = bool(self.sessions)
        items: list[MarketItem] = []
        for message in messages:
            if message.symbol not in self._symbols:  # type: ignore[union-attr]  # market messages only
                continue
            if isinstance(message, TradeReceived):
                closed = self._bars[message.symbol].add(message.price, message.size, message.ts_event)
                if wanted:
                    items.extend(self._bar_items(message.symbol, closed))
                    items.append(self._trade_item(message))
                else:
                    self._trade_ids[message.symbol] = message.trade_id or self._trade_ids[message.symbol] + 1
            elif isinstance(message, QuoteReceived):
                if wanted:
                    items.extend(self._quote_items(message))
                else:
                    self._last_quote[message.symbol] = message
                    if self.spec.crypto:
                        self._books[message.symbol].update(message)
                        self._book_ts[message.symbol] = message.ts_event
        for symbol, builder in self._bars.items():
            closed = builder.close_due(now_ns)
            if wanted and closed:
                items.extend(self._bar_items(symbol, closed))
        if not items:
            return
        for session in list(self.sessions):
            session.deliver(items)

    def book_snapshots(self, symbols: Iterable[str]) -> list[MarketItem]:
        out: list[MarketItem] = []
        for symbol in symbols:
            book = self._books.get(symbol)
            if book is None or not (book.bids or book.asks):
                continue
            bids, asks = book.snapshot()
            data: dict[str, object] = {
                "T": "o",
                "S": symbol,
                "t": self._book_ts[symbol],
                "b": bids,
                "a": asks,
                "r": True,
            }
            out.append(MarketItem("orderbooks", symbol, data))
        return out

    def all_symbols(self) -> tuple[str, ...]:
        return self.spec.symbols

    # -- sessions ----------------------------------------------------------------------

    async def serve_connection(
        self, ws: ServerWebSocket, *, use_msgpack: bool, header_credentials: tuple[str, str] | None
    ) -> None:
        session = DataSession(self, ws, use_msgpack=use_msgpack, header_credentials=header_credentials)
        self.sessions[session] = None
        try:
            await session.run()
        finally:
            self.sessions.pop(session, None)
            if session.key is not None and self.active_keys.get(session.key) is session:
                del self.active_keys[session.key]


class _Reject(Exception):
    def __init__(self, code: int, msg: str, *, close: bool = False) -> None:
        self.code = code
        self.msg = msg
        self.close = close
        super().__init__(f"{code} {msg}")


_ERRORS: Final = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    410: "invalid subscribe action for this feed",
}


class DataSession(StreamSession):
    """One market-data connection."""

    def __init__(
        self,
        feed: DataFeed,
        ws: ServerWebSocket,
        *,
        use_msgpack: bool,
        header_credentials: tuple[str, str] | None,
    ) -> None:
        super().__init__(ws)
        self.feed = feed
        self.use_msgpack = use_msgpack
        self._header_credentials = header_credentials
        self.key: str | None = None
        self.subscriptions: dict[str, set[str]] = {channel: set() for channel in feed.channels}

    # -- encoding ----------------------------------------------------------------------

    def _encode(self, messages: list[dict[str, object]]) -> str | bytes:
        if self.use_msgpack:
            packed: bytes = msgpack.packb(messages, use_bin_type=True)
            return packed
        return orjson.dumps(messages).decode()

    def _encode_items(self, items: Sequence[MarketItem]) -> str | bytes:
        if self.use_msgpack:
            return self._encode([item.for_msgpack() for item in items])
        return self._encode([item.for_json() for item in items])

    def _send_control(self, message: dict[str, object]) -> None:
        if not self.ws.send_nowait(self._encode([message])):
            self._slow()

    def _send_error(self, code: int) -> None:
        self._send_control({"T": "error", "code": code, "msg": _ERRORS[code]})

    def _slow(self) -> None:
        self.feed.slow_clients += 1
        logger.warning(
            "market-data client on %s cut off as slow (%d bytes buffered); slow clients so far: %d",
            self.feed.spec.path,
            self.ws.buffered,
            self.feed.slow_clients,
        )
        self.ws.send_nowait(self._encode([{"T": "error", "code": 407, "msg": _ERRORS[407]}]), force=True)
        self.kick()

    # -- data delivery (sync, from the tick) -------------------------------------------

    def wants(self, channel: str, symbol: str) -> bool:
        subscribed = self.subscriptions.get(channel)
        return bool(subscribed) and (symbol in subscribed or "*" in subscribed)  # type: ignore[operator]  # non-empty set

    def deliver(self, items: Sequence[MarketItem]) -> None:
        if self.key is None or self.ws.closed or self.ws.silent:
            return
        selected = [item for item in items if self.wants(item.channel, item.symbol)]
        if not selected:
            return
        fault = self.feed.faults.next_data_ws_fault()
        if fault is not None and self._inject(fault, selected):
            return
        if not self.ws.send_nowait(self._encode_items(selected)):
            self._slow()
            return
        self.feed.frames_sent += 1

    def _inject(self, fault: WsFault, selected: list[MarketItem]) -> bool:
        """Apply one fault; True if the normal frame must not follow."""
        logger.info("injecting %s on %s", fault.value, self.feed.spec.path)
        payload = self._encode_items(selected)
        as_bytes = payload if isinstance(payload, bytes) else payload.encode()
        opcode = 0x2 if self.use_msgpack else 0x1
        if fault is WsFault.CLOSE_MID_FRAME:
            frame = raw_frame(opcode, as_bytes)
            self.ws.send_raw_nowait(frame[: max(2, len(frame) // 2)])
            self.kick()
            return True
        if fault is WsFault.MALFORMED_FRAME:
            self.ws.send_raw_nowait(raw_frame(0x3, as_bytes, rsv=0b010))
            return True
        if fault is WsFault.TRUNCATED_PAYLOAD:
            cut: str | bytes = payload[: max(1, len(payload) // 2)]
            self.ws.send_nowait(cut, force=True)
            return True
        if fault is WsFault.GO_SILENT:
            self.ws.silent = True
            return True
        first = selected[0]
        if fault is WsFault.UNKNOWN_MESSAGE:
            odd: dict[str, object] = {"T": "zz", "S": first.symbol, "msg": "a message type never seen"}
            self.ws.send_nowait(self._encode([odd]), force=True)
            return False
        if fault is WsFault.NAN_PRICE:
            ts = first.data.get("t")
            ts_ns = ts if isinstance(ts, int) else 0
            bad: dict[str, object] = {"T": "t", "S": first.symbol, "i": 0, "p": float("nan"), "s": 1}
            if self.use_msgpack:
                bad["t"] = msgpack.Timestamp.from_unix_nano(ts_ns)
                self.ws.send_nowait(self._encode([bad]), force=True)
            else:
                bad["t"] = format_timestamp(ts_ns)
                self.ws.send_nowait(json.dumps([bad]), force=True)  # stdlib writes the NaN literal
            return False
        # OVERSIZED_FRAME: a valid array repeated past the size limit
        limit = self.feed.faults.faults.ws_oversized_bytes
        copies = max(1, limit // max(1, len(as_bytes)))
        big = self._encode_items(selected * copies)
        while len(big) <= limit:
            copies *= 2
            big = self._encode_items(selected * copies)
        self.ws.send_nowait(big, force=True)
        return False

    # -- control messages --------------------------------------------------------------

    async def serve(self) -> None:
        self._send_control({"T": "success", "msg": "connected"})
        if self._header_credentials is not None:
            self._authenticate(*self._header_credentials)
        deadline = trio.current_time() + self.feed.auth_timeout
        while True:
            if self.key is None:
                raw: str | bytes | None = None
                with trio.move_on_at(deadline):
                    raw = await self.ws.receive_message()
                if raw is None:
                    self._send_error(404)
                    self.ws.close(1000, "auth timeout")
                    return
            else:
                raw = await self.ws.receive_message()
            try:
                self._handle(raw)
            except _Reject as exc:
                self._send_error(exc.code)
                if exc.close:
                    self.ws.close(1008, exc.msg)
                    return

    def _decode(self, raw: str | bytes) -> dict[str, object]:
        message: object
        try:
            if isinstance(raw, bytes):
                try:
                    message = msgpack.unpackb(raw, raw=False, timestamp=0)
                except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
                    message = orjson.loads(raw)
            else:
                message = orjson.loads(raw)
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise _Reject(400, _ERRORS[400]) from None
        if not isinstance(message, dict) or not isinstance(message.get("action"), str):
            raise _Reject(400, _ERRORS[400])
        return message

    def _handle(self, raw: str | bytes) -> None:
        message = self._decode(raw)
        action = message["action"]
        if action == "auth":
            key, secret = message.get("key"), message.get("secret")
            if not isinstance(key, str) or not isinstance(secret, str):
                raise _Reject(400, _ERRORS[400])
            self._authenticate(key, secret)
        elif action in ("subscribe", "unsubscribe"):
            if self.key is None:
                raise _Reject(401, _ERRORS[401])
            self._subscribe(message, add=action == "subscribe")
        else:
            raise _Reject(400, _ERRORS[400])

    def _authenticate(self, key: str, secret: str) -> None:
        if self.key is not None:
            raise _Reject(403, _ERRORS[403])
        if not self.feed.check_credentials(key, secret):
            logger.info("market-data auth failed on %s", self.feed.spec.path)
            raise _Reject(402, _ERRORS[402], close=True)
        holder = self.feed.active_keys.get(key)
        if holder is not None and holder is not self and not holder.ws.closed:
            logger.info("market-data connection limit hit on %s", self.feed.spec.path)
            raise _Reject(406, _ERRORS[406], close=True)
        self.feed.active_keys[key] = self
        self.key = key
        self._send_control({"T": "success", "msg": "authenticated"})
        logger.info("market-data session authenticated on %s", self.feed.spec.path)

    def _subscribe(self, message: dict[str, object], *, add: bool) -> None:
        changes: dict[str, list[str]] = {}
        for name, value in message.items():
            if name == "action":
                continue
            if name not in ALL_CHANNELS:
                raise _Reject(400, _ERRORS[400])
            if name in _TRADE_FOLLOWERS:
                continue
            if name not in self.channels_for_feed():
                raise _Reject(410, _ERRORS[410])
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise _Reject(400, _ERRORS[400])
            changes[name] = value
        proposed = {channel: set(symbols) for channel, symbols in self.subscriptions.items()}
        for channel, symbols in changes.items():
            if add:
                proposed[channel].update(symbols)
            else:
                proposed[channel].difference_update(symbols)
        if "corrections" in proposed:
            proposed["corrections"] = set(proposed["trades"])
            proposed["cancelErrors"] = set(proposed["trades"])
        distinct = {s for symbols in proposed.values() for s in symbols if s != "*"}
        if len(distinct) > self.feed.max_symbols:
            raise _Reject(405, _ERRORS[405])
        new_books: set[str] = set()
        if "orderbooks" in proposed:
            old = self.subscriptions["orderbooks"]
            now = proposed["orderbooks"]
            if "*" in now and "*" not in old:
                new_books = set(self.feed.all_symbols()) - old
            else:
                new_books = now - old - {"*"}
        self.subscriptions = proposed
        reply: dict[str, object] = {"T": "subscription"}
        for channel in self.feed.channels:
            reply[channel] = sorted(proposed[channel])
        self._send_control(reply)
        snapshots = self.feed.book_snapshots(sorted(new_books))
        if snapshots and not self.ws.send_nowait(self._encode_items(snapshots)):
            self._slow()

    def channels_for_feed(self) -> tuple[str, ...]:
        return self.feed.channels

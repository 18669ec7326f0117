"""The Alpaca client's wire layer: frames, REST error translation, the rate limiter, updates.

No sockets: REST goes through ``httpx.MockTransport`` handlers, frames are decoded directly.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Callable, Sequence

import httpx
import msgpack
import orjson
import pytest
import trio
import trio.testing

from pyrt.errors import DecodeError, RateLimited, TransportError, VenueRejected, VenueUnavailable
from pyrt.messages import (
    BarReceived,
    BookLevel,
    BookReceived,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    Side,
    TimeInForce,
    TradeReceived,
)
from pyrt.runtime.clock import VirtualClock
from pyrt.venues import Broker, Emit, MarketDataFeed, alpaca
from pyrt.venues._alpaca_wire import format_decimal, make_timestamp_parser
from pyrt.venues.alpaca import AlpacaBroker, AlpacaFeed, alpaca_endpoints
from pyrt.venues.alpaca._backoff import Backoff, TokenBucket
from pyrt.venues.alpaca._feed import _ConnectionLimit
from pyrt.venues.alpaca._updates import OrderUpdateMapper, synthetic_execution_id
from pyrt.venues.alpaca._wire import order_from_wire, order_request, position_from_wire
from pyrt.venues.alpaca._ws import StreamDown

START_NS = 1_700_000_000 * 1_000_000_000
KEY = "PKUNITTESTKEY"
SECRET = "unit-test-secret-value"
TS = "2024-01-02T15:51:44.208123456Z"
TS_NS = 1704210704208123456


class FixedClock:
    """A clock frozen at one instant (decode tests need no run loop)."""

    def __init__(self, now_ns: int = START_NS) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.now / 1e9

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited here
        raise AssertionError("decode tests must not sleep")


def make_feed(*, encoding: str = "json", crypto: bool = False, **options: object) -> AlpacaFeed:
    url = "ws://127.0.0.1:1/v1beta3/crypto/us" if crypto else "ws://127.0.0.1:1/v2/iex"
    return AlpacaFeed(
        url=url,
        key_id=KEY,
        secret_key=SECRET,
        clock=FixedClock(),
        rng=random.Random(1),
        encoding=encoding,  # type: ignore[arg-type]  # parametrised literal
        **options,  # type: ignore[arg-type]  # test-only keyword options
    )


def stock_items() -> list[dict[str, object]]:
    return [
        {
            "T": "t",
            "S": "AAPL",
            "i": 96921,
            "x": "D",
            "p": 126.55,
            "s": 1,
            "c": ["@", "I"],
            "t": TS,
            "z": "C",
        },
        {
            "T": "q",
            "S": "AAPL",
            "bx": "V",
            "bp": 126.5,
            "bs": 3,
            "ax": "V",
            "ap": 126.6,
            "as": 4,
            "c": ["R"],
            "t": TS,
            "z": "C",
        },
        {
            "T": "b",
            "S": "AAPL",
            "o": 126.0,
            "h": 127.0,
            "l": 125.5,
            "c": 126.55,
            "v": 1200,
            "t": TS,
            "n": 42,
            "vw": 126.3,
        },
    ]


def encode(items: list[dict[str, object]], encoding: str) -> str | bytes:
    if encoding == "json":
        return orjson.dumps(items).decode()
    packed = [
        {**item, "t": msgpack.Timestamp.from_unix_nano(TS_NS)} if "t" in item else item for item in items
    ]
    data: bytes = msgpack.packb(packed, use_bin_type=True)
    return data


# ---------------------------------------------------------------------------------- frames


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_decode_frame_when_stock_items_builds_one_message_each(encoding: str) -> None:
    feed = make_feed(encoding=encoding)

    batch = feed.decode_frame(encode(stock_items(), encoding))

    assert batch == [
        TradeReceived(
            symbol="AAPL", price=126.55, size=1.0, trade_id=96921, ts_event=TS_NS, ts_init=START_NS
        ),
        QuoteReceived(
            symbol="AAPL",
            bid_price=126.5,
            bid_size=3.0,
            ask_price=126.6,
            ask_size=4.0,
            ts_event=TS_NS,
            ts_init=START_NS,
        ),
        BarReceived(
            symbol="AAPL",
            timeframe="1m",
            open=126.0,
            high=127.0,
            low=125.5,
            close=126.55,
            volume=1200.0,
            vwap=126.3,
            trade_count=42,
            ts_event=TS_NS,
            ts_init=START_NS,
        ),
    ]
    assert feed.statistics().items_dropped == {}


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_decode_frame_when_crypto_items_builds_trades_quotes_and_books(encoding: str) -> None:
    feed = make_feed(encoding=encoding, crypto=True, channels=("trades", "quotes", "orderbooks"))
    items: list[dict[str, object]] = [
        {"T": "t", "S": "BTC/USD", "p": 41000.5, "s": 0.0125, "t": TS, "i": 7, "tks": "B"},
        {"T": "q", "S": "BTC/USD", "bp": 41000.0, "bs": 0.5, "ap": 41001.0, "as": 0.25, "t": TS},
        {
            "T": "o",
            "S": "BTC/USD",
            "t": TS,
            "b": [{"p": 41000.0, "s": 0.5}, {"p": 40999.0, "s": 0}],
            "a": [{"p": 41001.0, "s": 0.25}],
            "r": True,
        },
    ]

    batch = feed.decode_frame(encode(items, encoding))

    assert batch[0] == TradeReceived(
        symbol="BTC/USD", price=41000.5, size=0.0125, trade_id=7, ts_event=TS_NS, ts_init=START_NS
    )
    assert batch[1] == QuoteReceived(
        symbol="BTC/USD",
        bid_price=41000.0,
        bid_size=0.5,
        ask_price=41001.0,
        ask_size=0.25,
        ts_event=TS_NS,
        ts_init=START_NS,
    )
    assert batch[2] == BookReceived(
        symbol="BTC/USD",
        bids=(BookLevel(price=41000.0, size=0.5), BookLevel(price=40999.0, size=0.0)),
        asks=(BookLevel(price=41001.0, size=0.25),),
        reset=True,
        ts_event=TS_NS,
        ts_init=START_NS,
    )


def test_decode_frame_when_book_is_a_delta_keeps_reset_false() -> None:
    feed = make_feed(crypto=True, channels=("orderbooks",))
    frame = orjson.dumps([{"T": "o", "S": "BTC/USD", "t": TS, "b": [{"p": 1.5, "s": 0}], "a": []}])

    (book,) = feed.decode_frame(frame.decode())

    assert book == BookReceived(
        symbol="BTC/USD",
        bids=(BookLevel(price=1.5, size=0.0),),
        reset=False,
        ts_event=TS_NS,
        ts_init=START_NS,
    )


BAD_ITEMS = [
    pytest.param({"T": "t", "S": "AAPL", "p": math.nan, "s": 1, "t": TS}, "invalid_value", id="nan-price"),
    pytest.param({"T": "t", "S": "AAPL", "p": 10.0, "s": -5, "t": TS}, "invalid_value", id="negative-size"),
    pytest.param({"T": "t", "S": "AAPL", "p": 0.0, "s": 1, "t": TS}, "invalid_value", id="zero-price"),
    pytest.param(
        {"T": "q", "S": "AAPL", "bp": -1.0, "bs": 1, "ap": 9.0, "as": 1, "t": TS},
        "invalid_value",
        id="negative-bid",
    ),
    pytest.param({"T": "t", "S": "aapl", "p": 10.0, "s": 1, "t": TS}, "invalid_value", id="lowercase-symbol"),
    pytest.param(
        {"T": "t", "S": "AAPL", "p": 10.0, "s": 1, "t": "yesterday"}, "invalid_value", id="bad-timestamp"
    ),
    pytest.param({"T": "t", "S": "AAPL", "s": 1, "t": TS}, "missing_field", id="missing-price"),
    pytest.param({"S": "AAPL", "p": 10.0}, "missing_field", id="missing-type"),
    pytest.param({"T": "zz", "S": "AAPL"}, "unknown_type", id="unknown-type"),
    pytest.param({"T": "t", "S": None, "p": 10.0, "s": 1, "t": TS}, "bad_type", id="null-symbol"),
    pytest.param({"T": "t", "S": "AAPL", "p": [1], "s": 1, "t": TS}, "bad_type", id="list-price"),
    pytest.param("not an object", "bad_type", id="string-item"),
]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize(("bad", "reason"), BAD_ITEMS)
def test_M3_decode_frame_when_one_item_is_bad_drops_only_it_and_counts_reason(
    bad: object, reason: str, encoding: str
) -> None:
    feed = make_feed(encoding=encoding)
    good = stock_items()[:1]
    items = [good[0], bad, good[0]]
    # the standard library writes the NaN literal, as some servers do
    frame = json.dumps(items) if encoding == "json" else msgpack.packb(items, use_bin_type=True)

    batch = feed.decode_frame(frame)

    assert [type(m) for m in batch] == [TradeReceived, TradeReceived]
    assert feed.statistics().items_dropped == {reason: 1}


def test_decode_frame_when_unmapped_alpaca_types_counts_them_without_dropping() -> None:
    feed = make_feed()
    items = [
        {"T": "s", "S": "AAPL", "sc": "H", "sm": "Trading Halt", "rc": "T12", "rm": "x", "t": TS, "z": "C"},
        {"T": "l", "S": "AAPL", "u": 130.0, "d": 120.0, "i": "B", "t": TS, "z": "C"},
        {"T": "d", "S": "AAPL", "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1, "t": TS, "n": 1, "vw": 1.0},
    ]

    batch = feed.decode_frame(orjson.dumps(items).decode())

    stats = feed.statistics()
    assert (batch, stats.items_unmapped, stats.items_dropped) == ([], 3, {})


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param('[{"T":"t","S":"AAPL","p":1', id="truncated-json"),
        pytest.param(msgpack.packb([{"T": "t", "S": "AAPL", "p": 1.0}])[:-3], id="truncated-msgpack"),
        pytest.param('{"T":"t"}', id="object-not-array"),
        pytest.param("", id="empty"),
        pytest.param(b"\xc1\xc1\xc1", id="garbage-bytes"),
    ],
)
def test_decode_frame_when_frame_is_malformed_skips_and_counts_it(frame: str | bytes) -> None:
    feed = make_feed(encoding="msgpack")

    batch = feed.decode_frame(frame)

    stats = feed.statistics()
    assert (batch, stats.frames_skipped, stats.frames) == ([], {"malformed": 1}, 1)


def test_decode_frame_when_frame_is_oversized_skips_and_counts_it() -> None:
    feed = make_feed(max_frame_bytes=1000)
    frame = orjson.dumps(stock_items() * 20).decode()

    batch = feed.decode_frame(frame)

    assert (batch, feed.statistics().frames_skipped) == ([], {"oversized": 1})


@pytest.mark.parametrize("code", [400, 401, 402, 405, 409, 410, 411])
def test_decode_frame_when_error_cannot_be_fixed_raises_venue_rejected(code: int) -> None:
    feed = make_feed()
    frame = orjson.dumps([{"T": "error", "code": code, "msg": "auth failed"}]).decode()

    with pytest.raises(VenueRejected, match=rf"error {code} auth failed$") as info:
        feed.decode_frame(frame)

    assert (info.value.status_code, info.value.code) == (code, code)


def test_decode_frame_when_connection_limit_raises_for_the_long_backoff() -> None:
    feed = make_feed()
    frame = orjson.dumps([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]).decode()

    with pytest.raises(_ConnectionLimit):
        feed.decode_frame(frame)


@pytest.mark.parametrize("code", [404, 407, 500])
def test_decode_frame_when_error_is_transient_asks_for_a_new_connection(code: int) -> None:
    feed = make_feed()
    frame = orjson.dumps([{"T": "error", "code": code, "msg": "x"}]).decode()

    with pytest.raises(StreamDown, match=rf"^error {code} x$"):
        feed.decode_frame(frame)


def test_feed_when_built_with_bad_options_raises() -> None:
    with pytest.raises(ValueError, match="orderbooks exist only on crypto endpoints"):
        make_feed(channels=("orderbooks",))
    with pytest.raises(ValueError, match="channels must be some of"):
        make_feed(channels=("news",))
    with pytest.raises(ValueError, match="url must start with ws://"):
        AlpacaFeed(url="http://x", key_id=KEY, secret_key=SECRET, clock=FixedClock(), rng=random.Random(1))


# ---------------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T15:51:44.208123456Z", TS_NS),
        ("2024-01-02T15:51:44.208Z", 1704210704208000000),
        ("2024-01-02T15:51:44Z", 1704210704000000000),
        ("2024-01-02T10:51:44.208123456-05:00", TS_NS),
        ("2024-01-02T17:51:44.5+02:00", 1704210704500000000),
        ("2024-01-02T15:51:44.2081234567891Z", TS_NS),  # digits past ns are cut
    ],
)
def test_timestamp_parser_when_rfc3339_returns_epoch_ns(text: str, expected: int) -> None:
    assert make_timestamp_parser()(text) == expected


@pytest.mark.parametrize(
    "text", ["2024-01-02", "2024-01-02T15:51:44.Z", "2024-01-02T15:51:44+0200", "x" * 19]
)
def test_timestamp_parser_when_not_rfc3339_raises(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|invalid literal"):
        make_timestamp_parser()(text)


@pytest.mark.parametrize(
    "text",
    ["2024-13-02T15:51:44Z", "2024-02-30T15:51:44Z", "2024-01-02T25:51:44Z", "2024-01-02T15:61:44Z"],
)
def test_timestamp_parser_when_the_date_or_time_cannot_exist_raises(text: str) -> None:
    # the shared parser once let calendar.timegm roll month 13 into the next year
    with pytest.raises(ValueError, match="RFC 3339"):
        make_timestamp_parser()(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(10.0, "10"), (1.5, "1.5"), (0.1, "0.1"), (1e-7, "0.0000001"), (123.456, "123.456"), (3, "3")],
)
def test_format_decimal_when_float_writes_plain_decimal_string(value: float, text: str) -> None:
    assert format_decimal(value) == text


def test_order_request_when_limit_order_sends_decimal_strings_and_client_id() -> None:
    order = OrderSubmitted(
        client_order_id="cid-1",
        symbol="AAPL",
        side=Side.SELL,
        quantity=10.0,
        order_type=OrderType.STOP_LIMIT,
        time_in_force=TimeInForce.GTC,
        limit_price=101.25,
        stop_price=101.5,
        ts_event=0,
        ts_init=0,
    )

    assert order_request(order) == {
        "symbol": "AAPL",
        "qty": "10",
        "side": "sell",
        "type": "stop_limit",
        "time_in_force": "gtc",
        "client_order_id": "cid-1",
        "limit_price": "101.25",
        "stop_price": "101.5",
    }


def wire_order(**overrides: object) -> dict[str, object]:
    order: dict[str, object] = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": "cid-1",
        "symbol": "AAPL",
        "qty": "10",
        "filled_qty": "0",
        "filled_avg_price": None,
        "type": "limit",
        "order_type": "limit",
        "side": "buy",
        "time_in_force": "day",
        "limit_price": "100.5",
        "stop_price": None,
        "status": "new",
        "subtag": None,
        "source": "access_key",
        "extended_hours": False,
    }
    order.update(overrides)
    return order


def test_order_from_wire_when_numbers_or_strings_and_extra_keys_parses_tolerantly() -> None:
    order = order_from_wire(wire_order(qty=10, filled_qty=4.0, filled_avg_price="100.25", commission="0"))

    assert (order.quantity, order.filled_quantity, order.filled_avg_price, order.limit_price) == (
        10.0,
        4.0,
        100.25,
        100.5,
    )
    assert (order.order_type, order.time_in_force, order.status, order.is_open) == (
        OrderType.LIMIT,
        TimeInForce.DAY,
        "new",
        True,
    )


@pytest.mark.parametrize(
    "broken",
    [{"id": None}, {"side": "sideways"}, {"type": "mystery"}, {"qty": "ten"}, {"time_in_force": None}],
)
def test_order_from_wire_when_field_is_unreadable_raises_decode_error(broken: dict[str, object]) -> None:
    with pytest.raises(DecodeError):
        order_from_wire(wire_order(**broken))


def test_position_from_wire_when_short_keeps_quantity_negative() -> None:
    position = position_from_wire({"symbol": "AAPL", "qty": "-5", "side": "short", "avg_entry_price": "10.5"})

    assert (position.symbol, position.quantity, position.avg_entry_price) == ("AAPL", -5.0, 10.5)


# ---------------------------------------------------------------------------------- REST errors

Handler = Callable[[httpx.Request], httpx.Response]


def make_broker(handler: Handler, **options: object) -> AlpacaBroker:
    return AlpacaBroker(
        base_url="http://127.0.0.1:9",
        key_id=KEY,
        secret_key=SECRET,
        clock=VirtualClock(START_NS),
        rng=random.Random(3),
        transport=httpx.MockTransport(handler),
        **options,  # type: ignore[arg-type]  # test-only keyword options
    )


def make_order(client_order_id: str = "cid-1") -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=100.5,
        ts_event=0,
        ts_init=0,
    )


class Script:
    """A MockTransport handler answering from a list of responses (or exceptions), in order."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(trio.current_time())
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


HTML_503 = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"


async def test_submit_order_when_accepted_sends_json_with_keys_and_returns_order() -> None:
    script = Script(httpx.Response(200, json=wire_order()))
    async with make_broker(script) as broker:
        order = await broker.submit_order(make_order())

    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v2/orders")
    assert request.headers["APCA-API-KEY-ID"] == KEY
    assert request.headers["APCA-API-SECRET-KEY"] == SECRET
    assert orjson.loads(request.content) == {
        "symbol": "AAPL",
        "qty": "10",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "client_order_id": "cid-1",
        "limit_price": "100.5",
    }
    assert (order.venue_order_id, order.client_order_id, order.status) == (
        "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "cid-1",
        "new",
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="retry-after-seconds"),
        pytest.param({"Retry-After": "Tue, 14 Nov 2023 22:13:25 GMT"}, 5.0, id="retry-after-date"),
        pytest.param({"X-RateLimit-Reset": str(START_NS // 1_000_000_000 + 12)}, 12.0, id="ratelimit-reset"),
        pytest.param({}, 1.0, id="no-header"),
    ],
)
async def test_submit_order_when_429_raises_rate_limited_with_retry_after(
    headers: dict[str, str], expected: float
) -> None:
    # START_NS is 2023-11-14T22:13:20Z, so the HTTP date above is 5 s later
    script = Script(
        httpx.Response(429, json={"code": 42910000, "message": "rate limit exceeded"}, headers=headers)
    )
    async with make_broker(script) as broker:
        with pytest.raises(RateLimited) as info:
            await broker.submit_order(make_order())

    assert info.value.retry_after == pytest.approx(expected)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("html", [True, False], ids=["html", "json"])
async def test_submit_order_when_5xx_raises_venue_unavailable_once(status: int, html: bool) -> None:
    reply = (
        httpx.Response(status, content=HTML_503, headers={"Content-Type": "text/html"})
        if html
        else httpx.Response(status, json={"code": status * 100000, "message": "internal error"})
    )
    script = Script(reply)
    async with make_broker(script) as broker:
        with pytest.raises(VenueUnavailable) as info:
            await broker.submit_order(make_order())

    assert info.value.status_code == status
    assert "<html>" not in str(info.value)
    assert len(script.requests) == 1  # submits are never retried here


@pytest.mark.parametrize(
    ("status", "body", "message", "code"),
    [
        (
            403,
            {"code": 40310000, "message": "insufficient buying power", "available": "0"},
            "insufficient buying power",
            40310000,
        ),
        (404, {"code": 40410000, "message": "asset not found"}, "asset not found", 40410000),
        (
            422,
            {"code": 40010001, "message": "client_order_id must be unique"},
            "client_order_id must be unique",
            40010001,
        ),
        (401, {"message": "unauthorized"}, "unauthorized", None),
        (400, None, "HTTP 400 Bad Request", None),
    ],
)
async def test_submit_order_when_4xx_raises_venue_rejected_with_alpaca_message(
    status: int, body: dict[str, object] | None, message: str, code: int | None
) -> None:
    reply = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    script = Script(reply)
    async with make_broker(script) as broker:
        with pytest.raises(VenueRejected) as info:
            await broker.submit_order(make_order())

    assert (str(info.value), info.value.status_code, info.value.code) == (message, status, code)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=["read-timeout", "connect-timeout", "connect-error", "read-error", "closed-mid-reply"],
)
async def test_submit_order_when_no_reply_raises_transport_error_once(failure: Exception) -> None:
    script = Script(failure)
    async with make_broker(script) as broker:
        with pytest.raises(TransportError) as info:
            await broker.submit_order(make_order())

    assert isinstance(info.value.__cause__, httpx.HTTPError)
    assert len(script.requests) == 1
    assert broker.statistics().transport_errors == 1


async def test_submit_order_when_2xx_body_unreadable_raises_transport_error() -> None:
    script = Script(httpx.Response(200, content=b"<html>ok</html>"))
    async with make_broker(script) as broker:
        with pytest.raises(TransportError, match="unreadable reply"):
            await broker.submit_order(make_order())


async def test_get_account_when_5xx_then_ok_retries_after_1_then_2_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    account = {
        "id": "a",
        "account_number": "PA1",
        "status": "ACTIVE",
        "cash": "100",
        "buying_power": "200",
        "equity": 150,
    }
    script = Script(
        httpx.Response(503, content=HTML_503), httpx.ReadTimeout("slow"), httpx.Response(200, json=account)
    )
    async with make_broker(script) as broker:
        snapshot = await broker.get_account()

    assert (snapshot.cash, snapshot.buying_power, snapshot.equity) == (100.0, 200.0, 150.0)
    assert [t - script.times[0] for t in script.times] == [0.0, 1.0, 3.0]
    assert broker.statistics().retries == 2


async def test_list_positions_when_429_waits_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    script = Script(
        httpx.Response(429, json={"message": "rate limit exceeded"}, headers={"Retry-After": "5"}),
        httpx.Response(200, json=[{"symbol": "AAPL", "qty": "3", "side": "long", "avg_entry_price": "10"}]),
    )
    async with make_broker(script) as broker:
        positions = await broker.list_positions()

    assert [(p.symbol, p.quantity) for p in positions] == [("AAPL", 3.0)]
    assert script.times[1] - script.times[0] == 5.0


async def test_cancel_order_when_5xx_persists_gives_up_after_max_retries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(httpx.Response(502, content=HTML_503))
    async with make_broker(script, max_retries=2) as broker:
        with pytest.raises(VenueUnavailable):
            await broker.cancel_order("61e69015")

    assert [r.method for r in script.requests] == ["DELETE"] * 3
    assert script.requests[0].url.path == "/v2/orders/61e69015"


async def test_cancel_order_when_rejected_is_not_retried() -> None:
    script = Script(httpx.Response(422, json={"code": 42210000, "message": "order is not cancelable"}))
    async with make_broker(script) as broker:
        with pytest.raises(VenueRejected, match=r"^order is not cancelable$"):
            await broker.cancel_order("61e69015")

    assert len(script.requests) == 1


async def test_get_order_by_client_id_when_404_returns_none() -> None:
    script = Script(httpx.Response(404, json={"code": 40410000, "message": "order not found"}))
    async with make_broker(script) as broker:
        found = await broker.get_order_by_client_id("cid-x")

    assert found is None
    assert script.requests[0].url.raw_path == b"/v2/orders:by_client_order_id?client_order_id=cid-x"


async def test_list_open_orders_when_page_is_full_reads_the_next_page() -> None:
    first = [
        wire_order(
            id=f"id-{i}", client_order_id=f"c-{i}", submitted_at=f"2024-01-02T00:{i // 60:02d}:{i % 60:02d}Z"
        )
        for i in range(500)
    ]
    second = [wire_order(id="id-last", client_order_id="c-last")]
    script = Script(httpx.Response(200, json=first), httpx.Response(200, json=second))
    async with make_broker(script, rate_limit_per_minute=None) as broker:
        orders = await broker.list_open_orders()

    assert len(orders) == 501
    assert script.requests[1].url.params["after"] == first[-1]["submitted_at"]


# ---------------------------------------------------------------------------------- rate limit


async def test_token_bucket_when_burst_is_spent_spaces_requests_at_the_refill_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(START_NS)
    bucket = TokenBucket(per_minute=200, clock=clock)
    start = trio.current_time()
    times = []

    for _ in range(12):
        await bucket.acquire()
        times.append(trio.current_time() - start)

    assert bucket.burst == 10
    assert times[:10] == [0.0] * 10
    assert times[10] == pytest.approx(60 / 190)
    assert times[11] == pytest.approx(2 * 60 / 190)


async def test_token_bucket_serves_an_urgent_request_before_waiting_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Issue 8 §1: a cancel is never queued behind submits waiting on the rate limit."""
    clock = VirtualClock(START_NS)
    bucket = TokenBucket(per_minute=200, clock=clock)
    for _ in range(bucket.burst):
        await bucket.acquire()  # the burst is spent: every request now waits for a refill
    start = trio.current_time()
    served: list[tuple[str, float]] = []

    async def take(name: str, *, urgent: bool = False) -> None:
        await bucket.acquire(urgent=urgent)
        served.append((name, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(take, f"submit{i}")
            await trio.testing.wait_all_tasks_blocked()  # queued in this order
        nursery.start_soon(functools.partial(take, "cancel", urgent=True))

    step = 60 / 190
    assert [name for name, _ in served] == ["cancel", "submit0", "submit1", "submit2", "submit3", "submit4"]
    assert served[0][1] == pytest.approx(step)  # the next token, not the sixth
    # the rate still holds for everyone together
    assert [t for _, t in served] == pytest.approx([step * (i + 1) for i in range(6)])


async def test_broker_sends_a_cancel_ahead_of_requests_waiting_on_the_rate_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(httpx.Response(200, json=[]))  # a cancel's body is not read
    async with make_broker(script, rate_limit_per_minute=20) as broker, trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(broker.list_positions)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(broker.cancel_order, "some-order")

    methods = [r.method for r in script.requests]
    assert methods.index("DELETE") <= 1  # after the one request the burst allowed, before the waiting ones


async def test_broker_rate_limiter_when_many_requests_keeps_every_minute_within_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Script(httpx.Response(200, json=[]))
    async with make_broker(script, rate_limit_per_minute=200) as broker, trio.open_nursery() as nursery:
        for _ in range(450):
            nursery.start_soon(broker.list_positions)

    times = sorted(script.times)
    busiest = max(sum(1 for t in times if start <= t < start + 60.0) for start in times)
    assert len(times) == 450
    assert busiest <= 200
    assert broker.statistics().rate_limit_waits > 0


def test_backoff_when_failures_repeat_doubles_jittered_delays_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(5))

    delays = [backoff.next_delay() for _ in range(6)]
    backoff.reset()
    again = backoff.next_delay()

    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert 0.5 <= again <= 1.0
    twin = Backoff(base=1.0, cap=8.0, rng=random.Random(5))
    assert delays == [twin.next_delay() for _ in range(6)]  # the seed decides the jitter


# ---------------------------------------------------------------------------------- updates

VID = "61e69015-8549-4bfd-b9c3-01e75843f47d"


def update(event: str, **fields: object) -> dict[str, object]:
    order_fields = fields.pop("order", {})
    assert isinstance(order_fields, dict)
    payload: dict[str, object] = {
        "event": event,
        "timestamp": TS,
        "order": wire_order(id=VID, **order_fields),
    }
    payload.update(fields)
    return payload


def test_mapper_when_stream_sequence_maps_accept_fills_and_cancel() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    accepted = mapper.on_stream(update("new"), ts_init=1)
    partial = mapper.on_stream(
        update(
            "partial_fill",
            price="100.5",
            qty="4",
            execution_id="e1",
            order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "partially_filled"},
        ),
        ts_init=2,
    )
    canceled = mapper.on_stream(
        update("canceled", order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "canceled"}),
        ts_init=3,
    )

    assert accepted == [
        OrderAccepted(client_order_id="cid-1", venue_order_id=VID, symbol="AAPL", ts_event=TS_NS, ts_init=1)
    ]
    assert partial == [
        OrderFilled(
            client_order_id="cid-1",
            venue_order_id=VID,
            execution_id="e1",
            symbol="AAPL",
            side=Side.BUY,
            fill_price=100.5,
            fill_quantity=4.0,
            cumulative_quantity=4.0,
            leaves_quantity=6.0,
            ts_event=TS_NS,
            ts_init=2,
        )
    ]
    assert canceled == [
        OrderCanceled(
            client_order_id="cid-1",
            venue_order_id=VID,
            symbol="AAPL",
            filled_quantity=4.0,
            reason="canceled",
            ts_event=TS_NS,
            ts_init=3,
        )
    ]


@pytest.mark.parametrize("event", ["canceled", "expired"])
def test_mapper_when_order_ends_without_fill_maps_to_canceled_with_event_as_reason(event: str) -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    (msg,) = mapper.on_stream(update(event, order={"status": event}), ts_init=1)

    assert isinstance(msg, OrderCanceled)
    assert msg.reason == event


def test_mapper_when_rejected_maps_to_order_rejected() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    (msg,) = mapper.on_stream(update("rejected", order={"status": "rejected"}), ts_init=1)

    assert msg == OrderRejected(
        client_order_id="cid-1", symbol="AAPL", reason="rejected", ts_event=TS_NS, ts_init=1
    )


def test_mapper_when_fill_was_reported_by_a_poll_drops_the_stream_copy() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")
    snapshot = order_from_wire(wire_order(id=VID, filled_qty="10", filled_avg_price="100", status="filled"))

    polled = mapper.on_snapshot(snapshot, ts_event=5, ts_init=5)
    streamed = mapper.on_stream(
        update(
            "fill",
            price="100",
            qty="10",
            execution_id="e1",
            order={"filled_qty": "10", "filled_avg_price": "100", "status": "filled"},
        ),
        ts_init=6,
    )

    fills = [m for m in polled if isinstance(m, OrderFilled)]
    assert [(f.fill_quantity, f.fill_price, f.leaves_quantity, f.execution_id) for f in fills] == [
        (10.0, 100.0, 0.0, synthetic_execution_id(VID, 10.0))
    ]
    assert streamed == []
    assert mapper.duplicates == 1


def test_mapper_when_stream_skipped_a_partial_fill_reports_the_gap_first() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    out = mapper.on_stream(
        update(
            "fill",
            price="102",
            qty="6",
            execution_id="e2",
            order={"filled_qty": "10", "filled_avg_price": "101.2", "status": "filled"},
        ),
        ts_init=1,
    )

    assert [
        (m.fill_quantity, m.cumulative_quantity, m.execution_id) for m in out if isinstance(m, OrderFilled)
    ] == [
        (4.0, 4.0, synthetic_execution_id(VID, 4.0)),
        (6.0, 10.0, "e2"),
    ]
    gap = out[0]
    assert isinstance(gap, OrderFilled)
    assert gap.fill_price == pytest.approx(100.0)  # (101.2 × 10 − 102 × 6) / 4


def test_mapper_when_fill_price_is_nan_infers_it_from_the_average() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    (fill,) = mapper.on_stream(
        update(
            "fill",
            price=math.nan,
            qty="10",
            order={"filled_qty": "10", "filled_avg_price": "99.5", "status": "filled"},
        ),
        ts_init=1,
    )

    assert isinstance(fill, OrderFilled)
    assert (fill.fill_price, fill.fill_quantity, fill.execution_id) == (
        99.5,
        10.0,
        synthetic_execution_id(VID, 10.0),
    )


def test_mapper_when_poll_sees_the_same_state_twice_reports_once() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")
    partial = order_from_wire(
        wire_order(id=VID, filled_qty="3", filled_avg_price="100", status="partially_filled")
    )

    first = mapper.on_snapshot(partial, ts_event=1, ts_init=1)
    second = mapper.on_snapshot(partial, ts_event=2, ts_init=2)

    assert [type(m) for m in first] == [OrderAccepted, OrderFilled]
    assert second == []


def test_mapper_when_order_was_never_expected_takes_the_first_sighting_as_baseline() -> None:
    mapper = OrderUpdateMapper()
    other = order_from_wire(
        wire_order(
            id=VID,
            client_order_id="someone-else",
            filled_qty="3",
            filled_avg_price="100",
            status="partially_filled",
        )
    )

    assert mapper.on_snapshot(other, ts_event=1, ts_init=1) == []
    later = order_from_wire(
        wire_order(
            id=VID,
            client_order_id="someone-else",
            filled_qty="5",
            filled_avg_price="101",
            status="partially_filled",
        )
    )
    (fill,) = mapper.on_snapshot(later, ts_event=2, ts_init=2)

    assert isinstance(fill, OrderFilled)
    assert (fill.fill_quantity, fill.cumulative_quantity) == (2.0, 5.0)
    assert fill.fill_price == pytest.approx(102.5)


# ---------------------------------------------------------------------------------- public API


def test_alpaca_package_exports_exactly_its_public_names() -> None:
    public = {name for name in dir(alpaca) if not name.startswith("_")} - {"annotations"}

    assert sorted(alpaca.__all__) == alpaca.__all__
    assert set(alpaca.__all__) == public


def as_venue(
    broker: AlpacaBroker, feed: AlpacaFeed, routed: alpaca.RoutedFeed
) -> tuple[Broker, MarketDataFeed, MarketDataFeed]:
    """mypy checks here that the client classes implement the venue protocols."""
    return broker, feed, routed


def test_broker_and_feed_repr_never_show_keys() -> None:
    broker = make_broker(Script(httpx.Response(200)))
    feed = make_feed()

    text = repr(broker) + repr(feed) + repr(broker.statistics()) + repr(feed.statistics())

    assert KEY not in text
    assert SECRET not in text


@pytest.mark.parametrize(
    ("base_url", "live", "expected"),
    [
        (
            None,
            False,
            (
                "https://paper-api.alpaca.markets",
                "wss://paper-api.alpaca.markets/stream",
                "wss://stream.data.alpaca.markets/v2/iex",
                "wss://stream.data.alpaca.markets/v1beta3/crypto/us",
            ),
        ),
        (
            None,
            True,
            (
                "https://api.alpaca.markets",
                "wss://api.alpaca.markets/stream",
                "wss://stream.data.alpaca.markets/v2/iex",
                "wss://stream.data.alpaca.markets/v1beta3/crypto/us",
            ),
        ),
        (
            "http://127.0.0.1:8765/",
            False,
            (
                "http://127.0.0.1:8765",
                "ws://127.0.0.1:8765/stream",
                "ws://127.0.0.1:8765/v2/iex",
                "ws://127.0.0.1:8765/v1beta3/crypto/us",
            ),
        ),
    ],
    ids=["paper", "live", "local"],
)
def test_alpaca_endpoints_when_base_url_given_derives_every_endpoint(
    base_url: str | None, live: bool, expected: tuple[str, str, str, str]
) -> None:
    endpoints = alpaca_endpoints(base_url, live=live)

    assert (
        endpoints.rest_url,
        endpoints.trade_stream_url,
        endpoints.stock_data_url,
        endpoints.crypto_data_url,
    ) == expected


class RecordingFeed:
    """A feed that records the symbols it was asked for and reports started at once."""

    def __init__(self) -> None:
        self.symbols: list[str] = []

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.symbols = list(symbols)
        task_status.started()
        await trio.sleep_forever()


async def test_routed_feed_when_symbols_are_mixed_sends_pairs_to_the_crypto_feed(
    nursery: trio.Nursery,
) -> None:
    stocks, crypto = RecordingFeed(), RecordingFeed()
    routed = alpaca.RoutedFeed(stocks=stocks, crypto=crypto)

    async def emit(batch: Sequence[Message]) -> None:  # pragma: no cover - nothing is emitted
        await trio.lowlevel.checkpoint()

    await nursery.start(routed.run, ["AAPL", "BTC/USD", "MSFT", "ETH/USD"], emit)

    assert (stocks.symbols, crypto.symbols) == (["AAPL", "MSFT"], ["BTC/USD", "ETH/USD"])


async def test_routed_feed_when_a_kind_has_no_feed_raises() -> None:
    routed = alpaca.RoutedFeed(stocks=RecordingFeed(), crypto=None)

    async def emit(batch: Sequence[Message]) -> None:  # pragma: no cover - nothing is emitted
        await trio.lowlevel.checkpoint()

    with pytest.raises(ValueError, match=r"^no crypto feed for \['BTC/USD'\]$"):
        await routed.run(["AAPL", "BTC/USD"], emit)


def test_mapper_when_stream_fill_is_for_an_order_not_submitted_here_reports_only_that_fill() -> None:
    mapper = OrderUpdateMapper()

    out = mapper.on_stream(
        update(
            "partial_fill",
            price="101",
            qty="2",
            execution_id="e9",
            order={"filled_qty": "5", "filled_avg_price": "100.4", "status": "partially_filled"},
        ),
        ts_init=1,
    )

    assert [
        (m.fill_quantity, m.cumulative_quantity, m.execution_id) for m in out if isinstance(m, OrderFilled)
    ] == [(2.0, 5.0, "e9")]


#: A real IEX quote body (crossed: bid above ask), and an IEX one-sided quote (no bid: ``bp: 0``).
CROSSED_QUOTE = {
    "T": "q",
    "S": "AAPL",
    "bx": "V",
    "bp": 159.52,
    "bs": 1,
    "ax": "V",
    "ap": 158.65,
    "as": 2,
    "c": ["R"],
    "t": TS,
    "z": "C",
}
ONE_SIDED_QUOTE = {
    "T": "q",
    "S": "AAPL",
    "bx": "",
    "bp": 0,
    "bs": 0,
    "ax": "V",
    "ap": 158.65,
    "as": 2,
    "t": TS,
}


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_M9_crossed_and_one_sided_quotes_are_kept_flagged_and_have_no_mid(encoding: str) -> None:
    feed = make_feed(encoding=encoding)
    items = [CROSSED_QUOTE, ONE_SIDED_QUOTE]
    frame = orjson.dumps(items) if encoding == "json" else msgpack.packb(items, use_bin_type=True)

    crossed, one_sided = feed.decode_frame(frame)

    assert isinstance(crossed, QuoteReceived)
    assert isinstance(one_sided, QuoteReceived)
    assert (crossed.bid_price, crossed.ask_price) == (159.52, 158.65)
    assert (crossed.two_sided, crossed.crossed, crossed.usable, crossed.mid) == (True, True, False, None)
    assert (one_sided.bid_price, one_sided.ask_price) == (0.0, 158.65)
    assert (one_sided.two_sided, one_sided.crossed, one_sided.usable, one_sided.mid) == (
        False,
        False,
        False,
        None,
    )
    assert feed.statistics().items_dropped == {}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[" * 200_000, id="json-200k"),
        pytest.param("[NaN," + "[" * 200_000, id="json-fallback"),
        pytest.param('[NaN,"[[[",' + "[" * 40 + "]" * 40 + "]", id="json-fallback-33"),
        pytest.param(b"\x91" * 200_000, id="msgpack-200k"),
    ],
)
def test_M2_a_frame_nested_too_deep_is_skipped_before_any_decoder_recurses(
    raw: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    feed = make_feed(encoding="msgpack")

    assert feed.decode_frame(raw) == []
    assert feed.statistics().frames_skipped == {"too_deep": 1}
    assert all(len(r.getMessage()) < 400 for r in caplog.records)


def test_M2_the_fallback_still_reads_a_shallow_frame_with_a_nan_literal() -> None:
    feed = make_feed()
    good = stock_items()[0]
    frame = f'[{{"T": "t", "S": "AAPL", "p": NaN, "s": 1, "t": "{TS}"}}, {json.dumps(good)}]'

    assert [type(m) for m in feed.decode_frame(frame)] == [TradeReceived]
    assert feed.statistics().items_dropped == {"invalid_value": 1}

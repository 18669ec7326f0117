"""The official alpaca-py SDK (0.44) against the local venue, over real sockets.

alpaca-py is synchronous (REST) and asyncio-based (streams), so the venue runs in a background
thread with its own ``trio.run`` and every SDK stream runs its own asyncio loop in another thread,
stopped with ``stream.stop()`` once its handler has seen what the test needs.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from tests.integration.conftest import VenueThread

with warnings.catch_warnings():
    # alpaca-py imports websockets.legacy, deprecated since websockets 14
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.common.exceptions import APIError
    from alpaca.data.live import CryptoDataStream, StockDataStream
    from alpaca.data.models import Bar, Orderbook, Quote, Trade
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
    from alpaca.trading.models import (
        Clock,
        ClosePositionResponse,
        Order,
        Position,
        TradeAccount,
        TradeUpdate,
    )
    from alpaca.trading.requests import (
        CancelOrderResponse,
        ClosePositionRequest,
        GetCalendarRequest,
        GetOrdersRequest,
        LimitOrderRequest,
        MarketOrderRequest,
        ReplaceOrderRequest,
    )
    from alpaca.trading.stream import TradingStream

pytestmark = [
    pytest.mark.slow,
    # alpaca-py runs on websockets' deprecated legacy client; its warnings are not ours
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

KEY = "PKTEST0000000000"
SECRET = "local-venue-test-secret"
WAIT_SECONDS = 20.0


@pytest.fixture(scope="module")
def venue() -> Iterator[VenueThread]:
    with VenueThread(
        symbols=["AAPL", "MSFT", "BTC/USD"],
        seed=7,
        key=KEY,
        secret=SECRET,
        tick_interval=0.02,
        bar_interval=0.5,
        rate_limit=None,  # alpaca-py sleeps 3 s on every 429
    ) as running:
        yield running


@pytest.fixture
def client(venue: VenueThread) -> TradingClient:
    return TradingClient(api_key=KEY, secret_key=SECRET, paper=True, url_override=venue.http_url)


def _order(value: object) -> Order:
    assert isinstance(value, Order), value
    return value


def _position(value: object) -> Position:
    assert isinstance(value, Position), value
    return value


def _num(value: object) -> float:
    assert isinstance(value, str | float | int), value
    return float(value)


def _run_stream(
    stream: Any,
    done: threading.Event,
    start: Callable[[], None] | None = None,
    nudge: Callable[[], None] | None = None,
) -> None:
    """Run an SDK stream in a thread until ``done`` is set (or the wait runs out), then stop it.

    The SDK notices a stop request only when a message arrives (or after 5 s): ``nudge`` makes
    the venue send one.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            stream.run()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        if start is not None:
            start()
        done.wait(WAIT_SECONDS)
    finally:
        for _ in range(100):  # stop() needs the stream's loop, which run() creates
            if stream._loop is not None:
                break
            threading.Event().wait(0.05)
        if stream._loop is not None and stream._loop.is_running():
            stream.stop()
            if nudge is not None:
                nudge()
        thread.join(10)
    assert not thread.is_alive(), "the SDK stream did not stop"
    assert not errors, errors


def test_trading_client_account_and_clock(client: TradingClient) -> None:
    account = client.get_account()
    clock = client.get_clock()

    assert isinstance(account, TradeAccount)
    assert account.status == "ACTIVE"
    assert _num(account.cash) == 100_000.0
    assert _num(account.equity) > 0
    assert isinstance(clock, Clock)
    assert clock.is_open is True
    assert clock.next_close > clock.timestamp
    assert clock.next_open.weekday() < 5  # issue 12: it fell on a Saturday


def test_trading_client_calendar_lists_sessions(client: TradingClient) -> None:
    days = client.get_calendar(GetCalendarRequest(start=date(2026, 11, 25), end=date(2026, 11, 30)))

    assert [
        (day.date.isoformat(), day.open.strftime("%H:%M"), day.close.strftime("%H:%M")) for day in days
    ] == [
        ("2026-11-25", "09:30", "16:00"),
        ("2026-11-27", "09:30", "13:00"),
        ("2026-11-30", "09:30", "16:00"),
    ]


def test_trading_client_market_order_fills_and_is_found(client: TradingClient) -> None:
    cid = f"conf-mkt-{uuid.uuid4()}"

    order = _order(
        client.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=cid
            )
        )
    )
    by_id = _order(client.get_order_by_id(order.id))
    by_cid = _order(client.get_order_by_client_id(cid))
    positions = [_position(p) for p in client.get_all_positions()]
    position = _position(client.get_open_position("AAPL"))

    assert order.client_order_id == cid
    assert by_id.id == order.id == by_cid.id
    assert by_id.status == OrderStatus.FILLED
    assert _num(by_id.filled_qty) == 2.0
    assert _num(by_id.filled_avg_price) > 0
    assert any(p.symbol == "AAPL" for p in positions)
    assert _num(position.qty) >= 2.0
    assert position.side == "long"


def test_trading_client_limit_order_lists_and_cancels(client: TradingClient) -> None:
    cid = f"conf-lmt-{uuid.uuid4()}"
    order = _order(
        client.submit_order(
            LimitOrderRequest(
                symbol="MSFT",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                limit_price=1.0,
                client_order_id=cid,
            )
        )
    )

    open_orders = [
        _order(o) for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=["MSFT"]))
    ]
    client.cancel_order_by_id(order.id)
    after = _order(client.get_order_by_id(order.id))
    closed = [
        _order(o) for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=500))
    ]

    assert order.status == OrderStatus.NEW
    assert order.id in {o.id for o in open_orders}
    assert after.status == OrderStatus.CANCELED
    assert after.canceled_at is not None
    assert order.id in {o.id for o in closed}


def test_trading_client_crypto_position_path_is_unencoded(client: TradingClient) -> None:
    client.submit_order(
        MarketOrderRequest(symbol="BTC/USD", qty=0.001, side=OrderSide.BUY, time_in_force=TimeInForce.GTC)
    )

    position = _position(client.get_open_position("BTC/USD"))

    assert position.symbol == "BTC/USD"
    assert position.exchange == "CRYPTO"
    assert _num(position.qty) >= 0.001


def test_trading_client_replaces_and_cancels_all(client: TradingClient) -> None:
    order = _order(
        client.submit_order(
            LimitOrderRequest(
                symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1.0
            )
        )
    )

    replaced = _order(client.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=1.5, qty=2)))
    canceled = client.cancel_orders()

    assert replaced.id != order.id
    assert replaced.replaces == order.id
    assert _num(replaced.limit_price) == 1.5
    assert isinstance(canceled, list)
    assert replaced.id in {c.id for c in canceled if isinstance(c, CancelOrderResponse)}
    assert _order(client.get_order_by_id(order.id)).status == OrderStatus.REPLACED


def test_trading_client_closes_one_position_then_all(client: TradingClient) -> None:
    client.submit_order(
        MarketOrderRequest(symbol="MSFT", qty=4, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )

    partial = _order(client.close_position("MSFT", ClosePositionRequest(qty="1")))
    closed = client.close_all_positions(cancel_orders=True)
    remaining = client.get_all_positions()

    assert partial.side == OrderSide.SELL
    assert _num(partial.qty) == 1.0
    assert isinstance(closed, list)
    responses = [c for c in closed if isinstance(c, ClosePositionResponse)]
    assert {"MSFT", "AAPL"} <= {c.symbol for c in responses}
    assert all(c.status == 200 and isinstance(c.body, Order) for c in responses)
    assert remaining == []


def test_trading_client_unknown_order_raises_api_error_404(client: TradingClient) -> None:
    with pytest.raises(APIError) as info:
        client.get_order_by_id(str(uuid.uuid4()))

    assert info.value.status_code == 404
    assert info.value.code == 40410000


def test_trading_stream_receives_fill_updates(venue: VenueThread, client: TradingClient) -> None:
    cid = f"conf-ts-{uuid.uuid4()}"
    updates: list[TradeUpdate] = []
    done = threading.Event()
    stream = TradingStream(api_key=KEY, secret_key=SECRET, paper=True, url_override=f"{venue.ws_url}/stream")

    async def on_update(update: TradeUpdate) -> None:
        updates.append(update)
        if update.order.client_order_id == cid and update.event == "fill":
            done.set()

    stream.subscribe_trade_updates(on_update)

    def submit_when_listening() -> None:
        assert venue.wait_for(lambda v: v.statistics().trade_sessions >= 1, WAIT_SECONDS)
        assert venue.wait_for(lambda v: any(s.listening for s in v._trade_hub.sessions), WAIT_SECONDS)
        client.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=cid
            )
        )

    def nudge() -> None:
        client.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)
        )

    _run_stream(stream, done, submit_when_listening, nudge)

    mine = [u for u in updates if u.order.client_order_id == cid]
    assert [u.event for u in mine] == ["new", "fill"]
    fill = mine[-1]
    assert fill.execution_id is not None
    assert fill.price is not None
    assert fill.price > 0
    assert fill.qty == 1.0
    assert fill.position_qty is not None
    assert fill.position_qty >= 1.0
    assert fill.order.status == OrderStatus.FILLED


def test_stock_data_stream_receives_trades_quotes_and_bars(venue: VenueThread) -> None:
    seen: dict[str, list[Any]] = {"trades": [], "quotes": [], "bars": []}
    done = threading.Event()
    stream = StockDataStream(api_key=KEY, secret_key=SECRET, url_override=f"{venue.ws_url}/v2/iex")

    def handler(kind: str) -> Callable[[Any], Any]:
        async def on_data(data: Any) -> None:
            seen[kind].append(data)
            if all(seen.values()):
                done.set()

        return on_data

    stream.subscribe_trades(handler("trades"), "AAPL")
    stream.subscribe_quotes(handler("quotes"), "AAPL", "MSFT")
    stream.subscribe_bars(handler("bars"), "*")

    _run_stream(stream, done)

    assert all(seen.values()), {k: len(v) for k, v in seen.items()}
    trade, quote, bar = seen["trades"][0], seen["quotes"][0], seen["bars"][0]
    assert isinstance(trade, Trade)
    assert trade.symbol == "AAPL"
    assert trade.price > 0
    assert trade.size >= 1
    assert trade.timestamp.tzinfo is not None
    assert isinstance(quote, Quote)
    assert quote.symbol in ("AAPL", "MSFT")
    assert quote.ask_price >= quote.bid_price
    assert isinstance(bar, Bar)
    assert bar.symbol in ("AAPL", "MSFT")
    assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
    assert bar.trade_count is not None
    assert bar.trade_count >= 1
    assert bar.vwap is not None
    assert bar.low <= bar.vwap <= bar.high


def test_crypto_data_stream_receives_trades_quotes_bars_and_orderbooks(venue: VenueThread) -> None:
    seen: dict[str, list[Any]] = {"trades": [], "quotes": [], "bars": [], "orderbooks": []}
    done = threading.Event()
    stream = CryptoDataStream(
        api_key=KEY, secret_key=SECRET, url_override=f"{venue.ws_url}/v1beta3/crypto/us"
    )

    def handler(kind: str) -> Callable[[Any], Any]:
        async def on_data(data: Any) -> None:
            seen[kind].append(data)
            if all(len(v) >= (2 if k == "orderbooks" else 1) for k, v in seen.items()):
                done.set()

        return on_data

    stream.subscribe_trades(handler("trades"), "BTC/USD")
    stream.subscribe_quotes(handler("quotes"), "BTC/USD")
    stream.subscribe_bars(handler("bars"), "BTC/USD")
    stream.subscribe_orderbooks(handler("orderbooks"), "BTC/USD")

    _run_stream(stream, done)

    assert all(seen.values()), {k: len(v) for k, v in seen.items()}
    trade, quote, bar = seen["trades"][0], seen["quotes"][0], seen["bars"][0]
    assert isinstance(trade, Trade)
    assert trade.symbol == "BTC/USD"
    assert trade.size > 0
    assert isinstance(quote, Quote)
    assert quote.ask_price >= quote.bid_price
    assert isinstance(bar, Bar)
    assert bar.volume > 0
    snapshot, delta = seen["orderbooks"][0], seen["orderbooks"][1]
    assert isinstance(snapshot, Orderbook)
    assert snapshot.reset is True
    assert snapshot.bids
    assert snapshot.asks
    assert snapshot.bids[0].price < snapshot.asks[0].price
    assert isinstance(delta, Orderbook)
    assert delta.reset is False

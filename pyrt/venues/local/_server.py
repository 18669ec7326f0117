"""The local venue: Alpaca's trading REST API, trade_updates and market data on one port."""

from __future__ import annotations

import hmac
import logging
import math
import random
import secrets
import socket
import uuid
from collections.abc import Sequence
from typing import Final, final

import attrs
import trio

from ...messages import QuoteReceived, TradeReceived
from ...runtime.clock import NS_PER_SECOND, Clock, WallClock
from ..sim.market import MarketSimulator
from ..sim.matching import EngineEvent, MatchingEngine
from ._datastream import DataFeed, FeedSpec
from ._faults import FaultState, RestFault, VenueFaults
from ._http import DROP, Drop, Request, Response, serve_http_connection
from ._rest import AccountStatus, TradingApi
from ._tradestream import TradeUpdatesHub
from ._websocket import ServerWebSocket, handshake_response, is_upgrade_request
from ._wire import is_crypto

__all__ = ["LocalVenue", "LocalVenueStatistics"]

logger = logging.getLogger(__name__)

TEST_SYMBOL: Final = "FAKEPACA"
STOCK_PATHS: Final = {"/v2/iex": "V", "/v2/sip": None}
TEST_PATH: Final = "/v2/test"
CRYPTO_PATH: Final = "/v1beta3/crypto/us"
TRADE_STREAM_PATH: Final = "/stream"
_RATE_WINDOW_NS: Final = 60 * NS_PER_SECOND
_HTML_ERROR: Final = (
    b"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    b"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_FAULT_REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@final
@attrs.frozen(kw_only=True)
class LocalVenueStatistics:
    """Counters of one :class:`LocalVenue` since it started serving."""

    ticks: int
    """Market simulator steps taken."""
    http_connections: int
    """HTTP connections open now (WebSockets not included)."""
    rest_requests: int
    """REST requests received."""
    rest_rate_limited: int
    """REST requests answered 429 (rate limit and injected bursts)."""
    data_sessions: int
    """Market-data WebSocket sessions open now, over all endpoints."""
    trade_sessions: int
    """trade_updates WebSocket sessions open now."""
    data_frames_sent: int
    """Market-data frames queued to clients."""
    trade_updates_sent: int
    """trade_updates messages queued to clients."""
    slow_clients: int
    """Stream clients cut off because their output buffer overflowed."""
    faults_injected: tuple[tuple[str, int], ...]
    """Injected faults so far, as ``(kind, count)`` pairs sorted by kind."""


@attrs.define(eq=False)
class _RateWindow:
    index: int = -1
    count: int = 0


@final
class LocalVenue:
    """An Alpaca-compatible venue on one local port: REST v2, trade_updates and market data.

    Behind it run a :class:`~pyrt.venues.sim.MatchingEngine` and a
    :class:`~pyrt.venues.sim.MarketSimulator` stepped every ``tick_interval`` seconds. pyrt's
    live code path and the official alpaca-py SDK both work against it unchanged.

    Args:
        symbols: tradable symbols; crypto pairs carry a slash (``BTC/USD``). ``FAKEPACA`` is
            always streamed on ``/v2/test``.
        seed: seeds every random draw (prices, ids, order books, faults).
        host: address to bind; loopback unless told otherwise.
        port: port to bind; 0 picks a free one (passed to ``task_status.started``).
        key: the only API key accepted, if set (else any key pair is accepted).
        secret: the secret that goes with ``key``; never logged.
        tick_interval: seconds between market simulator steps.
        starting_cash: the account's cash at start.
        faults: faults to inject from the start; change them later through :attr:`faults`.
        clock: time source (defaults to :class:`~pyrt.runtime.clock.WallClock`).
        bar_interval: bar length in seconds (60 = Alpaca's minute bars; tests use less).
        rate_limit: REST requests per minute per key; ``None`` disables the limit.
        auth_timeout: seconds a stream client has to authenticate.
        max_symbols: distinct symbols one market-data session may subscribe to.
        output_limit: bytes a stream client may have queued before it is cut off as slow.
        socket_send_buffer: ``SO_SNDBUF`` for accepted sockets (tests use it to make slow
            clients show up quickly); ``None`` leaves the kernel's default.
        compression: whether to accept permessage-deflate on WebSockets.
        market: a market simulator to use instead of the default random walk.
        unique_ids: mint order, execution and account ids from the operating system's entropy
            instead of the seed, so they are unique across processes: a served venue
            (``pyrt venue``, the embedded venue of ``pyrt run``) restarted on the same seed must
            never reuse an id its clients have seen. Its state lives only as long as the
            process, so a restart is a new account and says so by a new account id. Prices and
            faults stay seeded either way; the default (False) keeps every id seeded, for
            reproducible tests and simulations.
        account_status: the account's standing on ``GET /v2/account`` (default active); anything
            else makes the venue refuse orders with 403. Change it later through
            :attr:`account_status`.

    Raises:
        ValueError: no symbols, or a bad interval or limit.
    """

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        seed: int,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str | None = None,
        secret: str | None = None,
        tick_interval: float = 0.05,
        starting_cash: float = 100_000.0,
        faults: VenueFaults | None = None,
        clock: Clock | None = None,
        bar_interval: float = 60.0,
        rate_limit: int | None = 200,
        auth_timeout: float = 10.0,
        max_symbols: int = 30,
        output_limit: int = 1 << 20,
        socket_send_buffer: int | None = None,
        compression: bool = True,
        market: MarketSimulator | None = None,
        unique_ids: bool = False,
        account_status: AccountStatus | None = None,
    ) -> None:
        symbols = tuple(dict.fromkeys(s.upper() for s in symbols))
        if not symbols:
            raise ValueError("symbols must not be empty")
        if not (tick_interval > 0 and math.isfinite(tick_interval)):
            raise ValueError(f"tick_interval must be a finite number > 0, was {tick_interval!r}")
        if not (bar_interval > 0 and math.isfinite(bar_interval)):
            raise ValueError(f"bar_interval must be a finite number > 0, was {bar_interval!r}")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError(f"rate_limit must be >= 1 or None, was {rate_limit!r}")
        if (key is None) != (secret is None):
            raise ValueError("key and secret must be given together")
        self.symbols: tuple[str, ...] = symbols
        self.seed = seed
        self.host = host
        self.port = port
        self._key = key
        self._secret = secret
        self.tick_interval = tick_interval
        self.clock: Clock = clock if clock is not None else WallClock()
        self.rate_limit = rate_limit
        self._socket_send_buffer = socket_send_buffer
        self._compression = compression
        self._output_limit = output_limit

        master = random.Random(seed)
        engine_rng = random.Random(master.getrandbits(64))
        market_rng = random.Random(master.getrandbits(64))
        test_rng = random.Random(master.getrandbits(64))
        fault_rng = random.Random(master.getrandbits(64))
        book_rng = random.Random(master.getrandbits(64))
        self._account_id = str(uuid.UUID(int=master.getrandbits(128), version=4))
        if unique_ids:  # the engine's rng makes ids only; the seeded draws above stay as they are
            engine_rng = random.Random(secrets.randbits(128))
            self._account_id = str(uuid.uuid4())

        self.engine = MatchingEngine(starting_cash=starting_cash, rng=engine_rng, symbols=symbols)
        self.market = market if market is not None else MarketSimulator(list(symbols), market_rng)
        self._test_market = MarketSimulator([TEST_SYMBOL], test_rng, start_prices={TEST_SYMBOL: 100.0})
        self._faults = FaultState(faults or VenueFaults(), fault_rng)
        self._starting_cash = starting_cash
        self._account_status = account_status if account_status is not None else AccountStatus()

        stocks = tuple(s for s in symbols if not is_crypto(s))
        cryptos = tuple(s for s in symbols if is_crypto(s))
        feed_args = {
            "check_credentials": self.check_credentials,
            "faults": self._faults,
            "bar_interval_ns": round(bar_interval * NS_PER_SECOND),
            "max_symbols": max_symbols,
            "auth_timeout": auth_timeout,
            "output_limit": output_limit,
        }
        self._feeds: dict[str, DataFeed] = {}
        for path, exchange in STOCK_PATHS.items():
            spec = FeedSpec(path=path, crypto=False, symbols=stocks, exchange=exchange)
            self._feeds[path] = DataFeed(spec, rng=book_rng, **feed_args)  # type: ignore[arg-type]  # typed above
        test_spec = FeedSpec(path=TEST_PATH, crypto=False, symbols=(TEST_SYMBOL,), exchange="V")
        self._feeds[TEST_PATH] = DataFeed(test_spec, rng=book_rng, **feed_args)  # type: ignore[arg-type]  # typed above
        crypto_spec = FeedSpec(path=CRYPTO_PATH, crypto=True, symbols=cryptos)
        self._feeds[CRYPTO_PATH] = DataFeed(crypto_spec, rng=book_rng, **feed_args)  # type: ignore[arg-type]  # typed above
        self._trade_hub = TradeUpdatesHub(
            check_credentials=self.check_credentials,
            faults=self._faults,
            auth_timeout=auth_timeout,
            output_limit=output_limit,
        )
        self._api: TradingApi | None = None
        self._rate: dict[str, _RateWindow] = {}
        self._ticks = 0
        self._http_connections = 0
        self._rest_requests = 0
        self._rest_rate_limited = 0

    def __repr__(self) -> str:
        return (
            f"LocalVenue(host={self.host!r}, port={self.port}, symbols={list(self.symbols)!r}, "
            f"seed={self.seed}, key={'set' if self._key else 'any'})"
        )

    # ---------------------------------------------------------------- configuration

    @property
    def faults(self) -> VenueFaults:
        """The faults in force; assigning restarts every "next N" count."""
        return self._faults.faults

    @faults.setter
    def faults(self, faults: VenueFaults) -> None:
        logger.info("venue faults set to %r", faults)
        self._faults.reset(faults)

    @property
    def account_status(self) -> AccountStatus:
        """The account's standing the venue reports (and enforces on new orders)."""
        return self._account_status

    @account_status.setter
    def account_status(self, status: AccountStatus) -> None:
        logger.info("venue account status set to %r", status)
        self._account_status = status
        if self._api is not None:
            self._api.account_status = status

    def check_credentials(self, key: str, secret: str) -> bool:
        """Return whether a key pair may use the venue (any pair when no key was configured)."""
        if self._key is None or self._secret is None:
            return True
        return hmac.compare_digest(key.encode(), self._key.encode()) and hmac.compare_digest(
            secret.encode(), self._secret.encode()
        )

    @property
    def url(self) -> str:
        """``http://host:port`` once serving (alpaca-py's ``url_override`` for the REST client)."""
        return f"http://{self.host}:{self.port}"

    def statistics(self) -> LocalVenueStatistics:
        """Return the venue's counters."""
        feeds = self._feeds.values()
        return LocalVenueStatistics(
            ticks=self._ticks,
            http_connections=self._http_connections,
            rest_requests=self._rest_requests,
            rest_rate_limited=self._rest_rate_limited,
            data_sessions=sum(len(feed.sessions) for feed in feeds),
            trade_sessions=len(self._trade_hub.sessions),
            data_frames_sent=sum(feed.frames_sent for feed in feeds),
            trade_updates_sent=self._trade_hub.updates_sent,
            slow_clients=sum(feed.slow_clients for feed in feeds) + self._trade_hub.slow_clients,
            faults_injected=tuple(sorted(self._faults.injected.items())),
        )

    # ---------------------------------------------------------------- serving

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the bound port through ``task_status.started(port)``, serve until cancelled.

        The market is stepped once before the port is reported, so quotes exist for the first
        order. Cancelling closes the listener and every connection.

        Raises:
            OSError: the address could not be bound.
        """
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        self._open_market()
        logger.info("local venue listening on %s (symbols %s)", self.url, ",".join(self.symbols))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_market)
            await nursery.start(trio.serve_listeners, self.serve_stream, listeners)
            task_status.started(self.port)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the market and the API without a listener, until cancelled.

        Connections come in through :meth:`serve_stream` (a simulated network, issue 10). The
        market is stepped once before ``task_status.started()``, as :meth:`serve` does.
        """
        self._open_market()
        logger.info("local venue running unbound (symbols %s)", ",".join(self.symbols))
        task_status.started()
        await self._run_market()

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one client connection (HTTP/1.1 keep-alive, WebSocket upgrades) until it ends.

        ``stream`` is any trio stream: an accepted TCP socket, or one end of an in-memory
        connection. Call it once :meth:`serve` or :meth:`run` has started. The stream is closed
        on return; cancelling closes it too.
        """
        if isinstance(stream, trio.SocketStream) and self._socket_send_buffer is not None:
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._socket_send_buffer)
        self._http_connections += 1
        try:
            await serve_http_connection(
                stream, handler=self._handle_request, is_upgrade=is_upgrade_request, on_upgrade=self._upgrade
            )
        finally:
            self._http_connections -= 1
            await stream.aclose()

    def _open_market(self) -> None:
        now_ns = self.clock.now_ns()
        self._api = TradingApi(
            engine=self.engine,
            symbols=self.symbols,
            publish=self._publish_events,
            account_id=self._account_id,
            created_at_ns=now_ns,
            starting_cash=self._starting_cash,
            account_status=self._account_status,
        )
        self._tick(now_ns)

    async def _run_market(self) -> None:
        while True:
            await self.clock.sleep(self.tick_interval)
            self._tick(self.clock.now_ns())

    def _tick(self, now_ns: int) -> None:
        self._ticks += 1
        messages = self.market.step(now_ns)
        events: list[EngineEvent] = []
        for message in messages:
            if isinstance(message, QuoteReceived):
                events.extend(
                    self.engine.on_quote(
                        message.symbol,
                        message.bid_price,
                        message.bid_size,
                        message.ask_price,
                        message.ask_size,
                        now_ns=message.ts_event,
                    )
                )
            elif isinstance(message, TradeReceived):
                events.extend(
                    self.engine.on_trade(message.symbol, message.price, message.size, now_ns=message.ts_event)
                )
        self._publish_events(events)
        test_messages = self._test_market.step(now_ns)
        for path, feed in self._feeds.items():
            feed.on_market(test_messages if path == TEST_PATH else messages, now_ns)

    def _publish_events(self, events: Sequence[EngineEvent]) -> None:
        if not events or self._api is None or not self._trade_hub.has_listeners:
            return
        for event in events:
            self._trade_hub.publish(self._api.event_to_wire(event))

    # ---------------------------------------------------------------- WebSockets

    async def _upgrade(self, request: Request, stream: trio.abc.Stream, trailing: bytes) -> None:
        self._http_connections -= 1  # a stream session from here on, not an HTTP connection
        try:
            await self._serve_websocket(request, stream, trailing)
        finally:
            self._http_connections += 1

    async def _serve_websocket(self, request: Request, stream: trio.abc.Stream, trailing: bytes) -> None:
        feed = self._feeds.get(request.path)
        if feed is None and request.path != TRADE_STREAM_PATH:
            await stream.send_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 43\r\n"
                b'Connection: close\r\n\r\n{"code":40410000,"message":"no such route"}'
            )
            return
        if request.headers.get("sec-websocket-version", "13") != "13":
            await stream.send_all(
                b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            return
        reply, extensions = handshake_response(request.headers, allow_compression=self._compression)
        await stream.send_all(reply)
        ws = ServerWebSocket(
            stream, trailing=trailing, extensions=extensions, output_limit=self._output_limit
        )
        if feed is None:
            logger.info("trade_updates connection opened")
            await self._trade_hub.serve_connection(ws)
            logger.info("trade_updates connection closed")
            return
        use_msgpack = "msgpack" in request.headers.get("content-type", "").lower()
        key = request.headers.get("apca-api-key-id")
        secret = request.headers.get("apca-api-secret-key")
        header_credentials = (key, secret) if key is not None and secret is not None else None
        logger.info(
            "market-data connection opened on %s (%s)", request.path, "msgpack" if use_msgpack else "json"
        )
        await feed.serve_connection(ws, use_msgpack=use_msgpack, header_credentials=header_credentials)
        logger.info("market-data connection closed on %s", request.path)

    # ---------------------------------------------------------------- REST

    def _rate_headers(self, key: str, now_ns: int) -> tuple[bool, tuple[tuple[bytes, bytes], ...], int]:
        assert self.rate_limit is not None
        index = now_ns // _RATE_WINDOW_NS
        window = self._rate.setdefault(key, _RateWindow())
        if window.index != index:
            window.index, window.count = index, 0
        window.count += 1
        reset_s = (index + 1) * _RATE_WINDOW_NS // NS_PER_SECOND
        remaining = max(self.rate_limit - window.count, 0)
        headers = (
            (b"X-RateLimit-Limit", str(self.rate_limit).encode()),
            (b"X-RateLimit-Remaining", str(remaining).encode()),
            (b"X-RateLimit-Reset", str(reset_s).encode()),
        )
        retry_after = max(1, math.ceil(reset_s - now_ns / NS_PER_SECOND))
        return window.count > self.rate_limit, headers, retry_after

    def _too_many(self, headers: tuple[tuple[bytes, bytes], ...], retry_after: int) -> Response:
        self._rest_rate_limited += 1
        return Response.json(
            429,
            {"code": 42910000, "message": "rate limit exceeded"},
            headers=(*headers, (b"Retry-After", str(retry_after).encode())),
        )

    async def _handle_request(self, request: Request) -> Response | Drop:
        self._rest_requests += 1
        now_ns = self.clock.now_ns()
        key = request.headers.get("apca-api-key-id")
        if self._key is not None:
            secret = request.headers.get("apca-api-secret-key")
            if key is None or secret is None or not self.check_credentials(key, secret):
                return Response.json(401, {"code": 40110000, "message": "request is not authorized"})
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if self.rate_limit is not None:
            limited, headers, retry_after = self._rate_headers(key or "", now_ns)
            if limited:
                logger.warning(
                    "REST rate limit hit (%d/min); 429 so far: %d",
                    self.rate_limit,
                    self._rest_rate_limited + 1,
                )
                return self._too_many(headers, retry_after)
        faults = self._faults.rest_faults(request.method, request.path)
        if RestFault.RATE_LIMITED in faults:
            return self._too_many(headers, 1)
        if RestFault.ERROR_STATUS in faults:
            return self._fault_error()
        api = self._api
        assert api is not None, "serve() builds the API before accepting connections"
        if not request.path.startswith("/v2/"):
            response = Response.json(404, {"code": 40410000, "message": "endpoint not found"})
        else:
            try:
                response = api.handle(request, now_ns)
            except Exception:
                logger.exception("REST handler failed on %s %s", request.method, request.path)
                response = Response.json(500, {"code": 50010000, "message": "internal server error"})
        if RestFault.DELAY in faults:
            await self.clock.sleep(self._faults.faults.rest_delay_seconds)
        if RestFault.DROP_AFTER_ACCEPT in faults:
            logger.info("dropping the connection after %s %s (injected)", request.method, request.path)
            return DROP
        if headers:
            response = attrs.evolve(response, headers=(*response.headers, *headers))
        return response

    def _fault_error(self) -> Response:
        faults = self._faults.faults
        status = faults.rest_error_status
        reason = _FAULT_REASONS.get(status, "Error")
        if faults.rest_error_html:
            body = _HTML_ERROR.replace(b"{status}", str(status).encode()).replace(
                b"{reason}", reason.encode()
            )
            return Response(status=status, body=body, content_type=b"text/html")
        return Response.json(status, {"code": status * 100_000, "message": reason.lower()})

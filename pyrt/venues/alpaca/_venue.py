"""Endpoints and one-call assembly of the Alpaca client (broker + market data)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final, Literal, final
from urllib.parse import urlsplit

import attrs
import httpx

from ...runtime.clock import Clock
from ._broker import AlpacaBroker
from ._feed import AlpacaFeed, Channel, RoutedFeed
from ._ws import StreamConnector

__all__ = ["AlpacaEndpoints", "AlpacaVenue", "alpaca_endpoints", "open_alpaca_venue"]

PAPER_REST: Final = "https://paper-api.alpaca.markets"
LIVE_REST: Final = "https://api.alpaca.markets"
DATA_HOST: Final = "wss://stream.data.alpaca.markets"
STOCK_FEEDS: Final = frozenset({"iex", "sip", "test", "delayed_sip"})
CRYPTO_PATH: Final = "/v1beta3/crypto/us"


@final
@attrs.frozen(kw_only=True)
class AlpacaEndpoints:
    """Where each Alpaca API lives."""

    rest_url: str
    """Trading REST base (requests go to ``rest_url + "/v2/..."``)."""
    trade_stream_url: str
    """The trade_updates WebSocket."""
    stock_data_url: str
    """The stock market-data WebSocket (IEX, SIP …)."""
    crypto_data_url: str
    """The crypto market-data WebSocket."""


def alpaca_endpoints(
    base_url: str | None = None, *, live: bool = False, data_feed: str = "iex"
) -> AlpacaEndpoints:
    """Return the endpoints for Alpaca paper (default), Alpaca live, or an Alpaca-compatible server.

    Args:
        base_url: ``None`` for Alpaca itself; else the server's base, e.g.
            ``http://127.0.0.1:8765`` (the local venue serves every API on that one port).
        live: with ``base_url=None``, trade with real money (``api.alpaca.markets``).
        data_feed: the stock feed: ``iex`` (free), ``sip``, ``delayed_sip`` or ``test``.

    Raises:
        ValueError: an unknown feed, a non-http(s) base URL, or ``live`` with a ``base_url``.
    """
    if data_feed not in STOCK_FEEDS:
        raise ValueError(f"data_feed must be one of {sorted(STOCK_FEEDS)}, was {data_feed!r}")
    if base_url is None:
        rest = LIVE_REST if live else PAPER_REST
        return AlpacaEndpoints(
            rest_url=rest,
            trade_stream_url="wss://" + rest.removeprefix("https://") + "/stream",
            stock_data_url=f"{DATA_HOST}/v2/{data_feed}",
            crypto_data_url=DATA_HOST + CRYPTO_PATH,
        )
    if live:
        raise ValueError("live selects Alpaca's own endpoints; it cannot be combined with base_url")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be http(s)://host[:port], was {base_url!r}")
    rest = f"{parts.scheme}://{parts.netloc}"
    ws = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    # Alpaca serves market data from its own host; a compatible server serves it on one port
    on_alpaca = parts.hostname is not None and parts.hostname.endswith("alpaca.markets")
    data = DATA_HOST if on_alpaca else ws
    return AlpacaEndpoints(
        rest_url=rest,
        trade_stream_url=f"{ws}/stream",
        stock_data_url=f"{data}/v2/{data_feed}",
        crypto_data_url=data + CRYPTO_PATH,
    )


@final
@attrs.frozen(kw_only=True)
class AlpacaVenue:
    """The Alpaca client as a venue: a broker and a market-data feed."""

    broker: AlpacaBroker
    """Order entry and order updates."""
    feed: RoutedFeed
    """Market data: stocks to the stock endpoint, pairs such as ``BTC/USD`` to the crypto one."""
    endpoints: AlpacaEndpoints
    """Where they connect."""


@asynccontextmanager
async def open_alpaca_venue(
    *,
    key_id: str,
    secret_key: str,
    clock: Clock,
    rng: random.Random,
    base_url: str | None = None,
    live: bool = False,
    data_feed: str = "iex",
    stock_channels: Sequence[Channel] = ("trades", "quotes"),
    crypto_channels: Sequence[Channel] = ("trades", "quotes"),
    encoding: Literal["msgpack", "json"] = "msgpack",
    rate_limit_per_minute: int | None = 200,
    max_retries: int = 3,
    request_timeout: float = 10.0,
    reconnect_delay_secs: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
    connect: StreamConnector | None = None,
) -> AsyncIterator[AlpacaVenue]:
    """Build the broker and the feeds for one Alpaca(-compatible) account; close them on exit.

    ``base_url=None`` means Alpaca paper trading (``live=True``: real money); the local venue
    is ``base_url="http://127.0.0.1:<port>"``.

    Args:
        key_id: the API key id.
        secret_key: the API secret; never logged.
        clock: the run's clock.
        rng: the run's random source (split between the broker and the feeds).
        base_url: an Alpaca-compatible server, or ``None`` for Alpaca.
        live: Alpaca live trading instead of paper (only with ``base_url=None``).
        data_feed: stock data feed (``iex``, ``sip``, ``delayed_sip``, ``test``).
        stock_channels: channels subscribed for stock symbols.
        crypto_channels: channels subscribed for crypto pairs (``orderbooks`` allowed).
        encoding: market-data encoding.
        rate_limit_per_minute: REST requests per minute (``None``: no client-side limit).
        max_retries: internal retries of REST reads and cancels.
        request_timeout: REST timeout in seconds.
        reconnect_delay_secs: the feeds' first reconnect delay (``market_data.reconnect_delay_secs``);
            it doubles per failure up to 30 s, or up to itself when longer.
        transport: the REST client's httpx transport instead of the network.
        connect: opens every WebSocket's connection instead of a TCP socket (with
            ``transport``: a simulated network, issue 10).

    Raises:
        ValueError: a bad URL, feed or channel.
    """
    endpoints = alpaca_endpoints(base_url, live=live, data_feed=data_feed)
    broker_rng = random.Random(rng.getrandbits(64))
    stock_rng = random.Random(rng.getrandbits(64))
    crypto_rng = random.Random(rng.getrandbits(64))
    broker = AlpacaBroker(
        base_url=endpoints.rest_url,
        stream_url=endpoints.trade_stream_url,
        key_id=key_id,
        secret_key=secret_key,
        clock=clock,
        rng=broker_rng,
        rate_limit_per_minute=rate_limit_per_minute,
        max_retries=max_retries,
        timeout=request_timeout,
        transport=transport,
        connect=connect,
    )
    stocks = AlpacaFeed(
        url=endpoints.stock_data_url,
        key_id=key_id,
        secret_key=secret_key,
        clock=clock,
        rng=stock_rng,
        channels=stock_channels,
        encoding=encoding,
        crypto=False,
        reconnect_delay_secs=reconnect_delay_secs,
        max_reconnect_delay=max(30.0, reconnect_delay_secs),
        connect=connect,
    )
    crypto = AlpacaFeed(
        url=endpoints.crypto_data_url,
        key_id=key_id,
        secret_key=secret_key,
        clock=clock,
        rng=crypto_rng,
        channels=crypto_channels,
        encoding=encoding,
        crypto=True,
        reconnect_delay_secs=reconnect_delay_secs,
        max_reconnect_delay=max(30.0, reconnect_delay_secs),
        connect=connect,
    )
    async with broker:
        yield AlpacaVenue(broker=broker, feed=RoutedFeed(stocks=stocks, crypto=crypto), endpoints=endpoints)

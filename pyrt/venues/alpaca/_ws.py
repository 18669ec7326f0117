"""What the two WebSocket clients (market data, trade_updates) share: errors and probing."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Final, TypeAlias
from urllib.parse import urlsplit

import trio
import trio_websocket

from ...errors import VenueRejected

#: Largest message trio-websocket accepts before it closes the connection with 1009.
HARD_MESSAGE_LIMIT: Final = 64 << 20
#: Bytes per socket read (trio-websocket's default is 4 KiB, slow for batched market data).
RECEIVE_BYTES: Final = 256 * 1024
CONNECT_TIMEOUT: Final = 10.0
DISCONNECT_TIMEOUT: Final = 1.0

#: Opens the byte stream a WebSocket URL's connection runs on (``ws://`` only, no TLS); the
#: default is a TCP socket. A simulated network passes its own (issue 10).
StreamConnector: TypeAlias = Callable[[str], Awaitable[trio.abc.Stream]]


@asynccontextmanager
async def open_connection(
    url: str,
    *,
    extra_headers: Sequence[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = 1,
    max_message_size: int = HARD_MESSAGE_LIMIT,
    connect: StreamConnector | None = None,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Open a client WebSocket; on exit its TCP stream is closed, whatever happened.

    trio-websocket 0.12 leaves the socket open after the peer closed (or the connection broke):
    its ``aclose`` returns early once a close reason is set. Closing the stream ourselves keeps a
    reconnecting client from leaking a socket per reconnect. ``connect`` opens the byte stream
    instead of a TCP socket (see :data:`StreamConnector`).
    """
    if connect is not None:
        async with _open_on_stream(
            url,
            connect,
            extra_headers=extra_headers,
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
        ) as ws:
            yield ws
        return
    opened: list[trio_websocket.WebSocketConnection] = []
    try:
        async with trio_websocket.open_websocket_url(
            url,
            extra_headers=list(extra_headers) if extra_headers else None,
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            connect_timeout=CONNECT_TIMEOUT,
            disconnect_timeout=DISCONNECT_TIMEOUT,
            receive_buffer_size=RECEIVE_BYTES,
        ) as ws:
            opened.append(ws)
            yield ws
    finally:
        for ws in opened:
            with trio.CancelScope(shield=True):
                await ws._stream.aclose()  # private, see the docstring


@asynccontextmanager
async def _open_on_stream(
    url: str,
    connect: StreamConnector,
    *,
    extra_headers: Sequence[tuple[bytes, bytes]] | None,
    message_queue_size: int,
    max_message_size: int,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    # what trio_websocket.open_websocket does, on a stream we are given: same timeouts, same
    # errors (ConnectionTimeout, HandshakeError from an OSError), and no exception group out
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"a stream connector serves ws:// URLs only, was {url!r}")
    port = parts.port if parts.port is not None else 80
    host = parts.hostname if port == 80 else f"{parts.hostname}:{port}"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream: trio.abc.Stream | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(CONNECT_TIMEOUT):
                    stream = await connect(url)
                    ws = await trio_websocket.wrap_client_stream(
                        nursery,
                        stream,  # type: ignore[arg-type]  # annotated SocketStream, works on any trio stream
                        host,
                        resource,
                        extra_headers=list(extra_headers) if extra_headers else None,
                        message_queue_size=message_queue_size,
                        max_message_size=max_message_size,
                        receive_buffer_size=RECEIVE_BYTES,
                    )
            except trio.TooSlowError:
                raise trio_websocket.ConnectionTimeout from None
            except OSError as exc:
                raise trio_websocket.HandshakeError from exc
            try:
                yield ws
            finally:
                with trio.move_on_after(DISCONNECT_TIMEOUT, shield=True):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        errors = [exc for exc in group.exceptions if not isinstance(exc, trio.Cancelled)]
        if len(errors) == 1:
            raise errors[0] from None
        if not errors:
            raise group.exceptions[0] from None
        raise
    finally:
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()


class StreamDown(Exception):
    """The connection is unusable (silent, or a handshake step timed out): replace it."""


#: Exceptions that mean "this connection is gone or never came up; try another".
CONNECTION_ERRORS: Final = (
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    StreamDown,
)


def describe(exc: BaseException) -> str:
    """Return a short description of a connection failure for logs and statistics."""
    if isinstance(exc, trio_websocket.ConnectionClosed):
        reason = exc.reason
        if reason is None:
            return "connection closed"
        return f"closed with {reason.code}" + (f" ({reason.reason})" if reason.reason else "")
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return f"upgrade rejected with HTTP {exc.status_code}"
    if isinstance(exc, trio_websocket.ConnectionTimeout):
        return "connect timed out"
    if isinstance(exc, trio.TooSlowError):
        return "handshake timed out"
    if isinstance(exc, trio_websocket.HandshakeError) and exc.__cause__ is not None:
        return f"connect failed: {exc.__cause__}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def close_code(exc: BaseException) -> int | None:
    """Return the WebSocket close code of a ``ConnectionClosed``, if any."""
    if isinstance(exc, trio_websocket.ConnectionClosed) and exc.reason is not None:
        return int(exc.reason.code)
    return None


def check_rejection(exc: BaseException, *, what: str) -> None:
    """Raise :class:`VenueRejected` for an upgrade refused with a 4xx other than 429.

    A wrong URL or wrong keys will not get better by reconnecting (the Go SDK treats these as
    irrecoverable too).
    """
    if isinstance(exc, trio_websocket.ConnectionRejected):
        status = exc.status_code
        if 400 <= status < 500 and status != 429:
            raise VenueRejected(f"{what}: upgrade refused with HTTP {status}", status_code=status) from exc


class Prober:
    """Pings a quiet connection; a missing pong means the connection is dead.

    Payloads come from a counter (unique per connection, no random draw).
    """

    __slots__ = ("_counter", "timeout")

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._counter = itertools.count(1)

    async def probe(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Ping and wait for the pong.

        Raises:
            StreamDown: no pong within ``timeout``.
            trio_websocket.ConnectionClosed: the connection closed meanwhile.
        """
        payload = next(self._counter).to_bytes(8, "big")
        with trio.move_on_after(self.timeout):
            await ws.ping(payload)
            return
        raise StreamDown(f"no pong within {self.timeout} s")

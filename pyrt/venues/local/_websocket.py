"""A small server-side WebSocket on wsproto's frame layer, built for fan-out.

The HTTP layer has already parsed the upgrade request, so this module answers the handshake
itself and then speaks frames through :class:`wsproto.connection.Connection`. Outgoing frames go
into a per-client buffer bounded in bytes (``send_nowait`` never blocks the market-data tick);
one writer task drains it. A client whose buffer overflows is a slow client: the caller decides
what to tell it and then aborts the connection. Faults are injected by writing raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
from collections import deque
from typing import Final

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import RemoteProtocolError, split_comma_header

logger = logging.getLogger(__name__)

_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECEIVE_BYTES: Final = 65536
_CLOSE_FLUSH_SECONDS: Final = 5.0


class WebSocketClosed(Exception):
    """The peer closed the WebSocket or the TCP connection went away."""


def handshake_response(headers: dict[str, str], *, allow_compression: bool) -> tuple[bytes, list[Extension]]:
    """Build the ``101 Switching Protocols`` reply for a validated upgrade request."""
    key = headers.get("sec-websocket-key", "").encode("ascii", "replace")
    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())  # RFC 6455 mandates SHA-1
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    extensions: list[Extension] = []
    offered = headers.get("sec-websocket-extensions")
    if allow_compression and offered:
        deflate = PerMessageDeflate()
        agreed = server_extensions_handshake(
            split_comma_header(offered.encode("ascii", "replace")), [deflate]
        )
        if agreed is not None:
            lines.append(b"Sec-WebSocket-Extensions: " + agreed)
            extensions.append(deflate)
    return b"\r\n".join(lines) + b"\r\n\r\n", extensions


def is_upgrade_request(method: str, headers: dict[str, str]) -> bool:
    connection_tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    return (
        method == "GET"
        and headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in connection_tokens
        and "sec-websocket-key" in headers
    )


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """Encode one unmasked server frame by hand (for fault injection)."""
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0x0F)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


class ServerWebSocket:
    """One accepted WebSocket: a reader for the handler and a bounded, non-blocking writer.

    Args:
        stream: the connection (a TCP stream, or any trio stream), already past the handshake.
        trailing: bytes read after the upgrade request (the start of the first frame).
        extensions: extensions agreed in the handshake.
        output_limit: bytes of unsent frames allowed before :meth:`send_nowait` reports a slow client.
        max_message_size: largest incoming message; bigger closes with 1009.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        trailing: bytes,
        extensions: list[Extension],
        output_limit: int,
        max_message_size: int = 1 << 20,
    ) -> None:
        self._stream = stream
        self._ws = Connection(ConnectionType.SERVER, extensions=extensions)
        self._trailing = trailing
        self._output_limit = output_limit
        self._max_message_size = max_message_size
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._wake = trio.Event()
        self._flushed = trio.Event()
        self._closing = False
        self.closed = False
        self.silent = False
        self.bytes_sent = 0
        self.peak_buffered = 0

    @property
    def buffered(self) -> int:
        """Bytes queued and not yet written to the socket."""
        return self._out_bytes

    def _enqueue(self, data: bytes) -> None:
        self._out.append(data)
        self._out_bytes += len(data)
        self.peak_buffered = max(self.peak_buffered, self._out_bytes)
        self._wake.set()

    def send_nowait(self, message: str | bytes, *, force: bool = False) -> bool:
        """Queue one message; return False (and queue nothing) if the buffer is full.

        ``force`` queues past the limit (a final error message before disconnecting).
        """
        if self.closed or self._closing or self.silent or self._ws.state is not ConnectionState.OPEN:
            return True
        event: TextMessage | BytesMessage = (
            TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        )
        data = self._ws.send(event)
        if not force and self._out_bytes and self._out_bytes + len(data) > self._output_limit:
            return False
        self._enqueue(data)
        return True

    def send_raw_nowait(self, data: bytes) -> None:
        """Queue bytes as they are, bypassing the frame encoder (fault injection)."""
        if not (self.closed or self._closing):
            self._enqueue(data)

    async def run_writer(self) -> None:
        """Drain the buffer into the socket until closed; then flush a pending close."""
        try:
            while True:
                if not self._out:
                    if self._closing:
                        break
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                data = b"".join(self._out)
                self._out.clear()
                self._out_bytes = 0
                await self._stream.send_all(data)
                self.bytes_sent += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed = True
        finally:
            self._flushed.set()

    async def receive_message(self) -> str | bytes:
        """Return the next complete message; answer pings and close frames on the way.

        Raises:
            WebSocketClosed: the peer closed, or the connection broke.
        """
        parts: list[str] | list[bytes] = []
        size = 0
        while True:
            for event in self._ws.events():
                if isinstance(event, Ping):
                    if not self.silent:
                        self._enqueue(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        self._enqueue(self._ws.send(event.response()))
                    self._closing = True
                    self._wake.set()
                    raise WebSocketClosed(f"peer closed with {event.code}")
                elif isinstance(event, TextMessage | BytesMessage):
                    size += len(event.data)
                    if size > self._max_message_size:
                        self.close(1009, "message too big")
                        raise WebSocketClosed("message too big")
                    parts.append(event.data)  # type: ignore[arg-type]  # one message never mixes kinds
                    if event.message_finished:
                        if isinstance(event, TextMessage):
                            return "".join(parts)  # type: ignore[arg-type]  # all parts are str here
                        return b"".join(parts)  # type: ignore[arg-type]  # all parts are bytes here
            if self._trailing:
                data, self._trailing = self._trailing, b""
            else:
                try:
                    data = bytes(await self._stream.receive_some(_RECEIVE_BYTES))
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self.closed = True
                    raise WebSocketClosed("connection lost") from exc
                if not data:
                    self.closed = True
                    raise WebSocketClosed("connection closed without a close frame")
            if self._ws.state is ConnectionState.CLOSED:
                continue
            try:
                self._ws.receive_data(data)
            except RemoteProtocolError as exc:
                self.close(1002, "protocol error")
                raise WebSocketClosed(f"protocol error: {exc}") from exc

    def stop_after_flush(self) -> None:
        """Stop queueing; the writer flushes what is queued and stops (no close frame)."""
        self._closing = True
        self._wake.set()

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Queue a close frame; the writer flushes it and stops."""
        if self._ws.state is ConnectionState.OPEN:
            self._enqueue(self._ws.send(CloseConnection(code=code, reason=reason)))
        self._closing = True
        self._wake.set()

    async def finish(self) -> None:
        """Wait (bounded) for the writer to flush, then close the TCP stream."""
        self._closing = True
        self._wake.set()
        with trio.move_on_after(_CLOSE_FLUSH_SECONDS, shield=True):
            await self._flushed.wait()
        await self.abort()

    async def abort(self) -> None:
        """Close the TCP connection now, without a close handshake."""
        self.closed = True
        self._closing = True
        self._wake.set()
        await self._stream.aclose()


class StreamSession:
    """The lifetime of one stream connection: a writer task, a handler, a bounded close.

    Subclasses implement :meth:`serve`. :meth:`kick` ends the session from synchronous code
    (the market tick): it cancels the handler, and the writer gets a bounded time to flush.
    """

    def __init__(self, ws: ServerWebSocket) -> None:
        self.ws = ws
        self._scope: trio.CancelScope | None = None
        self._kicked = False

    async def serve(self) -> None:
        raise NotImplementedError

    def kick(self) -> None:
        """End the session: stop reading, flush what is queued (bounded), close TCP."""
        self._kicked = True
        self.ws.stop_after_flush()
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        """Serve the connection until either side ends it; always closes the TCP stream."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.ws.run_writer)
            with trio.CancelScope() as self._scope:
                if self._kicked:
                    self._scope.cancel()
                try:
                    await self.serve()
                except WebSocketClosed as exc:
                    logger.debug("websocket ended: %s", exc)
            await self.ws.finish()

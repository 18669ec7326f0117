"""HTTP/1.1 with keep-alive on h11, and the hand-off of WebSocket upgrades to the caller."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qsl, unquote

import attrs
import h11
import orjson
import trio

logger = logging.getLogger(__name__)

_RECEIVE_BYTES: Final = 65536
MAX_BODY_BYTES: Final = 1 << 20
_REASONS: Final = {
    200: b"OK",
    204: b"No Content",
    207: b"Multi-Status",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
    422: b"Unprocessable Entity",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


@attrs.frozen(kw_only=True)
class Request:
    """One parsed HTTP request; header names lower-cased; ``path`` percent-decoded."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@attrs.frozen(kw_only=True)
class Response:
    """One HTTP response."""

    status: int
    body: bytes = b""
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(cls, status: int, payload: object, *, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Response:
        return cls(status=status, body=orjson.dumps(payload), headers=headers)


class Drop:
    """Returned by a handler to close the connection without replying (fault injection)."""


DROP: Final = Drop()

Handler = Callable[[Request], Awaitable[Response | Drop]]
UpgradeHandler = Callable[[Request, trio.abc.Stream, bytes], Awaitable[None]]
IsUpgrade = Callable[[str, dict[str, str]], bool]


def _parse_target(target: bytes) -> tuple[str, dict[str, str]]:
    text = target.decode("latin-1")
    path, _, query = text.partition("?")
    # alpaca-py sends BTC/USD unencoded; a client that encodes it (BTC%2FUSD) means the same
    params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    return unquote(path), params


def _response_bytes(conn: h11.Connection, response: Response) -> bytes:
    headers: list[tuple[bytes, bytes]] = [(b"Server", b"pyrt-local-venue")]
    if response.status != 204:
        headers.append((b"Content-Type", response.content_type))
        headers.append((b"Content-Length", str(len(response.body)).encode()))
    headers.extend(response.headers)
    out = conn.send(
        h11.Response(status_code=response.status, headers=headers, reason=_REASONS.get(response.status, b""))
    )
    assert out is not None
    if response.body and response.status != 204:
        data = conn.send(h11.Data(data=response.body))
        assert data is not None
        out += data
    end = conn.send(h11.EndOfMessage())
    assert end is not None
    return out + end


async def serve_http_connection(
    stream: trio.abc.Stream,
    *,
    handler: Handler,
    is_upgrade: IsUpgrade,
    on_upgrade: UpgradeHandler,
) -> None:
    """Serve requests on one connection until the client closes it or an upgrade takes it over."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(_RECEIVE_BYTES)
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                return
            path, query = _parse_target(event.target)
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers
            }
            method = event.method.decode("ascii")
            body = bytearray()
            too_big = False
            while True:
                part = conn.next_event()
                if part is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(_RECEIVE_BYTES)))
                elif isinstance(part, h11.Data):
                    body += part.data
                    too_big = too_big or len(body) > MAX_BODY_BYTES
                    if too_big:
                        body.clear()
                elif isinstance(part, h11.EndOfMessage) or part is h11.PAUSED:
                    break
                else:
                    return
            request = Request(method=method, path=path, query=query, headers=headers, body=bytes(body))
            if is_upgrade(method, headers):
                trailing, _closed = conn.trailing_data
                await on_upgrade(request, stream, bytes(trailing))
                return
            if too_big:
                response: Response | Drop = Response.json(
                    413, {"code": 41300000, "message": "request body too large"}
                )
            else:
                response = await handler(request)
            if isinstance(response, Drop):
                await stream.aclose()
                return
            await stream.send_all(_response_bytes(conn, response))
            if conn.our_state is h11.MUST_CLOSE:
                await stream.aclose()
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        logger.debug("bad HTTP from client: %s", exc)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                bad = Response.json(
                    exc.error_status_hint, {"code": 40010000, "message": "malformed HTTP request"}
                )
                await stream.send_all(_response_bytes(conn, bad))
            except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        logger.debug("HTTP connection lost: %s", exc)

"""The Alpaca trading client: REST v2 order entry and the ``trade_updates`` stream."""

from __future__ import annotations

import email.utils
import logging
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, TypeVar, final

import attrs
import httpx
import orjson
import trio
import trio_websocket

from ...errors import (
    DecodeError,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from ...messages import Message, OrderSubmitted
from ...runtime.clock import NS_PER_SECOND, Clock
from .._protocols import AccountSnapshot, Emit, VenueOrder, VenuePosition
from ._backoff import Backoff, TokenBucket
from ._updates import OrderUpdateMapper
from ._wire import (
    UnsupportedOrder,
    account_from_wire,
    loads_frame,
    order_from_wire,
    order_request,
    position_from_wire,
)
from ._ws import (
    CONNECTION_ERRORS,
    Prober,
    StreamConnector,
    check_rejection,
    describe,
    open_connection,
)

__all__ = ["AlpacaBroker", "AlpacaBrokerStatistics"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: First retry delay of reads and cancels; doubles per retry (1 s, 2 s, 4 s: the seed's policy).
BACKOFF_BASE: Final = 1.0
#: The longest a 429 may ask us to wait before the header is treated as nonsense.
MAX_RETRY_AFTER: Final = 60.0
DEFAULT_RETRY_AFTER: Final = 1.0
OPEN_ORDERS_PAGE: Final = 500
_MAX_PAGES: Final = 100
_HANDSHAKE_TIMEOUT: Final = 10.0
_MAX_UNSUPPORTED_REMEMBERED: Final = 10_000


@final
@attrs.frozen(kw_only=True)
class AlpacaBrokerStatistics:
    """A snapshot of an :class:`AlpacaBroker`'s counters."""

    requests: int
    """REST attempts sent (each retry counts)."""
    responses_by_status: dict[int, int]
    """REST replies per HTTP status (a copy)."""
    transport_errors: int
    """REST attempts that got no reply (timeout, connect or read error)."""
    retries: int
    """Internal retries of reads and cancels (submits are never retried here)."""
    rate_limit_waits: int
    """Requests that waited for the client-side token bucket."""
    rate_limit_wait_seconds: float
    """Total time spent waiting for the token bucket, on the run's clock."""
    stream_connects: int
    """trade_updates sessions that reached ``listening``."""
    stream_disconnects: int
    """trade_updates sessions lost or failed to start."""
    stream_up: bool
    """Whether the trade_updates stream is listening now."""
    polls: int
    """REST polls of open orders made while the stream was down or just back."""
    updates_emitted: int
    """``order.*`` messages handed to ``emit``."""
    updates_dropped: int
    """trade_updates messages that could not be read (counted and skipped)."""
    duplicates_dropped: int
    """Updates already reported (a fill seen by a poll and again on the stream …)."""
    synthesized_fills: int
    """Fills inferred from order state (missed on the stream), with deterministic ids."""
    unsupported_orders: int
    """Distinct venue orders refused because pyrt cannot represent them (trailing stops,
    bracket/OCO/OTO legs, ``opg``/``cls`` …): left out of lists and updates, each logged once."""


def _stream_url_from(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + "/stream"
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + "/stream"
    raise ValueError(f"base_url must start with http:// or https://, was {base_url!r}")


@final
class AlpacaBroker:
    """Order entry against Alpaca's trading API v2 (or the local Alpaca-compatible venue).

    One ``httpx.AsyncClient`` (keep-alive) carries every request, with the API key headers.
    All requests share one client-side token bucket (see :class:`~._backoff.TokenBucket`:
    bursts of ``rate_limit_per_minute // 20``, never more than the limit in any minute).

    Failures are translated at this boundary; nothing above sees an httpx exception:

    - 429 → :class:`~pyrt.errors.RateLimited` with ``retry_after`` from ``Retry-After``, else
      ``X-RateLimit-Reset``, else 1 s;
    - 5xx (JSON or an HTML error page) → :class:`~pyrt.errors.VenueUnavailable`;
    - any other non-2xx → :class:`~pyrt.errors.VenueRejected` carrying Alpaca's ``message``
      and ``code``;
    - timeouts, connect and read errors, a connection closed mid-reply, an unreadable 2xx body →
      :class:`~pyrt.errors.TransportError` (the request may have reached the venue).

    :meth:`submit_order` makes exactly one attempt: the execution actor owns submit retries
    (and the lookup by ``client_order_id`` that keeps a retry from duplicating an order).
    Reads and cancels retry internally up to ``max_retries`` times (1 s, 2 s, 4 s …; a 429 waits
    its ``retry_after``); a :class:`~pyrt.errors.VenueRejected` is never retried.

    Args:
        base_url: the REST base, e.g. ``https://paper-api.alpaca.markets`` or
            ``http://127.0.0.1:8765``; requests go to ``base_url + "/v2/..."``.
        key_id: the API key id (sent as ``APCA-API-KEY-ID``).
        secret_key: the API secret (``APCA-API-SECRET-KEY``); never logged or shown.
        clock: the run's clock (rate limiter, backoff, polling, timestamps).
        rng: jitter for stream reconnects (the run's random source).
        stream_url: the trade_updates URL; default ``ws(s)://<base host>/stream``.
        rate_limit_per_minute: requests per minute; ``None`` switches the limiter off.
        max_retries: internal retries of reads and cancels.
        timeout: seconds for each of connect, read and write of one request.
        retry_backoff: first retry delay of reads and cancels (doubles per retry).
        reconnect_delay: first trade_updates reconnect delay (doubles, jittered).
        max_reconnect_delay: cap of the reconnect delay.
        poll_interval: seconds between REST polls of open orders while the stream is down.
        ping_interval: a stream quiet this long is pinged.
        ping_timeout: seconds to wait for the pong before replacing the connection.
        transport: an httpx transport to use instead of the network (tests, a simulated network).
        connect: opens the trade_updates stream's connection instead of a TCP socket (a
            simulated network, issue 10).

    Raises:
        ValueError: a URL that is not http(s)/ws(s), or a non-positive limit or delay.
    """

    def __init__(
        self,
        *,
        base_url: str,
        key_id: str,
        secret_key: str,
        clock: Clock,
        rng: random.Random | None = None,
        stream_url: str | None = None,
        rate_limit_per_minute: int | None = 200,
        max_retries: int = 3,
        timeout: float = 10.0,
        retry_backoff: float = BACKOFF_BASE,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 30.0,
        poll_interval: float = 1.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        connect: StreamConnector | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, was {max_retries!r}")
        for name, value in (
            ("timeout", timeout),
            ("poll_interval", poll_interval),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0, was {value!r}")
        if not (retry_backoff >= 0 and math.isfinite(retry_backoff)):
            raise ValueError(f"retry_backoff must be a finite number >= 0, was {retry_backoff!r}")
        self.base_url = base_url.rstrip("/")
        self.stream_url = stream_url if stream_url is not None else _stream_url_from(self.base_url)
        if not self.stream_url.startswith(("ws://", "wss://")):
            raise ValueError(f"stream_url must start with ws:// or wss://, was {self.stream_url!r}")
        self._key_id = key_id
        self._secret_key = secret_key
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._max_retries = max_retries
        self._timeout = timeout
        self._retry_backoff = retry_backoff
        self._backoff = Backoff(base=reconnect_delay, cap=max_reconnect_delay, rng=self._rng)
        self._poll_interval = poll_interval
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._bucket = (
            TokenBucket(per_minute=rate_limit_per_minute, clock=clock)
            if rate_limit_per_minute is not None
            else None
        )
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "APCA-API-KEY-ID": key_id,
                "APCA-API-SECRET-KEY": secret_key,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )
        self._connect = connect
        self._updates = OrderUpdateMapper()
        self._requests = 0
        self._by_status: dict[int, int] = {}
        self._transport_errors = 0
        self._retries = 0
        self._stream_connects = 0
        self._stream_disconnects = 0
        self._stream_up = False
        self._listening = trio.Event()
        self._polls = 0
        self._emitted = 0
        self._dropped = 0
        self._unsupported: OrderedDict[str, None] = OrderedDict()
        self._unsupported_count = 0

    def __repr__(self) -> str:
        return f"AlpacaBroker(base_url={self.base_url!r}, stream_url={self.stream_url!r})"

    # ------------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        """Close the HTTP connection pool. Idempotent."""
        await self._client.aclose()

    async def __aenter__(self) -> AlpacaBroker:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()

    def statistics(self) -> AlpacaBrokerStatistics:
        """Return a snapshot of the broker's counters."""
        bucket = self._bucket
        return AlpacaBrokerStatistics(
            requests=self._requests,
            responses_by_status=dict(self._by_status),
            transport_errors=self._transport_errors,
            retries=self._retries,
            rate_limit_waits=bucket.waits if bucket is not None else 0,
            rate_limit_wait_seconds=bucket.waited_seconds if bucket is not None else 0.0,
            stream_connects=self._stream_connects,
            stream_disconnects=self._stream_disconnects,
            stream_up=self._stream_up,
            polls=self._polls,
            updates_emitted=self._emitted,
            updates_dropped=self._dropped,
            duplicates_dropped=self._updates.duplicates,
            synthesized_fills=self._updates.synthesized_fills,
            unsupported_orders=self._unsupported_count,
        )

    async def wait_listening(self) -> None:
        """Wait until :meth:`run_updates` is listening on the trade_updates stream.

        Returns at once (after a checkpoint) if it is; cancellation changes nothing.
        """
        await self._listening.wait()

    # ------------------------------------------------------------------ REST plumbing

    def _retry_after(self, response: httpx.Response) -> float:
        header = response.headers.get("retry-after")
        if header is not None:
            text = header.strip()
            try:
                seconds = float(text)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(text)
                except (TypeError, ValueError):
                    seconds = math.nan
                else:
                    seconds = when.timestamp() - self._clock.now_ns() / NS_PER_SECOND
            if math.isfinite(seconds):
                return min(max(seconds, 0.0), MAX_RETRY_AFTER)
        reset = response.headers.get("x-ratelimit-reset")
        if reset is not None:
            try:
                seconds = float(reset) - self._clock.now_ns() / NS_PER_SECOND
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds):
                return min(max(seconds, 0.0), MAX_RETRY_AFTER)
        return DEFAULT_RETRY_AFTER

    def _error(self, method: str, path: str, response: httpx.Response) -> VenueError:
        status = response.status_code
        message: str | None = None
        code: int | None = None
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = None  # an HTML page from a proxy, or nothing useful
        if isinstance(body, dict):
            raw_message = body.get("message")
            message = raw_message if isinstance(raw_message, str) and raw_message else None
            raw_code = body.get("code")
            if isinstance(raw_code, int) and not isinstance(raw_code, bool):
                code = raw_code
            elif isinstance(raw_code, str) and raw_code.isdigit():
                code = int(raw_code)
        what = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status == 429:
            retry_after = self._retry_after(response)
            return RateLimited(f"{method} {path}: {message or what}", retry_after=retry_after)
        if status >= 500:
            detail = f": {message}" if message else ""
            return VenueUnavailable(f"{method} {path}: {what}{detail}", status_code=status)
        return VenueRejected(message or what, status_code=status, code=code)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
        urgent: bool = False,
    ) -> httpx.Response:
        """Make one attempt; return a 2xx response or raise the translated error.

        ``urgent`` (cancels) takes the rate limiter's next token ahead of waiting requests.
        """
        if self._bucket is not None:
            await self._bucket.acquire(urgent=urgent)
        self._requests += 1
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = await self._client.request(
                method,
                path,
                params=params,
                content=orjson.dumps(body) if body is not None else None,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            self._transport_errors += 1
            raise TransportError(f"{method} {path}: no reply within {self._timeout} s ({exc!r})") from exc
        except (httpx.HTTPError, OSError, trio.BrokenResourceError) as exc:
            self._transport_errors += 1
            raise TransportError(f"{method} {path}: {exc!r}") from exc
        status = response.status_code
        self._by_status[status] = self._by_status.get(status, 0) + 1
        if 200 <= status < 300:
            return response
        raise self._error(method, path, response)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        urgent: bool = False,
    ) -> httpx.Response:
        """Send with retries (reads and cancels only): 1 s, 2 s, 4 s …, or a 429's ``retry_after``."""
        attempt = 0
        while True:
            try:
                return await self._send(method, path, params=params, urgent=urgent)
            except (RateLimited, VenueUnavailable, TransportError) as exc:
                if attempt >= self._max_retries:
                    raise
                delay = (
                    exc.retry_after if isinstance(exc, RateLimited) else self._retry_backoff * 2.0**attempt
                )
                attempt += 1
                self._retries += 1
                logger.warning(
                    "%s %s failed (%s); retry %d of %d in %.1f s",
                    method,
                    path,
                    exc,
                    attempt,
                    self._max_retries,
                    delay,
                )
                await self._clock.sleep(delay)

    @staticmethod
    def _parse(response: httpx.Response, parse: Callable[[object], T], what: str) -> T:
        """Parse a 2xx body; an unreadable one is a TransportError (the reply did not arrive whole)."""
        try:
            return parse(orjson.loads(response.content))
        except (orjson.JSONDecodeError, DecodeError) as exc:
            raise TransportError(f"unreadable reply to {what}: {exc}") from exc

    # ------------------------------------------------------------------ Broker protocol

    async def submit_order(self, order: OrderSubmitted) -> VenueOrder:
        """Send one order under its ``client_order_id``, once (never retried here).

        Returns:
            The venue's acknowledgement.

        Raises:
            VenueRejected: a 4xx other than 429 (with Alpaca's message and code).
            RateLimited: a 429; nothing was placed.
            VenueUnavailable: a 5xx; the order may or may not have been placed.
            TransportError: no usable reply; the order may or may not have been placed.
        """
        self._updates.expect(order.client_order_id)
        try:
            response = await self._send("POST", "/v2/orders", body=order_request(order))
        except (VenueRejected, RateLimited) as exc:
            # 422 may be "client_order_id must be unique": an earlier attempt got through
            if not (isinstance(exc, VenueRejected) and exc.status_code == 422):
                self._updates.forget(order.client_order_id)
            raise
        venue_order = self._parse(response, order_from_wire, "POST /v2/orders")
        self._updates.on_submit_reply(venue_order)
        logger.info(
            "order %s placed as %s (%s)",
            order.client_order_id,
            venue_order.venue_order_id,
            venue_order.status,
        )
        return venue_order

    async def cancel_order(self, venue_order_id: str) -> None:
        """Ask the venue to cancel an order (retried on 5xx/429/transport errors).

        A 204 means the cancel was accepted, not done: the outcome arrives as an update. It goes
        ahead of requests waiting on the rate limiter: a cancel never queues behind submits.

        Raises:
            VenueRejected: unknown order (404) or not cancelable any more (422).
            RateLimited, VenueUnavailable, TransportError: retries ran out.
        """
        await self._call("DELETE", f"/v2/orders/{venue_order_id}", urgent=True)

    async def _get_by_client_id(self, client_order_id: str, *, retry: bool) -> VenueOrder | None:
        path = "/v2/orders:by_client_order_id"
        params = {"client_order_id": client_order_id}
        try:
            if retry:
                response = await self._call("GET", path, params=params)
            else:
                response = await self._send("GET", path, params=params)
        except VenueRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return self._parse(response, order_from_wire, f"GET {path}")

    async def get_order_by_client_id(self, client_order_id: str) -> VenueOrder | None:
        """Look an order up by its client order id.

        Returns:
            The order, or ``None`` if the venue never saw it (404).

        Raises:
            VenueRejected, RateLimited, VenueUnavailable, TransportError: as for every request.
        """
        found = await self._get_by_client_id(client_order_id, retry=True)
        if found is not None:
            self._updates.on_lookup(found)
        return found

    async def _open_orders(self) -> list[VenueOrder]:
        orders: dict[str, VenueOrder] = {}
        params = {"status": "open", "limit": str(OPEN_ORDERS_PAGE), "direction": "asc"}
        for _ in range(_MAX_PAGES):
            response = await self._call("GET", "/v2/orders", params=params)
            page = self._parse(response, _as_list, "GET /v2/orders")
            for raw in page:
                try:
                    order = order_from_wire(raw)
                except UnsupportedOrder as exc:
                    self._refuse_unsupported(exc, "GET /v2/orders")
                    continue
                except DecodeError as exc:
                    raise TransportError(f"unreadable reply to GET /v2/orders: {exc}") from exc
                orders[order.venue_order_id] = order
            last = page[-1] if page else None
            after = last.get("submitted_at") if isinstance(last, dict) else None
            if len(page) < OPEN_ORDERS_PAGE or not isinstance(after, str):
                break
            params = {**params, "after": after}
        return list(orders.values())

    @staticmethod
    def _parse_item(raw: object, parse: Callable[[object], T], what: str) -> T:
        try:
            return parse(raw)
        except DecodeError as exc:
            raise TransportError(f"unreadable reply to {what}: {exc}") from exc

    async def list_open_orders(self) -> list[VenueOrder]:
        """Return the orders still working at the venue, oldest first (all pages).

        Raises:
            VenueRejected, RateLimited, VenueUnavailable, TransportError: as for every request.
        """
        return await self._open_orders()

    async def list_positions(self) -> list[VenuePosition]:
        """Return the venue's positions (quantity negative for shorts).

        Raises:
            VenueRejected, RateLimited, VenueUnavailable, TransportError: as for every request.
        """
        response = await self._call("GET", "/v2/positions")
        page = self._parse(response, _as_list, "GET /v2/positions")
        return [self._parse_item(raw, position_from_wire, "GET /v2/positions") for raw in page]

    async def get_account(self) -> AccountSnapshot:
        """Return cash, buying power, equity and the account's standing (status, blocks).

        Raises:
            VenueRejected, RateLimited, VenueUnavailable, TransportError: as for every request
                (an account whose status or blocks cannot be read is a TransportError).
        """
        response = await self._call("GET", "/v2/account")
        return self._parse(response, account_from_wire, "GET /v2/account")

    # ------------------------------------------------------------------ trade_updates

    async def run_updates(
        self,
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream order updates as ``order.accepted|filled|canceled|rejected`` until cancelled.

        Connects to ``stream_url``, authenticates, listens to ``trade_updates`` and maps each
        update (``new``/``accepted`` → accepted; ``fill``/``partial_fill`` → filled;
        ``canceled``/``expired`` → canceled; ``rejected`` → rejected; ``done_for_day`` and the
        other working states end nothing: see :mod:`._updates`). When the connection is lost it reconnects with capped, jittered exponential
        backoff and, meanwhile, polls open orders over REST every ``poll_interval`` and reports
        what changed; after reconnecting it polls once more, so no fill falls in the gap.

        Calls ``task_status.started()`` once listening, or, if the stream cannot be reached at
        first, once a REST poll has succeeded (updates then flow from polling).

        Raises:
            VenueRejected: the stream refused the keys, or the upgrade was refused with a 4xx.
        """
        started = False

        def mark_started() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        reconcile = False
        while True:
            try:
                await self._stream_session(emit, mark_started, reconcile=reconcile)
                reason = "closed by the venue"
            except CONNECTION_ERRORS as exc:
                check_rejection(exc, what="trade_updates")
                reason = describe(exc)
            self._stream_up = False
            if self._listening.is_set():
                self._listening = trio.Event()
            self._stream_disconnects += 1
            reconcile = True
            delay = self._backoff.next_delay()
            logger.warning(
                "trade_updates down (%s, %d so far); polling orders, reconnecting in %.2f s",
                reason,
                self._stream_disconnects,
                delay,
            )
            if await self._poll_until(self._clock.monotonic() + delay, emit):
                mark_started()

    async def _stream_session(self, emit: Emit, mark_started: Callable[[], None], *, reconcile: bool) -> None:
        async with open_connection(self.stream_url, connect=self._connect) as ws:
            with trio.fail_after(_HANDSHAKE_TIMEOUT):
                await self._authenticate(ws)
            self._stream_up = True
            self._listening.set()
            self._stream_connects += 1
            self._backoff.reset()
            logger.info("trade_updates listening on %s", self.stream_url)
            mark_started()
            if reconcile:
                await self._poll(emit)
            prober = Prober(timeout=self._ping_timeout)
            while True:
                raw: str | bytes | None = None
                with trio.move_on_after(self._ping_interval):
                    raw = await ws.get_message()
                if raw is None:
                    await prober.probe(ws)
                    continue
                batch = self._on_stream_message(raw)
                if batch:
                    self._emitted += len(batch)
                    await emit(batch)

    async def _authenticate(self, ws: trio_websocket.WebSocketConnection) -> None:
        auth = {"action": "authenticate", "data": {"key_id": self._key_id, "secret_key": self._secret_key}}
        await ws.send_message(orjson.dumps(auth).decode())
        reply = await self._next_control(ws)
        data = reply.get("data")
        status = data.get("status") if isinstance(data, dict) else None
        if reply.get("stream") != "authorization" or status != "authorized":
            logger.error("trade_updates refused the API keys (%s)", status)
            raise VenueRejected(
                f"trade_updates authorization failed: {status or 'no authorization reply'}", status_code=401
            )
        listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
        await ws.send_message(orjson.dumps(listen).decode())
        while True:
            reply = await self._next_control(ws)
            if reply.get("stream") == "listening":
                data = reply.get("data")
                streams = data.get("streams") if isinstance(data, dict) else None
                if not (isinstance(streams, list) and "trade_updates" in streams):
                    raise VenueRejected(
                        f"trade_updates not granted: listening to {streams!r}", status_code=403
                    )
                return
            if reply.get("stream") == "authorization":
                raise VenueRejected("trade_updates listen refused: unauthorized", status_code=401)

    @staticmethod
    async def _next_control(ws: trio_websocket.WebSocketConnection) -> dict[str, object]:
        while True:
            raw = await ws.get_message()
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(message, dict):
                return message

    def _on_stream_message(self, raw: str | bytes) -> list[Message]:
        try:
            message = loads_frame(raw, msgpack_frames=False)
        except ValueError:
            self._drop_update("not JSON", raw)
            return []
        if not isinstance(message, dict):
            self._drop_update("not an object", raw)
            return []
        stream = message.get("stream")
        data = message.get("data")
        if stream != "trade_updates":
            if stream == "error":
                logger.warning("trade_updates error message: %r", data)
            return []
        if not isinstance(data, dict):
            self._drop_update("no data", raw)
            return []
        try:
            return self._updates.on_stream(data, ts_init=self._clock.now_ns())
        except UnsupportedOrder as exc:
            self._refuse_unsupported(exc, "trade_updates")
            return []
        except (DecodeError, ValueError) as exc:
            self._drop_update(str(exc), raw)
            return []

    def _refuse_unsupported(self, exc: UnsupportedOrder, where: str) -> None:
        """Count an order pyrt cannot represent and say so once per order, at ERROR."""
        if exc.venue_order_id in self._unsupported:
            return
        self._unsupported[exc.venue_order_id] = None
        if len(self._unsupported) > _MAX_UNSUPPORTED_REMEMBERED:
            self._unsupported.popitem(last=False)
        self._unsupported_count += 1
        logger.error(
            "%s: %s; not tracked by pyrt (its fills will not be counted here and will show as a "
            "position mismatch): handle it at the venue (%d such order(s) so far)",
            where,
            exc,
            self._unsupported_count,
        )

    def _drop_update(self, why: str, raw: str | bytes) -> None:
        self._dropped += 1
        preview = raw[:120] if isinstance(raw, str) else raw[:120].decode("utf-8", "replace")
        logger.warning("trade_updates message skipped (%s; %d so far): %r", why, self._dropped, preview)

    # ------------------------------------------------------------------ polling fallback

    async def _poll(self, emit: Emit) -> bool:
        """Read open orders (and the orders that left the open list); report what changed."""
        self._polls += 1
        try:
            open_orders = await self._open_orders()
        except VenueError as exc:
            logger.warning("order poll failed: %s", exc)
            return False
        now = self._clock.now_ns()
        updates = self._updates
        batch: list[Message] = []
        seen: set[str] = set()
        for order in open_orders:
            seen.add(order.client_order_id)
            batch.extend(updates.on_snapshot(order, ts_event=now, ts_init=now))
        for client_order_id in updates.open_client_order_ids():
            if client_order_id in seen:
                continue
            try:
                found = await self._get_by_client_id(client_order_id, retry=False)
            except VenueError as exc:
                logger.warning("order poll could not read %s: %s", client_order_id, exc)
                continue
            if found is None:
                updates.forget(client_order_id)
                continue
            now = self._clock.now_ns()
            batch.extend(updates.on_snapshot(found, ts_event=now, ts_init=now))
        if batch:
            logger.info("order poll found %d update(s)", len(batch))
            self._emitted += len(batch)
            await emit(batch)
        return True

    async def _poll_until(self, deadline: float, emit: Emit) -> bool:
        """Poll every ``poll_interval`` until ``deadline`` (run's clock); return whether one worked."""
        ok = False
        clock = self._clock
        while True:
            ok = await self._poll(emit) or ok
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return ok
            await clock.sleep(min(self._poll_interval, remaining))


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise DecodeError(f"expected a JSON array, was {type(value).__name__}", source="alpaca.rest")
    return value

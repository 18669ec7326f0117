"""The Alpaca market-data client: one WebSocket endpoint → batches of ``market.*`` messages."""

from __future__ import annotations

import logging
import math
import random
import reprlib
from collections import deque
from collections.abc import Sequence
from typing import Final, Literal, final

import attrs
import msgpack
import orjson
import trio
import trio_websocket

from ...errors import VenueRejected
from ...messages import Message
from ...runtime.clock import Clock
from .._protocols import Emit, MarketDataFeed
from ._backoff import Backoff
from ._wire import MALFORMED, OVERSIZED, TOO_DEEP, FrameDecoder, FrameTooDeep, loads_frame
from ._ws import (
    CONNECTION_ERRORS,
    HARD_MESSAGE_LIMIT,
    Prober,
    StreamConnector,
    StreamDown,
    check_rejection,
    close_code,
    describe,
    open_connection,
)

__all__ = ["AlpacaFeed", "AlpacaFeedStatistics", "RoutedFeed"]

logger = logging.getLogger(__name__)

Channel = Literal["trades", "quotes", "bars", "orderbooks"]
CHANNELS: Final[frozenset[str]] = frozenset({"trades", "quotes", "bars", "orderbooks"})
#: Stream error codes that reconnecting cannot fix (protocol reference section 1.6).
FATAL_CODES: Final = frozenset({400, 401, 402, 405, 408, 409, 410, 411})
CONNECTION_LIMIT: Final = 406
ALREADY_AUTHENTICATED: Final = 403
#: trio-websocket's queue of received messages: lets its reader run ahead of decoding a little.
_MESSAGE_QUEUE: Final = 8
#: Default ``max_frame_bytes``: Alpaca's frames are a few KiB (crypto book snapshots some 100 KiB).
MAX_FRAME_BYTES: Final = 1 << 20


def _preview_repr() -> reprlib.Repr:
    """A ``repr`` for log previews: bounded in depth and length, whatever the venue sent."""
    preview = reprlib.Repr()
    preview.maxlevel = 3
    preview.maxstring = preview.maxother = 60
    preview.maxlist = 4
    preview.maxdict = 12
    return preview


_PREVIEW: Final = _preview_repr()


class _ConnectionLimit(Exception):
    """Error 406: another session holds this key's only connection."""


@final
@attrs.frozen(kw_only=True)
class AlpacaFeedStatistics:
    """A snapshot of an :class:`AlpacaFeed`'s counters."""

    connected: bool
    """Whether a session is subscribed now."""
    connects: int
    """Sessions that got as far as a subscription."""
    disconnects: int
    """Sessions lost, or attempts that failed before subscribing."""
    connection_limit_hits: int
    """Times the venue refused a session with error 406 (connection limit)."""
    frames: int
    """Data frames received (after the handshake of each session), skipped ones included."""
    batches: int
    """Calls of ``emit`` (one per frame that held at least one good message)."""
    messages: int
    """Messages handed to ``emit``."""
    frames_skipped: dict[str, int]
    """Frames not decoded, by reason: ``malformed`` (not JSON/msgpack, not an array, cut short),
    ``too_deep`` (nested deeper than a decoder may go) or ``oversized`` (over
    ``max_frame_bytes``, or over the WebSocket limit, which costs the connection); handshake
    frames included."""
    items_dropped: dict[str, int]
    """Bad items dropped from decoded frames, by reason: ``missing_field``, ``invalid_value``
    (NaN, negative, a zero trade price, bad timestamp …), ``bad_type``, ``unknown_type``. Crossed
    and one-sided quotes are kept, not dropped (``specs/marketdata.md`` M9)."""
    items_unmapped: int
    """Well-formed Alpaca items pyrt does not use (statuses, LULDs, corrections, updated bars …)."""


class _RateLimitedLog:
    """WARNING for the first event of a kind, then at most one per ``interval`` with a tally."""

    __slots__ = ("_clock", "_interval", "_last", "_suppressed")

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, what: str, reason: str, total: int, sample: object) -> None:
        now = self._clock.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        logger.warning(
            "%s (%s; %d so far, %d more since the last warning): %.160s",
            what,
            reason,
            total,
            suppressed,
            _PREVIEW.repr(sample),
        )


@final
class AlpacaFeed:
    """Alpaca's market-data stream (one endpoint) as a :class:`~pyrt.venues.MarketDataFeed`.

    A session connects, waits for ``connected``, authenticates, subscribes ``channels`` for the
    symbols given to :meth:`run` and then turns each frame into one batch for ``emit``
    (``t`` → :class:`~pyrt.messages.TradeReceived`, ``q`` → ``QuoteReceived``, ``b`` →
    ``BarReceived`` with timeframe ``"1m"``, ``o`` → ``BookReceived``). Bad items are dropped
    one by one and bad frames skipped, each counted in :meth:`statistics` and logged at WARNING
    at most once per ``log_interval`` per reason.

    Lost connections are replaced with capped, jittered exponential backoff and the
    subscription is sent again. A connection quiet for ``silence_timeout`` is pinged and
    replaced when no pong comes within ``ping_timeout``. Error 406 (connection limit: another
    session uses the key) waits ``connection_limit_delay`` and logs an ERROR. Errors that
    reconnecting cannot fix (402 auth failed, 409 insufficient subscription, 405, 410, 411 …)
    raise :class:`~pyrt.errors.VenueRejected`.

    One feed serves one endpoint: stocks (``/v2/iex``, ``/v2/sip``) or crypto
    (``/v1beta3/crypto/us``). :class:`RoutedFeed` splits a symbol list between the two.

    Args:
        url: the complete stream URL, e.g. ``wss://stream.data.alpaca.markets/v2/iex``.
        key_id: the API key id.
        secret_key: the API secret; never logged or shown.
        clock: the run's clock (ts_init, backoff, rate-limited logging).
        rng: the run's random source (reconnect jitter).
        channels: what to subscribe for every symbol; ``orderbooks`` only on crypto endpoints.
        encoding: ``"msgpack"`` (binary frames, as Alpaca's SDKs use) or ``"json"``.
        reconnect_delay_secs: first reconnect delay (doubles per failure, jittered).
        max_reconnect_delay: cap of the reconnect delay.
        silence_timeout: seconds without a frame before the connection is probed with a ping.
        ping_timeout: seconds to wait for the pong.
        connection_limit_delay: wait after error 406, jittered in ``[d/2, d]``.
        handshake_timeout: seconds for connected + auth + subscription.
        max_frame_bytes: frames larger than this are skipped undecoded, handshake frames too
            (``specs/marketdata.md`` M1).
        log_interval: minimum seconds between two warnings of the same reason.
        crypto: whether the endpoint is a crypto one; default: ``"/crypto/"`` in ``url``.
        connect: opens the connection instead of a TCP socket (a simulated network, issue 10).

    Raises:
        ValueError: unknown channel, orderbooks on a stock endpoint, bad encoding or delays.
    """

    def __init__(
        self,
        *,
        url: str,
        key_id: str,
        secret_key: str,
        clock: Clock,
        rng: random.Random,
        channels: Sequence[Channel] = ("trades", "quotes"),
        encoding: Literal["msgpack", "json"] = "msgpack",
        reconnect_delay_secs: float = 1.0,
        max_reconnect_delay: float = 30.0,
        silence_timeout: float = 10.0,
        ping_timeout: float = 5.0,
        connection_limit_delay: float = 60.0,
        handshake_timeout: float = 10.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        log_interval: float = 10.0,
        crypto: bool | None = None,
        connect: StreamConnector | None = None,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, was {url!r}")
        unknown = sorted(set(channels) - CHANNELS)
        if unknown or not channels:
            raise ValueError(f"channels must be some of {sorted(CHANNELS)}, was {list(channels)!r}")
        self.crypto = ("/crypto/" in url) if crypto is None else crypto
        if "orderbooks" in channels and not self.crypto:
            raise ValueError(f"orderbooks exist only on crypto endpoints, not on {url!r}")
        if encoding not in ("msgpack", "json"):
            raise ValueError(f"encoding must be 'msgpack' or 'json', was {encoding!r}")
        for name, value in (
            ("silence_timeout", silence_timeout),
            ("ping_timeout", ping_timeout),
            ("connection_limit_delay", connection_limit_delay),
            ("handshake_timeout", handshake_timeout),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0, was {value!r}")
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be >= 1, was {max_frame_bytes!r}")
        self.url = url
        self._connect = connect
        self.channels: tuple[str, ...] = tuple(dict.fromkeys(channels))
        self.encoding = encoding
        self._key_id = key_id
        self._secret_key = secret_key
        self._clock = clock
        self._rng = rng
        self._backoff = Backoff(base=reconnect_delay_secs, cap=max_reconnect_delay, rng=rng)
        self._silence_timeout = silence_timeout
        self._ping_timeout = ping_timeout
        self._connection_limit_delay = connection_limit_delay
        self._handshake_timeout = handshake_timeout
        self._max_frame_bytes = max_frame_bytes
        self._msgpack = encoding == "msgpack"
        self._log = _RateLimitedLog(clock, log_interval)
        self._decoder = FrameDecoder(on_drop=self._on_item_dropped)
        self._pending_controls: deque[dict[str, object]] = deque()
        self._connected = False
        self._connects = 0
        self._disconnects = 0
        self._limit_hits = 0
        self._frames = 0
        self._batches = 0
        self._messages = 0
        self._frames_skipped: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"AlpacaFeed(url={self.url!r}, channels={list(self.channels)!r}, encoding={self.encoding!r})"

    def statistics(self) -> AlpacaFeedStatistics:
        """Return a snapshot of the feed's counters."""
        return AlpacaFeedStatistics(
            connected=self._connected,
            connects=self._connects,
            disconnects=self._disconnects,
            connection_limit_hits=self._limit_hits,
            frames=self._frames,
            batches=self._batches,
            messages=self._messages,
            frames_skipped=dict(self._frames_skipped),
            items_dropped=dict(self._decoder.items_dropped),
            items_unmapped=self._decoder.unmapped,
        )

    # ------------------------------------------------------------------ decoding

    def _on_item_dropped(self, reason: str, item: object) -> None:
        self._log.warn("market data item dropped", reason, self._decoder.items_dropped.get(reason, 0), item)

    def _skip_frame(self, reason: str, raw: str | bytes) -> None:
        total = self._frames_skipped[reason] = self._frames_skipped.get(reason, 0) + 1
        self._log.warn(f"market data frame skipped ({len(raw)} bytes)", f"frame {reason}", total, raw[:80])

    def decode_frame(self, raw: str | bytes) -> list[Message]:
        """Decode one frame into messages, applying control messages; count what is dropped.

        Public so benchmarks and tests can measure exactly the decode the stream does.

        Raises:
            VenueRejected: the frame carries an error that reconnecting cannot fix.
            StreamDown: the frame carries an error after which the session must be replaced.
        """
        self._frames += 1
        document = self._load(raw)
        if document is None:
            return []
        messages, controls = self._decoder.decode(document, self._clock.now_ns())
        for control in controls:
            self._on_control(control)
        return messages

    def _load(self, raw: str | bytes) -> list[object] | None:
        """Return a frame's array, or ``None`` once the frame is counted and logged as skipped.

        The size is checked before anything is decoded; depth is bounded by the decoders (see
        :func:`loads_frame`). Every frame of a session goes through here, the handshake's too.
        """
        if len(raw) > self._max_frame_bytes:
            self._skip_frame(OVERSIZED, raw)
            return None
        try:
            document = loads_frame(raw, msgpack_frames=self._msgpack)
        except FrameTooDeep:
            self._skip_frame(TOO_DEEP, raw)
            return None
        except ValueError:
            self._skip_frame(MALFORMED, raw)
            return None
        if document.__class__ is not list:
            self._skip_frame(MALFORMED, raw)
            return None
        return document

    def _on_control(self, control: dict[str, object]) -> None:
        kind = control.get("T")
        if kind == "error":
            self._raise_for_error(control)
        elif kind == "subscription":
            logger.info("market data subscription on %s: %s", self.url, _subscription_text(control))

    def _raise_for_error(self, control: dict[str, object]) -> None:
        code = control.get("code")
        text = control.get("msg")
        if not isinstance(code, int) or code == ALREADY_AUTHENTICATED:
            logger.warning("market data error on %s: %r", self.url, control)
            return
        if code in FATAL_CODES:
            logger.error("market data on %s refused us for good: error %d %s", self.url, code, text)
            raise VenueRejected(f"market data {self.url}: error {code} {text}", status_code=code, code=code)
        if code == CONNECTION_LIMIT:
            raise _ConnectionLimit(f"error {code} {text}")
        raise StreamDown(f"error {code} {text}")

    # ------------------------------------------------------------------ session

    def _encode(self, message: dict[str, object]) -> str | bytes:
        if self._msgpack:
            packed: bytes = msgpack.packb(message, use_bin_type=True)
            return packed
        return orjson.dumps(message).decode()

    async def _next_control(self, ws: trio_websocket.WebSocketConnection, emit: Emit) -> dict[str, object]:
        """Return the next control message; data arriving meanwhile is decoded and emitted."""
        pending = self._pending_controls
        while not pending:
            raw = await ws.get_message()
            document = self._load(raw)
            if document is None:
                continue
            messages, controls = self._decoder.decode(document, self._clock.now_ns())
            pending.extend(controls)
            if messages:
                self._batches += 1
                self._messages += len(messages)
                await emit(messages)
        control = pending.popleft()
        if control.get("T") == "error":
            self._raise_for_error(control)
        return control

    async def _expect(
        self, ws: trio_websocket.WebSocketConnection, emit: Emit, kind: str, msg: str | None
    ) -> dict[str, object]:
        while True:
            control = await self._next_control(ws, emit)
            if control.get("T") == kind and (msg is None or control.get("msg") == msg):
                return control
            logger.debug(
                "market data on %s: skipping %r while waiting for %s", self.url, control, msg or kind
            )

    async def _handshake(
        self, ws: trio_websocket.WebSocketConnection, symbols: list[str], emit: Emit
    ) -> None:
        self._pending_controls.clear()
        await self._expect(ws, emit, "success", "connected")
        await ws.send_message(
            self._encode({"action": "auth", "key": self._key_id, "secret": self._secret_key})
        )
        await self._expect(ws, emit, "success", "authenticated")
        subscribe: dict[str, object] = {channel: symbols for channel in self.channels}
        subscribe["action"] = "subscribe"  # last, as alpaca-py sends it
        await ws.send_message(self._encode(subscribe))
        granted = await self._expect(ws, emit, "subscription", None)
        for channel in self.channels:
            have = granted.get(channel)
            held = set(have) if isinstance(have, list) else set()
            missing = [] if "*" in held else [s for s in symbols if s not in held]
            if missing:
                logger.warning("market data on %s: %s not subscribed for %s", self.url, channel, missing)

    async def _pump(self, ws: trio_websocket.WebSocketConnection, emit: Emit) -> None:
        prober = Prober(timeout=self._ping_timeout)
        silence = self._silence_timeout
        decode = self.decode_frame
        while True:
            raw: str | bytes | None = None
            with trio.move_on_after(silence):
                raw = await ws.get_message()
            if raw is None:
                await prober.probe(ws)
                continue
            batch = decode(raw)
            if batch:
                self._batches += 1
                self._messages += len(batch)
                await emit(batch)

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream ``channels`` for ``symbols`` into ``emit`` until cancelled, reconnecting as needed.

        Calls ``task_status.started()`` after the first subscription is confirmed. ``emit`` gets
        one batch per frame and may block (backpressure reaches the socket). Cancelling closes
        the connection.

        Raises:
            ValueError: no symbols.
            VenueRejected: an error reconnecting cannot fix (402 auth failed, 409 insufficient
                subscription …) or an upgrade refused with a 4xx.
        """
        wanted = list(dict.fromkeys(s.upper() for s in symbols))
        if not wanted:
            raise ValueError("symbols must not be empty")
        headers = [(b"Content-Type", b"application/msgpack")] if self._msgpack else None
        started = False
        while True:
            delay: float | None = None
            try:
                async with open_connection(
                    self.url,
                    extra_headers=headers,
                    message_queue_size=_MESSAGE_QUEUE,
                    max_message_size=max(HARD_MESSAGE_LIMIT, self._max_frame_bytes * 2),
                    connect=self._connect,
                ) as ws:
                    with trio.fail_after(self._handshake_timeout):
                        await self._handshake(ws, wanted, emit)
                    self._connected = True
                    self._connects += 1
                    self._backoff.reset()
                    logger.info("market data subscribed on %s (%d symbols)", self.url, len(wanted))
                    if not started:
                        started = True
                        task_status.started()
                    await self._pump(ws, emit)
                reason = "closed"
            except _ConnectionLimit as exc:
                self._limit_hits += 1
                half = self._connection_limit_delay / 2.0
                delay = half + self._rng.uniform(0.0, half)
                reason = str(exc)
                logger.error(
                    "market data on %s: connection limit exceeded (406): another session is using "
                    "these API keys on this endpoint; retrying in %.0f s (%d times so far)",
                    self.url,
                    delay,
                    self._limit_hits,
                )
            except CONNECTION_ERRORS as exc:
                check_rejection(exc, what=f"market data {self.url}")
                if close_code(exc) == 1009:  # over trio-websocket's limit: the frame cost the connection
                    self._skip_frame(OVERSIZED, b"")
                reason = describe(exc)
            finally:
                self._connected = False
            self._disconnects += 1
            if delay is None:
                delay = self._backoff.next_delay()
                logger.warning(
                    "market data on %s lost (%s, %d so far); reconnecting in %.2f s",
                    self.url,
                    reason,
                    self._disconnects,
                    delay,
                )
            await self._clock.sleep(delay)


def _subscription_text(control: dict[str, object]) -> str:
    parts = [f"{key}={value}" for key, value in control.items() if key != "T" and value]
    return ", ".join(parts) or "nothing"


@final
class RoutedFeed:
    """Split a symbol list between a stock feed and a crypto feed (pairs such as ``BTC/USD``).

    Args:
        stocks: the feed for equity symbols, if any are traded.
        crypto: the feed for crypto pairs (symbols with a ``/``), if any are traded.
    """

    def __init__(self, *, stocks: MarketDataFeed | None, crypto: MarketDataFeed | None) -> None:
        self.stocks = stocks
        self.crypto = crypto

    def __repr__(self) -> str:
        return f"RoutedFeed(stocks={self.stocks!r}, crypto={self.crypto!r})"

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run each feed for its symbols; ``task_status.started()`` once all have subscribed.

        Raises:
            ValueError: symbols of a kind that has no feed.
            VenueRejected: from either feed (the other is cancelled).
        """
        stock_symbols = [s for s in symbols if "/" not in s]
        crypto_symbols = [s for s in symbols if "/" in s]
        if stock_symbols and self.stocks is None:
            raise ValueError(f"no stock feed for {stock_symbols!r}")
        if crypto_symbols and self.crypto is None:
            raise ValueError(f"no crypto feed for {crypto_symbols!r}")
        if not symbols:
            raise ValueError("symbols must not be empty")
        if self.stocks is not None and not crypto_symbols:
            await self.stocks.run(stock_symbols, emit, task_status=task_status)
            return
        if self.crypto is not None and not stock_symbols:
            await self.crypto.run(crypto_symbols, emit, task_status=task_status)
            return
        stocks, crypto = self.stocks, self.crypto
        if stocks is None or crypto is None:  # pragma: no cover - both kinds were checked above
            raise ValueError("a feed is missing")
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(stocks.run, stock_symbols, emit)
                await nursery.start(crypto.run, crypto_symbols, emit)
                task_status.started()
        except BaseExceptionGroup as group:
            errors = [exc for exc in group.exceptions if not isinstance(exc, trio.Cancelled)]
            if len(errors) == 1:
                raise errors[0] from None  # one feed failed: its error, unwrapped
            raise

"""A simulated network on the run's clock: in-memory TCP-like connections with byte-level faults.

Every connection is two one-way pipes. A write is cut into pieces of at most the pipe's window;
each piece is due at the reader ``latency + jitter`` seconds later (never before the piece
ahead of it: bytes keep their order, as on TCP), and a writer waits while a window's worth is
in flight. Readers sleep on the run's clock until the head piece is due, so under trio's
``MockClock`` (autojump) a simulated second of network costs no wall time. Every random draw
comes from the ``random.Random`` the network is given, so a seed fixes every fault.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, final
from urllib.parse import urlsplit

import attrs
import trio

from ...runtime.clock import Clock

__all__ = [
    "NetworkFaults",
    "Partition",
    "SimNetwork",
    "SimNetworkStatistics",
    "SimStream",
    "open_sim_network",
]

logger = logging.getLogger(__name__)

DEFAULT_WINDOW: Final = 256 * 1024

ServerHandler = Callable[["SimStream"], Awaitable[None]]


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], was {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, was {value!r}")


@final
@attrs.frozen(kw_only=True)
class Partition:
    """The network is cut for ``duration`` seconds from ``start`` seconds after it opened."""

    start: float
    """Seconds after the network opened."""
    duration: float
    """Seconds the partition lasts."""

    def __attrs_post_init__(self) -> None:
        _check_seconds("start", self.start)
        _check_seconds("duration", self.duration)

    @property
    def end(self) -> float:
        """Seconds after the network opened at which the partition heals."""
        return self.start + self.duration


@final
@attrs.frozen(kw_only=True)
class NetworkFaults:
    """What the simulated network does to the bytes it carries (issue 10).

    The defaults are a clean, fast network: a little latency, no faults.
    """

    latency: float = 0.0005
    """One-way delay in seconds, per direction."""
    jitter: float = 0.0
    """Extra one-way delay drawn uniformly from ``[0, jitter]`` per write (order is kept)."""
    reset_probability: float = 0.0
    """Chance per write that the connection is reset after a random prefix of it (mid-frame):
    the reader gets the bytes before the cut, then ``BrokenResourceError``."""
    lost_reply_probability: float = 0.0
    """Chance per REST response that it is lost: the venue has processed the request and its
    write succeeds, but the client's connection breaks before any byte of the reply."""
    partitions: tuple[Partition, ...] = ()
    """Windows in which nothing crosses: connects wait for the end (or the caller's timeout)
    and bytes in flight are held until it heals."""
    window: int = DEFAULT_WINDOW
    """Bytes in flight per direction before a writer waits (backpressure)."""
    slow_reader_probability: float = 0.0
    """Chance per WebSocket connection that its client is a slow reader."""
    slow_reader_window: int = 4096
    """A slow reader's window, in bytes (the venue's writer waits on it)."""
    slow_reader_bytes_per_second: float = 64 * 1024.0
    """How fast a slow reader drains its connection."""

    def __attrs_post_init__(self) -> None:
        _check_seconds("latency", self.latency)
        _check_seconds("jitter", self.jitter)
        _check_probability("reset_probability", self.reset_probability)
        _check_probability("lost_reply_probability", self.lost_reply_probability)
        _check_probability("slow_reader_probability", self.slow_reader_probability)
        if self.window < 1 or self.slow_reader_window < 1:
            raise ValueError(f"windows must be >= 1 byte, were {self.window} and {self.slow_reader_window}")
        if not (self.slow_reader_bytes_per_second > 0 and math.isfinite(self.slow_reader_bytes_per_second)):
            raise ValueError(
                f"slow_reader_bytes_per_second must be a finite number > 0, was {self.slow_reader_bytes_per_second!r}"
            )


@final
@attrs.frozen(kw_only=True)
class SimNetworkStatistics:
    """Counters of one :class:`SimNetwork`."""

    connections: int
    """Connections opened so far."""
    open_connections: int
    """Connections with at least one end still open."""
    connects_held: int
    """Connects that waited for a partition to heal."""
    bytes_sent: int
    """Bytes written into the network (both directions)."""
    peak_in_flight: int
    """Most bytes ever in flight on one direction of one connection (never above its window)."""
    faults_injected: tuple[tuple[str, int], ...]
    """Injected faults so far, as ``(kind, count)`` pairs sorted by kind: ``reset``,
    ``lost_reply``, ``partition_held`` (writes held by a partition), ``slow_reader``."""


@attrs.define(eq=False)
class _Marker:
    kind: str  # "eof" or "reset"


class _Pipe:
    """One direction of a connection: pieces of bytes with the time each is due."""

    def __init__(self, network: SimNetwork, *, window: int, bytes_per_second: float | None) -> None:
        self._network = network
        self.window = window
        self._rate = bytes_per_second
        self._queue: deque[tuple[float, bytes | _Marker]] = deque()
        self._in_flight = 0
        self._last_due = -math.inf
        self._lot = trio.lowlevel.ParkingLot()
        self.ended = False  # EOF or reset queued: no more writes
        self.reader_gone = False

    def _due(self, size: int) -> float:
        net = self._network
        base = max(net.clock.monotonic() + net.draw_delay(), self._last_due)
        due = net.after_partitions(base)
        if due != base:
            net.count("partition_held")
        if self._rate is not None:
            due += size / self._rate
        self._last_due = due
        return due

    def push(self, data: bytes) -> None:
        self._queue.append((self._due(len(data)), data))
        self._in_flight += len(data)
        self._network.peak_in_flight = max(self._network.peak_in_flight, self._in_flight)
        self._lot.unpark_all()

    def end(self, kind: str) -> None:
        if self.ended:
            return
        self.ended = True
        due = self._last_due if kind == "reset" else self._due(0)
        self._queue.append((max(due, self._network.clock.monotonic()), _Marker(kind)))
        self._lot.unpark_all()

    def reset_now(self) -> None:
        """Break the pipe at once: what is queued is lost, the reader sees a reset."""
        self._queue.clear()
        self._in_flight = 0
        self.ended = True
        self._queue.append((self._network.clock.monotonic(), _Marker("reset")))
        self._lot.unpark_all()

    def wake(self) -> None:
        self._lot.unpark_all()

    async def wait_room(self, size: int) -> None:
        while self._in_flight and self._in_flight + size > self.window and not self.ended:
            if self.reader_gone:
                return
            await self._lot.park()

    def readable(self) -> bool:
        return bool(self._queue) and self._queue[0][0] <= self._network.clock.monotonic()

    async def read(self, max_bytes: int) -> bytes:
        clock = self._network.clock
        while True:
            if not self._queue:
                await self._lot.park()
                continue
            due, item = self._queue[0]
            wait = due - clock.monotonic()
            if wait > 0:
                await clock.sleep(wait)
                continue
            if isinstance(item, _Marker):
                if item.kind == "eof":
                    return b""
                raise trio.BrokenResourceError("connection reset by peer (simulated)")
            if len(item) > max_bytes:
                self._queue[0] = (due, item[max_bytes:])
                item = item[:max_bytes]
            else:
                self._queue.popleft()
            self._in_flight -= len(item)
            self._lot.unpark_all()
            return item


@final
class SimStream(trio.abc.HalfCloseableStream):
    """One end of a simulated connection; a trio stream like a TCP socket.

    ``send_all`` waits for room in the window; ``receive_some`` waits (on the run's clock)
    until bytes are due. A reset raises :class:`trio.BrokenResourceError` on both ends; the end's
    own ``aclose`` makes its later calls raise :class:`trio.ClosedResourceError`.
    """

    def __init__(self, connection: _Connection, *, outgoing: _Pipe, incoming: _Pipe, client: bool) -> None:
        self._connection = connection
        self._out = outgoing
        self._in = incoming
        self.client = client
        self._closed = False
        self._send_conflict = trio.lowlevel.ParkingLot()
        self._sending = False
        self._receiving = False

    @property
    def label(self) -> str:
        """What the connection carries (``rest``, ``trade_updates``, ``market_data`` …)."""
        return self._connection.label

    def is_readable(self) -> bool:
        """Return whether a read would return at once (bytes, end of stream or a reset due)."""
        return self._in.readable()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint()
            self._check_open()
            payload = bytes(data)
            network = self._connection.network
            if self._out.ended:
                raise trio.BrokenResourceError("connection reset (simulated)")
            lost_reply = not self.client and self._connection.label == "rest" and payload
            if lost_reply and network.draw("lost_reply", network.faults.lost_reply_probability):
                logger.debug("simnet: reply of %d bytes lost after the venue sent it", len(payload))
                self._connection.reset(lose_queued=True)
                return  # the venue's write succeeds; the client never sees a byte
            if len(payload) > 1 and network.draw("reset", network.faults.reset_probability):
                cut = network.rng.randint(1, len(payload) - 1)
                await self._push(payload[:cut])
                logger.debug(
                    "simnet: %s connection reset after %d of %d bytes", self.label, cut, len(payload)
                )
                self._connection.reset(lose_queued=False)
                raise trio.BrokenResourceError("connection reset mid-write (simulated)")
            await self._push(payload)
        finally:
            self._sending = False

    async def _push(self, payload: bytes) -> None:
        view = memoryview(payload)
        window = self._out.window
        network = self._connection.network
        while view:
            piece = bytes(view[:window])
            await self._out.wait_room(len(piece))
            self._check_open()
            if self._out.ended:
                raise trio.BrokenResourceError("connection reset (simulated)")
            if self._out.reader_gone:
                raise trio.BrokenResourceError("the peer closed the connection (simulated)")
            self._out.push(piece)
            network.bytes_sent += len(piece)
            view = view[window:]

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()
        self._check_open()
        await self._out.wait_room(1)

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        self._check_open()
        self._out.end("eof")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            self._check_open()
            return await self._in.read(max_bytes if max_bytes is not None else 65536)
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._out.end("eof")
            self._in.reader_gone = True
            self._in.wake()
            self._connection.end_closed()
        await trio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this end of the simulated connection is closed")


class _Connection:
    def __init__(self, network: SimNetwork, label: str, *, slow_reader: bool) -> None:
        self.network = network
        self.label = label
        faults = network.faults
        to_client = _Pipe(
            network,
            window=faults.slow_reader_window if slow_reader else faults.window,
            bytes_per_second=faults.slow_reader_bytes_per_second if slow_reader else None,
        )
        to_server = _Pipe(network, window=faults.window, bytes_per_second=None)
        self.client = SimStream(self, outgoing=to_server, incoming=to_client, client=True)
        self.server = SimStream(self, outgoing=to_client, incoming=to_server, client=False)
        self._pipes = (to_client, to_server)
        self._open_ends = 2

    def reset(self, *, lose_queued: bool) -> None:
        for pipe in self._pipes:
            if lose_queued:
                pipe.reset_now()
            else:
                pipe.end("reset")

    def end_closed(self) -> None:
        self._open_ends -= 1
        if self._open_ends == 0:
            self.network.open_connections -= 1


@final
class SimNetwork:
    """Connections between pyrt's clients and servers, in memory, on the run's clock.

    Servers register with :meth:`listen`; clients call :meth:`connect` (or a connector from
    :meth:`connector`). Each accepted connection's server side runs in the network's own
    nursery, cancelled when :func:`open_sim_network` exits.

    Args:
        clock: the run's clock; every delay is a sleep on it.
        rng: the network's own random source (a child of the run's): jitter and every fault.
        faults: what the network does to the bytes.
    """

    def __init__(
        self, *, clock: Clock, rng: random.Random, faults: NetworkFaults, nursery: trio.Nursery
    ) -> None:
        self.clock = clock
        self.rng = rng
        self._nursery = nursery
        self._origin = clock.monotonic()
        self._servers: dict[tuple[str, int], ServerHandler] = {}
        self._injected: dict[str, int] = {}
        self._partitions: tuple[tuple[float, float], ...] = ()
        self.faults = faults
        self.connections = 0
        self.open_connections = 0
        self.connects_held = 0
        self.bytes_sent = 0
        self.peak_in_flight = 0

    @property
    def faults(self) -> NetworkFaults:
        """The faults in force; assigning takes effect for the next write and connect."""
        return self._faults

    @faults.setter
    def faults(self, faults: NetworkFaults) -> None:
        self._faults = faults
        self._partitions = tuple(
            sorted((p.start + self._origin, p.end + self._origin) for p in faults.partitions)
        )

    @property
    def elapsed(self) -> float:
        """Seconds since the network opened (what :class:`Partition` times count from)."""
        return self.clock.monotonic() - self._origin

    def __repr__(self) -> str:
        return f"SimNetwork(servers={sorted(self._servers)!r}, faults={self.faults!r})"

    def statistics(self) -> SimNetworkStatistics:
        """Return the network's counters."""
        return SimNetworkStatistics(
            connections=self.connections,
            open_connections=self.open_connections,
            connects_held=self.connects_held,
            bytes_sent=self.bytes_sent,
            peak_in_flight=self.peak_in_flight,
            faults_injected=tuple(sorted(self._injected.items())),
        )

    # ---------------------------------------------------------------- faults

    def count(self, kind: str) -> None:
        self._injected[kind] = self._injected.get(kind, 0) + 1

    def draw(self, kind: str, probability: float) -> bool:
        """Return whether a fault of ``kind`` happens now (one draw; none when ``probability`` is 0)."""
        if probability <= 0.0 or self.rng.random() >= probability:
            return False
        self.count(kind)
        return True

    def draw_delay(self) -> float:
        jitter = self.faults.jitter
        return self.faults.latency + (self.rng.uniform(0.0, jitter) if jitter > 0 else 0.0)

    def after_partitions(self, when: float) -> float:
        """Return ``when``, or the end of the partition it falls in (plus the latency)."""
        for start, end in self._partitions:
            if start <= when < end:
                when = end + self.faults.latency
        return when

    def partitioned_until(self) -> float | None:
        now = self.clock.monotonic()
        for start, end in self._partitions:
            if start <= now < end:
                return end
        return None

    # ---------------------------------------------------------------- connections

    def listen(self, host: str, port: int, handler: ServerHandler) -> None:
        """Serve connections to ``host:port`` with ``handler(stream)`` (run in the network's nursery)."""
        self._servers[(host, port)] = handler

    async def connect(self, host: str, port: int, *, label: str) -> SimStream:
        """Open a connection to a listening server; return the client's end.

        Takes one round trip; in a partition it waits until the partition heals (a caller's
        timeout may end it first, as a lost SYN does).

        Raises:
            OSError: nobody listens on ``host:port`` (connection refused).
        """
        handler = self._servers.get((host, port))
        if handler is None:
            raise ConnectionRefusedError(f"nothing listens on {host}:{port} (simulated network)")
        healed = self.partitioned_until()
        if healed is not None:
            self.connects_held += 1
            await self.clock.sleep(healed - self.clock.monotonic())
        await self.clock.sleep(2 * self.draw_delay())
        slow = label != "rest" and self.draw("slow_reader", self.faults.slow_reader_probability)
        connection = _Connection(self, label, slow_reader=slow)
        self.connections += 1
        self.open_connections += 1
        self._nursery.start_soon(handler, connection.server)
        return connection.client

    def connector(
        self, label_for: Callable[[str], str] | None = None
    ) -> Callable[[str], Awaitable[trio.abc.Stream]]:
        """Return a :data:`pyrt.venues.alpaca.StreamConnector` that connects through this network.

        Args:
            label_for: names a URL's connection (default: ``trade_updates`` for ``/stream``,
                else ``market_data``).
        """

        def default_label(url: str) -> str:
            return "trade_updates" if urlsplit(url).path == "/stream" else "market_data"

        name = label_for if label_for is not None else default_label

        async def connect(url: str) -> trio.abc.Stream:
            parts = urlsplit(url)
            return await self.connect(parts.hostname or "", parts.port or 80, label=name(url))

        return connect


@asynccontextmanager
async def open_sim_network(
    *, clock: Clock, rng: random.Random, faults: NetworkFaults | None = None
) -> AsyncIterator[SimNetwork]:
    """Open a simulated network; on exit every connection's server side is cancelled.

    Args:
        clock: the run's clock.
        rng: the network's random source; give it a child of the run's (``Random(rng.getrandbits(64))``).
        faults: what the network does to the bytes (default: a clean network).
    """
    async with trio.open_nursery() as nursery:
        network = SimNetwork(clock=clock, rng=rng, faults=faults or NetworkFaults(), nursery=nursery)
        try:
            yield network
        finally:
            nursery.cancel_scope.cancel()

"""Topic pub/sub on bounded trio memory channels: the one way actors talk.

Every subscription owns one bounded channel. Items on it are **batches**: tuples of messages that
arrived together (one WebSocket frame, one clock tick), so a hop costs one channel operation per
batch, not per message. A subscription picks its policy:

- ``block`` (default): backpressure. A full channel makes ``publish`` wait; nothing is dropped.
  Time spent waiting is counted in :meth:`Subscription.statistics`.
- ``conflate``: latest value per ``(topic, symbol)``. ``publish`` never waits; a message replaced
  before the consumer read it is dropped and counted. For quotes and books, never for orders.
- ``feedback``: an unbounded queue. ``publish`` never waits and nothing is dropped; the depth is
  watched instead (its peak is in the statistics, and a warning is logged each time it doubles
  past :data:`FEEDBACK_WARN_DEPTH`). For topics that flow *back upstream* — ``order.*``,
  ``risk.state``, ``risk.rejected``, ``control.*`` read by an actor that feeds their publisher.

The rule that keeps the tree free of deadlocks: **no cycle of ``block`` edges**. An edge runs
from a topic's publisher to each ``block`` subscriber; forward edges (``market.*`` → signal →
risk → execution) block, so a slow consumer slows its producer, and every feedback edge is
``feedback``, so a publisher that is itself waiting on a full inbox downstream can always hand
back its results. ``tests/unit/test_tree_graph.py`` builds the tree's graph and fails on a cycle.

:func:`find_blocking_cycle` is that check: given which actor publishes which topics, it returns
a cycle of ``block`` edges among the live subscriptions, or ``None``. A subscription's ``name`` is
its actor's name, optionally followed by ``.part`` (``risk.marks``).

Liveness is watched per subscription: :meth:`Subscription.statistics` has the age of the oldest
unread batch (``inbox_age_seconds``) and how long the longest-waiting publisher has been blocked
on it right now (``blocked_now_seconds``); :meth:`Bus.stalled` lists the ``block`` subscriptions
whose publisher has waited longer than a threshold (the tree's watchdog logs and counts them).

Topics are matched by prefix: ``"market."`` receives ``market.trade``, ``market.quote`` …;
a message class (``OrderFilled``) subscribes to exactly its ``TOPIC``; ``""`` receives everything.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Final, TypeAlias, final

import attrs
import trio

from ..messages import Message

__all__ = [
    "Batch",
    "BlockingEdge",
    "Bus",
    "BusStatistics",
    "Policy",
    "Subscription",
    "SubscriptionStatistics",
    "blocking_edges",
    "find_blocking_cycle",
]

logger = logging.getLogger(__name__)

Batch: TypeAlias = tuple[Message, ...]
DEFAULT_BUFFER: Final = 16


FEEDBACK_WARN_DEPTH: Final = 1024
"""Batches queued on a ``feedback`` subscription before its depth is logged as a warning."""


class Policy(enum.StrEnum):
    """How a subscription takes messages when its reader is behind."""

    BLOCK = "block"
    """Bounded; a full inbox makes the publisher wait (backpressure). Forward edges."""
    CONFLATE = "conflate"
    """Latest per ``(topic, symbol)``; never waits, replaced messages are counted as dropped."""
    FEEDBACK = "feedback"
    """Unbounded; never waits, never drops; depth watched. Edges back upstream."""


@final
@attrs.frozen(kw_only=True)
class SubscriptionStatistics:
    """A snapshot of one subscription's counters."""

    name: str
    """Who subscribed (the actor's name)."""
    topics: tuple[str, ...]
    """The topic prefixes subscribed to."""
    policy: Policy
    """``block``, ``conflate`` or ``feedback``."""
    depth: int
    """Batches (block, feedback) or pending messages (conflate) waiting to be read now."""
    peak_depth: int
    """The largest ``depth`` seen so far."""
    max_buffer_size: int
    """Capacity of the channel in batches (block); 0 for conflate and feedback, which never wait."""
    delivered_batches: int
    """Batches handed to this subscription by ``publish``."""
    delivered_messages: int
    """Messages handed to this subscription by ``publish``."""
    dropped: int
    """Messages replaced before they were read (conflate only; always 0 for block)."""
    blocked_count: int
    """Times a publisher found the channel full and had to wait (block only)."""
    blocked_seconds: float
    """Total time publishers waited on a full channel, on the run's clock (finished waits)."""
    blocked_now_seconds: float
    """How long the longest-waiting publisher has been blocked on this channel right now; 0 when
    none is (block only). The watchdog's measure: a cycle or a stuck reader makes it grow."""
    inbox_age_seconds: float
    """Age of the oldest batch not yet read (for a blocked publisher's batch, since it began to
    wait); 0 when the inbox is empty."""


@final
@attrs.frozen(kw_only=True)
class BusStatistics:
    """A snapshot of the bus and every live subscription."""

    published_messages: int
    """Messages published, whether or not anyone subscribed."""
    published_batches: int
    """Calls of ``publish``/``publish_batch`` that carried at least one message."""
    unrouted_messages: int
    """Messages no subscription matched."""
    published_by_topic: dict[str, int]
    """Messages published per topic (a copy)."""
    subscriptions: tuple[SubscriptionStatistics, ...]
    """One entry per live subscription, in subscription order."""


def _topic_key(item: str | type[Message]) -> str:
    if isinstance(item, str):
        return item
    topic = getattr(item, "TOPIC", None)
    if not isinstance(topic, str):
        raise TypeError(f"subscribe takes topic prefixes or message classes, was {item!r}")
    return topic


@final
class Subscription:
    """One subscriber's inbox: iterate it for batches, or call :meth:`receive`.

    Use it as an (async) context manager so it is closed and unrouted when the actor stops.
    """

    __slots__ = (
        "_blocked_count",
        "_blocked_seconds",
        "_blocked_since",
        "_bus",
        "_closed",
        "_delivered_batches",
        "_delivered_messages",
        "_dropped",
        "_lot",
        "_max_buffer",
        "_peak",
        "_pending",
        "_pending_since",
        "_receive",
        "_send",
        "_times",
        "_warn_depth",
        "name",
        "policy",
        "topics",
    )

    def __init__(self, bus: Bus, topics: tuple[str, ...], *, name: str, policy: Policy, buffer: int) -> None:
        if buffer < 0:
            raise ValueError(f"buffer must be >= 0, was {buffer}")
        self._bus = bus
        self.topics = topics
        self.name = name
        self.policy = policy
        self._max_buffer = buffer if policy is Policy.BLOCK else 0
        capacity: float = math.inf if policy is Policy.FEEDBACK else self._max_buffer
        send, receive = trio.open_memory_channel[Batch](capacity)
        self._send: trio.MemorySendChannel[Batch] = send
        self._receive: trio.MemoryReceiveChannel[Batch] = receive
        self._pending: dict[tuple[str, str], Message] = {}
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False
        self._delivered_batches = 0
        self._delivered_messages = 0
        self._dropped = 0
        self._peak = 0
        self._blocked_count = 0
        self._blocked_seconds = 0.0
        self._warn_depth = FEEDBACK_WARN_DEPTH
        # when each unread batch was handed over, oldest first (block, feedback), and when the
        # conflate inbox last became non-empty: the inbox's age
        self._times: collections.deque[float] = collections.deque()
        self._pending_since = 0.0
        # start of each publisher's wait on a full channel now, oldest first
        self._blocked_since: collections.deque[float] = collections.deque()

    def matches(self, topic: str) -> bool:
        """Return whether a message on ``topic`` is routed to this subscription."""
        return any(topic.startswith(prefix) for prefix in self.topics)

    # -- publisher side (called by Bus) -------------------------------------------------------
    async def _deliver(self, batch: Batch) -> None:
        self._delivered_batches += 1
        self._delivered_messages += len(batch)
        if self.policy is Policy.CONFLATE:
            pending = self._pending
            if not pending:
                self._pending_since = trio.current_time()
            for msg in batch:
                key = (msg.TOPIC, getattr(msg, "symbol", ""))
                if key in pending:
                    self._dropped += 1
                pending[key] = msg
            if len(pending) > self._peak:
                self._peak = len(pending)
            self._lot.unpark_all()
            return
        # stamped before the hand-over: a reader may take a batch a blocked publisher queued
        # before that publisher runs again
        started = trio.current_time()
        times = self._times
        times.append(started)
        handed = False
        try:
            try:
                self._send.send_nowait(batch)
            except trio.WouldBlock:
                self._blocked_count += 1
                self._blocked_since.append(started)
                try:
                    await self._send.send(batch)
                finally:
                    self._blocked_since.remove(started)
                    self._blocked_seconds += trio.current_time() - started
            handed = True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # the subscriber closed its inbox, maybe while we waited on it: it no longer wants
            # messages (it is unrouted already); the publisher goes on to the others
            return
        finally:
            if not handed:
                times.remove(started)  # not handed over (closed, or cancelled while waiting)
        used = self._send.statistics().current_buffer_used
        if used > self._peak:
            self._peak = used
            if used >= self._warn_depth:  # feedback only: a block channel never holds this many
                self._warn_depth *= 2
                logger.warning(
                    "%s: %d batches of %s waiting to be read (a feedback inbox is falling behind)",
                    self.name,
                    used,
                    ", ".join(self.topics),
                )

    # -- subscriber side ----------------------------------------------------------------------
    async def receive(self) -> Batch:
        """Wait for the next batch.

        Cancellation leaves the subscription unchanged: nothing is consumed.

        Raises:
            trio.EndOfChannel: the subscription or the bus was closed and everything was read.
        """
        if self.policy is Policy.CONFLATE:
            while not self._pending:
                if self._closed:
                    raise trio.EndOfChannel
                await self._lot.park()
            batch = tuple(self._pending.values())
            self._pending.clear()
            await trio.lowlevel.checkpoint()
            return batch
        batch = await self._receive.receive()
        if self._times:
            self._times.popleft()
        return batch

    def receive_nowait(self) -> Batch:
        """Return the next batch if one is waiting, else raise :class:`trio.WouldBlock`."""
        if self.policy is Policy.CONFLATE:
            if not self._pending:
                if self._closed:
                    raise trio.EndOfChannel
                raise trio.WouldBlock
            batch = tuple(self._pending.values())
            self._pending.clear()
            return batch
        batch = self._receive.receive_nowait()
        if self._times:
            self._times.popleft()
        return batch

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Batch:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop routing to this subscription; a reader drains what was queued, then ends."""
        if self._closed:
            return
        self._closed = True
        self._bus._unsubscribe(self)
        self._send.close()
        self._lot.unpark_all()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self._receive.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__()

    def statistics(self) -> SubscriptionStatistics:
        """Return a snapshot of this subscription's counters."""
        now = trio.current_time()
        if self.policy is Policy.CONFLATE:
            depth = len(self._pending)
            age = now - self._pending_since if depth else 0.0
        else:
            depth = self._receive.statistics().current_buffer_used
            age = now - self._times[0] if self._times else 0.0
        return SubscriptionStatistics(
            name=self.name,
            topics=self.topics,
            policy=self.policy,
            depth=depth,
            peak_depth=self._peak,
            max_buffer_size=self._max_buffer,
            delivered_batches=self._delivered_batches,
            delivered_messages=self._delivered_messages,
            dropped=self._dropped,
            blocked_count=self._blocked_count,
            blocked_seconds=self._blocked_seconds,
            blocked_now_seconds=self.blocked_now(now),
            inbox_age_seconds=age,
        )

    def blocked_now(self, now: float) -> float:
        """Return how long the longest-waiting publisher has been blocked at ``now`` (0 if none)."""
        return now - self._blocked_since[0] if self._blocked_since else 0.0

    @property
    def waiting_publishers(self) -> int:
        """How many publishers are blocked on this (full) channel right now (block only)."""
        return len(self._blocked_since)

    @property
    def owner(self) -> str:
        """The actor this subscription belongs to: its ``name`` up to the first ``.``."""
        return self.name.split(".", 1)[0]

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} {self.policy} {self.topics}>"


@final
class Bus:
    """Brokerless topic pub/sub inside one trio run."""

    __slots__ = (
        "_by_topic",
        "_closed",
        "_published_batches",
        "_published_messages",
        "_routes",
        "_subs",
        "_taps",
        "_unrouted",
    )

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._taps: tuple[Callable[[Batch], None], ...] = ()
        self._routes: dict[str, tuple[Subscription, ...]] = {}
        self._published_messages = 0
        self._published_batches = 0
        self._unrouted = 0
        self._by_topic: dict[str, int] = {}
        self._closed = False

    def subscribe(
        self,
        *topics: str | type[Message],
        name: str,
        policy: Policy = Policy.BLOCK,
        buffer: int = DEFAULT_BUFFER,
    ) -> Subscription:
        """Open a subscription to topic prefixes and/or message classes.

        Args:
            *topics: prefixes (``"market."``, ``""`` for all) or message classes (exact topic).
            name: who is subscribing; appears in statistics.
            policy: ``BLOCK`` (backpressure, no loss), ``CONFLATE`` (latest per symbol) or
                ``FEEDBACK`` (never waits, no loss; for topics flowing back upstream).
            buffer: channel capacity in batches, for ``BLOCK``.

        Raises:
            ValueError: no topics given, or the bus is closed.
        """
        if not topics:
            raise ValueError("subscribe needs at least one topic prefix or message class")
        if self._closed:
            raise ValueError("the bus is closed")
        sub = Subscription(
            self, tuple(_topic_key(t) for t in topics), name=name, policy=policy, buffer=buffer
        )
        self._subs.append(sub)
        self._routes.clear()
        return sub

    @contextlib.contextmanager
    def tap(self, observer: Callable[[Batch], None]) -> Iterator[None]:
        """Hand every batch published inside the ``with`` block to ``observer``, as it is published.

        The observer sees each batch whole (every topic), in publish order, synchronously and
        before any subscriber, inside the publisher's task: no channel, no task switch, no
        backpressure. It must be quick and must not raise (what it raises reaches the
        publisher). For the recorder on virtual time, where a subscription cost a task step per
        batch (issue 10); a tap is not a subscription and appears in no statistics.
        """
        self._taps = (*self._taps, observer)
        try:
            yield
        finally:
            self._taps = tuple(t for t in self._taps if t is not observer)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._routes.clear()

    def _route(self, topic: str) -> tuple[Subscription, ...]:
        subs = self._routes.get(topic)
        if subs is None:
            subs = self._routes[topic] = tuple(s for s in self._subs if s.matches(topic))
        return subs

    async def publish(self, msg: Message) -> None:
        """Publish one message as a batch of one.

        Waits while any ``block`` subscriber's channel is full (backpressure). If cancelled while
        waiting, subscribers earlier in subscription order may already have received it.
        """
        self._published_messages += 1
        self._published_batches += 1
        by_topic = self._by_topic
        by_topic[msg.TOPIC] = by_topic.get(msg.TOPIC, 0) + 1
        subs = self._route(msg.TOPIC)
        if not subs:
            self._unrouted += 1
        batch = (msg,)
        for observer in self._taps:
            observer(batch)
        for sub in subs:
            await sub._deliver(batch)
        await trio.lowlevel.checkpoint()

    async def publish_batch(self, msgs: Sequence[Message]) -> None:
        """Publish messages that belong together; each subscriber gets its matching part as one batch.

        Order is kept within each subscriber's part. An empty sequence publishes nothing.
        """
        if not msgs:
            await trio.lowlevel.checkpoint()
            return
        batch = tuple(msgs)
        self._published_messages += len(batch)
        self._published_batches += 1
        for observer in self._taps:
            observer(batch)
        by_topic = self._by_topic
        topics = {m.TOPIC for m in batch}
        if len(topics) == 1:  # the common case: one frame, one kind of message
            topic = batch[0].TOPIC
            by_topic[topic] = by_topic.get(topic, 0) + len(batch)
            subs = self._route(topic)
            if not subs:
                self._unrouted += len(batch)
            for sub in subs:
                await sub._deliver(batch)
        else:
            counts: dict[str, int] = {}
            for m in batch:
                counts[m.TOPIC] = counts.get(m.TOPIC, 0) + 1
            for topic, n in counts.items():
                by_topic[topic] = by_topic.get(topic, 0) + n
            wanted: dict[Subscription, set[str]] = {}
            for topic, n in counts.items():
                routed = self._route(topic)
                if not routed:
                    self._unrouted += n
                for sub in routed:
                    wanted.setdefault(sub, set()).add(topic)
            for sub in [s for s in self._subs if s in wanted]:
                want = wanted[sub]
                part = batch if len(want) == len(counts) else tuple(m for m in batch if m.TOPIC in want)
                await sub._deliver(part)
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close every subscription: readers drain what is queued, then their loops end."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()

    def subscriptions(self) -> Iterable[Subscription]:
        """Return the live subscriptions, in subscription order."""
        return tuple(self._subs)

    def stalled(self, threshold: float) -> tuple[tuple[Subscription, float], ...]:
        """Return each ``block`` subscription whose publisher has waited over ``threshold`` s now.

        Each entry is ``(subscription, seconds blocked)``, in subscription order. Must be called
        inside the trio run (it reads the run's clock).
        """
        now = trio.current_time()
        out: list[tuple[Subscription, float]] = []
        for sub in self._subs:
            if sub.policy is Policy.BLOCK:
                blocked = sub.blocked_now(now)
                if blocked > threshold:
                    out.append((sub, blocked))
        return tuple(out)

    def statistics(self) -> BusStatistics:
        """Return a snapshot of the bus and every live subscription."""
        return BusStatistics(
            published_messages=self._published_messages,
            published_batches=self._published_batches,
            unrouted_messages=self._unrouted,
            published_by_topic=dict(self._by_topic),
            subscriptions=tuple(s.statistics() for s in self._subs),
        )


@final
@attrs.frozen(kw_only=True)
class BlockingEdge:
    """``publisher`` may wait on ``subscriber``: it publishes ``topic`` into a ``block`` inbox."""

    publisher: str
    """The publishing actor."""
    subscriber: str
    """The actor owning the ``block`` subscription."""
    topic: str
    """A topic the publisher declares that the subscription matches."""
    subscription: str
    """The subscription's name."""


def blocking_edges(
    publishers: Mapping[str, Iterable[str]], subscriptions: Iterable[Subscription]
) -> tuple[BlockingEdge, ...]:
    """Return every edge publisher → ``block`` subscriber, for the topics each actor publishes.

    Args:
        publishers: actor name → the exact topics it publishes.
        subscriptions: the live subscriptions (``bus.subscriptions()``).
    """
    edges: list[BlockingEdge] = []
    subs = [s for s in subscriptions if s.policy is Policy.BLOCK]
    for publisher, topics in publishers.items():
        for sub in subs:
            for topic in sorted(set(topics)):
                if sub.matches(topic):
                    edges.append(
                        BlockingEdge(
                            publisher=publisher, subscriber=sub.owner, topic=topic, subscription=sub.name
                        )
                    )
                    break  # one edge per (publisher, subscription) is enough to block
    return tuple(edges)


def find_blocking_cycle(
    publishers: Mapping[str, Iterable[str]], subscriptions: Iterable[Subscription]
) -> tuple[BlockingEdge, ...] | None:
    """Return a cycle of ``block`` edges (each edge's subscriber publishes the next), or ``None``.

    A cycle means deadlock is possible: every actor on it can be waiting to publish into the
    full inbox of the next. An actor blocking on its own inbox is a cycle of one edge.

    Args:
        publishers: actor name → the exact topics it publishes.
        subscriptions: the live subscriptions (``bus.subscriptions()``).
    """
    graph: dict[str, list[BlockingEdge]] = {}
    for edge in blocking_edges(publishers, subscriptions):
        graph.setdefault(edge.publisher, []).append(edge)
    done: set[str] = set()
    path: list[BlockingEdge] = []
    on_path: dict[str, int] = {}  # actor -> index in path of the edge leaving it

    def visit(actor: str) -> tuple[BlockingEdge, ...] | None:
        on_path[actor] = len(path)
        for edge in graph.get(actor, ()):
            if edge.subscriber in on_path:
                return (*path[on_path[edge.subscriber] :], edge)
            if edge.subscriber not in done:
                path.append(edge)
                found = visit(edge.subscriber)
                if found is not None:
                    return found
                path.pop()
        del on_path[actor]
        done.add(actor)
        return None

    for actor in sorted(graph):
        if actor not in done:
            found = visit(actor)
            if found is not None:
                return found
    return None

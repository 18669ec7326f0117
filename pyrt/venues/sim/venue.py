"""SimVenue: the in-process exchange as a market-data feed and a broker at once.

A :class:`SimVenue` owns a :class:`~pyrt.venues.sim.MarketSimulator` and a
:class:`~pyrt.venues.sim.MatchingEngine`. Its market loop (:meth:`SimVenue.run`) steps the market
every ``tick_interval`` seconds on the run's clock, lets the engine match resting orders against
each tick, and emits the tick as one batch; the order updates the engine produced (from the
market loop and from requests) go to :meth:`SimVenue.run_updates` as ``order.*`` messages, like
Alpaca's ``trade_updates`` stream.

The seed's ``rng`` is split at construction into one generator each for the market, the engine
and the faults, so the market path of a seed is the same whatever a strategy does.

Market sessions (issue #10) are opt-in: built with a ``calendar``
(:class:`pyrt.venues.calendar.MarketCalendar`), the venue follows its sessions on the run's
clock. Outside a session no equity quote or trade is made (crypto pairs trade on) and the market
loop sleeps to the next open when nothing trades; at the close every open ``day`` equity order
expires (an ``order.canceled`` with reason ``expired``, as Alpaca's ``expired`` trade update
becomes); orders placed while closed are accepted and held for the next session (as Alpaca queues
them), so a market order fills at the open's first quote; each open moves every equity's price by
a seeded gap. Without a calendar the venue trades around the clock, as before.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from ..._validators import finite_non_negative
from ...errors import ConfigError, RateLimited, TransportError, VenueRejected, VenueUnavailable
from ...faults import FaultEvent, FaultKind, FaultSchedule, FaultTimeline, ParamValue
from ...messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    QuoteReceived,
    TradeReceived,
)
from ...runtime.clock import NS_PER_SECOND
from .._protocols import AccountSnapshot, Emit, VenueOrder, VenuePosition
from ..calendar import NYSE, MarketCalendar, MarketClock, is_crypto
from .market import MarketSimulator
from .matching import EngineEvent, EngineOrder, EngineRejected, MatchingEngine

if TYPE_CHECKING:
    from ...runtime.clock import Clock

__all__ = ["SimFaults", "SimVenue", "SimVenueStatistics"]

logger = logging.getLogger(__name__)

DEFAULT_UPDATES_BUFFER: Final = 64
_HANDSHAKE_SECONDS: Final = 1.0
_REORDER_WINDOW: Final = 1.0
_YEARS_NS: Final = 3 * 365 * 86_400 * 1_000_000_000
_CLOSED_POLL: Final = 60.0  # seconds between looks at the faults while nothing trades
_BOUNDARY_SLACK_NS: Final = 1_000  # float virtual time may land a hair before an open or close
# one draw per request decides among the faults that exclude one another (#10)
_SUBMIT_KINDS: Final = (
    FaultKind.SERVER_ERROR_BURST,
    FaultKind.RATE_LIMIT_STORM,
    FaultKind.AMBIGUOUS_TIMEOUT,
    FaultKind.REQUEST_TIMEOUT,
)
_OTHER_KINDS: Final = (FaultKind.SERVER_ERROR_BURST, FaultKind.RATE_LIMIT_STORM, FaultKind.REQUEST_TIMEOUT)


def _probability(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], was {value!r}")


@final
@attrs.frozen(kw_only=True)
class SimFaults:
    """Standing fault probabilities for a :class:`SimVenue`: a thin view on the one fault model.

    Kept because "this chance on every submit, for the rest of the run" is the short thing a
    test or a storm wants to say and to switch at run time (``venue.faults = ...``); it is no
    second model: :meth:`events` turns it into open-ended :class:`~pyrt.faults.FaultEvent`
    episodes of the shared kinds, and the venue reads them exactly as it reads a seed's
    :class:`~pyrt.faults.FaultSchedule`. One draw per submit decides among the three submit
    faults, so their probabilities must add up to at most 1.
    """

    submit_unavailable: float = attrs.field(default=0.0, validator=_probability)
    """Chance a submit fails with a 503 (:class:`~pyrt.errors.VenueUnavailable`) before the
    engine sees it."""
    submit_rate_limited: float = attrs.field(default=0.0, validator=_probability)
    """Chance a submit fails with a 429 (:class:`~pyrt.errors.RateLimited`) before the engine
    sees it."""
    submit_timeout: float = attrs.field(default=0.0, validator=_probability)
    """Chance a submit raises :class:`~pyrt.errors.TransportError` *after* the engine accepted
    the order: the caller must look it up by client order id before sending it again."""
    submit_delay: float = attrs.field(default=0.0, validator=_probability)
    """Chance a submit's reply is held ``submit_delay_seconds`` after the engine accepted the
    order (a slow venue); drawn apart from the three faults above."""
    submit_delay_seconds: float = attrs.field(default=3.0, validator=finite_non_negative)
    """How long a delayed reply is held, on the venue's clock."""
    request_unavailable: float = attrs.field(default=0.0, validator=_probability)
    """Chance a lookup, list or cancel fails with a 503 before the engine sees it."""
    drop_tick: float = attrs.field(default=0.0, validator=_probability)
    """Chance each market message is lost on the way to the feed (the engine still sees it)."""
    retry_after: float = attrs.field(default=1.0, validator=finite_non_negative)
    """Seconds a simulated 429 asks the caller to wait."""

    def __attrs_post_init__(self) -> None:
        total = self.submit_unavailable + self.submit_rate_limited + self.submit_timeout
        if total > 1.0:
            raise ValueError(f"submit fault probabilities must add up to <= 1, was {total}")

    def events(self, at: float = 0.0) -> tuple[FaultEvent, ...]:
        """Return these probabilities as open-ended episodes of the shared kinds, from ``at`` on."""
        out: list[FaultEvent] = []

        def add(kind: FaultKind, probability: float, **params: ParamValue) -> None:
            if probability > 0.0:
                out.append(FaultEvent(at=at, kind=kind, probability=probability, params=params))

        add(FaultKind.SERVER_ERROR_BURST, self.submit_unavailable, scope="submit", status=503)
        add(
            FaultKind.RATE_LIMIT_STORM, self.submit_rate_limited, scope="submit", retry_after=self.retry_after
        )
        add(FaultKind.AMBIGUOUS_TIMEOUT, self.submit_timeout, scope="submit")
        add(FaultKind.SLOW_REPLY, self.submit_delay, scope="submit", delay=self.submit_delay_seconds)
        add(FaultKind.SERVER_ERROR_BURST, self.request_unavailable, scope="other", status=503)
        add(FaultKind.MD_GAP, self.drop_tick)
        return tuple(out)


@final
@attrs.frozen(kw_only=True)
class SimVenueStatistics:
    """Counters of one :class:`SimVenue` since it was built."""

    ticks: int
    """Market steps taken."""
    market_messages_emitted: int
    """Quotes and trades handed to the feed's ``emit``."""
    market_messages_dropped: int
    """Quotes and trades lost to the ``drop_tick`` fault."""
    updates_sent: int
    """Order updates queued for :meth:`SimVenue.run_updates`."""
    updates_discarded: int
    """Order updates made while nobody listened (as on a WebSocket nobody reads)."""
    faults_injected: int
    """Faults injected, every kind together."""
    faults_by_kind: dict[str, int]
    """Faults injected, by :class:`~pyrt.faults.FaultKind` name (``server_error_burst`` …)."""
    updates_buffer_used: int
    """Update batches waiting in the bounded channel now."""
    updates_peak_buffer_used: int
    """The most update batches that ever waited in the channel."""


def _thin(size: float, liquidity: float) -> float:
    """What a ``partial_fill`` episode leaves of a displayed size: whole shares, at least one."""
    if size <= 0.0:
        return size
    if size == math.floor(size) and size >= 1.0:
        return float(max(1, math.floor(size * liquidity)))
    return max(round(size * liquidity, 6), 1e-6)


def _venue_order(order: EngineOrder) -> VenueOrder:
    return VenueOrder(
        venue_order_id=order.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.qty,
        filled_quantity=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        status=order.status,
    )


@final
class SimVenue:
    """An in-process exchange: :class:`pyrt.venues.MarketDataFeed` and :class:`pyrt.venues.Broker`.

    Args:
        symbols: the symbols the market simulates; the engine knows them from the start.
        clock: the run's clock; the market loop sleeps on it and every timestamp comes from it.
        rng: the run's random source (split into market, engine and fault generators).
        tick_interval: seconds between market steps.
        starting_cash: the account's cash.
        faults: standing fault probabilities (a :class:`SimFaults` view); none by default.
        schedule: the run's timed faults (``at`` is seconds after the venue is first used:
            its first market step or request);
            the kinds a venue can produce are injected, the others left to the runner.
        start_prices: first mid price per symbol (others are drawn).
        volatility: the market's per-step log-price standard deviation.
        fee_per_share: charged on every fill.
        updates_buffer: capacity, in batches, of the channel between the venue and
            :meth:`run_updates`; when it is full, the market loop and requests wait.
        calendar: the equity sessions to follow (see the module's docstring); ``None`` (the
            default) trades every symbol around the clock.
        open_gap_volatility: standard deviation of the log price gap of each equity at each
            open (0.005 = 0.5 %), drawn from the market's generator.

    Raises:
        ValueError: a bad ``tick_interval``, ``open_gap_volatility`` or market parameter.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        clock: Clock,
        rng: random.Random,
        tick_interval: float = 0.1,
        starting_cash: float = 100_000.0,
        faults: SimFaults | None = None,
        schedule: FaultSchedule | None = None,
        start_prices: Mapping[str, float] | None = None,
        volatility: float = 0.0002,
        fee_per_share: float = 0.0,
        updates_buffer: int = DEFAULT_UPDATES_BUFFER,
        calendar: MarketCalendar | None = None,
        open_gap_volatility: float = 0.005,
    ) -> None:
        if not (tick_interval > 0.0 and math.isfinite(tick_interval)):
            raise ValueError(f"tick_interval must be a finite number > 0, was {tick_interval!r}")
        if not (open_gap_volatility >= 0.0 and math.isfinite(open_gap_volatility)):
            raise ValueError(f"open_gap_volatility must be a finite number >= 0, was {open_gap_volatility!r}")
        if updates_buffer < 1:
            raise ValueError(f"updates_buffer must be >= 1, was {updates_buffer}")
        self._clock = clock
        self._tick_interval = tick_interval
        self._faults = faults if faults is not None else SimFaults()
        self._start_ns: int | None = None  # the first time the venue is used: the run's 0 s
        # one child generator per concern, drawn in a fixed order: the market path of a seed
        # does not depend on how many orders (ids) or faults a run draws
        market_rng = random.Random(rng.getrandbits(64))
        engine_rng = random.Random(rng.getrandbits(64))
        self._fault_rng = random.Random(rng.getrandbits(64))
        self._schedule = schedule if schedule is not None else FaultSchedule(events=())
        self._timeline = FaultTimeline(self._schedule.events, rng=self._fault_rng)
        self._standing = FaultTimeline(self._faults.events(), rng=self._fault_rng)
        self._market = MarketSimulator(symbols, market_rng, start_prices=start_prices, volatility=volatility)
        self._engine = MatchingEngine(
            starting_cash=starting_cash, rng=engine_rng, fee_per_share=fee_per_share, symbols=symbols
        )
        self._send, self._receive = trio.open_memory_channel[tuple[Message, ...]](updates_buffer)
        self._feed_running = False
        self._listening = False
        self._starting_cash = starting_cash
        self._down_until = -1.0  # seconds since start; the venue is down (restarting) until then
        self._account_seq = 1
        self._updates_scope: trio.CancelScope | None = None
        self._seen: dict[int, FaultEvent] = {}
        self._last_trades: dict[str, TradeReceived] = {}
        self._ticks = 0
        self._emitted = 0
        self._dropped = 0
        self._updates_sent = 0
        self._updates_discarded = 0
        self._faults_by_kind: dict[str, int] = {}
        self._calendar = calendar
        self._open_gap_volatility = open_gap_volatility
        self._equities = tuple(symbol for symbol in symbols if not is_crypto(symbol))
        self._any_crypto = len(self._equities) < len(symbols)
        self._equities_open: bool | None = None  # None: not looked at yet
        self._boundary_ns: int | None = None  # the next open or close of the equity market

    @property
    def faults(self) -> SimFaults:
        """The faults in force; assign new ones to change them during a run (a fault plan)."""
        return self._faults

    @faults.setter
    def faults(self, faults: SimFaults) -> None:
        logger.info("sim venue faults set to %r", faults)
        self._faults = faults
        at = self._elapsed() if self._start_ns is not None else 0.0
        self._standing = FaultTimeline(faults.events(at), rng=self._fault_rng)

    @property
    def schedule(self) -> FaultSchedule:
        """The timed faults the venue follows."""
        return self._schedule

    def _elapsed(self) -> float:
        now = self._clock.now_ns()
        if self._start_ns is None:
            self._start_ns = now
        return (now - self._start_ns) / NS_PER_SECOND

    def _take(self, kinds: FaultKind | tuple[FaultKind, ...], *, scope: str = "all") -> FaultEvent | None:
        now = self._elapsed()
        hit = self._timeline.take(kinds, now, scope=scope)
        if hit is None:
            hit = self._standing.take(kinds, now, scope=scope)
        return hit

    def _count(self, kind: FaultKind) -> None:
        self._faults_by_kind[kind.value] = self._faults_by_kind.get(kind.value, 0) + 1

    @property
    def engine(self) -> MatchingEngine:
        """The matching engine (for inspection, backtests and tests)."""
        return self._engine

    @property
    def market(self) -> MarketSimulator:
        """The market simulator."""
        return self._market

    def statistics(self) -> SimVenueStatistics:
        """Return the venue's counters."""
        channel = self._send.statistics()
        return SimVenueStatistics(
            ticks=self._ticks,
            market_messages_emitted=self._emitted,
            market_messages_dropped=self._dropped,
            updates_sent=self._updates_sent,
            updates_discarded=self._updates_discarded,
            faults_injected=sum(self._faults_by_kind.values()),
            faults_by_kind=dict(sorted(self._faults_by_kind.items())),
            updates_buffer_used=channel.current_buffer_used,
            updates_peak_buffer_used=channel.peak_buffer_used,
        )

    # ---------------------------------------------------------------- MarketDataFeed

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Step the market every ``tick_interval`` and emit each step's ``symbols`` as one batch.

        The first step happens at once, then one every ``tick_interval`` seconds on the clock.
        The engine sees every message of every simulated symbol, so resting orders fill even
        for symbols not asked for; fills go to :meth:`run_updates`. Cancelling it stops the
        market; a step is either wholly applied to the engine or not at all, but its batch or
        its updates may be cut off by the cancellation.

        Args:
            symbols: the symbols to emit; each must be simulated.
            emit: where each step's batch goes; may block (backpressure).
            task_status: started once the loop runs.

        Raises:
            ConfigError: a symbol the venue does not simulate.
            trio.BusyResourceError: the market loop is already running.
        """
        simulated = set(self._market.symbols)
        unknown = [symbol for symbol in symbols if symbol not in simulated]
        if unknown:
            raise ConfigError(
                [
                    f"symbol {symbol!r} is not simulated (simulated: {sorted(simulated)})"
                    for symbol in unknown
                ],
                source="SimVenue feed",
            )
        if self._feed_running:
            raise trio.BusyResourceError("SimVenue.run is already running")
        self._feed_running = True
        self._elapsed()  # the schedule's 0 s is the first step at the latest
        wanted = frozenset(symbols)
        try:
            task_status.started()
            await self._connect("market data")
            while True:
                now = self._elapsed()
                for restart in self._timeline.due(FaultKind.VENUE_RESTART, now):
                    self._restart(restart)
                if self._down_until > now:
                    raise TransportError("market data connection lost: the venue restarted (simulated)")
                if self._timeline.due(FaultKind.MD_DISCONNECT, now):
                    self._count(FaultKind.MD_DISCONNECT)
                    logger.info("injected market data disconnect")
                    raise TransportError("market data connection lost (simulated)")
                await self._publish(self._follow_sessions())
                if self._equities_open is False and not self._any_crypto:
                    await self._clock.sleep(self._until_boundary(_CLOSED_POLL))  # nothing trades
                    continue
                await self._step(wanted, emit)
                await self._clock.sleep(self._until_boundary(self._tick_interval))
        finally:
            self._feed_running = False

    def _until_boundary(self, seconds: float) -> float:
        """Return ``seconds``, or less so that the market loop wakes at the next open or close."""
        if self._boundary_ns is None:
            return seconds
        left = (self._boundary_ns - self._clock.now_ns()) / NS_PER_SECOND
        return max(0.0, min(seconds, left))

    def _follow_sessions(self) -> list[EngineEvent]:
        """Close or open the equity market if a session boundary has come; return the expiries."""
        if self._calendar is None or not self._equities:
            return []
        now_ns = self._clock.now_ns()
        boundary = self._boundary_ns
        if boundary is not None and now_ns < boundary - _BOUNDARY_SLACK_NS:
            return []
        at = now_ns if boundary is None else max(now_ns, boundary)
        events: list[EngineEvent] = []
        if self._equities_open:  # the boundary was this session's close
            assert boundary is not None
            self._market.halt(self._equities)
            events = self._engine.close_market(self._equities, now_ns=boundary)
            self._equities_open = False
            logger.info("equity session closed: %d day orders expired", len(events))
        clock = self._calendar.clock(at)
        if clock.is_open:
            if self._equities_open is False:
                self._market.reopen(self._equities, gap_volatility=self._open_gap_volatility)
                self._engine.open_market(self._equities)
                logger.info("equity session open")
            self._equities_open = True
            self._boundary_ns = clock.next_close_ns
        else:
            if self._equities_open is None:  # the run starts outside a session
                self._market.halt(self._equities)
                events = self._engine.close_market(self._equities, now_ns=at)
            self._equities_open = False
            self._boundary_ns = clock.next_open_ns
        return events

    async def get_clock(self) -> MarketClock:
        """Return the equity market's clock now, as Alpaca's ``GET /v2/clock`` does.

        With a calendar: whether a session is under way, the next open and the next close.
        Without one the venue trades around the clock, so it is always open; the next open
        and close are then the regular NYSE sessions'.
        """
        await trio.lowlevel.checkpoint()
        await self._publish(self._follow_sessions())
        now_ns = self._clock.now_ns()
        if self._calendar is None:
            return attrs.evolve(NYSE.clock(now_ns), is_open=True)
        return self._calendar.clock(now_ns)

    async def _connect(self, what: str) -> None:
        """Connect a stream: wait out a restart; fail authentication if an ``auth_failure`` says so."""
        wait = self._down_until - self._elapsed()
        if wait > 0.0:
            await self._clock.sleep(wait)
        fault = self._take(FaultKind.AUTH_FAILURE)
        if fault is not None:
            self._count(fault.kind)
            logger.info("injected auth failure connecting %s", what)
            await self._clock.sleep(_HANDSHAKE_SECONDS)  # the failure comes after the handshake
            raise VenueRejected(f"{what}: authentication failed (simulated)", status_code=401)

    def _once(self, event: FaultEvent | None) -> FaultEvent | None:
        """Count an episode the first time it takes effect; return it."""
        if event is not None and id(event) not in self._seen:
            self._seen[id(event)] = event  # keep it alive: ids of dead objects are reused
            self._count(event.kind)
        return event

    def _restart(self, event: FaultEvent) -> None:
        """Take the venue down for ``downtime``; cancel open orders or change the account."""
        self._count(event.kind)
        now_ns = self._clock.now_ns()
        self._down_until = self._elapsed() + event.number("downtime")
        if event.params.get("new_account"):
            self._account_seq += 1
            self._engine = MatchingEngine(
                starting_cash=self._starting_cash,
                rng=random.Random(self._fault_rng.getrandbits(64)),
                fee_per_share=self._engine.fee_per_share,
                symbols=self._market.symbols,
            )
            if self._equities_open is False:
                self._engine.close_market(self._equities, now_ns=now_ns)  # a new account: no orders
            logger.info("injected venue restart with a new account %s", self.account_id)
        elif event.params.get("cancel_open_orders"):
            canceled = self._engine.cancel_all(now_ns=now_ns)
            self._updates_discarded += sum(len(events) for _, _, events in canceled)  # streams are down
            logger.info("injected venue restart: %d open orders canceled", len(canceled))
        else:
            logger.info("injected venue restart: open orders kept")
        if self._updates_scope is not None:
            self._updates_scope.cancel()

    @property
    def account_id(self) -> str:
        """The venue's id of the account (another one after a restart with a new account)."""
        return f"sim-account-{self._account_seq}"

    def _down(self, what: str) -> None:
        if self._down_until > self._elapsed():
            raise TransportError(f"connection refused: the venue is restarting (simulated; {what})")

    async def _step(self, wanted: frozenset[str], emit: Emit) -> None:
        now_ns = self._clock.now_ns()
        messages = self._market.step(now_ns)
        self._ticks += 1
        engine = self._engine
        events: list[EngineEvent] = []
        batch: list[Message] = []
        gap = self._timeline.has(FaultKind.MD_GAP) or self._standing.has(FaultKind.MD_GAP)
        now = self._elapsed()
        thin = self._once(self._timeline.active(FaultKind.PARTIAL_FILL, now))
        liquidity = thin.number("liquidity") if thin is not None else 1.0
        stalled = self._once(self._timeline.active(FaultKind.MD_STALL, now)) is not None
        for message in messages:
            if isinstance(message, QuoteReceived):
                bid_size, ask_size = message.bid_size, message.ask_size
                if thin is not None:  # the venue shows the quote, but lets only a part be taken
                    bid_size, ask_size = _thin(bid_size, liquidity), _thin(ask_size, liquidity)
                events += engine.on_quote(
                    message.symbol,
                    message.bid_price,
                    bid_size,
                    message.ask_price,
                    ask_size,
                    now_ns=now_ns,
                )
            else:
                events += engine.on_trade(message.symbol, message.price, message.size, now_ns=now_ns)
            if message.symbol not in wanted:
                continue
            if stalled:
                self._dropped += 1
                continue
            if gap and self._take(FaultKind.MD_GAP) is not None:
                self._dropped += 1
                self._count(FaultKind.MD_GAP)
                continue
            batch.append(message)
            if isinstance(message, TradeReceived):
                self._last_trades[message.symbol] = message
        if batch and self._timeline.has(FaultKind.BAD_DATA):
            while (bad := self._timeline.take(FaultKind.BAD_DATA, now)) is not None:
                self._count(bad.kind)
                batch.append(self._bad_item(bad, batch[self._fault_rng.randrange(len(batch))]))
        if batch:
            self._emitted += len(batch)
            await emit(batch)
        await self._publish(events)

    def _bad_item(self, event: FaultEvent, like: Message) -> Message:
        """Make one bad market-data item of the event's ``variant`` after ``like`` (feed only)."""
        variant = event.params.get("variant", "overflow_price")
        symbol = like.symbol if isinstance(like, QuoteReceived | TradeReceived) else self._market.symbols[0]
        quote = self._market.last_quote(symbol)
        assert quote is not None  # a step has run
        ts = quote.ts_event
        if variant == "overflow_price":
            return TradeReceived(symbol=symbol, price=1e308, size=1.0, trade_id=0, ts_event=ts, ts_init=ts)
        if variant == "crossed_quote":
            return attrs.evolve(quote, bid_price=quote.ask_price * 1.01)
        if variant == "one_sided_quote":
            return attrs.evolve(quote, bid_price=0.0, bid_size=0.0)
        if variant == "duplicate_trade_id":
            last = self._last_trades.get(symbol)
            if last is not None:
                return last
            return TradeReceived(
                symbol=symbol, price=quote.ask_price, size=1.0, trade_id=0, ts_event=ts, ts_init=ts
            )
        shift = -_YEARS_NS if variant == "timestamp_past" else _YEARS_NS
        return attrs.evolve(quote, ts_event=ts + shift)

    # ---------------------------------------------------------------- Broker

    async def run_updates(
        self,
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Emit order updates (``order.accepted|filled|canceled|rejected``) until cancelled.

        Each batch is what one request or one market step caused. Updates made while nothing
        listens are discarded, as on a WebSocket nobody reads. A batch being emitted when this
        is cancelled is lost.

        Args:
            emit: where each batch of updates goes; may block (backpressure).
            task_status: started once listening.

        Raises:
            trio.BusyResourceError: another ``run_updates`` is already listening.
        """
        if self._listening:
            raise trio.BusyResourceError("SimVenue.run_updates is already listening")
        self._listening = True
        try:
            task_status.started()
            await self._connect("trade updates")
            with trio.CancelScope() as scope:
                self._updates_scope = scope
                await self._deliver_updates(emit)
            if scope.cancelled_caught:
                raise TransportError("trade updates connection lost: the venue restarted (simulated)")
        finally:
            self._listening = False
            self._updates_scope = None

    async def _deliver_updates(self, emit: Emit) -> None:
        held: tuple[Message, ...] | None = None  # a batch an update_reorder holds back
        while True:
            if held is None:
                batch = await self._receive.receive()
            else:
                later: tuple[Message, ...] | None = None
                with trio.move_on_after(_REORDER_WINDOW):
                    later = await self._receive.receive()
                if later is not None:
                    await emit(later)  # the later one first
                await emit(held)
                held = None
                continue
            now = self._elapsed()
            delay = self._once(self._timeline.active(FaultKind.UPDATE_DELAY, now))
            if delay is not None:
                await self._clock.sleep(delay.number("delay"))
            if self._once(self._timeline.active(FaultKind.UPDATE_REORDER, now)) is not None:
                held = batch
                continue
            await emit(batch)
            if self._once(self._timeline.active(FaultKind.UPDATE_DUPLICATE, now)) is not None:
                await emit(batch)

    async def _publish(self, events: list[EngineEvent]) -> None:
        if not events:
            return
        now_ns = self._clock.now_ns()
        batch = tuple(self._to_message(event, now_ns) for event in events)
        if not self._listening:
            self._updates_discarded += len(batch)
            logger.debug("no listener: discarded %d order updates", len(batch))
            return
        self._updates_sent += len(batch)
        await self._send.send(batch)

    def _to_message(self, event: EngineEvent, now_ns: int) -> Message:
        order = event.order
        if event.event in ("fill", "partial_fill"):
            assert event.price is not None
            assert event.qty is not None
            assert event.execution_id is not None
            return OrderFilled(
                client_order_id=order.client_order_id,
                venue_order_id=order.id,
                execution_id=event.execution_id,
                symbol=order.symbol,
                side=order.side,
                fill_price=event.price,
                fill_quantity=event.qty,
                cumulative_quantity=order.filled_qty,
                leaves_quantity=order.leaves_qty,
                fee=round(event.qty * self._engine.fee_per_share, 9),
                ts_event=event.ts_ns,
                ts_init=now_ns,
            )
        if event.event == "new":
            return OrderAccepted(
                client_order_id=order.client_order_id,
                venue_order_id=order.id,
                symbol=order.symbol,
                ts_event=event.ts_ns,
                ts_init=now_ns,
            )
        if event.event == "rejected":
            return OrderRejected(
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                reason="rejected by the venue",
                ts_event=event.ts_ns,
                ts_init=now_ns,
            )
        # canceled, expired, replaced: the order ended without filling completely
        return OrderCanceled(
            client_order_id=order.client_order_id,
            venue_order_id=order.id,
            symbol=order.symbol,
            filled_quantity=order.filled_qty,
            reason=event.event,
            ts_event=event.ts_ns,
            ts_init=now_ns,
        )

    async def submit_order(self, order: OrderSubmitted) -> VenueOrder:
        """Send ``order`` to the engine under its ``client_order_id``; return the venue's order.

        The reply is the order as it is after matching against the current quote (it may be
        filled already); its updates go to :meth:`run_updates` first. A checkpoint: if
        cancelled before the engine saw the order, nothing was sent.

        Raises:
            VenueRejected: the engine refused it (403 buying power, 422 invalid or duplicate
                client order id).
            VenueUnavailable: injected 503; the engine never saw the order.
            RateLimited: injected 429; the engine never saw the order.
            TransportError: injected timeout; the engine **did** accept the order.
        """
        await trio.lowlevel.checkpoint()
        self._down(f"submit of {order.client_order_id}")
        fault = self._take(_SUBMIT_KINDS, scope="submit")
        lost_reply = fault is not None and fault.kind is FaultKind.AMBIGUOUS_TIMEOUT
        if fault is not None and not lost_reply:
            self._raise_request_fault(fault, f"submit of {order.client_order_id}")
        await self._publish(self._follow_sessions())  # an order after the close is held, not filled
        try:
            accepted, events = self._engine.submit(
                symbol=order.symbol,
                side=order.side,
                qty=order.quantity,
                order_type=order.order_type,
                time_in_force=order.time_in_force,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
                client_order_id=order.client_order_id,
                now_ns=self._clock.now_ns(),
            )
        except EngineRejected as exc:
            raise VenueRejected(exc.message, status_code=exc.status_code, code=exc.code) from exc
        await self._publish(events)
        await self._slow_reply("submit")
        if lost_reply:
            assert fault is not None
            self._count(fault.kind)
            logger.info("injected timeout after accepting %s", order.client_order_id)
            raise TransportError("timed out waiting for the reply (simulated; the venue accepted the order)")
        return _venue_order(accepted)

    def _raise_request_fault(self, fault: FaultEvent, what: str) -> None:
        """Raise what ``fault`` (a 503, a 429 or a timeout before the venue) makes of a request."""
        self._count(fault.kind)
        logger.info("injected %s for %s", fault.kind.value, what)
        if fault.kind is FaultKind.RATE_LIMIT_STORM:
            raise RateLimited("too many requests (simulated 429)", retry_after=fault.number("retry_after"))
        if fault.kind is FaultKind.SERVER_ERROR_BURST:
            status = int(fault.number("status"))
            raise VenueUnavailable(f"service unavailable (simulated {status} for {what})", status_code=status)
        raise TransportError(f"timed out (simulated; the venue never saw the {what})")

    async def _slow_reply(self, scope: str) -> None:
        fault = self._take(FaultKind.SLOW_REPLY, scope=scope)
        if fault is not None:
            self._count(fault.kind)
            await self._clock.sleep(fault.number("delay"))

    def _draw_request_fault(self, what: str, *, standing: bool = True) -> None:
        self._down(what)
        if standing:
            fault = self._take(_OTHER_KINDS, scope="other")
        else:  # SimFaults never touched lists and the account; a schedule does
            fault = self._timeline.take(_OTHER_KINDS, self._elapsed(), scope="other")
        if fault is not None:
            self._raise_request_fault(fault, what)

    async def cancel_order(self, venue_order_id: str) -> None:
        """Cancel an open order; the ``order.canceled`` update goes to :meth:`run_updates`.

        Raises:
            VenueRejected: 404 unknown order, 422 order not cancelable (already closed).
            VenueUnavailable: injected 503 (``request_unavailable``); the engine never saw it.
        """
        await trio.lowlevel.checkpoint()
        self._draw_request_fault(f"cancel of {venue_order_id}")
        try:
            events = self._engine.cancel(venue_order_id, now_ns=self._clock.now_ns())
        except EngineRejected as exc:
            raise VenueRejected(exc.message, status_code=exc.status_code, code=exc.code) from exc
        await self._publish(events)

    async def end_of_day(self) -> None:
        """Expire every open ``day`` order; the updates go to :meth:`run_updates`."""
        await trio.lowlevel.checkpoint()
        await self._publish(self._engine.end_of_day(now_ns=self._clock.now_ns()))

    async def get_order_by_client_id(self, client_order_id: str) -> VenueOrder | None:
        """Return the order sent under ``client_order_id``, ``None`` if the engine never saw it.

        Raises:
            VenueUnavailable: injected 503 (``request_unavailable``).
        """
        await trio.lowlevel.checkpoint()
        self._draw_request_fault(f"lookup of {client_order_id}")
        try:
            return _venue_order(self._engine.get_order_by_client_id(client_order_id))
        except EngineRejected:
            return None

    async def list_open_orders(self) -> list[VenueOrder]:
        """Return every open order, oldest first."""
        await trio.lowlevel.checkpoint()
        self._draw_request_fault("list of open orders", standing=False)
        return [_venue_order(order) for order in self._engine.open_orders()]

    async def list_positions(self) -> list[VenuePosition]:
        """Return the open positions, sorted by symbol."""
        await trio.lowlevel.checkpoint()
        self._draw_request_fault("list of positions", standing=False)
        return [
            VenuePosition(
                symbol=position.symbol, quantity=position.qty, avg_entry_price=position.avg_entry_price
            )
            for position in self._engine.positions()
        ]

    async def get_account(self) -> AccountSnapshot:
        """Return cash, buying power and equity at the current marks, and the account's id."""
        await trio.lowlevel.checkpoint()
        self._draw_request_fault("account", standing=False)
        account = self._engine.account()
        return AccountSnapshot(
            cash=account.cash,
            buying_power=account.buying_power,
            equity=account.equity,
            account_id=self.account_id,
        )

"""Assemble the trading tree: the same actors whatever the venue and the clock."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, final

import attrs
import trio

from ..config import PyrtConfig
from ..control.actor import ControlActor
from ..control.server import ControlRequest
from ..execution.actor import ExecutionActor
from ..marketdata.actor import MarketDataActor
from ..marketdata.bars import parse_timeframe
from ..messages import (
    CONTROL_COMMANDS,
    BarReceived,
    BookReceived,
    ControlApplied,
    ControlCommand,
    Heartbeat,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    QuoteReceived,
    RiskApproved,
    RiskRejected,
    SignalGenerated,
    SupervisorEvent,
    TradeReceived,
    TradingStateChanged,
)
from ..persistence.actor import StoreActor
from ..persistence.reconciler import ReconcilerActor
from ..persistence.recorder import RecorderActor
from ..persistence.store import Store
from ..risk.actor import RiskActor
from ..risk.engine import RiskEngine
from ..risk.limits import RiskLimits
from ..risk.portfolio import Portfolio, PositionView
from ..runtime.actor import Actor, ActorContext
from ..runtime.bus import BlockingEdge, Bus, find_blocking_cycle
from ..runtime.clock import Clock, RunDeadline
from ..runtime.journal import JournalWriter
from ..runtime.supervisor import ChildSpec, RestartStrategy, Supervisor
from ..strategy import Strategy, load_strategy
from ..strategy.actor import SignalActor
from ..venues import Broker, MarketDataFeed

__all__ = ["PUBLISHES", "RunStatus", "RunSummary", "TradingTree", "bar_timeframe"]

logger = logging.getLogger(__name__)

#: The exact topics each part of the tree publishes: every actor by its name, and ``tree`` for
#: the tree itself (supervisor events, forwarded operator commands). With the subscriptions on
#: the bus this gives the graph of ``block`` edges, which must have no cycle (see
#: :func:`pyrt.runtime.bus.find_blocking_cycle`; ``tests/unit/test_tree_graph.py`` also checks, by
#: running the tree, that nobody publishes a topic missing here).
PUBLISHES: Final[Mapping[str, frozenset[str]]] = {
    "tree": frozenset({SupervisorEvent.TOPIC, Heartbeat.TOPIC, ControlCommand.TOPIC}),
    "recorder": frozenset(),
    "store": frozenset(),
    "execution": frozenset(
        {
            OrderSubmitted.TOPIC,
            OrderAccepted.TOPIC,
            OrderFilled.TOPIC,
            OrderCanceled.TOPIC,
            OrderRejected.TOPIC,
            ControlCommand.TOPIC,  # a halt on a contradicting fill
        }
    ),
    "risk": frozenset(
        {RiskApproved.TOPIC, RiskRejected.TOPIC, TradingStateChanged.TOPIC, ControlApplied.TOPIC}
    ),
    "control": frozenset({ControlCommand.TOPIC}),
    "reconciler": frozenset({ControlCommand.TOPIC}),
    "signal": frozenset({SignalGenerated.TOPIC}),
    "market_data": frozenset(
        {TradeReceived.TOPIC, QuoteReceived.TOPIC, BarReceived.TOPIC, BookReceived.TOPIC}
    ),
}


def bar_timeframe(seconds: float) -> str:
    """Return the timeframe string for a bar length in seconds (``60.0`` → ``"1m"``)."""
    ms = round(seconds * 1000)
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6:
        raise ValueError(f"bar length must be a positive whole number of milliseconds, was {seconds}")
    for unit, width in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % width == 0:
            return f"{ms // width}{unit}"
    return f"{ms}ms"


STALL_THRESHOLD: Final = 5.0
"""Seconds a publisher may wait on a full ``block`` inbox before the watchdog calls it a stall."""
WATCH_INTERVAL: Final = 1.0
"""Seconds between two looks of the watchdog."""
STALL_LOG_INTERVAL: Final = 30.0
"""While a stall lasts, it is logged again at most this often."""


@final
@attrs.frozen(kw_only=True)
class RunStatus:
    """A snapshot of a running tree, for the live display and the closing summary."""

    elapsed: float
    """Seconds on the run's clock since the tree started."""
    published_by_topic: dict[str, int]
    """Messages published per topic since the start."""
    rates: dict[str, float]
    """Messages per second per topic over the last status interval."""
    positions: tuple[PositionView, ...]
    """Non-flat or traded positions."""
    realized_pnl: float
    """Realized P&L, net of fees."""
    unrealized_pnl: float
    """Unrealized P&L at the last marks."""
    equity: float
    """Cash plus market value of the positions."""
    restarts: int
    """Actor restarts so far."""
    trading_state: str
    """``active``, ``reducing`` or ``halted``."""
    trading_state_reason: str = ""
    """Why the trading state is what it is (a halt's reason: an operator's, a contradictory fill,
    an account that changed under the run)."""
    stalled: dict[str, float] = attrs.field(factory=dict)
    """``block`` subscriptions whose publisher has been waiting over the watchdog's threshold now:
    subscription name → seconds blocked (normally empty)."""
    stalls: int = 0
    """Stalls the watchdog has seen since the start (each counted once, when it began)."""

    def count(self, topic: str) -> int:
        """Messages published on ``topic`` so far."""
        return self.published_by_topic.get(topic, 0)


@final
@attrs.frozen(kw_only=True)
class RunSummary:
    """How a run ended."""

    status: RunStatus
    """The last status snapshot."""
    journal_path: Path
    """Where the session's journal is."""
    journal_records: int
    """Records written to the journal."""


class TradingTree:
    """The supervision tree: recorder, execution, risk, signal, market data (started in that order).

    Downstream actors start first, so every subscriber exists before market data flows, and the
    recorder is subscribed before anything is published. Shutdown goes in reverse: market data
    stops first and the recorder last, draining and syncing the journal.

    The tree wires the actors together but does not reach into them (issue 9): what one actor
    needs of another's state it reads through that actor's public, read-only snapshots, the risk
    actor's :meth:`~pyrt.risk.actor.RiskActor.positions` (to seed a (re)started strategy and for
    the reconciler) and the execution actor's :meth:`~pyrt.execution.actor.ExecutionActor.open_orders`,
    and :meth:`restore` hands recorded orders to :meth:`~pyrt.execution.actor.ExecutionActor.restore`.
    Snapshots, not start-up messages: a strategy is re-seeded at every restart of the signal
    actor, mid-run, when there is no start-up to send anything at; and a snapshot read with no
    ``await`` cannot interleave with the fills that change it.

    **A run ends at its deadline, and nothing periodic publishes from it on** (issue 10). A run
    of ``duration`` covers ``[start, start + duration)`` on trio's clock; the end is kept in
    ``ctx.deadline`` (a :class:`~pyrt.runtime.clock.RunDeadline`, set before any actor starts).
    Timers on whole seconds fall on that end exactly, and trio breaks a tie between two wake-ups
    due at one instant by the address of their cancel scopes, which follows garbage collection
    and ``PYTHONHASHSEED``, not the seed. So rather than race the cancellation, every periodic
    task of the tree checks the deadline after it sleeps and publishes nothing once it has
    passed: the supervisor's heartbeats, the market-data actor's bar closes on time, the
    reconciler's rounds, the watchdog and the status reports. The same holds once the run ends
    by ``stop`` (the deadline moves to that instant), and through the shutdown, which takes
    virtual time as the actors stop one by one. The same seed then gives the same journal, byte
    for byte, across processes. Choosing an end no timer can share instead would not hold: any
    instant can be some timer's.

    Args:
        config: the run's configuration.
        feed: the venue's market data.
        broker: the venue's order entry.
        clock: wall or virtual.
        rng: the run's random source.
        journal: an open journal writer (the caller closes it).
        strategy_factory: builds the strategy at every (re)start of the signal actor; default from
            ``config.strategy``.
        virtual_time: the run is on a virtual clock (no worker threads, so the same seed gives the
            same journal).
        control_socket: where to serve ``pyrt halt``/``resume``/``status``; ``None`` for no socket.
        store: where orders, fills and the trading state persist (SQLite); ``None`` for none.
    """

    def __init__(
        self,
        config: PyrtConfig,
        *,
        feed: MarketDataFeed,
        broker: Broker,
        clock: Clock,
        rng: random.Random,
        journal: JournalWriter,
        strategy_factory: Callable[[], Strategy] | None = None,
        virtual_time: bool = False,
        control_socket: Path | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.bus = Bus()
        self.deadline = RunDeadline()
        self.ctx = ActorContext(bus=self.bus, clock=clock, rng=rng, deadline=self.deadline)
        self.journal = journal
        timeframe = bar_timeframe(config.signal.bar_interval_secs)
        if strategy_factory is None:
            params = {"timeframe": timeframe, **dict(config.strategy.params)}
            probe = load_strategy(config.strategy.name, params)  # fail now on bad parameters, not at start
            strategy_factory = functools.partial(load_strategy, config.strategy.name, params)
        else:
            probe = strategy_factory()
        # build every bar timeframe the strategy subscribes to, besides the configured one
        timeframes = sorted({timeframe, *probe.bar_timeframes()}, key=parse_timeframe)
        risk = config.risk
        self.portfolio = Portfolio(risk.starting_cash)
        self.risk_engine = RiskEngine(
            # a long-only strategy's sells may not open or grow a short (R23)
            RiskLimits.from_config(risk, allowed_symbols=config.symbols, allow_short=probe.allow_short),
            self.portfolio,
        )
        self.recorder = RecorderActor(
            journal,
            sync_interval=None if virtual_time else 1.0,
            flush_each_batch=not virtual_time,
            tap=virtual_time,
        )
        self.execution = ExecutionActor(
            broker,
            max_retries=config.execution.max_retries,
            max_slippage_bps=config.execution.max_slippage_bps,
            max_order_age_secs=config.execution.max_order_age_secs,
            max_in_flight=config.execution.max_in_flight_orders,
        )
        self.risk = RiskActor(self.risk_engine)
        self.signal = SignalActor(
            functools.partial(self._seeded_strategy, strategy_factory),
            open_orders=self.risk_engine.open_orders,
        )
        self.market_data = MarketDataActor(feed, config.symbols, timeframes=timeframes)
        self.control = ControlActor(self.risk.status, control_socket) if control_socket is not None else None
        self.store = StoreActor(store) if store is not None else None
        interval = config.execution.reconcile_interval_secs
        self.reconciler = (
            ReconcilerActor(
                broker,
                positions=self.risk.positions,
                open_orders=lambda: len(self.execution.open_orders()),
                interval=interval,
            )
            if interval > 0
            else None
        )
        actors: tuple[Actor, ...] = (self.recorder,)
        if self.store is not None:
            actors += (self.store,)
        actors += (self.execution, self.risk)
        if self.control is not None:
            actors += (self.control,)
        if self.reconciler is not None:
            actors += (self.reconciler,)
        actors += (self.signal, self.market_data)
        self.supervisor = Supervisor(
            "pyrt",
            [ChildSpec(name=a.name, start=functools.partial(a.run, self.ctx)) for a in actors],
            strategy=RestartStrategy.ONE_FOR_ONE,
            max_restarts=3,
            max_seconds=10.0,
            clock=clock,
            events=self.bus.publish,
            deadline=self.deadline,
        )
        self._started_at: float | None = None
        self._stalled: dict[str, float] = {}
        self._stall_logged: dict[str, float] = {}
        self.stalls = 0
        self._last_counts: dict[str, int] = {}
        self._last_at = 0.0

    def _seeded_strategy(self, factory: Callable[[], Strategy]) -> Strategy:
        # a (re)started strategy learns the positions it holds, e.g. after a restart of pyrt
        strategy = factory()
        strategy.position.update(self.risk.positions())
        return strategy

    def blocking_cycle(self) -> tuple[BlockingEdge, ...] | None:
        """Return a cycle of ``block`` edges among the live subscriptions, or ``None`` (the rule)."""
        return find_blocking_cycle(PUBLISHES, self.bus.subscriptions())

    def restore(self, store: Store, *, halt_reason: str | None = None) -> None:
        """Rebuild positions, order states and the trading state from the store (before :meth:`run`).

        Fills go to the portfolio, every recorded order message to the order tracker, and the
        last recorded trading state to the risk engine; ``halt_reason`` halts trading on top.
        """
        for fill in store.fills():
            self.portfolio.apply_fill(fill)
        self.execution.restore(store.messages())  # type: ignore[arg-type]  # the store returns order messages only
        restored = self.risk_engine.restore_open_orders(
            self.execution.open_orders(), now_ns=self.clock.now_ns()
        )
        if restored:
            logger.warning("restored %d open order(s) from the store", restored)
        state = store.trading_state()
        if state is not None and state[0] == "halted":
            self.risk_engine.halt(state[1])
        elif state is not None and state[0] == "reducing":
            self.risk_engine.reduce_only(state[1])
        if halt_reason is not None:
            self.risk_engine.halt(halt_reason)

    def status(self) -> RunStatus:
        """Return a snapshot; rates are measured since the previous call."""
        now = self.clock.monotonic()
        if self._started_at is None:
            self._started_at = self._last_at = now
        counts = self.bus.statistics().published_by_topic
        span = now - self._last_at
        rates = {t: (n - self._last_counts.get(t, 0)) / span for t, n in counts.items()} if span > 0 else {}
        self._last_counts, self._last_at = counts, now
        pf = self.portfolio
        return RunStatus(
            elapsed=now - self._started_at,
            published_by_topic=counts,
            rates=rates,
            positions=tuple(p for p in pf.positions() if p.quantity != 0 or p.realized_pnl != 0),
            realized_pnl=pf.realized_pnl,
            unrealized_pnl=pf.unrealized_pnl,
            equity=pf.equity,
            restarts=sum(c.restarts for c in self.supervisor.statistics().children),
            trading_state=self.risk_engine.state.value,
            trading_state_reason=self.risk_engine.state_reason,
            stalled=dict(self._stalled),
            stalls=self.stalls,
        )

    async def run(
        self,
        *,
        duration: float | None = None,
        on_status: Callable[[RunStatus], None] | None = None,
        status_interval: float = 1.0,
        stop: trio.Event | None = None,
        commands: trio.MemoryReceiveChannel[ControlRequest] | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> RunSummary:
        """Run the tree until ``duration`` seconds pass on its clock, ``stop`` is set, or it fails.

        ``commands`` (e.g. a halt from SIGUSR1) are applied to the risk actor as they arrive.
        Either way the actors are stopped in reverse start order (the recorder last, so the
        journal is complete) and the summary is returned. Cancelling the call stops the tree too,
        but then there is no summary.

        Raises:
            pyrt.errors.SupervisionError: an actor crashed more often than the restart intensity.
        """
        self.status()  # the clock's origin for elapsed time and rates
        if duration is not None:
            self.deadline.end_after(duration)  # before any timer starts
        try:
            async with trio.open_nursery() as nursery:
                if on_status is not None:
                    nursery.start_soon(self._report, on_status, status_interval)
                nursery.start_soon(self._watch)
                with trio.move_on_at(self.deadline.at) as scope:
                    if stop is not None:
                        nursery.start_soon(self._cancel_on, stop, scope)
                    await nursery.start(self._supervise)
                    if commands is not None:
                        nursery.start_soon(self._forward_commands, commands)
                    task_status.started()
                    await trio.sleep_forever()
                self.deadline.end_now()  # stopped early: the run ends now
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise
        return self.summary()

    async def _forward_commands(self, commands: trio.MemoryReceiveChannel[ControlRequest]) -> None:
        # operator commands travel as control.command, so the journal has them and risk applies them
        async for request in commands:
            if request.command not in CONTROL_COMMANDS:  # status has nothing to change
                logger.warning("operator command %r ignored: not a trading state change", request.command)
                continue
            await self.bus.publish(request.to_message(now_ns=self.clock.now_ns()))

    @staticmethod
    async def _cancel_on(stop: trio.Event, scope: trio.CancelScope) -> None:
        await stop.wait()
        scope.cancel()

    async def _supervise(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.supervisor.run(task_status=task_status)
        raise RuntimeError("the supervision tree ended by itself")  # permanent children never end

    def summary(self) -> RunSummary:
        """Return the run's summary as of now."""
        return RunSummary(
            status=self.status(),
            journal_path=self.journal.path,
            journal_records=self.journal.statistics().records,
        )

    async def _watch(self) -> None:
        # the liveness watchdog: a block subscription whose publisher waits too long is logged
        # (when it starts, then at most every STALL_LOG_INTERVAL s), counted and shown
        while True:
            await self.clock.sleep(WATCH_INTERVAL)
            if self.deadline.passed():
                return  # the run is over: the shutdown is not a stall
            self.check_stalls()

    def check_stalls(self, threshold: float = STALL_THRESHOLD) -> dict[str, float]:
        """Look for stalled ``block`` subscriptions now; log and count new ones; return them all."""
        now = self.clock.monotonic()
        current = {sub.name: seconds for sub, seconds in self.bus.stalled(threshold)}
        for name, seconds in current.items():
            new = name not in self._stalled
            if new:
                self.stalls += 1
            if new or now - self._stall_logged.get(name, now) >= STALL_LOG_INTERVAL:
                self._stall_logged[name] = now
                logger.warning(
                    "watchdog: the publisher into %s has been blocked for %.1f s (%d stall(s) so far)",
                    name,
                    seconds,
                    self.stalls,
                )
        for name in [name for name in self._stall_logged if name not in current]:
            del self._stall_logged[name]
        self._stalled = current
        return current

    async def _report(self, on_status: Callable[[RunStatus], None], interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            if self.deadline.passed():
                return  # the run is over: the summary has the last status
            on_status(self.status())

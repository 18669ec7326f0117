"""Safety and liveness invariants of a simulated run, checked while it runs and at its end.

An :class:`InvariantMonitor` watches a :class:`~pyrt.modes.tree.TradingTree` from outside: it
reads every message on the bus (a ``feedback`` subscription, so it never slows the tree), the
venue's own books (:class:`VenueBooks`: what the exchange really holds) and the requests the
tree sends (:class:`ObservedBroker`), and raises :class:`~pyrt.errors.InvariantViolation` at the
first broken promise; the run stops there and :attr:`InvariantMonitor.violation` says which,
when, and the last events before it.

Safety, at every check:

- ``S1`` one intent, one order: no submit reaches the venue for a client order id it already
  holds, no signal has two client order ids there, and nothing pyrt sent is at the venue that
  risk did not approve.
- ``S2`` every fill once: no execution id is published twice, no order is filled more in pyrt
  than at the venue, and a venue fill is reflected in pyrt within ``fill_bound`` seconds.
- ``S3`` positions match: whenever no venue fill is still on its way, pyrt's positions equal the
  venue's (and equal the sum of the fills pyrt published).
- ``R…`` the risk promises of ``specs/risk.md`` visible from outside: R1 (venue position within
  ``max_position_size``), R5 (nothing approved while halted), R9 (a client order id approved once),
  R11 (order size), R17 (allowed symbols), R23 (a long-only strategy never short at the venue).
- ``S4`` (at the end) the journal reads back whole: every record written is read back.

Liveness, measured from when the faults stop (``faults_end``), as TigerBeetle does:

- ``L1`` every order pyrt has open ends within ``order_bound`` seconds, unless it is working at
  the venue (a resting limit order);
- ``L2`` market data flows: no gap over ``market_data_bound`` seconds;
- ``L3`` no publisher blocked on a ``block`` inbox over ``stall_bound`` seconds (the bus watchdog);
- ``L4`` no actor left dead: every child of the tree running at two checks in a row.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Protocol, final

import attrs
import trio
import trio.testing

from ..errors import InvariantViolation
from ..messages import (
    Message,
    OrderFilled,
    OrderSubmitted,
    RiskApproved,
    TradingStateChanged,
)
from ..runtime.bus import Policy
from ..runtime.journal import JournalReader

if TYPE_CHECKING:
    from pathlib import Path

    from ..runtime.clock import Clock
    from ..venues import AccountSnapshot, Broker, Emit, VenueOrder, VenuePosition
    from ..venues.sim.matching import MatchingEngine
    from .tree import TradingTree

__all__ = [
    "InvariantMonitor",
    "LivenessBounds",
    "ObservedBroker",
    "SimBooks",
    "VenueBooks",
    "Violation",
]

logger = logging.getLogger(__name__)

RECENT_EVENTS: Final = 20
"""Events kept to show before a violation."""
_QTY_TOLERANCE: Final = 1e-6


@final
@attrs.frozen(kw_only=True)
class LivenessBounds:
    """How long, after the faults stop, each liveness promise may take (seconds, virtual)."""

    order_bound: float = 60.0
    """An order pyrt holds open, not working at the venue, must end within this."""
    market_data_bound: float = 10.0
    """The longest gap between two market-data batches."""
    stall_bound: float = 10.0
    """The longest a publisher may wait on a full ``block`` inbox."""
    fill_bound: float = 10.0
    """A venue fill must be in pyrt's books within this (a safety bound: checked all along)."""
    check_interval: float = 1.0
    """Seconds between two checks."""


@final
@attrs.frozen(kw_only=True)
class Violation:
    """A broken invariant: which, when, what it saw and what came just before."""

    invariant: str
    """The invariant's id (``S1``, ``L3``, ``R23`` …)."""
    message: str
    """What was found against what was expected."""
    at_seconds: float
    """Virtual seconds since the run started."""
    ts_ns: int
    """The virtual clock's time."""
    recent: tuple[str, ...]
    """The last events (messages on the bus, venue requests) before it, oldest first."""


class VenueBooks(Protocol):
    """What the venue really holds: the truth the invariants compare pyrt against.

    SimVenue's matching engine gives it (:class:`SimBooks`); the simulated-network venue of
    ``--venue local`` gives its server's engine the same way.
    """

    def order(self, client_order_id: str) -> tuple[str, float, bool] | None:
        """The venue's order under ``client_order_id``: (symbol, filled quantity, still working),
        or ``None`` if it holds none."""
        ...

    def working(self) -> set[str]:
        """The client order ids of the orders still working at the venue."""
        ...

    def positions(self) -> Mapping[str, float]:
        """Signed quantity per symbol (flat ones may be left out)."""
        ...


@final
class SimBooks:
    """:class:`VenueBooks` of a :class:`~pyrt.venues.sim.MatchingEngine`."""

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine

    def order(self, client_order_id: str) -> tuple[str, float, bool] | None:
        try:
            order = self._engine.get_order_by_client_id(client_order_id)
        except Exception:  # EngineRejected: 404, the engine never saw it
            return None
        return order.symbol, order.filled_qty, order.is_open

    def working(self) -> set[str]:
        return {order.client_order_id for order in self._engine.open_orders()}

    def positions(self) -> Mapping[str, float]:
        return {p.symbol: p.qty for p in self._engine.positions()}


@final
class ObservedBroker:
    """A :class:`~pyrt.venues.Broker` that passes every call on and tells the monitor about it.

    It notes each call and its outcome in the monitor's recent events and checks, before a
    submit goes out, that the venue does not hold the client order id already (``S1``). It
    injects nothing: the venue follows the run's :class:`~pyrt.faults.FaultSchedule` (a lagging
    trade-updates stream is its ``update_delay``) and counts what it injected.
    """

    def __init__(self, inner: Broker, *, books: VenueBooks, clock: Clock) -> None:
        self._inner = inner
        self._books = books
        self._clock = clock
        self.monitor: InvariantMonitor | None = None
        self.submits = 0

    def _note(self, text: str) -> None:
        if self.monitor is not None:
            self.monitor.note(text)

    async def submit_order(self, order: OrderSubmitted) -> VenueOrder:
        cid = order.client_order_id
        self.submits += 1
        if self.monitor is not None:
            if self._books.order(cid) is not None:
                self.monitor.flag(
                    "S1", f"a submit of {cid} reached the venue, which already holds an order under that id"
                )
            self.monitor.watch(cid)
        self._note(f"submit {cid} {order.side} {order.quantity:g} {order.symbol}")
        try:
            reply = await self._inner.submit_order(order)
        except Exception as exc:
            self._note(f"submit {cid} failed: {type(exc).__name__}: {exc}")
            raise
        self._note(f"submit {cid} -> {reply.status}")
        return reply

    async def cancel_order(self, venue_order_id: str) -> None:
        await self._inner.cancel_order(venue_order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> VenueOrder | None:
        try:
            found = await self._inner.get_order_by_client_id(client_order_id)
        except Exception as exc:
            self._note(f"lookup {client_order_id} failed: {type(exc).__name__}")
            raise
        self._note(f"lookup {client_order_id} -> {'absent' if found is None else found.status}")
        return found

    async def list_open_orders(self) -> list[VenueOrder]:
        return await self._inner.list_open_orders()

    async def list_positions(self) -> list[VenuePosition]:
        return await self._inner.list_positions()

    async def get_account(self) -> AccountSnapshot:
        return await self._inner.get_account()

    async def run_updates(
        self, emit: Emit, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await self._inner.run_updates(emit, task_status=task_status)


def _describe(msg: Message) -> str:
    text = repr(msg)
    return text if len(text) <= 240 else text[:237] + "..."


@final
class InvariantMonitor:
    """Checks a running tree against the venue's books; raises at the first violation.

    Args:
        tree: the tree under test (its bus, portfolio, order tracker and supervisor).
        books: the venue's truth.
        clock: the run's clock.
        faults_end: seconds into the run when the last fault stops (liveness starts counting).
        bounds: the liveness bounds.
        allow_short: the strategy may go short (R23 off).
        max_position_size: R1's limit.
        max_order_size: R11's limit.
        allowed_symbols: R17's list.
    """

    def __init__(
        self,
        tree: TradingTree,
        books: VenueBooks,
        *,
        clock: Clock,
        faults_end: float,
        bounds: LivenessBounds | None = None,
        allow_short: bool,
        max_position_size: float,
        max_order_size: float,
        allowed_symbols: Iterable[str],
    ) -> None:
        self._tree = tree
        self._books = books
        self._clock = clock
        self._start = clock.monotonic()
        self._faults_end = faults_end
        self.bounds = bounds if bounds is not None else LivenessBounds()
        self._allow_short = allow_short
        self._max_position = max_position_size
        self._max_order = max_order_size
        self._allowed = frozenset(allowed_symbols)
        self._recent: collections.deque[str] = collections.deque(maxlen=RECENT_EVENTS)
        self._flagged: list[tuple[str, str, float, int, tuple[str, ...]]] = []
        self.violation: Violation | None = None
        self.checks = 0
        """Invariant evaluations made (one per invariant per check)."""
        # what the bus carried
        self._approved: dict[str, str] = {}  # client order id -> signal id
        self._halted = False
        self._executions: set[str] = set()
        self._filled: dict[str, float] = collections.defaultdict(float)  # cid -> qty pyrt published
        self._fill_position: dict[str, float] = collections.defaultdict(float)
        self._last_market = self._start
        # venue fills not yet in pyrt: cid -> (venue filled qty, since)
        self._lagging: dict[str, tuple[float, float]] = {}
        self._not_running: set[str] = set()
        # orders to compare with the venue's: sent and not yet settled (closed there, and pyrt
        # has every fill of it); a settled order is compared again only if a fill comes for it
        self._watched: set[str] = set()
        self._at_venue_by_signal: dict[str, str] = {}
        self._opened: dict[str, float] = {}
        self._subscription = tree.bus.subscribe("", name="invariants", policy=Policy.FEEDBACK)

    # ------------------------------------------------------------------ observing

    def elapsed(self) -> float:
        """Virtual seconds since the monitor was built."""
        return self._clock.monotonic() - self._start

    def note(self, text: str) -> None:
        """Keep ``text`` among the recent events shown with a violation."""
        self._recent.append(f"{self.elapsed():10.3f}s  {text}")

    def watch(self, client_order_id: str) -> None:
        """Compare the order ``client_order_id`` with the venue's from now on (it was sent)."""
        self._watched.add(client_order_id)

    def flag(self, invariant: str, message: str) -> None:
        """Report a violation found outside the monitor's loop; raised at the next check."""
        self._flagged.append((invariant, message, self.elapsed(), self._clock.now_ns(), tuple(self._recent)))

    def _observe(self, batch: Iterable[Message]) -> None:
        for msg in batch:
            topic = msg.TOPIC
            if topic.startswith("market."):
                self._last_market = self._clock.monotonic()
                continue  # too many to keep as recent events
            if topic == "system.heartbeat":
                continue
            self.note(_describe(msg))
            if isinstance(msg, RiskApproved):
                self._on_approved(msg)
            elif isinstance(msg, TradingStateChanged):
                self._halted = msg.state == "halted"
            elif isinstance(msg, OrderFilled):
                self._on_fill(msg)

    def _on_approved(self, msg: RiskApproved) -> None:
        cid = msg.client_order_id
        self.checks += 4
        if cid in self._approved:
            self._fail("R9", f"client order id {cid} approved twice")
        self._approved[cid] = msg.signal.signal_id
        if self._halted:
            self._fail("R5", f"{cid} approved while trading was halted")
        if msg.signal.quantity > self._max_order * (1 + 1e-9):
            self._fail(
                "R11", f"{cid} approved for {msg.signal.quantity:g}, over max_order_size {self._max_order:g}"
            )
        if msg.signal.symbol not in self._allowed:
            self._fail("R17", f"{cid} approved for {msg.signal.symbol}, not in {sorted(self._allowed)}")

    def _on_fill(self, fill: OrderFilled) -> None:
        self.checks += 1
        if fill.execution_id in self._executions:
            self._fail("S2", f"execution {fill.execution_id} of {fill.client_order_id} published twice")
        self._executions.add(fill.execution_id)
        self._filled[fill.client_order_id] += fill.fill_quantity
        self._watched.add(fill.client_order_id)
        self._fill_position[fill.symbol] += fill.side.sign * fill.fill_quantity

    # ------------------------------------------------------------------ checking

    def _fail(
        self,
        invariant: str,
        message: str,
        *,
        at: float | None = None,
        ts_ns: int | None = None,
        recent: tuple[str, ...] | None = None,
    ) -> None:
        at = self.elapsed() if at is None else at
        self.violation = Violation(
            invariant=invariant,
            message=message,
            at_seconds=round(at, 9),
            ts_ns=self._clock.now_ns() if ts_ns is None else ts_ns,
            recent=tuple(self._recent) if recent is None else recent,
        )
        logger.error("invariant %s violated at %.3f s: %s", invariant, at, message)
        raise InvariantViolation(invariant, message)

    def check(self, *, final: bool = False) -> None:
        """Check every invariant now (``final``: the run is over; liveness is due at once).

        Raises:
            InvariantViolation: the first one broken (also kept in :attr:`violation`).
        """
        self._drain()
        for invariant, message, at, ts_ns, recent in self._flagged:
            self._fail(invariant, message, at=at, ts_ns=ts_ns, recent=recent)
        now = self._clock.monotonic()
        # a publisher waiting on a full inbox holds messages (fills among them) on their way:
        # the books may differ until it is through, and L3 bounds how long that may take
        in_flight = any(sub.waiting_publishers for sub in self._tree.bus.subscriptions())
        self._check_orders(now, in_flight=in_flight)
        if not in_flight:
            self._check_positions()
        if self.elapsed() >= self._faults_end:
            self._check_liveness(now, final=final)

    def _drain(self) -> None:
        while True:
            try:
                batch = self._subscription.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            self._observe(batch)

    def _check_orders(self, now: float, *, in_flight: bool) -> None:
        lagging: dict[str, tuple[float, float]] = {}
        settled: list[str] = []
        for cid in sorted(self._watched):
            self.checks += 1
            found = self._books.order(cid)
            if found is None:
                continue  # not at the venue (yet): L1 bounds how long pyrt may think it open
            symbol, venue_filled, working = found
            signal = self._approved.get(cid)
            if signal is None:
                self._fail("S1", f"the venue holds {cid} ({symbol}), which risk never approved")
                return
            other = self._at_venue_by_signal.setdefault(signal, cid)
            if other != cid:
                self._fail("S1", f"signal {signal} has two orders at the venue: {other} and {cid}")
            mine = self._filled.get(cid, 0.0)
            if mine > venue_filled + _QTY_TOLERANCE:
                self._fail("S2", f"{cid} filled {mine:g} in pyrt but {venue_filled:g} at the venue")
            if mine < venue_filled - _QTY_TOLERANCE:
                was = self._lagging.get(cid)
                since = was[1] if was is not None and was[0] == venue_filled else now
                if now - since > self.bounds.fill_bound and not in_flight:
                    self._fail(
                        "S2",
                        f"{cid}: the venue filled {venue_filled:g}, pyrt has {mine:g} after "
                        f"{now - since:.1f} s (bound {self.bounds.fill_bound:g} s)",
                    )
                lagging[cid] = (venue_filled, since)
            elif not working:
                settled.append(cid)
        self._watched.difference_update(settled)
        self._lagging = lagging

    def _check_positions(self) -> None:
        venue = {s: q for s, q in self._books.positions().items() if abs(q) > _QTY_TOLERANCE}
        self.checks += 3
        for symbol, qty in venue.items():
            if abs(qty) > self._max_position * (1 + 1e-9):
                self._fail(
                    "R1", f"the venue holds {qty:g} {symbol}, over max_position_size {self._max_position:g}"
                )
            if not self._allow_short and qty < -_QTY_TOLERANCE:
                self._fail("R23", f"a long-only strategy is short {qty:g} {symbol} at the venue")
        if self._lagging:
            return  # fills on their way: the books differ for now, S2 bounds how long
        mine = {s: q for s, q in self._tree.risk.positions().items() if abs(q) > _QTY_TOLERANCE}
        published = {s: q for s, q in self._fill_position.items() if abs(q) > _QTY_TOLERANCE}
        for symbol in sorted(venue.keys() | mine.keys() | published.keys()):
            want, have, told = venue.get(symbol, 0.0), mine.get(symbol, 0.0), published.get(symbol, 0.0)
            if not (
                math.isclose(want, have, abs_tol=_QTY_TOLERANCE)
                and math.isclose(told, have, abs_tol=_QTY_TOLERANCE)
            ):
                self._fail(
                    "S3",
                    f"position in {symbol}: venue {want:g}, pyrt {have:g}, sum of pyrt's fills {told:g}",
                )

    def _check_liveness(self, now: float, *, final: bool) -> None:
        bounds = self.bounds
        calm_since = self._start + self._faults_end
        self.checks += 4
        # L1: an order pyrt holds open that the venue is not working on
        working = self._books.working()
        for view in self._tree.execution.open_orders():
            if view.client_order_id in working:
                continue
            opened = self._opened.setdefault(view.client_order_id, now)
            waited = now - max(opened, calm_since)
            if waited > bounds.order_bound:
                self._fail(
                    "L1",
                    f"order {view.client_order_id} still {view.state} after {waited:.1f} s of calm "
                    f"(bound {bounds.order_bound:g} s) and not working at the venue",
                )
        # L3: nobody blocked on a full inbox
        for sub, seconds in self._tree.bus.stalled(bounds.stall_bound):
            if now - calm_since > bounds.stall_bound:
                self._fail(
                    "L3",
                    f"the publisher into {sub.name} ({', '.join(sub.topics)}) has been blocked for "
                    f"{seconds:.1f} s (bound {bounds.stall_bound:g} s)",
                )
        # L2: market data flows
        gap = now - max(self._last_market, calm_since)
        if gap > bounds.market_data_bound:
            self._fail(
                "L2",
                f"no market data for {gap:.1f} s after the faults stopped (bound {bounds.market_data_bound:g} s)",
            )
        # L4: every actor running (twice in a row: a restart takes a moment)
        if not final:
            down = {c.name for c in self._tree.supervisor.statistics().children if not c.running}
            dead = sorted(down & self._not_running)
            if dead:
                self._fail("L4", f"actor(s) {', '.join(dead)} not running at two checks in a row")
            self._not_running = down

    def journal_check(self, path: Path, records: int) -> None:
        """``S4``: the journal at ``path`` reads back all ``records`` records.

        Raises:
            InvariantViolation: it does not.
        """
        self.checks += 1
        try:
            read = sum(1 for _ in JournalReader(path))
        except Exception as exc:
            self._fail("S4", f"the journal {path} does not read back: {exc}")
        if read != records:
            self._fail("S4", f"the journal {path} reads back {read} of the {records} records written")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check every ``check_interval`` seconds until cancelled or a violation.

        Call only on a ``MockClock``: each check waits until every other task is blocked.

        Raises:
            InvariantViolation: the first one broken.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            task_status.started()
            while True:
                await self._clock.sleep(self.bounds.check_interval)
                # check when every other task is blocked: nothing is half-way through a hand-over
                # (trio's MockClock jumps only after waiters like this one have run)
                await trio.testing.wait_all_tasks_blocked()
                self.check()

    async def _read(self) -> None:
        # read the bus as it goes, so the recent events carry their own times and order
        async for batch in self._subscription:
            self._observe(batch)

    def close(self) -> None:
        """Stop reading the bus."""
        self._subscription.close()

"""OTP-style supervision trees on trio nurseries.

A :class:`Supervisor` starts its children in order, restarts them by its :class:`RestartStrategy`
when they crash or return, stops them in reverse order when it is cancelled, and gives up
(*escalates*) with :class:`~pyrt.errors.SupervisionError` when they need more than
``max_restarts`` restarts within ``max_seconds``. The supervisor knows nothing about actors: a
child is a name and a start callable that accepts ``task_status=``, so a supervisor's own
:meth:`Supervisor.run` is a valid child and trees nest::

    execution = Supervisor(
        "execution_tree",
        [ChildSpec(name="risk", start=partial(risk.run, ctx)),
         ChildSpec(name="execution", start=partial(execution.run, ctx))],
        strategy=RestartStrategy.REST_FOR_ONE,
        clock=ctx.clock,
    )
    root = Supervisor(
        "root",
        [ChildSpec(name="market_data", start=partial(market_data.run, ctx)),
         ChildSpec(name="execution_tree", start=execution.run)],
        clock=ctx.clock,
        events=ctx.bus.publish,
    )
    await root.run()

Time for the restart window is the clock's monotonic time (:meth:`Clock.monotonic`, trio's
clock), so under :class:`trio.testing.MockClock` the intensity rules run on virtual time.
"""

from __future__ import annotations

import collections
import enum
import logging
import math
from typing import TYPE_CHECKING, Final, final

import attrs
import trio

from pyrt._validators import finite_positive
from pyrt.errors import SupervisionError
from pyrt.messages import Heartbeat, SupervisorEvent, SupervisorEventKind
from pyrt.runtime.clock import RunDeadline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from pyrt.messages import Message
    from pyrt.runtime.clock import Clock

__all__ = [
    "ChildSpec",
    "ChildStatistics",
    "Restart",
    "RestartStrategy",
    "Supervisor",
    "SupervisorStatistics",
]

logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT: Final = 5.0


class Restart(enum.StrEnum):
    """When a child is restarted after it exits."""

    PERMANENT = "permanent"
    """Always restarted, whether it raised or returned."""
    TRANSIENT = "transient"
    """Restarted only if it raised; a normal return means it is done."""
    TEMPORARY = "temporary"
    """Never restarted, not even when a sibling's restart stops it."""


class RestartStrategy(enum.StrEnum):
    """Which children are restarted together when one of them is restarted.

    Siblings that are restarted along with a child are first stopped in reverse start order,
    then all are started again in start order. As in OTP, a ``TEMPORARY`` sibling stopped this
    way stays stopped, and a ``TRANSIENT`` sibling that had already returned is started again.
    A child that is not restarted (a returned ``TRANSIENT``, any ``TEMPORARY``) affects no sibling.
    """

    ONE_FOR_ONE = "one_for_one"
    """Only the child that exited."""
    REST_FOR_ONE = "rest_for_one"
    """The child that exited and every child started after it."""
    ONE_FOR_ALL = "one_for_all"
    """Every child."""


def _non_empty(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must be a non-empty string, was {value!r}")


@final
@attrs.frozen(kw_only=True)
class ChildSpec:
    """One child of a :class:`Supervisor`.

    Attributes:
        name: unique among its siblings; used in events, heartbeats, logs and statistics.
        start: an async callable run as ``await nursery.start(start)``: it must accept a
            ``task_status=`` keyword and call ``task_status.started()`` once it can receive.
            Bind arguments with :func:`functools.partial`.
        restart: when the child is restarted after it exits.
        shutdown_timeout: seconds of shielded time the child gets to finish its ``finally:``
            cleanup once the supervisor cancels it; after that the supervisor moves on.
    """

    name: str = attrs.field(validator=_non_empty)
    start: Callable[..., Awaitable[None]]
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = attrs.field(default=DEFAULT_SHUTDOWN_TIMEOUT, validator=finite_positive)


@final
@attrs.frozen(kw_only=True)
class ChildStatistics:
    """A snapshot of one child, from :meth:`Supervisor.statistics`."""

    name: str
    """The child's name from its :class:`ChildSpec`."""
    restarts: int
    """How often the supervisor restarted it (its own crashes and its siblings' restarts)."""
    crashes: int
    """How often it raised, while starting, while running, or while being stopped."""
    running: bool
    """Whether it has started and has neither exited nor been stopped."""
    last_error: str | None
    """``repr`` of the last exception it raised, or ``None`` if it never raised."""


@final
@attrs.frozen(kw_only=True)
class SupervisorStatistics:
    """A snapshot of a supervisor, from :meth:`Supervisor.statistics`."""

    name: str
    """The supervisor's name."""
    running: bool
    """Whether :meth:`Supervisor.run` is in progress."""
    restarts_in_window: int
    """Restarts within the last ``max_seconds``, as counted against ``max_restarts``."""
    children: tuple[ChildStatistics, ...]
    """One entry per child, in start order."""


@attrs.define(eq=False)
class _Incarnation:
    # One run of one child, from its start to its exit
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    finished: trio.Event = attrs.Factory(trio.Event)
    started: bool = False
    stopping: bool = False
    abandoned: bool = False
    error: Exception | None = None
    heartbeats: int = 0


@attrs.frozen(kw_only=True)
class _Exit:
    error: Exception | None


@attrs.define(eq=False)
class _Slot:
    spec: ChildSpec
    wanted: bool = True  # the supervisor means this child to be running
    current: _Incarnation | None = None  # set from started() until it exits or is stopped
    pending: _Exit | None = None  # an exit the control loop has not handled yet
    starts_this_run: int = 0
    restarts: int = 0
    crashes: int = 0
    last_error: str | None = None


@final
class _ChildStatus(trio.TaskStatus[None]):
    # Passed to the child as its task_status: marks the incarnation running and shields it, so
    # that from now on only the supervisor (in reverse order) decides when it is cancelled
    __slots__ = ("_incarnation", "_outer", "_slot")

    def __init__(self, outer: trio.TaskStatus[None], slot: _Slot, incarnation: _Incarnation) -> None:
        self._outer = outer
        self._slot = slot
        self._incarnation = incarnation

    def started(self, value: None = None) -> None:
        inc = self._incarnation
        if inc.started:
            raise RuntimeError(f"child {self._slot.spec.name!r} called task_status.started() twice")
        inc.started = True
        inc.scope.shield = True
        self._slot.current = inc
        self._outer.started()


@final
class Supervisor:
    """Start, watch, restart and stop a sequence of children, OTP style.

    Args:
        name: used in events, logs, errors and statistics.
        children: started in this order and stopped in the reverse order. Names must be unique.
        strategy: which children are restarted together when one is restarted.
        max_restarts: restarts allowed within ``max_seconds``; one more escalates.
        max_seconds: the length of the restart window, in seconds of trio time.
        clock: source of event timestamps and of the heartbeat sleep.
        events: if given, awaited with every :class:`~pyrt.messages.SupervisorEvent` and
            :class:`~pyrt.messages.Heartbeat` (for example ``bus.publish``).
        heartbeat_interval: seconds between heartbeats for each running child, or ``None`` for
            none. Heartbeats are only sent when ``events`` is given.
        deadline: the run's end; no heartbeat is sent at or after it (a heartbeat due at the very
            instant the run ends would otherwise race its cancellation). Default: no end.

    Raises:
        ValueError: for duplicate child names or out-of-range limits.
    """

    __slots__ = (
        "_changed",
        "_clock",
        "_deadline",
        "_events",
        "_heartbeat_interval",
        "_max_restarts",
        "_max_seconds",
        "_running",
        "_slots",
        "_strategy",
        "_window",
        "name",
    )

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        clock: Clock,
        events: Callable[[Message], Awaitable[None]] | None = None,
        heartbeat_interval: float | None = 1.0,
        deadline: RunDeadline | None = None,
    ) -> None:
        problems = []
        if not name:
            problems.append(f"name must be a non-empty string, was {name!r}")
        seen: set[str] = set()
        for spec in children:
            if spec.name in seen:
                problems.append(f"child names must be unique, {spec.name!r} appears twice")
            seen.add(spec.name)
        if max_restarts < 0:
            problems.append(f"max_restarts must be >= 0, was {max_restarts!r}")
        if not (max_seconds > 0.0 and max_seconds != math.inf):
            problems.append(f"max_seconds must be a finite number > 0, was {max_seconds!r}")
        if heartbeat_interval is not None and not (
            heartbeat_interval > 0.0 and heartbeat_interval != math.inf
        ):
            problems.append(
                f"heartbeat_interval must be a finite number > 0 or None, was {heartbeat_interval!r}"
            )
        if problems:
            raise ValueError(f"invalid supervisor {name!r}: " + "; ".join(problems))
        self.name: Final = name
        self._strategy = strategy
        self._max_restarts = max_restarts
        self._max_seconds = max_seconds
        self._clock = clock
        self._events = events
        self._heartbeat_interval = heartbeat_interval
        self._deadline = deadline if deadline is not None else RunDeadline()
        self._slots = [_Slot(spec=spec) for spec in children]
        self._window: collections.deque[float] = collections.deque()
        self._changed = trio.Event()
        self._running = False

    def __repr__(self) -> str:
        return f"Supervisor(name={self.name!r}, strategy={self._strategy.value}, children={len(self._slots)})"

    def statistics(self) -> SupervisorStatistics:
        """Return a snapshot of the supervisor and its children.

        Counters accumulate over the supervisor's lifetime, across runs (a parent restarting a
        nested supervisor runs the same object again); the restart window is per run.
        """
        return SupervisorStatistics(
            name=self.name,
            running=self._running,
            restarts_in_window=self._restarts_in_window(self._clock.monotonic()) if self._running else 0,
            children=tuple(
                ChildStatistics(
                    name=slot.spec.name,
                    restarts=slot.restarts,
                    crashes=slot.crashes,
                    running=slot.current is not None,
                    last_error=slot.last_error,
                )
                for slot in self._slots
            ),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the children in order and supervise them until cancelled or all are done.

        Child *k + 1* is started only after child *k* called ``task_status.started()``, and
        ``task_status.started()`` is called here once every child has started, so
        ``await nursery.start(supervisor.run)`` returns with the whole tree up. A child that
        raises (an :class:`Exception`; cancellation and other base exceptions are never
        intercepted) or returns is restarted according to its :class:`Restart` type and the
        :class:`RestartStrategy`. Returns once every child is done and none will be restarted.

        Cancellation stops the children in reverse start order, one at a time: each is
        cancelled and given its ``shutdown_timeout`` of shielded time to run its ``finally:``
        cleanup before the next one is cancelled. A child that is still starting is cancelled
        with the supervisor.

        Raises:
            SupervisionError: a child needed more than ``max_restarts`` restarts within
                ``max_seconds``; every child has been stopped (in reverse order) by then, and
                ``__cause__`` is the child's last exception (``None`` if it last returned).
            RuntimeError: if this supervisor is already running.
        """
        if self._running:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._running = True
        self._window.clear()
        for slot in self._slots:
            slot.wanted = True
            slot.starts_this_run = 0
        escalation: tuple[_Slot, Exception | None] | None = None
        try:
            async with trio.open_nursery() as nursery:
                if self._events is not None and self._heartbeat_interval is not None:
                    nursery.start_soon(self._send_heartbeats, self._heartbeat_interval)
                try:
                    escalation = await self._supervise(nursery, task_status)
                finally:
                    # Runs on cancellation too: children are shielded once started, so they
                    # stop only here, one by one, newest first
                    with trio.CancelScope(shield=True):
                        for slot in reversed(self._slots):
                            await self._stop(slot)
                    nursery.cancel_scope.cancel()  # the heartbeat task
        finally:
            self._running = False
        if escalation is not None:
            slot, cause = escalation
            # raised outside the nursery so that callers see it bare, not in an ExceptionGroup
            raise SupervisionError(
                f"supervisor {self.name!r} gave up: child {slot.spec.name!r} needed more than "
                f"{self._max_restarts} restart(s) within {self._max_seconds} s"
            ) from cause
        logger.info("supervisor %r finished: every child is done", self.name)

    async def _supervise(
        self, nursery: trio.Nursery, task_status: trio.TaskStatus[None]
    ) -> tuple[_Slot, Exception | None] | None:
        signalled = False
        while True:
            if await self._start_wanted(nursery) and not signalled:
                signalled = True
                task_status.started()
                logger.info("supervisor %r started %d child(ren)", self.name, len(self._slots))
            slot = next((s for s in self._slots if s.pending is not None), None)
            if slot is None:
                if not any(s.current is not None for s in self._slots):
                    return None
                self._changed = trio.Event()
                await self._changed.wait()
                continue
            escalation = await self._on_exit(nursery, slot)
            if escalation is not None:
                return escalation

    async def _start_wanted(self, nursery: trio.Nursery) -> bool:
        # Start, in order, every child that should run and does not; False if a start failed
        for slot in self._slots:
            if not slot.wanted or slot.current is not None or slot.pending is not None:
                continue
            incarnation = _Incarnation()
            try:
                await nursery.start(self._host, slot, incarnation, name=f"{self.name}/{slot.spec.name}")
            except Exception as exc:
                slot.pending = _Exit(error=exc)  # handled like any other crash
                return False
            slot.starts_this_run += 1
            if slot.starts_this_run == 1:
                logger.info("supervisor %r started child %r", self.name, slot.spec.name)
                await self._publish(slot, SupervisorEventKind.STARTED)
            else:
                logger.info("supervisor %r restarted child %r", self.name, slot.spec.name)
                await self._publish(slot, SupervisorEventKind.RESTARTED)
        return True

    async def _host(
        self,
        slot: _Slot,
        incarnation: _Incarnation,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        # The child runs in this task, inside the incarnation's cancel scope, with task_status
        # forwarded: an error before started() surfaces from nursery.start() in the control loop
        status = _ChildStatus(task_status, slot, incarnation)
        error: Exception | None = None
        try:
            try:
                with incarnation.scope:
                    await slot.spec.start(task_status=status)
            except Exception as exc:
                if not incarnation.started:
                    raise
                error = exc
            else:
                if not incarnation.started:
                    raise RuntimeError(
                        f"child {slot.spec.name!r} of supervisor {self.name!r} returned "
                        "without calling task_status.started()"
                    )
        finally:
            incarnation.error = error
            incarnation.finished.set()
        if slot.current is incarnation:  # exited on its own, not stopped by the supervisor
            slot.current = None
            slot.pending = _Exit(error=error)
            self._changed.set()
        elif incarnation.abandoned and error is not None:
            logger.error(
                "child %r of supervisor %r raised after its shutdown timeout",
                slot.spec.name,
                self.name,
                exc_info=error,
            )

    async def _on_exit(self, nursery: trio.Nursery, slot: _Slot) -> tuple[_Slot, Exception | None] | None:
        exit_ = slot.pending
        assert exit_ is not None
        slot.pending = None
        if exit_.error is not None:
            await self._record_crash(slot, exit_.error)
        restart = slot.spec.restart
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and exit_.error is None):
            slot.wanted = False
            if exit_.error is None:
                logger.info("child %r of supervisor %r is done", slot.spec.name, self.name)
                await self._publish(slot, SupervisorEventKind.STOPPED)
            return None

        now = self._clock.monotonic()
        if self._restarts_in_window(now) >= self._max_restarts:
            slot.wanted = False
            logger.error(
                "supervisor %r escalates: child %r needed more than %d restart(s) within %s s",
                self.name,
                slot.spec.name,
                self._max_restarts,
                self._max_seconds,
            )
            await self._publish(slot, SupervisorEventKind.ESCALATED, error=exit_.error)
            return slot, exit_.error
        self._window.append(now)

        if exit_.error is None:
            await self._publish(slot, SupervisorEventKind.STOPPED)
        index = self._slots.index(slot)
        if self._strategy is RestartStrategy.ONE_FOR_ONE:
            group = [slot]
        elif self._strategy is RestartStrategy.REST_FOR_ONE:
            group = self._slots[index:]
        else:
            group = list(self._slots)
        for sibling in reversed(group):
            if sibling is not slot:
                await self._stop(sibling)
        for member in group:
            if member is not slot and member.spec.restart is Restart.TEMPORARY:
                member.wanted = False
                continue
            member.wanted = True
            member.restarts += 1
            logger.warning(
                "supervisor %r restarts child %r (restart %d of the child, %d within %s s)",
                self.name,
                member.spec.name,
                member.restarts,
                len(self._window),
                self._max_seconds,
            )
        return None

    async def _stop(self, slot: _Slot) -> None:
        # Cancel one child and wait, shielded and bounded, for its cleanup to finish
        incarnation = slot.current
        timeout = slot.spec.shutdown_timeout
        if incarnation is not None:
            slot.current = None
            incarnation.stopping = True
            incarnation.scope.cancel()
            with trio.move_on_after(timeout, shield=True) as waited:
                await incarnation.finished.wait()
            if waited.cancelled_caught:
                incarnation.abandoned = True
                logger.warning(
                    "child %r of supervisor %r did not stop within its shutdown timeout of %s s",
                    slot.spec.name,
                    self.name,
                    timeout,
                )
            error = incarnation.error
        elif slot.pending is not None:
            error = slot.pending.error  # it exited on its own before the supervisor got to it
            slot.pending = None
        else:
            return
        with trio.move_on_after(timeout, shield=True):  # a stalled event sink must not hang shutdown
            if error is not None:
                await self._record_crash(slot, error)
            logger.info("supervisor %r stopped child %r", self.name, slot.spec.name)
            await self._publish(slot, SupervisorEventKind.STOPPED)

    async def _record_crash(self, slot: _Slot, error: Exception) -> None:
        slot.crashes += 1
        slot.last_error = repr(error)
        logger.error("child %r of supervisor %r crashed", slot.spec.name, self.name, exc_info=error)
        await self._publish(slot, SupervisorEventKind.CRASHED, error=error)

    def _restarts_in_window(self, now: float) -> int:
        while self._window and now - self._window[0] >= self._max_seconds:
            self._window.popleft()
        return len(self._window)

    async def _publish(
        self, slot: _Slot, kind: SupervisorEventKind, *, error: Exception | None = None
    ) -> None:
        if self._events is None:
            return
        now = self._clock.now_ns()
        await self._events(
            SupervisorEvent(
                supervisor=self.name,
                child=slot.spec.name,
                kind=kind,
                error=None if error is None else repr(error),
                restarts=slot.restarts,
                ts_event=now,
                ts_init=now,
            )
        )

    async def _send_heartbeats(self, interval: float) -> None:
        assert self._events is not None
        due = self._clock.monotonic()
        while True:
            due += interval  # drift-free: a slow event sink does not stretch the period
            await self._clock.sleep(max(0.0, due - self._clock.monotonic()))
            if self._deadline.passed():
                return  # the run is over: a beat due at its end must not race the shutdown
            for slot in self._slots:
                incarnation = slot.current
                if incarnation is None:
                    continue
                sequence = incarnation.heartbeats
                incarnation.heartbeats += 1
                now = self._clock.now_ns()
                await self._events(
                    Heartbeat(actor=slot.spec.name, sequence=sequence, ts_event=now, ts_init=now)
                )

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import pytest
import trio
import trio.testing

from pyrt.errors import SupervisionError
from pyrt.messages import Heartbeat, Message, SupervisorEvent, SupervisorEventKind as Kind
from pyrt.runtime.clock import RunDeadline, VirtualClock
from pyrt.runtime.supervisor import (
    ChildSpec,
    ChildStatistics,
    Restart,
    RestartStrategy,
    Supervisor,
    SupervisorStatistics,
)

START_NS = 1_700_000_000_000_000_000


class Fatal(BaseException):
    pass


@attrs.define(eq=False)
class Probe:
    """A scripted child: logs its starts and cancellations; the test tells it when to exit."""

    name: str
    log: list[tuple[str, str]]
    start_error: Exception | None = None  # raised before started(), on every start
    gate: trio.Event | None = None  # awaited before started()
    lifetime: float | None = None  # each incarnation crashes after this many seconds
    cleanup: float = 0.0  # shielded seconds awaited in finally when cancelled
    cleanup_done_at: list[tuple[str, float]] = attrs.Factory(list)
    starts: int = 0
    _exit: trio.Event = attrs.Factory(trio.Event)
    _error: BaseException | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts += 1
        self.log.append(("start", self.name))
        if self.gate is not None:
            await self.gate.wait()
        if self.start_error is not None:
            raise self.start_error
        exit_ = self._exit = trio.Event()
        self._error = None
        task_status.started()
        try:
            if self.lifetime is not None:
                await trio.sleep(self.lifetime)  # virtual time (autojump_clock)
                raise ValueError(f"{self.name} crashed")
            await exit_.wait()
        finally:
            if not exit_.is_set() and self.lifetime is None:  # cancelled, not told to exit
                with trio.move_on_after(self.cleanup + 1.0, shield=True):
                    await trio.sleep(self.cleanup)  # virtual time (autojump_clock)
                self.cleanup_done_at.append((self.name, trio.current_time()))
                self.log.append(("stop", self.name))
        if self._error is not None:
            raise self._error

    def crash(self, error: BaseException) -> None:
        self._error = error
        self._exit.set()

    def finish(self) -> None:
        self._exit.set()

    def spec(self, *, restart: Restart = Restart.PERMANENT, shutdown_timeout: float = 5.0) -> ChildSpec:
        return ChildSpec(name=self.name, start=self.run, restart=restart, shutdown_timeout=shutdown_timeout)


def make_supervisor(
    children: list[ChildSpec],
    *,
    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    clock: VirtualClock | None = None,
    events: Callable[[Message], Awaitable[None]] | None = None,
    heartbeat_interval: float | None = None,
    deadline: RunDeadline | None = None,
) -> Supervisor:
    return Supervisor(
        "root",
        children,
        strategy=strategy,
        max_restarts=max_restarts,
        max_seconds=max_seconds,
        clock=clock or VirtualClock(START_NS),
        events=events,
        heartbeat_interval=heartbeat_interval,
        deadline=deadline,
    )


def probes(log: list[tuple[str, str]], *names: str) -> list[Probe]:
    return [Probe(name, log) for name in names]


def child_stats(sup: Supervisor, name: str) -> ChildStatistics:
    return next(c for c in sup.statistics().children if c.name == name)


async def test_start_waits_for_each_child_before_starting_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    a, b = probes(log, "a", "b")
    a.gate = trio.Event()
    sup = make_supervisor([a.spec(), b.spec()])
    tree_started = trio.Event()

    async with trio.open_nursery() as nursery:

        async def start_tree() -> None:
            await nursery.start(sup.run)
            tree_started.set()

        nursery.start_soon(start_tree)
        await trio.testing.wait_all_tasks_blocked()
        assert log == [("start", "a")]
        assert b.starts == 0
        assert not tree_started.is_set()

        a.gate.set()
        await tree_started.wait()
        assert log == [("start", "a"), ("start", "b")]
        assert [c.running for c in sup.statistics().children] == [True, True]
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RestartStrategy.ONE_FOR_ONE, [("start", "b")]),
        (RestartStrategy.REST_FOR_ONE, [("stop", "c"), ("start", "b"), ("start", "c")]),
        (
            RestartStrategy.ONE_FOR_ALL,
            [("stop", "c"), ("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")],
        ),
    ],
)
async def test_crash_restarts_children_by_strategy(
    autojump_clock: trio.testing.MockClock, strategy: RestartStrategy, expected: list[tuple[str, str]]
) -> None:
    log: list[tuple[str, str]] = []
    a, b, c = probes(log, "a", "b", "c")
    sup = make_supervisor([a.spec(), b.spec(), c.spec()], strategy=strategy)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        del log[:]
        b.crash(ValueError("boom"))
        await trio.testing.wait_all_tasks_blocked()

        assert log == expected
        assert child_stats(sup, "b") == ChildStatistics(
            name="b", restarts=1, crashes=1, running=True, last_error="ValueError('boom')"
        )
        restarted = {name for verb, name in expected if verb == "start"}
        assert {s.name: s.restarts for s in sup.statistics().children} == {
            name: int(name in restarted) for name in "abc"
        }
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("restart", "crash", "restarted"),
    [
        (Restart.PERMANENT, False, True),
        (Restart.PERMANENT, True, True),
        (Restart.TRANSIENT, False, False),
        (Restart.TRANSIENT, True, True),
        (Restart.TEMPORARY, False, False),
        (Restart.TEMPORARY, True, False),
    ],
)
async def test_exit_restarts_child_by_restart_type(
    autojump_clock: trio.testing.MockClock, restart: Restart, crash: bool, restarted: bool
) -> None:
    log: list[tuple[str, str]] = []
    steady, child = probes(log, "steady", "child")
    sup = make_supervisor([steady.spec(), child.spec(restart=restart)])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        if crash:
            child.crash(ValueError("boom"))
        else:
            child.finish()
        await trio.testing.wait_all_tasks_blocked()

        assert child.starts == (2 if restarted else 1)
        stats = child_stats(sup, "child")
        assert (stats.running, stats.restarts, stats.crashes) == (restarted, int(restarted), int(crash))
        assert steady.starts == 1
        nursery.cancel_scope.cancel()


async def test_run_returns_when_every_child_is_done(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, str]] = []
    transient, temporary = probes(log, "transient", "temporary")
    sup = make_supervisor(
        [transient.spec(restart=Restart.TRANSIENT), temporary.spec(restart=Restart.TEMPORARY)]
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        transient.finish()
        temporary.crash(ValueError("boom"))

    assert (transient.starts, temporary.starts) == (1, 1)
    assert sup.statistics() == SupervisorStatistics(
        name="root",
        running=False,
        restarts_in_window=0,
        children=(
            ChildStatistics(name="transient", restarts=0, crashes=0, running=False, last_error=None),
            ChildStatistics(
                name="temporary", restarts=0, crashes=1, running=False, last_error="ValueError('boom')"
            ),
        ),
    )


async def test_one_for_all_stops_temporary_sibling_for_good(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, str]] = []
    a, temp, c = probes(log, "a", "temp", "c")
    sup = make_supervisor(
        [a.spec(), temp.spec(restart=Restart.TEMPORARY), c.spec()], strategy=RestartStrategy.ONE_FOR_ALL
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        del log[:]
        c.crash(ValueError("boom"))
        await trio.testing.wait_all_tasks_blocked()

        assert log == [("stop", "temp"), ("stop", "a"), ("start", "a"), ("start", "c")]
        assert not child_stats(sup, "temp").running
        nursery.cancel_scope.cancel()


async def test_child_failing_every_start_is_restarted_max_restarts_times_then_escalates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    steady, flaky = probes(log, "steady", "flaky")
    error = ValueError("no connection")
    flaky.start_error = error
    events: list[Message] = []

    async def collect(msg: Message) -> None:
        events.append(msg)

    sup = make_supervisor([steady.spec(), flaky.spec()], max_restarts=3, events=collect)

    with pytest.raises(
        SupervisionError,
        match=r"^supervisor 'root' gave up: child 'flaky' needed more than 3 restart\(s\) within 5\.0 s$",
    ) as info:
        await sup.run()

    assert info.value.__cause__ is error
    assert flaky.starts == 4
    assert child_stats(sup, "flaky") == ChildStatistics(
        name="flaky", restarts=3, crashes=4, running=False, last_error=repr(error)
    )
    assert log[-1] == ("stop", "steady")  # the tree was stopped before the error left run()
    kinds = [(e.child, e.kind) for e in events if isinstance(e, SupervisorEvent)]
    assert kinds == [
        ("steady", Kind.STARTED),
        *[("flaky", Kind.CRASHED)] * 4,
        ("flaky", Kind.ESCALATED),
        ("steady", Kind.STOPPED),
    ]


async def test_restarts_within_window_escalate_only_past_max_restarts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    (crasher,) = probes(log, "crasher")
    crasher.lifetime = 1.0  # crashes at t = 1, 2, 3, 4
    sup = make_supervisor([crasher.spec()], max_restarts=3, max_seconds=5.0)
    start = trio.current_time()

    with pytest.raises(SupervisionError) as info:
        await sup.run()

    assert trio.current_time() - start == 4.0
    assert crasher.starts == 4  # restarted at t = 1, 2, 3; the crash at t = 4 escalated
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value.__cause__) == "crasher crashed"


@pytest.mark.parametrize(("max_restarts", "lifetime"), [(3, 2.0), (1, 5.5)])
async def test_restarts_spaced_beyond_window_never_escalate(
    autojump_clock: trio.testing.MockClock, max_restarts: int, lifetime: float
) -> None:
    log: list[tuple[str, str]] = []
    (crasher,) = probes(log, "crasher")
    crasher.lifetime = lifetime
    sup = make_supervisor([crasher.spec()], max_restarts=max_restarts, max_seconds=5.0)

    with trio.move_on_after(100.0 + lifetime / 2) as scope:
        await sup.run()

    assert scope.cancelled_caught
    expected_crashes = int(100.0 // lifetime)
    assert child_stats(sup, "crasher").restarts == expected_crashes
    assert crasher.starts == expected_crashes + 1


async def test_cancel_stops_children_in_reverse_order_after_each_cleanup(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    children = probes(log, "a", "b", "c")
    done_at: list[tuple[str, float]] = []
    for probe in children:
        probe.cleanup = 1.0
        probe.cleanup_done_at = done_at
    sup = make_supervisor([p.spec(shutdown_timeout=3.0) for p in children])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()

    assert [(name, at - cancelled_at) for name, at in done_at] == [("c", 1.0), ("b", 2.0), ("a", 3.0)]


async def test_shutdown_timeout_bounds_the_wait_for_a_stuck_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    a, stuck = probes(log, "a", "stuck")
    done_at: list[tuple[str, float]] = []
    a.cleanup_done_at = stuck.cleanup_done_at = done_at
    stuck.cleanup = 50.0  # shielded: the supervisor cannot cut it short, only stop waiting
    sup = make_supervisor([a.spec(), stuck.spec(shutdown_timeout=2.0)])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()

    assert [(name, at - cancelled_at) for name, at in done_at] == [("a", 2.0), ("stuck", 50.0)]


async def test_cancel_while_a_child_is_starting_cancels_that_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    a, slow = probes(log, "a", "slow")
    slow.gate = trio.Event()  # never set: its start never completes
    sup = make_supervisor([a.spec(), slow.spec()])

    with trio.move_on_after(10.0):
        await sup.run()

    assert log == [("start", "a"), ("start", "slow"), ("stop", "a")]
    assert not any(c.running for c in sup.statistics().children)


async def test_nested_supervisor_escalation_is_a_crash_of_its_parent_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    steady, flaky = probes(log, "steady", "flaky")
    error = ValueError("no connection")
    flaky.start_error = error
    clock = VirtualClock(START_NS)
    sub = Supervisor("execution_tree", [flaky.spec()], max_restarts=1, clock=clock, heartbeat_interval=None)
    parent = make_supervisor(
        [steady.spec(), ChildSpec(name="execution_tree", start=sub.run)], max_restarts=2, clock=clock
    )

    with pytest.raises(SupervisionError, match=r"^supervisor 'root' gave up: child 'execution_tree'") as info:
        await parent.run()

    inner = info.value.__cause__
    assert isinstance(inner, SupervisionError)
    assert str(inner).startswith("supervisor 'execution_tree' gave up: child 'flaky'")
    assert inner.__cause__ is error
    assert flaky.starts == 6  # 3 runs of the subtree, each starting flaky twice
    assert child_stats(parent, "execution_tree").crashes == 3
    assert log[-1] == ("stop", "steady")


async def test_parent_restarts_a_subtree_that_escalated_while_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    (worker,) = probes(log, "worker")
    clock = VirtualClock(START_NS)
    sub = Supervisor("execution_tree", [worker.spec()], max_restarts=0, clock=clock, heartbeat_interval=None)
    parent = make_supervisor([ChildSpec(name="execution_tree", start=sub.run)], clock=clock)

    async with trio.open_nursery() as nursery:
        await nursery.start(parent.run)
        worker.crash(ValueError("boom"))
        await trio.testing.wait_all_tasks_blocked()

        assert worker.starts == 2
        stats = child_stats(parent, "execution_tree")
        assert (stats.running, stats.restarts, stats.crashes) == (True, 1, 1)
        assert stats.last_error is not None
        assert stats.last_error.startswith("SupervisionError(")
        nursery.cancel_scope.cancel()


async def test_events_report_lifecycle_with_clock_timestamps(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, str]] = []
    a, b = probes(log, "a", "b")
    events: list[Message] = []

    async def collect(msg: Message) -> None:
        events.append(msg)

    sup = make_supervisor([a.spec(), b.spec()], events=collect)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(2.0)  # virtual time (autojump_clock)
        a.crash(ValueError("boom"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    t2 = START_NS + 2_000_000_000

    def event(
        child: str, kind: Kind, ts: int, *, restarts: int = 0, error: str | None = None
    ) -> SupervisorEvent:
        return SupervisorEvent(
            supervisor="root", child=child, kind=kind, error=error, restarts=restarts, ts_event=ts, ts_init=ts
        )

    assert events == [
        event("a", Kind.STARTED, START_NS),
        event("b", Kind.STARTED, START_NS),
        event("a", Kind.CRASHED, t2, error="ValueError('boom')"),
        event("a", Kind.RESTARTED, t2, restarts=1),
        event("b", Kind.STOPPED, t2),
        event("a", Kind.STOPPED, t2, restarts=1),
    ]


async def test_heartbeats_count_per_incarnation_for_running_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    a, b = probes(log, "a", "b")
    heartbeats: list[Heartbeat] = []

    async def collect(msg: Message) -> None:
        if isinstance(msg, Heartbeat):
            heartbeats.append(msg)

    sup = make_supervisor([a.spec(), b.spec()], events=collect, heartbeat_interval=1.0)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(2.5)  # virtual time (autojump_clock)
        a.crash(ValueError("boom"))
        await trio.sleep(2.0)  # virtual time (autojump_clock)
        nursery.cancel_scope.cancel()

    assert [(h.actor, h.sequence, (h.ts_event - START_NS) // 1_000_000_000) for h in heartbeats] == [
        ("a", 0, 1),
        ("b", 0, 1),
        ("a", 1, 2),
        ("b", 1, 2),
        ("a", 0, 3),  # a new incarnation counts from 0 again
        ("b", 2, 3),
        ("a", 1, 4),
        ("b", 3, 4),
    ]
    assert all(h.ts_event == h.ts_init for h in heartbeats)


async def test_heartbeat_due_at_the_run_deadline_or_after_is_not_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, str]] = []
    (a,) = probes(log, "a")
    heartbeats: list[Heartbeat] = []

    async def collect(msg: Message) -> None:
        if isinstance(msg, Heartbeat):
            heartbeats.append(msg)

    deadline = RunDeadline()
    deadline.end_at(trio.current_time() + 3.0)  # on a beat: the tie issue 10 found at a run's end
    sup = make_supervisor([a.spec()], events=collect, heartbeat_interval=1.0, deadline=deadline)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5.5)  # virtual time (autojump_clock): past the deadline, still running
        nursery.cancel_scope.cancel()

    assert [(h.sequence, (h.ts_event - START_NS) // 1_000_000_000) for h in heartbeats] == [(0, 1), (1, 2)]


async def test_base_exception_from_child_is_not_intercepted(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, str]] = []
    a, b = probes(log, "a", "b")
    sup = make_supervisor([a.spec(), b.spec()])

    with pytest.RaisesGroup(pytest.RaisesGroup(Fatal)):  # the test's nursery wraps run()'s group
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            b.crash(Fatal())

    assert b.starts == 1
    assert log[-1] == ("stop", "a")
    assert child_stats(sup, "b").crashes == 0


async def test_child_returning_before_started_counts_as_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def no_status(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.lowlevel.checkpoint()

    sup = make_supervisor([ChildSpec(name="lazy", start=no_status)], max_restarts=0)

    with pytest.raises(SupervisionError) as info:
        await sup.run()

    assert isinstance(info.value.__cause__, RuntimeError)
    assert "without calling task_status.started()" in str(info.value.__cause__)


async def test_run_twice_concurrently_raises(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, str]] = []
    (a,) = probes(log, "a")
    sup = make_supervisor([a.spec()])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(RuntimeError, match=r"^supervisor 'root' is already running$"):
            await sup.run()
        nursery.cancel_scope.cancel()


def test_supervisor_rejects_duplicate_names_and_bad_limits() -> None:
    async def noop(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    specs = [ChildSpec(name="a", start=noop), ChildSpec(name="a", start=noop)]

    with pytest.raises(ValueError, match=r"'a' appears twice.*max_restarts must be >= 0, was -1"):
        Supervisor("root", specs, max_restarts=-1, clock=VirtualClock(0))


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_child_spec_rejects_bad_shutdown_timeout(timeout: float) -> None:
    async def noop(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    with pytest.raises(ValueError, match=r"^shutdown_timeout must be a finite number > 0, was "):
        ChildSpec(name="a", start=noop, shutdown_timeout=timeout)

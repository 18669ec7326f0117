"""``control.command`` on the bus: the risk actor applies it and journals the change."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from pyrt.config import load_config
from pyrt.control.server import ControlRequest
from pyrt.messages import ControlApplied, ControlCommand, TradingStateChanged
from pyrt.modes.tree import TradingTree
from pyrt.runtime.clock import VirtualClock, make_rng
from pyrt.runtime.journal import JournalReader, JournalWriter
from pyrt.venues.sim.venue import SimVenue

START_NS = 1_767_312_000 * 1_000_000_000


def _tree(journal: JournalWriter, clock: VirtualClock) -> TradingTree:
    config = load_config(env={}, overrides={"run.seed": 3, "symbols": ["AAPL"]})
    rng = make_rng(3)
    venue = SimVenue(config.symbols, clock=clock, rng=rng, tick_interval=0.1)
    return TradingTree(
        config, feed=venue, broker=venue, clock=clock, rng=rng, journal=journal, virtual_time=True
    )


def test_a_published_halt_is_applied_by_risk_and_journaled_with_its_command(tmp_path: Path) -> None:
    path = tmp_path / "j.pyrtj"

    async def main() -> None:
        clock = VirtualClock(START_NS)
        with JournalWriter.create(path, metadata={}) as journal:
            tree = _tree(journal, clock)
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: tree.run(duration=30.0, task_status=task_status))
                halt = ControlCommand(
                    command="halt",
                    reason="execution: contradictory_execution E1",
                    source="execution",
                    ts_event=clock.now_ns(),
                    ts_init=clock.now_ns(),
                )
                await tree.bus.publish(halt)
                await clock.sleep(1.0)  # virtual
                assert tree.risk_engine.state.value == "halted"
                assert tree.risk_engine.state_reason == halt.reason

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    messages = list(JournalReader(path))
    commands = [m for m in messages if isinstance(m, ControlCommand)]
    states = [m for m in messages if isinstance(m, TradingStateChanged)]
    assert [c.command for c in commands] == ["halt"]
    assert [(s.state, s.reason, s.automatic) for s in states] == [
        ("halted", "execution: contradictory_execution E1", True)
    ]


def test_operator_commands_from_the_caller_travel_as_control_messages(tmp_path: Path) -> None:
    path = tmp_path / "j.pyrtj"

    async def main() -> None:
        clock = VirtualClock(START_NS)
        send, receive = trio.open_memory_channel[ControlRequest](4)
        with JournalWriter.create(path, metadata={}) as journal:
            tree = _tree(journal, clock)
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: tree.run(duration=30.0, commands=receive, task_status=task_status)
                )
                await send.send(ControlRequest(command="reduce", reason="SIGUSR1 test"))
                await clock.sleep(1.0)  # virtual
                assert tree.risk_engine.state.value == "reducing"

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    messages = list(JournalReader(path))
    commands = [m for m in messages if isinstance(m, ControlCommand)]
    states = [m for m in messages if isinstance(m, TradingStateChanged)]
    assert [(c.command, c.source) for c in commands] == [("reduce", "operator")]
    assert [(s.state, s.automatic) for s in states] == [("reducing", False)]


def test_each_state_change_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def main() -> None:
        clock = VirtualClock(START_NS)
        send, receive = trio.open_memory_channel[ControlRequest](4)
        with JournalWriter.create(tmp_path / "j.pyrtj", metadata={}) as journal:
            tree = _tree(journal, clock)
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: tree.run(duration=30.0, commands=receive, task_status=task_status)
                )
                await send.send(ControlRequest(command="halt", reason="fat finger"))
                await clock.sleep(1.0)  # virtual
                await send.send(ControlRequest(command="resume", reason="all clear"))
                await clock.sleep(1.0)  # virtual

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in shown if "fat finger" in m]) == 1, shown
    assert len([m for m in shown if "all clear" in m]) == 1, shown


def test_a_status_request_on_the_command_channel_changes_nothing_and_crashes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        clock = VirtualClock(START_NS)
        send, receive = trio.open_memory_channel[ControlRequest](4)
        with JournalWriter.create(tmp_path / "j.pyrtj", metadata={}) as journal:
            tree = _tree(journal, clock)
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: tree.run(duration=30.0, commands=receive, task_status=task_status)
                )
                await send.send(ControlRequest(command="status", reason="look"))
                await send.send(ControlRequest(command="halt", reason="then halt"))
                await clock.sleep(1.0)  # virtual
                assert tree.risk_engine.state.value == "halted"

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_every_command_is_answered_on_control_applied_even_one_that_changes_nothing(tmp_path: Path) -> None:
    # the control socket used to wait by calling into the risk actor; it now waits for this answer
    path = tmp_path / "j.pyrtj"

    async def main() -> None:
        clock = VirtualClock(START_NS)
        with JournalWriter.create(path, metadata={}) as journal:
            tree = _tree(journal, clock)
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: tree.run(duration=30.0, task_status=task_status))
                for n in range(2):  # the second halt finds the tree halted already
                    now = clock.now_ns()
                    await tree.bus.publish(
                        ControlCommand(
                            command="halt", reason=f"drill {n}", source="operator", ts_event=now, ts_init=now
                        )
                    )
                    await clock.sleep(1.0)  # virtual

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    messages = list(JournalReader(path))
    commands = [m for m in messages if isinstance(m, ControlCommand)]
    answers = [m for m in messages if isinstance(m, ControlApplied)]
    assert [(a.command, a.state, a.state_reason) for a in answers] == [
        ("halt", "halted", "drill 0"),
        ("halt", "halted", "drill 0"),
    ]
    assert all(a.answers(c) for a, c in zip(answers, commands, strict=True))
    assert [m.state for m in messages if isinstance(m, TradingStateChanged)] == ["halted"]

"""The store actor commits off the event loop, in bus order, and loses nothing at shutdown."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Iterator

import pytest
import trio
import trio.testing

from pyrt.messages import Message, TradingStateChanged
from pyrt.persistence.actor import StoreActor
from pyrt.persistence.store import Store
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import VirtualClock

from .test_store import approved, submitted

GATE_TIMEOUT = 5.0  # seconds a held commit waits for the test before it gives up (a failing test)


class HeldCommits:
    """Makes ``Store.record_many`` wait, in its thread, until the test lets it go."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.second_done = threading.Event()
        self.batches: list[list[str]] = []
        self.held_too_long = False
        self.on_loop_thread: list[bool] = []

    def wrap(self, real):
        loop_thread = threading.get_ident()

        def record_many(store: Store, msgs: Iterable[Message]) -> int:
            batch = list(msgs)
            self.on_loop_thread.append(threading.get_ident() == loop_thread)
            self.entered.set()
            if not self.gate.wait(GATE_TIMEOUT):
                self.held_too_long = True
            self.batches.append([f"{msg.TOPIC}:{getattr(msg, 'client_order_id', '')}" for msg in batch])
            done = real(store, batch)
            if len(self.batches) == 2:
                self.second_done.set()
            return done

        return record_many


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCommits]:
    held = HeldCommits()
    monkeypatch.setattr(Store, "record_many", held.wrap(Store.record_many))
    yield held
    held.gate.set()


def context() -> ActorContext:
    return ActorContext(bus=Bus(), clock=VirtualClock(1_000), rng=random.Random(1))


async def test_a_slow_commit_leaves_the_loop_running_and_later_messages_batch(held: HeldCommits) -> None:
    ctx = context()
    with Store.open(":memory:") as store:
        actor = StoreActor(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.run, ctx)
            await ctx.bus.publish(approved("a"))
            await trio.to_thread.run_sync(held.entered.wait)  # the first commit is held in its thread

            # the loop is not blocked: publishing and running other tasks go on meanwhile
            await ctx.bus.publish(submitted("a"))
            await ctx.bus.publish(approved("b"))
            await trio.testing.wait_all_tasks_blocked()
            assert held.batches == []  # still held

            held.gate.set()
            await trio.to_thread.run_sync(held.second_done.wait)
            nursery.cancel_scope.cancel()

        assert not held.held_too_long
        assert held.on_loop_thread == [False, False]
        # what arrived during the held commit went into the next one, in bus order
        assert held.batches == [
            ["risk.approved:a"],
            ["order.submitted:a", "risk.approved:b"],
        ]
        assert store.messages() == [approved("a"), submitted("a"), approved("b")]
        assert actor.commits == 2


async def test_cancel_during_a_commit_still_commits_what_was_delivered(held: HeldCommits) -> None:
    ctx = context()
    halted = TradingStateChanged(state="halted", previous="active", reason="op", ts_event=5, ts_init=5)
    with Store.open(":memory:") as store:
        actor = StoreActor(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.run, ctx)
            await ctx.bus.publish(approved("a"))
            await trio.to_thread.run_sync(held.entered.wait)
            await ctx.bus.publish_batch([submitted("a"), halted])
            await trio.testing.wait_all_tasks_blocked()

            nursery.cancel_scope.cancel()  # shutdown while the first commit is held
            held.gate.set()

        assert held.batches == [["risk.approved:a"], ["order.submitted:a", "risk.state:"]]
        assert store.messages() == [approved("a"), submitted("a")]
        assert store.trading_state() == ("halted", "op")
        assert actor.commits == 2

"""The recorder on a bus tap (virtual time): same records, and a failed append crashes it alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio
import trio.testing

from pyrt.errors import JournalError
from pyrt.messages import TradeReceived, encode
from pyrt.persistence.recorder import RecorderActor
from pyrt.runtime.actor import ActorContext
from pyrt.runtime.bus import Bus
from pyrt.runtime.clock import VirtualClock
from pyrt.runtime.journal import JournalReader, JournalWriter


def trade(i: int) -> TradeReceived:
    return TradeReceived(symbol="AAPL", price=100.0 + i, size=1.0, ts_event=i, ts_init=i)


def context() -> ActorContext:
    return ActorContext(bus=Bus(), clock=VirtualClock(0), rng=random.Random(0))


@pytest.mark.parametrize("tap", [False, True], ids=["subscription", "tap"])
async def test_recorder_journals_every_batch_in_order(tmp_path: Path, tap: bool) -> None:
    ctx = context()
    path = tmp_path / "j.pyrtj"
    with JournalWriter.create(path, metadata={}) as writer:
        recorder = RecorderActor(writer, sync_interval=None, flush_each_batch=not tap, tap=tap)
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, ctx)
            await ctx.bus.publish_batch([trade(1), trade(2)])
            await ctx.bus.publish(trade(3))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()

    assert [encode(m) for m in JournalReader(path)] == [encode(trade(i)) for i in (1, 2, 3)]
    assert recorder.records == 3


async def test_tapped_recorder_whose_append_fails_crashes_the_recorder_not_the_publisher(
    tmp_path: Path,
) -> None:
    ctx = context()
    writer = JournalWriter.create(tmp_path / "j.pyrtj", metadata={})
    writer.close()  # every append now raises JournalError
    recorder = RecorderActor(writer, sync_interval=None, tap=True)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.run, ctx)
            await ctx.bus.publish(trade(1))  # the append fails, but not in the publisher
            await trio.sleep_forever()

    with pytest.RaisesGroup(JournalError):  # exactly one: the recorder's, none from the publisher
        await run()

    assert recorder.records == 0

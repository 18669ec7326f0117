"""The recorder actor: journals every message on the bus, in bus order, fsyncing off the loop.

The journal is what replay feeds back; the recorder only appends and syncs what the bus
delivered, and decides nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

import trio

from ..runtime.actor import ActorContext
from ..runtime.journal import JournalWriter

if TYPE_CHECKING:
    from ..messages import Message

logger = logging.getLogger(__name__)


@final
class RecorderActor:
    """Journals every message on the bus, in the order the bus delivered them.

    Started first, so it is subscribed before anything is published. Each batch is handed to the
    OS when it is read (a process crash loses nothing already read), unless ``flush_each_batch``
    is off; every ``sync_interval``
    seconds, and at shutdown, the journal is fsynced off the event loop. The writer is owned by
    the caller, who closes it after the tree stops.

    Args:
        writer: an open journal.
        sync_interval: seconds between fsyncs; ``None`` for no periodic fsync and a blocking one at
            shutdown (simulation: a worker thread would let the virtual clock jump while it runs,
            and the same seed must give the same journal).
        flush_each_batch: hand each batch to the OS as it is read; off, records reach the OS when
            the writer's buffer fills and when the recorder stops (simulation: a write per batch
            was 9 % of a simulated session's wall time, issue 10, and a crashed simulation is
            run again from its seed, not recovered from its journal).
        tap: journal through :meth:`pyrt.runtime.bus.Bus.tap` (each batch appended as it is
            published, in the publisher's task) instead of a subscription; the same records in
            the same order, without a task step and a channel hand-over per batch (simulation:
            the recorder's wake-ups were a sixth of all task steps, issue 10). An append that
            fails stops the tap and crashes the recorder, not the publisher.
    """

    def __init__(
        self,
        writer: JournalWriter,
        *,
        sync_interval: float | None = 1.0,
        flush_each_batch: bool = True,
        tap: bool = False,
    ) -> None:
        self.name = "recorder"
        self._writer = writer
        self._sync_interval = sync_interval
        self._flush_each_batch = flush_each_batch
        self._tap = tap
        self.records = 0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if self._tap:
            await self._run_tapped(ctx, task_status=task_status)
            return
        writer = self._writer
        with ctx.bus.subscribe("", name=self.name, buffer=256) as inbox:
            try:
                async with trio.open_nursery() as nursery:
                    if self._sync_interval is not None:
                        nursery.start_soon(self._sync_forever, ctx, self._sync_interval)
                    task_status.started()
                    flush_each_batch = self._flush_each_batch
                    async for batch in inbox:
                        writer.append_many(batch)
                        if flush_each_batch:
                            writer.flush()
                        self.records += len(batch)
                    nursery.cancel_scope.cancel()
            finally:
                # drain what was already delivered, then make it durable: bounded, even when cancelled
                with trio.move_on_after(5, shield=True):
                    while True:
                        try:
                            batch = inbox.receive_nowait()
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                        writer.append_many(batch)
                        self.records += len(batch)
                    writer.flush()
                    if self._sync_interval is None:
                        writer.sync_flushed()
                    else:
                        await trio.to_thread.run_sync(writer.sync_flushed)

    async def _run_tapped(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        writer = self._writer
        flush_each_batch = self._flush_each_batch
        failed: list[Exception] = []
        failure = trio.Event()

        def record(batch: tuple[Message, ...]) -> None:
            if failed:
                return  # the recorder is crashing: its restart taps again
            try:
                writer.append_many(batch)
                if flush_each_batch:
                    writer.flush()
            except Exception as exc:
                failed.append(exc)
                failure.set()
                return
            self.records += len(batch)

        with ctx.bus.tap(record):
            try:
                async with trio.open_nursery() as nursery:
                    if self._sync_interval is not None:
                        nursery.start_soon(self._sync_forever, ctx, self._sync_interval)
                    task_status.started()
                    await failure.wait()
                    nursery.cancel_scope.cancel()
            finally:
                with trio.move_on_after(5, shield=True):
                    if not failed:
                        writer.flush()
                        if self._sync_interval is None:
                            writer.sync_flushed()
                        else:
                            await trio.to_thread.run_sync(writer.sync_flushed)
        raise failed[0]

    async def _sync_forever(self, ctx: ActorContext, interval: float) -> None:
        while True:
            await ctx.clock.sleep(interval)
            await trio.to_thread.run_sync(self._writer.sync_flushed)

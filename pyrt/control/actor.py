"""The control actor: the operator's commands, from the control socket onto the bus.

It serves :mod:`pyrt.control.server`'s socket and turns each ``halt``, ``reduce`` or ``resume``
into a :class:`~pyrt.messages.ControlCommand` on ``control.command``, so the command is journaled
like every other message and a replay sees it. It changes nothing itself: the risk actor applies
the command and answers with :class:`~pyrt.messages.ControlApplied` on ``control.applied``; the
socket's reply is sent when that answer arrives. ``status`` changes nothing and is answered at
once from a read-only status snapshot the tree hands in (no actor is called).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, final

import trio

from ..messages import ControlApplied, ControlCommand
from ..runtime.actor import ActorContext
from ..runtime.bus import Policy, Subscription
from .server import ControlRequest, serve_control

logger = logging.getLogger(__name__)

APPLY_TIMEOUT: Final = 5.0
"""Seconds the control socket waits for the risk actor to apply a command before it says so."""


@final
class ControlActor:
    """Serves the control socket (``pyrt halt``, ``pyrt reduce``, ``pyrt resume``, ``pyrt status``).

    A command becomes a ``control.command`` message on the bus (so the journal has it and a
    replay sees it); the reply waits, up to :data:`APPLY_TIMEOUT`, for the risk actor's
    ``control.applied`` answer, read on a ``feedback`` subscription so the risk actor never
    blocks on this one.

    Args:
        status: returns the tree's status as plain data (the risk actor's snapshot).
        path: where the Unix socket lives.
    """

    def __init__(self, status: Callable[[], Mapping[str, object]], path: Path) -> None:
        self.name = "control"
        self.path = path
        self._status = status
        self._ctx: ActorContext | None = None
        self._waiting: dict[ControlCommand, trio.Event] = {}

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._ctx = ctx
        try:
            with ctx.bus.subscribe(
                ControlApplied, name=f"{self.name}.applied", policy=Policy.FEEDBACK
            ) as applied:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._answers, applied)
                    await nursery.start(serve_control, self.path, self._handle)
                    task_status.started()
        finally:
            self._ctx = None

    async def _answers(self, applied: Subscription) -> None:
        async for batch in applied:
            for msg in batch:
                if not isinstance(msg, ControlApplied):
                    continue
                for command, event in self._waiting.items():
                    if msg.answers(command):
                        event.set()

    async def _handle(self, request: ControlRequest) -> Mapping[str, object]:
        ctx = self._ctx
        if request.command == "status" or ctx is None:
            return self._status()
        command = request.to_message(now_ns=ctx.clock.now_ns())
        done = self._waiting[command] = trio.Event()
        try:
            await ctx.bus.publish(command)
            with trio.move_on_after(APPLY_TIMEOUT) as scope:
                await done.wait()
        finally:
            del self._waiting[command]
        if scope.cancelled_caught:
            logger.error(
                "control: %s not applied within %.0f s (is risk restarting?)", request.command, APPLY_TIMEOUT
            )
            return {**self._status(), "applied": False}
        return {**self._status(), "applied": True}

"""The control actor: the operator's commands, from the control socket onto the bus.

It serves :mod:`pyrt.control.server`'s socket and turns each ``halt``, ``reduce`` or ``resume``
into a :class:`~pyrt.messages.ControlCommand` on ``control.command``, so the command is journaled
like every other message and a replay sees it. It changes nothing itself: the risk actor applies
the command (its change is ``risk.state``), and the socket's reply is the risk actor's status once
it has. ``status`` changes nothing and is answered from that status at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

import trio

from ..risk.actor import RiskActor
from ..runtime.actor import ActorContext
from .server import ControlRequest, serve_control

logger = logging.getLogger(__name__)

APPLY_TIMEOUT: Final = 5.0
"""Seconds the control socket waits for the risk actor to apply a command before it says so."""


@final
class ControlActor:
    """Serves the control socket (``pyrt halt``, ``pyrt reduce``, ``pyrt resume``, ``pyrt status``).

    A command becomes a ``control.command`` message on the bus (so the journal has it and a
    replay sees it) that the risk actor applies; the reply is the status once it has. ``status``
    reads the risk actor's state directly.

    Args:
        risk: the risk actor whose trading state the commands change.
        path: where the Unix socket lives.
    """

    def __init__(self, risk: RiskActor, path: Path) -> None:
        self.name = "control"
        self.path = path
        self._risk = risk
        self._ctx: ActorContext | None = None

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._ctx = ctx
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_control, self.path, self._handle)
                task_status.started()
        finally:
            self._ctx = None

    async def _handle(self, request: ControlRequest) -> Mapping[str, object]:
        ctx = self._ctx
        if request.command == "status" or ctx is None:
            return self._risk.status()
        command = request.to_message(now_ns=ctx.clock.now_ns())
        await ctx.bus.publish(command)
        with trio.move_on_after(APPLY_TIMEOUT) as scope:
            await self._risk.wait_applied(command)
        if scope.cancelled_caught:
            logger.error(
                "control: %s not applied within %.0f s (is risk restarting?)", request.command, APPLY_TIMEOUT
            )
            return {**self._risk.status(), "applied": False}
        return {**self._risk.status(), "applied": True}

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import final

import trio

from ..control import ControlRequest, serve_control
from .base import ActorContext
from .risk import RiskActor

logger = logging.getLogger(__name__)


@final
class ControlActor:
    """Serves the control socket (``pyrt halt``, ``pyrt resume``, ``pyrt status``) for the risk actor.

    Args:
        risk: the risk actor whose trading state the commands change.
        path: where the Unix socket lives.
    """

    def __init__(self, risk: RiskActor, path: Path) -> None:
        self.name = "control"
        self.path = path
        self._risk = risk

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_control, self.path, self._handle)
            task_status.started()

    async def _handle(self, request: ControlRequest) -> Mapping[str, object]:
        if request.command == "status":
            return self._risk.status()
        return await self._risk.command(request)

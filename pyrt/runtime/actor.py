from __future__ import annotations

import random
from typing import Protocol, final

import attrs
import trio

from .bus import Bus
from .clock import Clock


@final
@attrs.frozen(kw_only=True)
class ActorContext:
    """What an actor sees of the world: the bus, the clock and the run's random source."""

    bus: Bus
    clock: Clock
    rng: random.Random


class Actor(Protocol):
    """The actor contract: a name and a ``run`` the supervisor owns (see ``design.md``)."""

    @property
    def name(self) -> str: ...

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, call ``task_status.started()``, then work until cancelled or done."""
        ...

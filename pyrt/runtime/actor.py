"""The actor contract: what every component of the trading tree is to the supervisor.

An actor is a name and an ``async run(ctx, *, task_status)``: it subscribes to the bus, calls
``task_status.started()`` once it can receive (so the supervisor may start the next one), then
works until cancelled. Everything it sees of the world comes through its :class:`ActorContext`
(the :class:`~pyrt.runtime.Bus`, the :class:`~pyrt.runtime.Clock` and the run's seeded random
source), so the same actor runs live, in simulation and in replay. Actors never call each other:
they publish messages, and the decisions live in plain classes the actor feeds (``design.md``).
"""

from __future__ import annotations

import random
from typing import Protocol, final

import attrs
import trio

from .bus import Bus
from .clock import Clock, RunDeadline


@final
@attrs.frozen(kw_only=True)
class ActorContext:
    """What an actor sees of the world: the bus, the clock, the run's random source and its end."""

    bus: Bus
    clock: Clock
    rng: random.Random
    deadline: RunDeadline = attrs.Factory(RunDeadline)
    """When the run ends; a periodic task publishes nothing once it has :meth:`~RunDeadline.passed`."""


class Actor(Protocol):
    """The actor contract: a name and a ``run`` the supervisor owns (see ``design.md``)."""

    @property
    def name(self) -> str: ...

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, call ``task_status.started()``, then work until cancelled or done."""
        ...

"""The runtime: the actor contract, the bus, the clock, the supervisor and the journal.

Everything here is mode-agnostic plumbing: no trading logic, no venue. Actors talk only through
the :class:`Bus`; time comes only from a :class:`Clock`; every message can be journaled.

- ``actor``: :class:`Actor` (a name and a ``run``) and the :class:`ActorContext` it runs with.
- ``bus``: topics, subscriptions and their :class:`Policy` (block, conflate, feedback).
- ``clock``: :class:`WallClock` and :class:`VirtualClock`, :func:`make_rng`, the seeded
  random source, and :class:`RunDeadline`, the instant a run ends.
- ``supervisor``: the OTP-style :class:`Supervisor`, its :class:`ChildSpec` and the
  :class:`Restart` / :class:`RestartStrategy` policies.
- ``journal``: the append-only message log (:class:`JournalWriter`, :class:`JournalReader`).
"""

from __future__ import annotations

from .actor import Actor as Actor, ActorContext as ActorContext
from .bus import (
    Bus as Bus,
    BusStatistics as BusStatistics,
    Policy as Policy,
    Subscription as Subscription,
    SubscriptionStatistics as SubscriptionStatistics,
    find_blocking_cycle as find_blocking_cycle,
)
from .clock import (
    NS_PER_SECOND as NS_PER_SECOND,
    Clock as Clock,
    RunDeadline as RunDeadline,
    VirtualClock as VirtualClock,
    WallClock as WallClock,
    make_rng as make_rng,
)
from .journal import (
    Durability as Durability,
    JournalReader as JournalReader,
    JournalStatistics as JournalStatistics,
    JournalWriter as JournalWriter,
    RecordKind as RecordKind,
)
from .supervisor import (
    ChildSpec as ChildSpec,
    Restart as Restart,
    RestartStrategy as RestartStrategy,
    Supervisor as Supervisor,
    SupervisorStatistics as SupervisorStatistics,
)

__all__ = [
    "NS_PER_SECOND",
    "Actor",
    "ActorContext",
    "Bus",
    "BusStatistics",
    "ChildSpec",
    "Clock",
    "Durability",
    "JournalReader",
    "JournalStatistics",
    "JournalWriter",
    "Policy",
    "RecordKind",
    "Restart",
    "RestartStrategy",
    "RunDeadline",
    "Subscription",
    "SubscriptionStatistics",
    "Supervisor",
    "SupervisorStatistics",
    "VirtualClock",
    "WallClock",
    "find_blocking_cycle",
    "make_rng",
]

"""Runtime events: ``system.heartbeat`` and ``system.supervisor``."""

from __future__ import annotations

import enum
from typing import ClassVar, final

import attrs

from .._validators import non_empty, non_negative_int

__all__ = ["Heartbeat", "SupervisorEvent", "SupervisorEventKind"]


class SupervisorEventKind(enum.StrEnum):
    STARTED = "started"
    CRASHED = "crashed"
    RESTARTED = "restarted"
    STOPPED = "stopped"
    ESCALATED = "escalated"


@final
@attrs.frozen(kw_only=True)
class Heartbeat:
    """An actor is alive; ``sequence`` counts up from 0 per actor incarnation."""

    TOPIC: ClassVar[str] = "system.heartbeat"
    actor: str = attrs.field(validator=non_empty)
    sequence: int = attrs.field(validator=non_negative_int)
    ts_event: int
    ts_init: int


@final
@attrs.frozen(kw_only=True)
class SupervisorEvent:
    """A child of a supervisor started, crashed, restarted, stopped, or escalated past its intensity."""

    TOPIC: ClassVar[str] = "system.supervisor"
    supervisor: str = attrs.field(validator=non_empty)
    child: str = attrs.field(validator=non_empty)
    kind: SupervisorEventKind
    error: str | None = None
    restarts: int = attrs.field(default=0, validator=non_negative_int)
    ts_event: int
    ts_init: int

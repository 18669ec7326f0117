"""The fault model: one profile of fault rates for every venue and the simulation runner.

A :class:`FaultProfile` (``specs/faults/none.json``, ``default.json``, ``harsh.json``, or a
user's own file) gives a rate per :class:`FaultKind` and the kind's parameters.
:meth:`FaultProfile.draw` gives a seed its own mix (swarm testing); :meth:`FaultProfile.schedule`
draws the run's faults as a :class:`FaultSchedule` of timed :class:`FaultEvent` (JSON round-trip,
so a shrinker can remove events and a scenario replay them). A component follows the events of
the kinds it can produce through a :class:`FaultTimeline`. A layer-1 room: it imports only
``errors``.
"""

from __future__ import annotations

from ._kinds import BAD_DATA_VARIANTS as BAD_DATA_VARIANTS, FaultKind as FaultKind, ParamValue as ParamValue
from ._profile import PROFILES_DIR as PROFILES_DIR, FaultProfile as FaultProfile, FaultRate as FaultRate
from ._schedule import (
    FaultEvent as FaultEvent,
    FaultSchedule as FaultSchedule,
    FaultTimeline as FaultTimeline,
)

__all__ = [
    "BAD_DATA_VARIANTS",
    "PROFILES_DIR",
    "FaultEvent",
    "FaultKind",
    "FaultProfile",
    "FaultRate",
    "FaultSchedule",
    "FaultTimeline",
    "ParamValue",
]

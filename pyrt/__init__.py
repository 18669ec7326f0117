"""pyrt: an algorithmic trading system on trio.

The same actors run live, in deterministic simulation, in replay and in backtests. The public
API is small; message classes live in :mod:`pyrt.messages`, venues in :mod:`pyrt.venues`.
"""

from __future__ import annotations

from .config import PyrtConfig as PyrtConfig, load_config as load_config
from .errors import (
    ConfigError as ConfigError,
    DecodeError as DecodeError,
    InvariantViolation as InvariantViolation,
    JournalError as JournalError,
    PyrtError as PyrtError,
    SupervisionError as SupervisionError,
    VenueError as VenueError,
)
from .runtime.bus import Bus as Bus, Policy as Policy, Subscription as Subscription
from .runtime.clock import Clock as Clock, VirtualClock as VirtualClock, WallClock as WallClock
from .runtime.journal import JournalReader as JournalReader, JournalWriter as JournalWriter
from .runtime.supervisor import ChildSpec as ChildSpec, Restart as Restart, Supervisor as Supervisor
from .strategy import Strategy as Strategy

__all__ = [
    "Bus",
    "ChildSpec",
    "Clock",
    "ConfigError",
    "DecodeError",
    "InvariantViolation",
    "JournalError",
    "JournalReader",
    "JournalWriter",
    "Policy",
    "PyrtConfig",
    "PyrtError",
    "Restart",
    "Strategy",
    "Subscription",
    "SupervisionError",
    "Supervisor",
    "VenueError",
    "VirtualClock",
    "WallClock",
    "load_config",
]

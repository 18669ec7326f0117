"""Virtual time for tests: run async code on trio's MockClock, build an actor context on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import trio
import trio.testing

from ..runtime.actor import ActorContext
from ..runtime.bus import Bus
from ..runtime.clock import NS_PER_SECOND, VirtualClock, make_rng

__all__ = ["DEFAULT_START_NS", "run_virtual", "virtual_context"]

_T = TypeVar("_T")

DEFAULT_START_NS: Final = 1_767_312_000 * NS_PER_SECOND
"""2026-01-02 00:00 UTC, in nanoseconds: where a test's virtual clock starts unless told."""


def run_virtual(async_fn: Callable[..., Awaitable[_T]], *args: object, autojump_threshold: float = 0.0) -> _T:
    """Run ``async_fn(*args)`` on trio's :class:`~trio.testing.MockClock` and return its result.

    With the default ``autojump_threshold=0`` the clock jumps to the next deadline as soon as
    every task is blocked: a test of timeouts, retries or heartbeats runs in no real time, and
    its sleeps complete in deadline order. Use a small threshold (``0.01``) when real sockets
    are involved, so time does not jump while bytes are in flight.

    Args:
        async_fn: the test's body.
        *args: passed to ``async_fn``.
        autojump_threshold: real seconds all tasks must be blocked before the clock jumps.

    Returns:
        What ``async_fn`` returned.
    """
    return trio.run(async_fn, *args, clock=trio.testing.MockClock(autojump_threshold=autojump_threshold))


def virtual_context(
    *, bus: Bus | None = None, start_ns: int = DEFAULT_START_NS, seed: int = 0
) -> ActorContext:
    """Return an :class:`~pyrt.runtime.ActorContext` on virtual time, for running an actor in a test.

    Its clock reads ``start_ns`` when first used inside :func:`run_virtual` (or any trio run)
    and moves only with trio's clock; its random source is seeded.

    Args:
        bus: the bus to use; a new one if ``None``.
        start_ns: epoch time of the start, in nanoseconds.
        seed: seed of ``ctx.rng``.
    """
    return ActorContext(bus=Bus() if bus is None else bus, clock=VirtualClock(start_ns), rng=make_rng(seed))

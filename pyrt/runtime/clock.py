"""Time and randomness for a run.

Every ``now`` and every ``sleep`` in pyrt goes through a :class:`Clock`. Live runs use
:class:`WallClock`; simulation, replay and backtests use :class:`VirtualClock`, which reads
trio's own clock, so under :class:`trio.testing.MockClock` (autojump) a simulated day passes in
seconds. Randomness comes from one ``random.Random(seed)`` per run (:func:`make_rng`), and
:func:`seed_trio_scheduler` pins trio's scheduling order for simulation.
"""

from __future__ import annotations

import math
import random
import time
from typing import Final, Protocol, final, runtime_checkable

import attrs
import trio
import trio._core._run as _trio_run  # private: see seed_trio_scheduler

__all__ = [
    "Clock",
    "RunDeadline",
    "VirtualClock",
    "WallClock",
    "make_rng",
    "seed_trio_scheduler",
]

NS_PER_SECOND: Final = 1_000_000_000


@runtime_checkable
class Clock(Protocol):
    """What actors read time from and sleep on."""

    def now_ns(self) -> int:
        """Return the current time as integer nanoseconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Return seconds on the run's monotonic clock (trio's clock)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` on the run's clock. Cancellable."""
        ...


class WallClock:
    """Real time: the epoch from the system, the monotonic clock from trio."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return trio.current_time()

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def __repr__(self) -> str:
        return "WallClock()"


class VirtualClock:
    """Virtual time: an epoch fixed at construction plus trio's (mock) clock.

    The epoch offset is taken from trio's clock the first time it is read inside a run, so
    ``now_ns()`` starts at ``start_ns`` and moves only as trio's clock moves. Under
    ``MockClock(autojump_threshold=0)`` every sleep completes at once, in order.

    Args:
        start_ns: the epoch time, in nanoseconds, at which the run starts.
    """

    __slots__ = ("_origin", "_start_ns")

    def __init__(self, start_ns: int) -> None:
        self._start_ns = start_ns
        self._origin: float | None = None

    def _elapsed(self) -> float:
        now = trio.current_time()
        if self._origin is None:
            self._origin = now
        return now - self._origin

    def now_ns(self) -> int:
        return self._start_ns + round(self._elapsed() * NS_PER_SECOND)

    def monotonic(self) -> float:
        return trio.current_time()

    async def sleep(self, seconds: float) -> None:
        self._elapsed()  # fix the origin before time moves
        await trio.sleep(seconds)

    def __repr__(self) -> str:
        return f"VirtualClock(start_ns={self._start_ns})"


@final
@attrs.define(eq=False)
class RunDeadline:
    """The instant a run ends, on trio's clock: periodic publishers publish only before it.

    A run covers the half-open span ``[start, end)``. A timer due at ``end`` itself wakes at the
    same virtual instant as the cancellation that ends the run, and trio orders two wake-ups due
    at one instant by the addresses of their cancel scopes, which follow garbage collection and
    ``PYTHONHASHSEED``, not the seed (issue 10). So a periodic task (heartbeats, bar closes on
    time, the watchdog, status reports, reconcile rounds) calls :meth:`passed` after each sleep
    and, once it is true, publishes nothing more: the journal then ends the same whichever of the
    two runs first. It starts at infinity (a run with no end yet) and only ever moves earlier.
    """

    at: float = math.inf
    """Seconds on trio's clock (:func:`trio.current_time`) at which the run ends."""

    def end_at(self, when: float) -> None:
        """Make the run end at ``when`` (trio time), unless it ends earlier already."""
        self.at = min(self.at, when)

    def end_after(self, seconds: float) -> None:
        """Make the run end ``seconds`` from now on trio's clock (unless it ends earlier)."""
        self.end_at(trio.current_time() + seconds)

    def end_now(self) -> None:
        """Make the run end now (it was stopped early)."""
        self.end_at(trio.current_time())

    def passed(self) -> bool:
        """Return whether the run has reached its end (now is at or after it)."""
        return trio.current_time() >= self.at


def make_rng(seed: int) -> random.Random:
    """Return the run's random source, seeded: every random draw in a run comes from it."""
    return random.Random(seed)


def seed_trio_scheduler(seed: int) -> None:
    """Seed trio's scheduler RNG, which shuffles each batch of runnable tasks, in creation order.

    trio exposes this only as the private ``trio._core._run._r`` (Hypothesis seeds it the same
    way). trio is pinned to a minor version in ``pyproject.toml`` and
    ``tests/unit/test_clock.py`` fails if the attribute moves.
    """
    rng = _trio_run._r
    if not isinstance(rng, random.Random):  # pragma: no cover - canary test covers this
        raise RuntimeError("trio moved its scheduler RNG; update pyrt.runtime.clock.seed_trio_scheduler")
    if not hasattr(_trio_run, "_ALLOW_DETERMINISTIC_SCHEDULING"):  # pragma: no cover - canary test
        raise RuntimeError("trio moved its deterministic scheduling switch; update seed_trio_scheduler")
    # Issue 10: tasks woken at one instant reach the run queue in id() order of their cancel
    # scopes (trio's deadline tie-break), so a seed's schedule depended on what the process had
    # allocated before (a swarm worker's earlier seeds). In this mode (the one trio's Hypothesis
    # plugin turns on) each batch is sorted by task creation order before the seeded shuffle
    _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]  # Final in trio, a switch for this
    rng.seed(seed)

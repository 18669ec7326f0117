"""Reconnect backoff and the REST rate limiter, both on the run's clock."""

from __future__ import annotations

import math
import random
from typing import Final, final

import attrs
import trio

from ...runtime.clock import Clock

#: Share of the 60 s window the token bucket may spend as a burst (see :class:`TokenBucket`).
BURST_DIVISOR: Final = 20


@final
@attrs.define(eq=False)
class Backoff:
    """Capped exponential backoff with "equal jitter": a delay in ``[d/2, d]``, ``d = base·2^n``.

    Jitter comes from the run's random source, so a seed reproduces the delays.

    Args:
        base: the first un-jittered delay, in seconds.
        cap: the largest un-jittered delay, in seconds.
        rng: the random source for the jitter.
    """

    base: float
    cap: float
    rng: random.Random
    failures: int = 0

    def __attrs_post_init__(self) -> None:
        if not (self.base > 0 and math.isfinite(self.base)):
            raise ValueError(f"base must be a finite number > 0, was {self.base!r}")
        if not (self.cap >= self.base and math.isfinite(self.cap)):
            raise ValueError(f"cap must be a finite number >= base ({self.base}), was {self.cap!r}")

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count one more failure."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 62))
        self.failures += 1
        half = ceiling / 2.0
        return half + self.rng.uniform(0.0, half)

    def reset(self) -> None:
        """Start again from ``base`` (after a success)."""
        self.failures = 0


@final
class TokenBucket:
    """A token bucket that keeps every rolling 60 s window within ``per_minute`` requests.

    Capacity (the burst) is ``max(1, per_minute // 20)`` tokens: 10 for Alpaca's 200/min. The
    refill rate is ``(per_minute - burst) / 60`` tokens per second, so a full burst plus a minute
    of refill is exactly ``per_minute``: even a server counting fixed one-minute windows never
    sees more than its limit from us. Waiters are served in arrival order; waiting sleeps on the
    run's clock, so under trio's MockClock a test can check the spacing exactly.

    Args:
        per_minute: requests allowed per minute.
        clock: the run's clock.
    """

    __slots__ = (
        "_clock",
        "_last",
        "_lock",
        "_tokens",
        "_urgent",
        "_urgent_done",
        "_urgent_lock",
        "burst",
        "rate",
        "waited_seconds",
        "waits",
    )

    def __init__(self, *, per_minute: int, clock: Clock) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, was {per_minute!r}")
        self.burst = max(1, per_minute // BURST_DIVISOR)
        refill = per_minute - self.burst if per_minute > self.burst else per_minute
        self.rate = refill / 60.0
        self._clock = clock
        self._tokens = float(self.burst)
        self._last: float | None = None
        self._lock = trio.Lock()
        self._urgent_lock = trio.Lock()
        self._urgent = 0
        self._urgent_done = trio.lowlevel.ParkingLot()
        self.waits = 0
        self.waited_seconds = 0.0

    def _refill(self, now: float) -> None:
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, *, urgent: bool = False) -> None:
        """Take one token, sleeping on the clock until one is available.

        Waiters are served in arrival order, except that an ``urgent`` one (a cancel) takes the
        next token ahead of every ordinary waiter: a cancel never queues behind submits. The rate
        holds for both together. Cancellation while waiting takes no token.
        """
        if not urgent:
            async with self._lock:
                await self._take(urgent=False)
            return
        self._urgent += 1
        try:
            async with self._urgent_lock:
                await self._take(urgent=True)
        finally:
            self._urgent -= 1
            self._urgent_done.unpark_all()

    async def _take(self, *, urgent: bool) -> None:
        clock = self._clock
        waited = False
        while True:
            if not urgent and self._urgent:
                await self._urgent_done.park()  # an urgent request goes first
                continue
            self._refill(clock.monotonic())
            # float rounding may leave a hair under one token after an exact wait
            if self._tokens >= 1.0 - 1e-9:
                self._tokens = max(self._tokens - 1.0, 0.0)
                return
            wait = (1.0 - self._tokens) / self.rate
            if not waited:
                self.waits += 1
                waited = True
            self.waited_seconds += wait
            await clock.sleep(wait)

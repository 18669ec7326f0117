"""Fixtures for the local venue: in the test's nursery (trio tests) or in a thread (sync SDKs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import pytest
import trio

from pyrt.venues.local import LocalVenue

T = TypeVar("T")


async def start_venue(nursery: trio.Nursery, **options: Any) -> LocalVenue:
    """Start a :class:`LocalVenue` on 127.0.0.1, port 0, in ``nursery``; return it serving."""
    options.setdefault("symbols", ["AAPL", "MSFT", "BTC/USD"])
    options.setdefault("seed", 1)
    venue = LocalVenue(**options)
    await nursery.start(venue.serve)
    return venue


@pytest.fixture
async def venue(nursery: trio.Nursery) -> LocalVenue:
    """A venue with default settings, any key pair accepted."""
    return await start_venue(nursery, tick_interval=0.01, bar_interval=0.2)


class VenueThread:
    """A :class:`LocalVenue` served by ``trio.run`` in a background thread (for sync clients).

    Args:
        **options: passed to :class:`LocalVenue`.
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("port", 0)
        self.venue = LocalVenue(**options)
        self.port = 0
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="local-venue", daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by __exit__/__enter__ in the test's thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            self.port = await nursery.start(self.venue.serve)
            self._ready.set()

    def call(self, fn: Callable[[LocalVenue], T]) -> T:
        """Run ``fn(venue)`` on the venue's trio thread and return its result."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, self.venue, trio_token=self._token)

    def wait_for(self, predicate: Callable[[LocalVenue], bool], timeout: float) -> bool:
        """Poll ``predicate`` on the venue's thread until it holds or ``timeout`` passes."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                if self.call(predicate):
                    return True
                deadline.wait(0.02)
            return False
        finally:
            timer.cancel()

    def __enter__(self) -> VenueThread:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError("the local venue did not start") from self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None and self._scope is not None:
            scope = self._scope
            try:
                trio.from_thread.run_sync(scope.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(10)
        if self._error is not None:
            raise self._error

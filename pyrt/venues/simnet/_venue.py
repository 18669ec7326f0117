"""The live code path on a simulated network: the Alpaca client against the embedded venue."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final, final

import attrs
import trio

from ...runtime.clock import Clock
from ..alpaca import AlpacaBroker, RoutedFeed, open_alpaca_venue
from ..local import LocalVenue, VenueFaults
from ._network import NetworkFaults, SimNetwork, open_sim_network
from ._transport import simnet_transport

__all__ = ["LocalSimulation", "open_local_venue"]

VENUE_HOST: Final = "venue.simnet"
VENUE_PORT: Final = 8765


@final
@attrs.frozen(kw_only=True)
class LocalSimulation:
    """What :func:`open_local_venue` yields: the client halves for the tree, and what they talk to."""

    feed: RoutedFeed
    """Market data (:class:`~pyrt.venues.alpaca.AlpacaFeed` s over the simulated network)."""
    broker: AlpacaBroker
    """Order entry and trade_updates over the simulated network."""
    venue: LocalVenue
    """The embedded Alpaca-compatible venue serving them (its engine, faults and statistics)."""
    network: SimNetwork
    """The simulated network between them (its statistics: faults injected by kind)."""


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    errors = [exc for exc in group.exceptions if not isinstance(exc, trio.Cancelled)]
    if len(errors) == 1:
        inner = errors[0]
        return _unwrap(inner) if isinstance(inner, BaseExceptionGroup) else inner
    return group


@asynccontextmanager
async def open_local_venue(
    *,
    clock: Clock,
    rng: random.Random,
    symbols: Sequence[str],
    network_faults: NetworkFaults | None = None,
    venue_faults: VenueFaults | None = None,
    starting_cash: float = 100_000.0,
    tick_interval: float = 0.05,
    rate_limit_per_minute: int | None = 200,
    max_retries: int = 3,
    reconnect_delay_secs: float = 1.0,
) -> AsyncIterator[LocalSimulation]:
    """Run the embedded venue behind a simulated network; yield the Alpaca client connected to it.

    The live code path on virtual time (issue 10): :class:`~pyrt.venues.alpaca.AlpacaFeed` and
    :class:`~pyrt.venues.alpaca.AlpacaBroker` (reconnects, backoff, retries, polling, httpx and
    trio-websocket) talk HTTP/1.1 and WebSocket bytes to :class:`~pyrt.venues.local.LocalVenue`'s
    server code over a :class:`SimNetwork`, whose delays are sleeps on ``clock``. Run it inside
    ``trio.run(..., clock=trio.testing.MockClock(autojump_threshold=0))`` with a
    :class:`~pyrt.runtime.clock.VirtualClock`; every id, price and fault is drawn from ``rng``,
    so the same seed gives the same bytes. Pass ``result.feed`` and ``result.broker`` to
    :class:`~pyrt.modes.tree.TradingTree`. On exit the client closes and the venue stops.

    Args:
        clock: the run's clock (virtual in simulation).
        rng: the run's random source; the venue's seed, its key pair, the network's and the
            client's random sources are drawn from it here, in this order.
        symbols: symbols the venue lists and streams.
        network_faults: what the network does to the bytes (default: clean, 0.5 ms each way).
        venue_faults: the venue's own faults (REST errors, stream faults …).
        starting_cash: the venue account's cash.
        tick_interval: seconds between the venue's market steps.
        rate_limit_per_minute: REST requests per minute, at the venue and in the client.
        max_retries: the client's internal retries of reads and cancels.
        reconnect_delay_secs: the feeds' first reconnect delay.

    Raises:
        ValueError: no symbols, or a bad interval or limit.
    """
    venue_seed = rng.getrandbits(64)
    key_id = f"PKSIM{rng.getrandbits(48):012X}"
    secret_key = f"{rng.getrandbits(192):048x}"
    network_rng = random.Random(rng.getrandbits(64))
    client_rng = random.Random(rng.getrandbits(64))
    venue = LocalVenue(
        symbols=symbols,
        seed=venue_seed,
        host=VENUE_HOST,
        port=VENUE_PORT,
        key=key_id,
        secret=secret_key,
        tick_interval=tick_interval,
        starting_cash=starting_cash,
        faults=venue_faults,
        clock=clock,
        rate_limit=rate_limit_per_minute,
    )
    try:
        async with open_sim_network(clock=clock, rng=network_rng, faults=network_faults) as network:
            network.listen(VENUE_HOST, VENUE_PORT, venue.serve_stream)
            async with trio.open_nursery() as nursery:
                await nursery.start(venue.run)
                async with open_alpaca_venue(
                    key_id=key_id,
                    secret_key=secret_key,
                    clock=clock,
                    rng=client_rng,
                    base_url=venue.url,
                    rate_limit_per_minute=rate_limit_per_minute,
                    max_retries=max_retries,
                    reconnect_delay_secs=reconnect_delay_secs,
                    transport=simnet_transport(network),
                    connect=network.connector(),
                ) as alpaca:
                    yield LocalSimulation(
                        feed=alpaca.feed, broker=alpaca.broker, venue=venue, network=network
                    )
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _unwrap(group) from None

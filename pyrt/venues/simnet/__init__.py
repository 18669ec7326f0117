"""A simulated network on the run's clock, and the live code path over it (issue 10).

:func:`open_local_venue` joins the Alpaca client (:mod:`pyrt.venues.alpaca`) to the embedded
Alpaca-compatible venue (:mod:`pyrt.venues.local`) through a :class:`SimNetwork`: in-memory
connections whose latency, jitter, resets mid-write, partitions, lost replies and slow readers
(:class:`NetworkFaults`) are drawn from the run's seed, and whose every delay is a sleep on the
run's (virtual) clock. :func:`simnet_transport` and :meth:`SimNetwork.connector` are the two
seams, for httpx and for the WebSocket clients.
"""

from __future__ import annotations

from ._network import (
    NetworkFaults as NetworkFaults,
    Partition as Partition,
    SimNetwork as SimNetwork,
    SimNetworkStatistics as SimNetworkStatistics,
    SimStream as SimStream,
    open_sim_network as open_sim_network,
)
from ._transport import simnet_transport as simnet_transport
from ._venue import LocalSimulation as LocalSimulation, open_local_venue as open_local_venue

__all__ = [
    "LocalSimulation",
    "NetworkFaults",
    "Partition",
    "SimNetwork",
    "SimNetworkStatistics",
    "SimStream",
    "open_local_venue",
    "open_sim_network",
    "simnet_transport",
]

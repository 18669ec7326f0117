"""The embedded Alpaca-compatible venue: Alpaca's wire protocols on a local port.

:class:`LocalVenue` serves the trading REST API v2, the ``trade_updates`` stream and the
market-data streams (``/v2/iex``, ``/v2/sip``, ``/v2/test``, ``/v1beta3/crypto/us``) on one
port, over the sim matching engine and market simulator; filtering order lists as
``GET /v2/orders`` does is its REST layer's. :class:`VenueFaults` injects failures;
:class:`AccountStatus` sets the account's standing (active, blocked, closed).
"""

from __future__ import annotations

from ._cli import run_venue_cli as run_venue_cli, serve_local_venue as serve_local_venue
from ._faults import VenueFaults as VenueFaults, WsFault as WsFault
from ._rest import AccountStatus as AccountStatus
from ._server import LocalVenue as LocalVenue, LocalVenueStatistics as LocalVenueStatistics

__all__ = [
    "AccountStatus",
    "LocalVenue",
    "LocalVenueStatistics",
    "VenueFaults",
    "WsFault",
    "run_venue_cli",
    "serve_local_venue",
]

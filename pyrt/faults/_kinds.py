"""The fault kinds and the parameters each one takes, with their checks and defaults."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias, final

import attrs

__all__ = [
    "BAD_DATA_VARIANTS",
    "KIND_PARAMS",
    "REQUEST_KINDS",
    "SCOPES",
    "FaultKind",
    "ParamSpec",
    "ParamValue",
]

#: What a fault parameter may hold: a number, a flag, a name, or a list of names (``targets``)
ParamValue: TypeAlias = float | int | bool | str | tuple[str, ...]


class FaultKind(enum.StrEnum):
    """One kind of fault; the value is its name in profile and schedule files.

    Which component produces a kind is the component's business (a venue interprets the kinds
    it can produce and ignores the others): see ``specs/faults/README.md``.
    """

    MD_DISCONNECT = "md_disconnect"
    """The market-data connection ends; the client's reconnect path must run."""
    MD_GAP = "md_gap"
    """For ``seconds``, market-data items are lost on the way (each with the event's
    ``probability``); the venue itself still trades on them."""
    MD_STALL = "md_stall"
    """The market-data connection stays open but sends nothing for ``seconds``."""
    AUTH_FAILURE = "auth_failure"
    """The next ``count`` (re)connects fail authentication."""
    RATE_LIMIT_STORM = "rate_limit_storm"
    """Every request is answered 429 (``retry_after``) for ``seconds``."""
    SERVER_ERROR_BURST = "server_error_burst"
    """Every request is answered ``status`` (5xx) for ``seconds``; the venue never sees it."""
    REQUEST_TIMEOUT = "request_timeout"
    """The next ``count`` requests time out before the venue sees them."""
    AMBIGUOUS_TIMEOUT = "ambiguous_timeout"
    """The next ``count`` mutating requests are carried out, then their reply is lost."""
    SLOW_REPLY = "slow_reply"
    """The next ``count`` replies are held ``delay`` seconds (after the venue acted)."""
    PARTIAL_FILL = "partial_fill"
    """For ``seconds``, only ``liquidity`` (a fraction) of the displayed size can be taken."""
    UPDATE_DELAY = "update_delay"
    """For ``seconds``, order updates reach the client ``delay`` seconds late."""
    UPDATE_DUPLICATE = "update_duplicate"
    """For ``seconds``, every order update is sent twice."""
    UPDATE_REORDER = "update_reorder"
    """For ``seconds``, order updates are sent in pairs, the later one first."""
    VENUE_RESTART = "venue_restart"
    """The venue goes down for ``downtime`` seconds (every connection ends); open orders are
    canceled if ``cancel_open_orders``; it comes back with a different account if
    ``new_account``."""
    BAD_DATA = "bad_data"
    """The next ``count`` market-data items carry bad data of one ``variant``
    (:data:`BAD_DATA_VARIANTS`)."""
    CONNECTION_RESET = "connection_reset"
    """A connection is reset mid-frame (byte-level networks)."""
    PARTITION = "partition"
    """The network between client and venue drops everything for ``seconds``."""
    LATENCY = "latency"
    """For ``seconds``, every network hop takes ``ms`` plus up to ``jitter_ms`` milliseconds."""
    SLOW_CONSUMER = "slow_consumer"
    """For ``seconds``, a consumer (a socket reader, an actor) takes ``delay_ms`` per item."""
    STRATEGY_RAISE = "strategy_raise"
    """The strategy raises in its next callback (executed by the simulation runner)."""
    ACTOR_RAISE = "actor_raise"
    """The actor ``target`` raises (executed by the simulation runner)."""
    PROCESS_CRASH = "process_crash"
    """The process dies here and restarts from its store and journal (the simulation runner)."""


#: The bad data a ``bad_data`` event may carry, one per event
BAD_DATA_VARIANTS: Final = (
    "overflow_price",
    "crossed_quote",
    "one_sided_quote",
    "duplicate_trade_id",
    "timestamp_past",
    "timestamp_future",
)

#: Kinds that hit requests; their events may carry ``scope``: ``submit`` (order submits only),
#: ``other`` (every other request) or ``all`` (the default)
REQUEST_KINDS: Final = frozenset(
    {
        FaultKind.RATE_LIMIT_STORM,
        FaultKind.SERVER_ERROR_BURST,
        FaultKind.REQUEST_TIMEOUT,
        FaultKind.AMBIGUOUS_TIMEOUT,
        FaultKind.SLOW_REPLY,
    }
)
SCOPES: Final = ("all", "submit", "other")

#: The actors an ``actor_raise`` event picks from unless a profile names others
DEFAULT_TARGETS: Final = ("market_data", "signal", "risk", "execution", "store")


def _seconds(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number of seconds, was {value!r}"
    if not (value > 0.0 and math.isfinite(value)):
        return f"must be a finite number > 0, was {value!r}"
    return None


def _non_negative(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, was {value!r}"
    if not (value >= 0.0 and math.isfinite(value)):
        return f"must be a finite number >= 0, was {value!r}"
    return None


def _share(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number in [0, 1], was {value!r}"
    if not 0.0 <= value <= 1.0:
        return f"must be in [0, 1], was {value!r}"
    return None


def _fraction(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number in (0, 1], was {value!r}"
    if not 0.0 < value <= 1.0:
        return f"must be in (0, 1], was {value!r}"
    return None


def _count(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"must be a whole number >= 1, was {value!r}"
    return None


def _status(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 500 <= value <= 599:
        return f"must be an HTTP 5xx status (500-599), was {value!r}"
    return None


def _targets(value: object) -> str | None:
    if not isinstance(value, tuple | list) or not value or not all(isinstance(v, str) and v for v in value):
        return f"must be a non-empty list of actor names, was {value!r}"
    return None


@final
@attrs.frozen(kw_only=True)
class ParamSpec:
    """One parameter of a fault kind as a profile sets it."""

    default: ParamValue
    check: Callable[[object], str | None]
    """Returns what is wrong with a value, or None."""
    draw: str
    """How a schedule turns the profile's value into an event's: ``jitter`` (uniform in 50-150 %
    of it), ``share`` (a flag that is true with that chance), ``choice`` (one of the list),
    ``fixed`` (as is)."""


def _spec(default: ParamValue, check: Callable[[object], str | None], draw: str = "fixed") -> ParamSpec:
    return ParamSpec(default=default, check=check, draw=draw)


K = FaultKind
#: For each kind, the parameters a profile may set (besides ``rate_per_hour``)
KIND_PARAMS: Final[Mapping[FaultKind, Mapping[str, ParamSpec]]] = {
    K.MD_DISCONNECT: {},
    K.MD_GAP: {"seconds": _spec(10.0, _seconds, "jitter")},
    K.MD_STALL: {"seconds": _spec(20.0, _seconds, "jitter")},
    K.AUTH_FAILURE: {"count": _spec(1, _count)},
    K.RATE_LIMIT_STORM: {
        "seconds": _spec(10.0, _seconds, "jitter"),
        "retry_after": _spec(1.0, _non_negative),
    },
    K.SERVER_ERROR_BURST: {"seconds": _spec(5.0, _seconds, "jitter"), "status": _spec(503, _status)},
    K.REQUEST_TIMEOUT: {"count": _spec(1, _count)},
    K.AMBIGUOUS_TIMEOUT: {"count": _spec(1, _count)},
    K.SLOW_REPLY: {"count": _spec(1, _count), "delay": _spec(3.0, _seconds, "jitter")},
    K.PARTIAL_FILL: {"seconds": _spec(60.0, _seconds, "jitter"), "liquidity": _spec(0.1, _fraction)},
    K.UPDATE_DELAY: {"seconds": _spec(30.0, _seconds, "jitter"), "delay": _spec(2.0, _seconds, "jitter")},
    K.UPDATE_DUPLICATE: {"seconds": _spec(30.0, _seconds, "jitter")},
    K.UPDATE_REORDER: {"seconds": _spec(30.0, _seconds, "jitter")},
    K.VENUE_RESTART: {
        "downtime": _spec(5.0, _seconds, "jitter"),
        "cancel_open_orders": _spec(0.0, _share, "share"),
        "new_account": _spec(0.0, _share, "share"),
    },
    K.BAD_DATA: {"count": _spec(1, _count)},
    K.CONNECTION_RESET: {},
    K.PARTITION: {"seconds": _spec(10.0, _seconds, "jitter")},
    K.LATENCY: {
        "seconds": _spec(60.0, _seconds, "jitter"),
        "ms": _spec(50.0, _non_negative),
        "jitter_ms": _spec(20.0, _non_negative),
    },
    K.SLOW_CONSUMER: {"seconds": _spec(30.0, _seconds, "jitter"), "delay_ms": _spec(100.0, _non_negative)},
    K.STRATEGY_RAISE: {},
    K.ACTOR_RAISE: {"targets": _spec(DEFAULT_TARGETS, _targets, "choice")},
    K.PROCESS_CRASH: {},
}

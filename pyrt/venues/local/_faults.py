"""Faults the local venue can inject, switchable at construction and at run time.

The REST faults are the shared fault model's kinds (``pyrt.faults``): a :class:`VenueFaults`
turns into :class:`~pyrt.faults.FaultEvent` episodes (:meth:`VenueFaults.events`) and a seed's
:class:`~pyrt.faults.FaultSchedule` joins them through :meth:`FaultState.follow`; both are read
by one :class:`~pyrt.faults.FaultTimeline`. What stays here is only what the wire adds: HTML
error bodies, the path prefix, and the WebSocket frame faults.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable
from typing import Final, final

import attrs

from ...faults import FaultEvent, FaultKind, FaultTimeline, ParamValue

__all__ = ["RestFault", "VenueFaults", "WsFault"]


class WsFault(enum.Enum):
    """One misbehaviour of a WebSocket stream, applied to the next outgoing data frame."""

    CLOSE_MID_FRAME = "close_mid_frame"
    """Write the first half of a frame, then drop the TCP connection."""
    TRUNCATED_PAYLOAD = "truncated_payload"
    """A valid frame whose JSON/msgpack document is cut in half."""
    MALFORMED_FRAME = "malformed_frame"
    """A frame with reserved bits and a reserved opcode: a WebSocket protocol error."""
    UNKNOWN_MESSAGE = "unknown_message"
    """A well-formed message with an unknown ``T`` type."""
    NAN_PRICE = "nan_price"
    """A trade whose price is NaN (JSON ``NaN`` literal, msgpack float NaN)."""
    OVERSIZED_FRAME = "oversized_frame"
    """A valid data array padded past ``VenueFaults.ws_oversized_bytes``."""
    GO_SILENT = "go_silent"
    """Stop sending anything (data and pongs) while keeping the connection open."""


class RestFault(enum.Enum):
    """What happened to one REST request (for statistics and tests)."""

    ERROR_STATUS = "error_status"
    DELAY = "delay"
    DROP_AFTER_ACCEPT = "drop_after_accept"
    RATE_LIMITED = "rate_limited"


def _probability(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], was {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, was {value!r}")


def _non_negative_float(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0.0:
        raise ValueError(f"{attribute.name} must be >= 0, was {value!r}")


@final
@attrs.frozen(kw_only=True)
class VenueFaults:
    """Faults to inject; assign a new value to ``LocalVenue.faults`` to change them at run time.

    "next N" counts start afresh each time a ``VenueFaults`` is assigned; probabilities are drawn
    from the venue's seeded random source, so a seed reproduces the same faults. A thin view on
    the shared fault model (issue #9): its REST fields are episodes of the shared kinds
    (:meth:`events`: ``rest_error`` = ``server_error_burst``, ``rest_429`` =
    ``rate_limit_storm``, ``rest_drop`` = ``ambiguous_timeout``, ``rest_delay`` =
    ``slow_reply``), kept because "the next N requests" is what a wire test wants to say.
    """

    rest_error_next: int = attrs.field(default=0, validator=_non_negative)
    """Answer the next N REST requests with ``rest_error_status``."""
    rest_error_probability: float = attrs.field(default=0.0, validator=_probability)
    """Answer each REST request with ``rest_error_status`` with this probability."""
    rest_error_status: int = 503
    """500, 502, 503 or 504."""
    rest_error_html: bool = False
    """Send an HTML error page (as a proxy would) instead of an Alpaca JSON error body."""
    rest_delay_next: int = attrs.field(default=0, validator=_non_negative)
    """Hold the next N REST replies for ``rest_delay_seconds`` (to trip client timeouts)."""
    rest_delay_probability: float = attrs.field(default=0.0, validator=_probability)
    rest_delay_seconds: float = attrs.field(default=0.0, validator=_non_negative_float)
    rest_drop_next: int = attrs.field(default=0, validator=_non_negative)
    """Carry out the next N mutating requests (POST/PATCH/DELETE), then drop the connection unanswered."""
    rest_drop_probability: float = attrs.field(default=0.0, validator=_probability)
    rest_429_next: int = attrs.field(default=0, validator=_non_negative)
    """Answer the next N REST requests with 429 regardless of the rate limit (a burst)."""
    rest_429_probability: float = attrs.field(default=0.0, validator=_probability)
    rest_path_prefix: str = "/v2/"
    """Only requests whose path starts with this are affected."""
    data_ws_faults: tuple[WsFault, ...] = ()
    """Queued faults for market-data streams: each hits the next data frame sent on any session."""
    trade_ws_faults: tuple[WsFault, ...] = ()
    """Queued faults for trade_updates streams: each hits the next update sent on any session."""
    ws_fault_probability: float = attrs.field(default=0.0, validator=_probability)
    """Per market-data frame, inject one of ``ws_fault_kinds`` with this probability."""
    ws_fault_kinds: tuple[WsFault, ...] = (
        WsFault.CLOSE_MID_FRAME,
        WsFault.TRUNCATED_PAYLOAD,
        WsFault.UNKNOWN_MESSAGE,
        WsFault.NAN_PRICE,
    )
    ws_oversized_bytes: int = 2 << 20
    """Size an OVERSIZED_FRAME reaches (alpaca-py's websockets limit is 1 MiB)."""

    def events(self) -> tuple[FaultEvent, ...]:
        """Return the REST fields as open-ended episodes of the shared kinds, "next N" first."""
        out: list[FaultEvent] = []

        def add(kind: FaultKind, count: int, probability: float, **params: ParamValue) -> None:
            if count:
                out.append(FaultEvent(at=0.0, kind=kind, count=count, params=params))
            if probability:
                out.append(FaultEvent(at=0.0, kind=kind, probability=probability, params=params))

        add(FaultKind.RATE_LIMIT_STORM, self.rest_429_next, self.rest_429_probability)
        add(
            FaultKind.SERVER_ERROR_BURST,
            self.rest_error_next,
            self.rest_error_probability,
            status=self.rest_error_status,
        )
        add(
            FaultKind.SLOW_REPLY,
            self.rest_delay_next,
            self.rest_delay_probability,
            delay=self.rest_delay_seconds,
        )
        add(FaultKind.AMBIGUOUS_TIMEOUT, self.rest_drop_next, self.rest_drop_probability, scope="submit")
        return tuple(out)


#: The scheduled kinds a market-data stream turns into a frame fault
_MD_KINDS: Final = {
    FaultKind.MD_DISCONNECT: WsFault.CLOSE_MID_FRAME,
    FaultKind.MD_STALL: WsFault.GO_SILENT,
    FaultKind.BAD_DATA: WsFault.NAN_PRICE,
}


@attrs.define(eq=False)
class FaultState:
    """The mutable side of a ``VenueFaults``: its episodes, the schedule followed, the queues."""

    faults: VenueFaults
    rng: random.Random
    data_ws_queue: list[WsFault] = attrs.Factory(list)
    trade_ws_queue: list[WsFault] = attrs.Factory(list)
    injected: dict[str, int] = attrs.Factory(dict)
    scheduled: tuple[FaultEvent, ...] = ()
    """Timed events of a seed's schedule (:meth:`follow`)."""
    now: Callable[[], float] = lambda: 0.0
    """Seconds since the run started, for the scheduled events."""
    _standing: FaultTimeline = attrs.field(init=False)
    _timeline: FaultTimeline = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._timeline = FaultTimeline((), rng=self.rng)
        self.reset(self.faults)

    def reset(self, faults: VenueFaults) -> None:
        self.faults = faults
        self._standing = FaultTimeline(faults.events(), rng=self.rng)
        self.data_ws_queue = list(faults.data_ws_faults)
        self.trade_ws_queue = list(faults.trade_ws_faults)

    def follow(self, events: Iterable[FaultEvent], now: Callable[[], float]) -> None:
        """Inject a schedule's events too, on the clock ``now`` (seconds since the run started)."""
        self.scheduled = (*self.scheduled, *events)
        self.now = now
        self._timeline.add(events)

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def _take(self, kind: FaultKind, scope: str) -> FaultEvent | None:
        hit = self._standing.take(kind, 0.0, scope=scope)
        return hit if hit is not None else self._timeline.take(kind, self.now(), scope=scope)

    def rest_faults(self, method: str, path: str) -> list[RestFault]:
        """Decide the faults for one REST request, in the order they apply."""
        if not path.startswith(self.faults.rest_path_prefix):
            return []
        scope = "submit" if method in ("POST", "PATCH", "DELETE") else "other"
        out: list[RestFault] = []
        if self._take(FaultKind.RATE_LIMIT_STORM, scope) is not None:
            out.append(RestFault.RATE_LIMITED)
        if self._take(FaultKind.SERVER_ERROR_BURST, scope) is not None:
            out.append(RestFault.ERROR_STATUS)
        if self._take(FaultKind.SLOW_REPLY, scope) is not None:
            out.append(RestFault.DELAY)
        if scope == "submit" and self._take(FaultKind.AMBIGUOUS_TIMEOUT, scope) is not None:
            out.append(RestFault.DROP_AFTER_ACCEPT)
        for fault in out:
            self._count(fault.value)
        return out

    def next_data_ws_fault(self) -> WsFault | None:
        fault: WsFault | None = None
        if self.data_ws_queue:
            fault = self.data_ws_queue.pop(0)
        elif (
            self.faults.ws_fault_probability > 0.0
            and self.faults.ws_fault_kinds
            and self.rng.random() < self.faults.ws_fault_probability
        ):
            fault = self.rng.choice(self.faults.ws_fault_kinds)
        elif self.scheduled:
            now = self.now()
            for kind, ws_fault in _MD_KINDS.items():
                if (
                    self._timeline.due(kind, now)
                    if kind is not FaultKind.BAD_DATA
                    else self._timeline.take(kind, now)
                ):
                    fault = ws_fault
                    break
        if fault is not None:
            self._count(fault.value)
        return fault

    def next_trade_ws_fault(self) -> WsFault | None:
        if not self.trade_ws_queue:
            return None
        fault = self.trade_ws_queue.pop(0)
        self._count(fault.value)
        return fault

"""The trading state: what new orders pass, who set it, and when a trading session starts.

:class:`TradingStateMachine` holds the one :class:`TradingState` a risk engine is in and makes
every move between states, so the rules of who may move it where live here:

- the operator halts (:meth:`~TradingStateMachine.halt`), switches to reduce-only
  (:meth:`~TradingStateMachine.reduce_only`) or resumes (:meth:`~TradingStateMachine.resume`);
- a breached daily loss limit trips ACTIVE to REDUCING (:meth:`~TradingStateMachine.trip`), and
  a new session ends that REDUCING (:meth:`~TradingStateMachine.start_session`) but neither an
  operator's REDUCING nor HALTED.

Each change is queued as a :class:`TradingStateChange` for the journal. Sessions start at
midnight in :data:`SESSION_TIME_ZONE`; :func:`next_session_start_ns` finds the next one.
"""

from __future__ import annotations

import datetime
import enum
import logging
import zoneinfo
from typing import Final, final

import attrs

from ..runtime.clock import NS_PER_SECOND

__all__ = [
    "SESSION_TIME_ZONE",
    "TradingState",
    "TradingStateChange",
    "TradingStateMachine",
    "check_reason",
    "next_session_start_ns",
]

logger = logging.getLogger(__name__)

SESSION_TIME_ZONE: Final = "America/New_York"
"""The exchange time zone whose midnight starts a new trading session (and daily loss)."""

_TZ: Final = zoneinfo.ZoneInfo(SESSION_TIME_ZONE)
_NS: Final = NS_PER_SECOND


def next_session_start_ns(now_ns: int) -> int:
    """Return the first nanosecond of the day after ``now_ns``'s day in :data:`SESSION_TIME_ZONE`.

    Args:
        now_ns: a time in nanoseconds since the epoch.

    Returns:
        The next local midnight, in nanoseconds since the epoch.
    """
    # midnight always exists in New York: DST moves 02:00
    local = datetime.datetime.fromtimestamp(now_ns // _NS, tz=_TZ)
    start = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time(), tzinfo=_TZ)
    return int(start.timestamp()) * _NS


class TradingState(enum.StrEnum):
    """What new orders the engine lets through."""

    ACTIVE = "active"
    """Every order that passes the checks."""
    REDUCING = "reducing"
    """Only orders that shrink a position (with the open orders on their side) without flipping it."""
    HALTED = "halted"
    """Nothing."""


@final
@attrs.frozen(kw_only=True)
class TradingStateChange:
    """One change of :attr:`RiskEngine.state` (or of who holds it), for the journal."""

    state: TradingState
    """The state from now on."""
    previous: TradingState
    """The state before."""
    reason: str
    """Why: the operator's words, or the limit that tripped (``MAX_DAILY_LOSS: ...``)."""
    automatic: bool
    """Set by the engine (daily loss, new session) rather than by an operator call."""
    ts_event: int
    """The engine's time (``now_ns``) at the change."""


def check_reason(reason: str) -> None:
    """Raise unless ``reason`` is a non-empty string (an operator must say why).

    Raises:
        ValueError: ``reason`` is empty or not a string.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"reason must be a non-empty string, was {reason!r}")


@final
class TradingStateMachine:
    """The trading state, why it holds and who set it; starts ACTIVE.

    Each method makes one kind of move and queues a :class:`TradingStateChange` when the state
    (or who holds it) changes; a move that changes nothing queues nothing.
    """

    __slots__ = ("_automatic", "_changes", "_reason", "_state")

    def __init__(self) -> None:
        self._state = TradingState.ACTIVE
        self._reason = "started"
        self._automatic = True
        self._changes: list[TradingStateChange] = []

    @property
    def state(self) -> TradingState:
        """What new orders pass."""
        return self._state

    @property
    def reason(self) -> str:
        """Why the state holds (the reason of the last change)."""
        return self._reason

    @property
    def automatic(self) -> bool:
        """Whether the engine set the state (daily loss, new session) rather than the operator."""
        return self._automatic

    def halt(self, reason: str, *, now_ns: int) -> None:
        """Go to HALTED, unless already there.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        if self._state is not TradingState.HALTED:
            self._set(TradingState.HALTED, reason, automatic=False, now_ns=now_ns)

    def reduce_only(self, reason: str, *, now_ns: int) -> None:
        """Go to the operator's REDUCING (taking over a daily-loss REDUCING), unless already there.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        if self._state is not TradingState.REDUCING or self._automatic:
            self._set(TradingState.REDUCING, reason, automatic=False, now_ns=now_ns)

    def resume(self, reason: str, *, now_ns: int) -> None:
        """Go back to ACTIVE, unless already there.

        Raises:
            ValueError: ``reason`` is empty.
        """
        check_reason(reason)
        if self._state is not TradingState.ACTIVE:
            self._set(TradingState.ACTIVE, reason, automatic=False, now_ns=now_ns)

    def trip(self, reason: str, *, now_ns: int) -> None:
        """Switch ACTIVE to an automatic REDUCING (a limit breached); any other state stays."""
        if self._state is TradingState.ACTIVE:
            self._set(TradingState.REDUCING, reason, automatic=True, now_ns=now_ns)

    def start_session(self, reason: str, *, now_ns: int) -> None:
        """End an automatic REDUCING (back to ACTIVE); the operator's states stay."""
        if self._state is TradingState.REDUCING and self._automatic:
            self._set(TradingState.ACTIVE, reason, automatic=True, now_ns=now_ns)

    def changes(self) -> list[TradingStateChange]:
        """Return the changes since the last call, oldest first, and forget them."""
        changes, self._changes = self._changes, []
        return changes

    def _set(self, state: TradingState, reason: str, *, automatic: bool, now_ns: int) -> None:
        change = TradingStateChange(
            state=state, previous=self._state, reason=reason, automatic=automatic, ts_event=now_ns
        )
        self._state = state
        self._reason = reason
        self._automatic = automatic
        self._changes.append(change)
        logger.warning("trading state %s -> %s: %s", change.previous, state, reason)

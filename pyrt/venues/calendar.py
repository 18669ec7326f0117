"""The US equity market calendar: regular sessions, weekends, NYSE holidays; crypto around the clock.

A regular session runs 09:30–16:00 America/New_York on a weekday (13:00 on an early-close day);
``zoneinfo`` moves it across daylight saving time, so a session opens at 14:30 UTC in winter and
13:30 UTC in summer. Weekends and the holidays of a :class:`MarketCalendar` have no session.
Crypto pairs (symbols with ``/``, e.g. ``BTC/USD``) trade 24/7 and are always open.

The holidays known by default (:data:`NYSE_HOLIDAYS`, :data:`NYSE_EARLY_CLOSES`) are the NYSE's
full closures and 13:00 early closes of 2025, 2026 and 2027, as the exchange published them;
outside those years only weekends close the market. Extended hours (04:00–09:30, 16:00–20:00)
are not sessions here. Sessions open at their first nanosecond and close at their last:
``open_ns <= t < close_ns`` is open, so 16:00:00 itself is closed.

The simulated venue (:class:`pyrt.venues.sim.SimVenue`) and the Alpaca-compatible server's
``/v2/clock`` and ``/v2/calendar`` answer from one :class:`MarketCalendar`; :data:`NYSE` is the
default one.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Final, final

import attrs

from ..runtime.clock import NS_PER_SECOND

__all__ = [
    "MARKET_TIME_ZONE",
    "NYSE",
    "NYSE_EARLY_CLOSES",
    "NYSE_HOLIDAYS",
    "MarketCalendar",
    "MarketClock",
    "Session",
    "is_crypto",
]

MARKET_TIME_ZONE: Final = "America/New_York"
"""The time zone of the sessions' opening and closing times."""

REGULAR_OPEN: Final = datetime.time(9, 30)
REGULAR_CLOSE: Final = datetime.time(16, 0)
EARLY_CLOSE: Final = datetime.time(13, 0)

_TZ: Final = zoneinfo.ZoneInfo(MARKET_TIME_ZONE)
_ONE_DAY: Final = datetime.timedelta(days=1)
# far more than the longest run of closed days (a weekend next to two holidays); a calendar
# that closes every day for this long is a mistake, not a market
_MAX_CLOSED_DAYS: Final = 366


def _days(*isoformats: str) -> frozenset[datetime.date]:
    return frozenset(datetime.date.fromisoformat(text) for text in isoformats)


NYSE_HOLIDAYS: Final = _days(
    # 2025 (January 9: the national day of mourning for President Carter)
    *("2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26"),
    *("2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"),
    # 2026 (July 3: Independence Day observed)
    *("2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19"),
    *("2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"),
    # 2027 (June 18, July 5 and December 24: observed)
    *("2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18"),
    *("2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"),
)
"""The NYSE's full-day closures of 2025–2027 (weekdays only; weekends close anyway)."""

NYSE_EARLY_CLOSES: Final = _days(
    "2025-07-03", "2025-11-28", "2025-12-24", "2026-11-27", "2026-12-24", "2027-11-26"
)
"""The NYSE's 13:00 early closes of 2025–2027."""


def is_crypto(symbol: str) -> bool:
    """Return whether ``symbol`` is a crypto pair (``BTC/USD``), which trades around the clock."""
    return "/" in symbol


def _ns(day: datetime.date, at: datetime.time) -> int:
    # 09:30, 13:00 and 16:00 exist exactly once on every New York day: DST moves 02:00
    return int(datetime.datetime.combine(day, at, tzinfo=_TZ).timestamp()) * NS_PER_SECOND


def local_date(ns: int) -> datetime.date:
    """Return the New York calendar date of ``ns`` (nanoseconds since the epoch)."""
    return datetime.datetime.fromtimestamp(ns // NS_PER_SECOND, tz=_TZ).date()


@final
@attrs.frozen(kw_only=True)
class Session:
    """One regular trading session."""

    day: datetime.date
    """Its New York date."""
    open_ns: int
    """The opening time, nanoseconds since the epoch (the first open nanosecond)."""
    close_ns: int
    """The closing time, nanoseconds since the epoch (the first closed nanosecond)."""

    def contains(self, ns: int) -> bool:
        """Return whether the market is open at ``ns`` in this session."""
        return self.open_ns <= ns < self.close_ns


@final
@attrs.frozen(kw_only=True)
class MarketClock:
    """The equity market's clock at one time, as Alpaca's ``GET /v2/clock`` reports it."""

    timestamp_ns: int
    """The time asked about."""
    is_open: bool
    """Whether a regular session is under way."""
    next_open_ns: int
    """The next session's opening time (after the current one when open)."""
    next_close_ns: int
    """The current session's close when open, else the next session's."""


@final
@attrs.frozen(kw_only=True)
class MarketCalendar:
    """US equity sessions: weekdays 09:30–16:00 New York time, less holidays.

    Args:
        holidays: weekdays without a session.
        early_closes: days whose session closes at 13:00.
    """

    holidays: frozenset[datetime.date] = NYSE_HOLIDAYS
    """Weekdays without a session."""
    early_closes: frozenset[datetime.date] = NYSE_EARLY_CLOSES
    """Days whose session closes at 13:00."""

    def session(self, day: datetime.date) -> Session | None:
        """Return the session of New York date ``day``, ``None`` on a weekend or holiday."""
        if day.weekday() >= 5 or day in self.holidays:
            return None
        close = EARLY_CLOSE if day in self.early_closes else REGULAR_CLOSE
        return Session(day=day, open_ns=_ns(day, REGULAR_OPEN), close_ns=_ns(day, close))

    def sessions(self, start: datetime.date, end: datetime.date) -> list[Session]:
        """Return the sessions from ``start`` to ``end``, both included, oldest first."""
        out: list[Session] = []
        day = start
        while day <= end:
            session = self.session(day)
            if session is not None:
                out.append(session)
            day += _ONE_DAY
        return out

    def session_at(self, ns: int) -> Session | None:
        """Return the session under way at ``ns``, ``None`` while the market is closed."""
        session = self.session(local_date(ns))
        return session if session is not None and session.contains(ns) else None

    def is_open(self, symbol: str, ns: int) -> bool:
        """Return whether ``symbol`` trades at ``ns``: crypto always, equities in a session."""
        return is_crypto(symbol) or self.session_at(ns) is not None

    def _next(self, ns: int, *, close: bool) -> int:
        day = local_date(ns)
        for _ in range(_MAX_CLOSED_DAYS):
            session = self.session(day)
            if session is not None:
                at = session.close_ns if close else session.open_ns
                if at > ns:
                    return at
            day += _ONE_DAY
        raise ValueError(
            f"no session within {_MAX_CLOSED_DAYS} days after {day - _MAX_CLOSED_DAYS * _ONE_DAY}"
        )

    def next_open(self, ns: int) -> int:
        """Return the first session opening strictly after ``ns``.

        Raises:
            ValueError: the calendar has no session for a year after ``ns``.
        """
        return self._next(ns, close=False)

    def next_close(self, ns: int) -> int:
        """Return the first session close strictly after ``ns`` (today's while a session runs).

        Raises:
            ValueError: the calendar has no session for a year after ``ns``.
        """
        return self._next(ns, close=True)

    def clock(self, ns: int) -> MarketClock:
        """Return the market clock at ``ns``: open or not, the next open and the next close.

        Raises:
            ValueError: the calendar has no session for a year after ``ns``.
        """
        return MarketClock(
            timestamp_ns=ns,
            is_open=self.session_at(ns) is not None,
            next_open_ns=self.next_open(ns),
            next_close_ns=self.next_close(ns),
        )


NYSE: Final = MarketCalendar()
"""Regular NYSE sessions with the holidays and early closes of 2025–2027."""

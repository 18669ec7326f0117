from __future__ import annotations

import datetime
import zoneinfo

import pytest

from pyrt.venues.calendar import NYSE, NYSE_EARLY_CLOSES, NYSE_HOLIDAYS, MarketCalendar, is_crypto

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def ns(text: str) -> int:
    """A New York wall time ("2026-01-09 16:30") as nanoseconds since the epoch."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()) * 10**9


def utc(value: int) -> str:
    return datetime.datetime.fromtimestamp(value / 1e9, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        ("2026-01-06 09:29:59", False),
        ("2026-01-06 09:30:00", True),
        ("2026-01-06 15:59:59", True),
        ("2026-01-06 16:00:00", False),
        ("2026-01-10 12:00:00", False),  # a Saturday
        ("2026-01-11 12:00:00", False),  # a Sunday
        ("2026-01-19 12:00:00", False),  # Martin Luther King Jr. Day
        ("2026-11-27 12:59:59", True),  # the day after Thanksgiving closes at 13:00
        ("2026-11-27 13:00:00", False),
    ],
)
def test_is_open_follows_regular_sessions_weekends_and_holidays(at: str, open_: bool) -> None:
    assert NYSE.is_open("AAPL", ns(at)) is open_


@pytest.mark.parametrize("at", ["2026-01-10 12:00:00", "2026-01-06 03:00:00", "2026-12-25 12:00:00"])
def test_is_open_for_crypto_is_always_true(at: str) -> None:
    assert NYSE.is_open("BTC/USD", ns(at))
    assert is_crypto("BTC/USD")
    assert not is_crypto("AAPL")


def test_next_open_from_friday_evening_is_monday_0930() -> None:
    friday_evening = ns("2026-01-09 18:00")

    assert NYSE.next_open(friday_evening) == ns("2026-01-12 09:30")
    assert NYSE.next_close(friday_evening) == ns("2026-01-12 16:00")


def test_next_open_across_the_spring_dst_change_is_0930_new_york() -> None:
    # 2026-03-08 (Sunday) New York moves from EST (-05:00) to EDT (-04:00)
    friday_evening = ns("2026-03-06 18:00")

    opening = NYSE.next_open(friday_evening)

    assert opening == ns("2026-03-09 09:30")
    assert utc(opening) == "2026-03-09 13:30"  # 14:30 UTC the Friday before
    assert utc(NYSE.next_open(ns("2026-03-05 18:00"))) == "2026-03-06 14:30"


def test_next_open_across_the_autumn_dst_change_is_0930_new_york() -> None:
    assert utc(NYSE.next_open(ns("2026-10-30 18:00"))) == "2026-11-02 14:30"


def test_next_open_skips_a_holiday_next_to_a_weekend() -> None:
    # Good Friday 2026 is April 3: from Thursday's close the next open is Monday
    assert NYSE.next_open(ns("2026-04-02 16:00")) == ns("2026-04-06 09:30")


def test_next_open_while_open_is_the_next_sessions_and_next_close_is_todays() -> None:
    clock = NYSE.clock(ns("2026-01-06 10:00"))

    assert clock.is_open
    assert clock.next_open_ns == ns("2026-01-07 09:30")
    assert clock.next_close_ns == ns("2026-01-06 16:00")


def test_clock_at_the_default_simulation_start_is_closed_new_years_day() -> None:
    clock = NYSE.clock(1_767_312_000 * 10**9)  # 2026-01-02T00:00Z: Thursday January 1, 19:00

    assert not clock.is_open
    assert clock.next_open_ns == ns("2026-01-02 09:30")


def test_sessions_lists_trading_days_with_their_bounds() -> None:
    sessions = NYSE.sessions(datetime.date(2026, 11, 25), datetime.date(2026, 11, 30))

    assert [(s.day.isoformat(), utc(s.open_ns), utc(s.close_ns)) for s in sessions] == [
        ("2026-11-25", "2026-11-25 14:30", "2026-11-25 21:00"),
        ("2026-11-27", "2026-11-27 14:30", "2026-11-27 18:00"),  # early close
        ("2026-11-30", "2026-11-30 14:30", "2026-11-30 21:00"),
    ]


def test_the_known_holidays_and_early_closes_are_weekdays_of_2025_to_2027() -> None:
    days = NYSE_HOLIDAYS | NYSE_EARLY_CLOSES

    assert {day.year for day in days} == {2025, 2026, 2027}
    assert all(day.weekday() < 5 for day in days)
    assert not NYSE_HOLIDAYS & NYSE_EARLY_CLOSES


def test_a_calendar_without_holidays_opens_on_every_weekday() -> None:
    plain = MarketCalendar(holidays=frozenset(), early_closes=frozenset())

    assert plain.is_open("AAPL", ns("2026-01-19 12:00"))
    assert plain.session(datetime.date(2026, 1, 17)) is None  # a Saturday


def test_a_calendar_that_never_opens_says_so() -> None:
    never = MarketCalendar(
        holidays=frozenset(datetime.date(2026, 1, 1) + datetime.timedelta(days=d) for d in range(800))
    )

    with pytest.raises(ValueError, match=r"^no session within 366 days after 2026-01-06$"):
        never.next_open(ns("2026-01-06 12:00"))

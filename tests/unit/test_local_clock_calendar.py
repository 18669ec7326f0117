"""The local venue's /v2/clock and /v2/calendar answers, from pyrt.venues.calendar."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from pyrt.venues.local._http import Request
from pyrt.venues.local._rest import TradingApi
from pyrt.venues.local._wire import WireError

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def ny(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()) * 10**9


def get(query: dict[str, str]) -> Request:
    return Request(method="GET", path="/v2/calendar", query=query, headers={}, body=b"")


def test_clock_from_friday_evening_names_monday_not_saturday() -> None:
    body = TradingApi.clock_to_wire(ny("2026-01-09 18:00"))

    assert body == {
        "timestamp": "2026-01-09T18:00:00-05:00",
        "is_open": True,  # the local venue's market never closes
        "next_open": "2026-01-12T09:30:00-05:00",
        "next_close": "2026-01-12T16:00:00-05:00",
    }


def test_clock_in_summer_has_the_daylight_offset() -> None:
    body = TradingApi.clock_to_wire(ny("2026-07-02 12:00"))

    assert body["next_close"] == "2026-07-02T16:00:00-04:00"
    assert body["next_open"] == "2026-07-06T09:30:00-04:00"  # July 3 is a holiday, then a weekend


def test_calendar_lists_sessions_with_early_closes_and_settlement() -> None:
    body = TradingApi.calendar_to_wire(get({"start": "2026-12-23", "end": "2026-12-28"}), 0)

    assert body == [
        {"date": "2026-12-23", "open": "09:30", "close": "16:00", "session_open": "0400",
         "session_close": "2000", "settlement_date": "2026-12-24"},
        {"date": "2026-12-24", "open": "09:30", "close": "13:00", "session_open": "0400",
         "session_close": "2000", "settlement_date": "2026-12-28"},
        {"date": "2026-12-28", "open": "09:30", "close": "16:00", "session_open": "0400",
         "session_close": "2000", "settlement_date": "2026-12-29"},
    ]  # fmt: skip


def test_calendar_defaults_to_thirty_days_from_today() -> None:
    body = TradingApi.calendar_to_wire(get({}), ny("2026-01-01 12:00"))

    assert body[0]["date"] == "2026-01-02"
    assert body[-1]["date"] == "2026-01-30"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "tomorrow"}, r"^start must be a date \(YYYY-MM-DD\), was 'tomorrow'$"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, r"^end must not be before start"),
    ],
)
def test_calendar_refuses_bad_dates(query: dict[str, str], message: str) -> None:
    with pytest.raises(WireError, match=message):
        TradingApi.calendar_to_wire(get(query), 0)

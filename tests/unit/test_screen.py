"""The market-data screen's rules (specs/marketdata.md M4–M8, M12), on plain messages."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, strategies as st

from pyrt.marketdata.screen import MarketDataScreen
from pyrt.messages import BarReceived, BookLevel, BookReceived, Message, QuoteReceived, TradeReceived

NS = 1_000_000_000
NOW = 1_765_000_000 * NS


def trade(
    price: float = 100.0, size: float = 1.0, trade_id: int = 0, *, ts: int = NOW, symbol: str = "AAPL"
) -> TradeReceived:
    return TradeReceived(symbol=symbol, price=price, size=size, trade_id=trade_id, ts_event=ts, ts_init=NOW)


def quote(bid: float, ask: float, *, size: float = 1.0, ts: int = NOW, symbol: str = "AAPL") -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol, bid_price=bid, bid_size=size, ask_price=ask, ask_size=size, ts_event=ts, ts_init=NOW
    )


def passed(screen: MarketDataScreen, *items: Message) -> list[Message]:
    return screen.screen(list(items), NOW)


def test_M4_a_symbol_never_subscribed_is_refused() -> None:
    screen = MarketDataScreen(["aapl", "BTC/USD"])

    assert passed(screen, trade(symbol="ZZZZ"), trade(), trade(symbol="BTC/USD")) == [
        trade(),
        trade(symbol="BTC/USD"),
    ]
    assert screen.statistics().refused == {"unsubscribed_symbol": 1}


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        pytest.param(NOW + 10 * 365 * 86_400 * NS, "future_timestamp", id="10-years-ahead"),
        pytest.param(NOW + 61 * NS, "future_timestamp", id="61-s-ahead"),
        pytest.param(0, "stale_timestamp", id="epoch-0"),
        pytest.param(NOW - 3601 * NS, "stale_timestamp", id="61-min-old"),
    ],
)
def test_M5_an_event_time_outside_the_plausible_window_is_refused(ts: int, reason: str) -> None:
    screen = MarketDataScreen(["AAPL"])
    bar = BarReceived(
        symbol="AAPL",
        timeframe="1m",
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1.0,
        ts_event=ts,
        ts_init=NOW,
    )
    book = BookReceived(
        symbol="AAPL", bids=(BookLevel(price=1.0, size=1.0),), reset=True, ts_event=ts, ts_init=NOW
    )

    assert passed(screen, trade(ts=ts), quote(99.0, 101.0, ts=ts), bar, book) == []
    assert screen.statistics().refused == {reason: 4}


def test_M5_the_edges_of_the_window_pass() -> None:
    screen = MarketDataScreen(["AAPL"])

    assert len(passed(screen, trade(ts=NOW + 60 * NS), trade(ts=NOW - 3600 * NS))) == 2


def test_M6_prices_and_sizes_outside_the_sanity_bounds_are_refused() -> None:
    screen = MarketDataScreen(["AAPL"])
    book = BookReceived(
        symbol="AAPL", asks=(BookLevel(price=1e308, size=1.0),), reset=True, ts_event=NOW, ts_init=NOW
    )

    out = passed(
        screen,
        trade(1e308, 2.0),  # the VWAP overflow of issue 8
        trade(100.0, 1e15),
        quote(99.0, 1e9),
        quote(99.0, 101.0, size=1e13),
        book,
        trade(100.0, 1e12),  # at the bound: kept
    )

    assert out == [trade(100.0, 1e12)]
    assert screen.statistics().refused == {"price_out_of_bounds": 3, "size_out_of_bounds": 2}


def test_M7_a_price_ten_times_away_from_the_reference_is_refused_either_way() -> None:
    screen = MarketDataScreen(["AAPL"])

    out = passed(screen, quote(99.0, 101.0), trade(1000.0), trade(10.0), quote(999.0, 1001.0), trade(101.0))

    assert out == [quote(99.0, 101.0), trade(101.0)]
    assert screen.statistics().refused == {"price_jump": 3}


def test_M7_enough_consecutive_items_agreeing_on_a_new_level_move_the_reference() -> None:
    screen = MarketDataScreen(["AAPL"], reanchor_after=5)
    passed(screen, trade(100.0, trade_id=1))

    out = passed(screen, *(trade(1000.0 + i, trade_id=10 + i) for i in range(6)))

    assert [t.price for t in out if isinstance(t, TradeReceived)] == [1004.0, 1005.0]
    stats = screen.statistics()
    assert (stats.refused, stats.flagged) == ({"price_jump": 4}, {"reanchored": 1})


def test_M7_an_interleaved_good_price_restarts_the_count() -> None:
    screen = MarketDataScreen(["AAPL"], reanchor_after=3)
    passed(screen, trade(100.0))

    out = passed(screen, trade(1000.0), trade(1000.0), trade(100.0), trade(1000.0), trade(1000.0))

    assert out == [trade(100.0)]


def test_M8_a_trade_seen_again_is_refused_and_memory_is_bounded() -> None:
    screen = MarketDataScreen(["AAPL", "MSFT"], duplicate_window=3)

    out = passed(
        screen,
        *[trade(trade_id=7)] * 1000,
        trade(trade_id=7, symbol="MSFT"),  # per symbol
        trade(trade_id=7, ts=NOW - NS),  # another exchange's id 7 at another time: another trade
        trade(trade_id=0),
        trade(trade_id=0),  # no id: nothing to deduplicate on
    )

    assert len(out) == 5
    assert screen.statistics().refused == {"duplicate_trade": 999}
    passed(screen, trade(trade_id=8), trade(trade_id=9), trade(trade_id=10))  # pushes id 7 out of the window
    assert passed(screen, trade(trade_id=7)) == [trade(trade_id=7)]


def test_M8_copies_of_a_refused_trade_are_duplicates_and_cannot_move_the_reference() -> None:
    screen = MarketDataScreen(["AAPL"], reanchor_after=3)
    passed(screen, trade(100.0, trade_id=1))

    assert passed(screen, *[trade(1000.0, trade_id=2)] * 10) == []
    assert screen.statistics().refused == {"price_jump": 1, "duplicate_trade": 9}


def test_M9_crossed_and_one_sided_quotes_pass_flagged_and_do_not_move_the_reference() -> None:
    screen = MarketDataScreen(["AAPL"])

    out = passed(screen, quote(159.52, 158.65), quote(0.0, 158.65), quote(0.0, 0.0), trade(158.9))

    assert len(out) == 4
    stats = screen.statistics()
    assert stats.flagged == {"crossed_quote": 1, "one_sided_quote": 2}
    assert stats.refused == {}


def test_M12_refusals_are_logged_once_per_interval_per_reason_with_a_tally(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pyrt.marketdata.screen")
    screen = MarketDataScreen(["AAPL"], log_interval=10.0)

    screen.screen([trade(symbol="ZZZZ")] * 500 + [trade(ts=0)] * 500, NOW)
    screen.screen([trade(symbol="ZZZZ")], NOW + 11 * NS)

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "unsubscribed_symbol; 501 so far, 499 more since the last warning" in messages[2]
    assert screen.statistics().refused == {"unsubscribed_symbol": 501, "stale_timestamp": 500}


def test_screen_refuses_bad_bounds() -> None:
    with pytest.raises(ValueError, match="max_jump must be a finite number > 1"):
        MarketDataScreen(["AAPL"], max_jump=1.0)
    with pytest.raises(ValueError, match="max_price must be a finite number > 0"):
        MarketDataScreen(["AAPL"], max_price=float("inf"))


def _slow_screen(screen: MarketDataScreen, items: list[Message]) -> list[Message]:
    """The rules one item at a time through the full checks, never the inline fast path."""
    out: list[Message] = []
    oldest, latest = NOW - 3600 * NS, NOW + 60 * NS
    for msg in items:
        state = screen._states.get(msg.symbol)  # type: ignore[union-attr]
        if isinstance(msg, TradeReceived):
            reason = screen._trade(state, msg, oldest, latest)
        else:
            assert isinstance(msg, QuoteReceived)
            reason = screen._quote(state, msg, oldest, latest)
        if reason is None:
            out.append(msg)
        else:
            screen._refuse(reason, msg, NOW)
    screen._accepted += len(out)
    return out


_prices = st.sampled_from([0.0, 50.0, 99.0, 100.0, 101.0, 400.0, 600.0, 1000.0, 2e8])
_items = st.lists(
    st.one_of(
        st.builds(
            trade,
            price=_prices.filter(bool),
            size=st.sampled_from([1.0, 1e13]),
            trade_id=st.integers(0, 5),
            ts=st.sampled_from([NOW, NOW - NS, 0]),
            symbol=st.sampled_from(["AAPL", "ZZZZ"]),
        ),
        st.builds(quote, _prices, _prices, ts=st.sampled_from([NOW, NOW + 10**12])),
    ),
    max_size=60,
)


@given(_items)
def test_M7_M8_the_inline_fast_path_decides_exactly_like_the_full_rules(items: list[Message]) -> None:
    fast = MarketDataScreen(["AAPL"], reanchor_after=3, duplicate_window=4)
    slow = MarketDataScreen(["AAPL"], reanchor_after=3, duplicate_window=4)

    assert fast.screen(items, NOW) == _slow_screen(slow, items)
    assert fast.statistics() == slow.statistics()


def test_M7_far_one_sided_or_crossed_quotes_never_move_the_reference() -> None:
    screen = MarketDataScreen(["AAPL"], reanchor_after=3)
    passed(screen, trade(100.0))

    refused = passed(screen, *[quote(0.0, 1000.0)] * 5, *[quote(1100.0, 1000.0)] * 5)

    assert refused == []
    assert passed(screen, trade(101.0)) == [trade(101.0)]
    assert screen.statistics().flagged == {}

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, strategies as st

from pyrt import messages as m
from pyrt.errors import DecodeError
from tests.strategies import BY_TYPE, any_message


@pytest.mark.parametrize("cls", list(BY_TYPE), ids=lambda c: c.TOPIC)
def test_every_message_round_trips(cls: type) -> None:
    @given(BY_TYPE[cls])
    def check(msg: m.Message) -> None:
        assert m.decode(m.encode(msg)) == msg
        assert m.from_dict(m.to_dict(msg)) == msg

    check()


@given(any_message, st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0]))
def test_decode_refuses_non_finite_or_non_positive_prices(msg: m.Message, bad: float) -> None:
    data = m.to_dict(msg)
    price_fields = [k for k in ("price", "bid_price", "ask_price", "fill_price", "open") if k in data]
    if not price_fields:
        return
    if price_fields[0] == "bid_price" and bad == 0.0:
        return  # a quote's price of 0 is an empty side (M9), not an error
    data[price_fields[0]] = bad

    with pytest.raises(DecodeError, match=price_fields[0]):
        m.from_dict(data)


@given(any_message, st.text(min_size=1, max_size=8).filter(lambda k: k not in ("topic",)))
def test_decode_refuses_unknown_keys(msg: m.Message, key: str) -> None:
    data = m.to_dict(msg)
    if key in data:
        return
    data[key] = 1

    with pytest.raises(DecodeError, match="extra fields"):
        m.from_dict(data)


def test_decode_names_the_missing_field_and_the_source() -> None:
    data = m.to_dict(m.TradeReceived(symbol="AAPL", price=1.0, size=1.0, ts_event=0, ts_init=0))
    del data["price"]

    with pytest.raises(DecodeError, match=r"^feed: required field missing @ \$\.price"):
        m.from_dict(data, source="feed")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"topic": "market.nope"}', "unknown or missing topic"),
        (b"[1, 2]", "expected a JSON object with a topic, was list"),
        (
            orjson.dumps(
                {
                    "topic": "market.quote",
                    "symbol": "AAPL",
                    "bid_price": -2.0,
                    "bid_size": 1.0,
                    "ask_price": 1.0,
                    "ask_size": 1.0,
                    "ts_event": 0,
                    "ts_init": 0,
                }
            ),
            "bid_price must be a finite number >= 0",
        ),
        (
            orjson.dumps(
                {
                    "topic": "market.trade",
                    "symbol": "aapl",
                    "price": 1.0,
                    "size": 1.0,
                    "ts_event": 0,
                    "ts_init": 0,
                }
            ),
            "upper-case symbol",
        ),
    ],
)
def test_decode_refuses_malformed_payloads_with_decode_error(payload: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        m.decode(payload)


def test_constructing_invalid_messages_raises_value_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^size must be a finite number > 0, was -3\.0$"):
        m.TradeReceived(symbol="AAPL", price=1.0, size=-3.0, ts_event=0, ts_init=0)
    with pytest.raises(ValueError, match=r"^limit_price must be set for a limit order, was None$"):
        m.SignalGenerated(
            signal_id="s",
            strategy="x",
            symbol="AAPL",
            side=m.Side.BUY,
            quantity=1.0,
            order_type=m.OrderType.LIMIT,
            ts_event=0,
            ts_init=0,
        )
    with pytest.raises(ValueError, match="low <= open, close <= high"):
        m.BarReceived(
            symbol="AAPL",
            timeframe="1m",
            open=5.0,
            high=4.0,
            low=3.0,
            close=4.0,
            volume=0.0,
            ts_event=0,
            ts_init=0,
        )


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, -1.0, 1e-300, math.inf])
)
symbol_like = st.one_of(
    st.sampled_from(["AAPL", "BTC/USD", "aapl", "", "A" * 40, "BRK.B"]), st.text(max_size=6)
)


def _outcome(build):
    try:
        return build()
    except ValueError:
        return "rejected"


@given(symbol_like, finite_or_not, finite_or_not, st.integers(0, 2**62))
def test_trade_checked_constructor_decides_exactly_like_the_validated_one(symbol, price, size, ts) -> None:
    fast = _outcome(lambda: m.TradeReceived.checked(symbol, price, size, 7, ts, ts))
    slow = _outcome(
        lambda: m.TradeReceived(symbol=symbol, price=price, size=size, trade_id=7, ts_event=ts, ts_init=ts)
    )

    assert fast == slow


@given(symbol_like, finite_or_not, finite_or_not, finite_or_not, finite_or_not)
def test_quote_checked_constructor_decides_exactly_like_the_validated_one(
    symbol, bid, bid_size, ask, ask_size
) -> None:
    fast = _outcome(lambda: m.QuoteReceived.checked(symbol, bid, bid_size, ask, ask_size, 1, 2))
    slow = _outcome(
        lambda: m.QuoteReceived(
            symbol=symbol,
            bid_price=bid,
            bid_size=bid_size,
            ask_price=ask,
            ask_size=ask_size,
            ts_event=1,
            ts_init=2,
        )
    )

    assert fast == slow


@given(
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
def test_M9_a_quote_round_trips_and_has_a_mid_exactly_when_it_is_two_sided_and_uncrossed(
    bid: float, ask: float
) -> None:
    quote = m.QuoteReceived(
        symbol="AAPL", bid_price=bid, bid_size=1.0, ask_price=ask, ask_size=1.0, ts_event=1, ts_init=2
    )

    assert m.decode(m.encode(quote)) == quote  # a journal keeps crossed and one-sided quotes
    assert quote.two_sided == (bid > 0 and ask > 0)
    assert quote.crossed == (quote.two_sided and bid > ask)
    assert quote.usable == (quote.two_sided and not quote.crossed)
    if quote.usable:
        assert quote.mid is not None
        assert bid <= quote.mid <= ask
    else:
        assert quote.mid is None

"""MarketSimulator across a closed market: halted symbols stay quiet, reopening gaps them."""

from __future__ import annotations

import random

import pytest

from pyrt.messages import QuoteReceived, encode
from pyrt.venues.sim import MarketSimulator

SYMBOLS = ["AAPL", "MSFT", "BTC/USD"]


def test_a_halted_symbol_makes_no_messages_while_the_others_step():
    market = MarketSimulator(SYMBOLS, random.Random(5))
    market.step(0)

    market.halt(["AAPL", "MSFT"])
    steps = [market.step(step) for step in range(1, 50)]

    assert {message.symbol for messages in steps for message in messages} == {"BTC/USD"}
    assert market.symbols == tuple(SYMBOLS)
    assert market.last_quote("AAPL") is not None  # the close's quote stays the last one


def test_reopen_moves_a_halted_mid_by_one_seeded_gap_then_steps_it_again():
    def reopened(seed: int) -> float:
        market = MarketSimulator(["AAPL"], random.Random(seed), start_prices={"AAPL": 100.0}, volatility=0.0)
        market.halt(["AAPL"])
        market.reopen(["AAPL"], gap_volatility=0.05)
        (quote, *_) = market.step(1)
        assert isinstance(quote, QuoteReceived)
        return (quote.bid_price + quote.ask_price) / 2.0

    assert reopened(1) == reopened(1)
    assert reopened(1) != reopened(2)
    assert abs(reopened(1) - 100.0) > 0.05  # more than the spread: a gap, not a step


def test_reopen_leaves_a_symbol_that_was_not_halted_as_it_is():
    plain = MarketSimulator(SYMBOLS, random.Random(9))
    reopened = MarketSimulator(SYMBOLS, random.Random(9))

    reopened.reopen(SYMBOLS, gap_volatility=0.05)

    assert [encode(m) for m in plain.step(1)] == [encode(m) for m in reopened.step(1)]


def test_reopen_keeps_the_stepping_order():
    market = MarketSimulator(SYMBOLS, random.Random(2))
    market.halt(["AAPL"])

    market.reopen(["AAPL"], gap_volatility=0.01)

    quotes = [m.symbol for m in market.step(1) if isinstance(m, QuoteReceived)]
    assert quotes == SYMBOLS


def test_halt_of_an_unknown_symbol_raises():
    market = MarketSimulator(SYMBOLS, random.Random(1))

    with pytest.raises(KeyError, match=r"not simulated: \['TSLA'\]"):
        market.halt(["TSLA"])

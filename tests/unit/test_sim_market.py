from __future__ import annotations

import itertools
import math
import random

import pytest

from pyrt.messages import QuoteReceived, TradeReceived, encode
from pyrt.venues.sim import MarketSimulator

SYMBOLS = ["AAPL", "MSFT", "BTC/USD"]


def run(seed: int, steps: int = 200, **kwargs: object) -> list[QuoteReceived | TradeReceived]:
    market = MarketSimulator(SYMBOLS, random.Random(seed), **kwargs)  # type: ignore[arg-type]
    out: list[QuoteReceived | TradeReceived] = []
    for step in range(steps):
        out.extend(market.step(1_000 + step))
    return out


def test_same_seed_gives_identical_ticks():
    first = run(3)
    second = run(3)

    assert [encode(message) for message in first] == [encode(message) for message in second]


def test_different_seed_gives_different_ticks():
    assert run(3) != run(4)


def test_each_step_quotes_every_symbol_in_order_then_sometimes_trades():
    market = MarketSimulator(SYMBOLS, random.Random(1))

    steps = [market.step(step) for step in range(100)]

    for messages in steps:
        quotes = [message.symbol for message in messages if isinstance(message, QuoteReceived)]
        assert quotes == SYMBOLS
        for before, message in itertools.pairwise(messages):
            if isinstance(message, TradeReceived):
                assert isinstance(before, QuoteReceived)
                assert before.symbol == message.symbol
                assert message.price in (before.bid_price, before.ask_price)
    trades = sum(isinstance(message, TradeReceived) for messages in steps for message in messages)
    assert 0.15 * 300 < trades < 0.45 * 300  # trade_probability 0.3


@pytest.mark.parametrize("seed", range(5))
def test_quotes_are_valid_uncrossed_and_positive_with_spread_of_at_least_one_tick(seed):
    messages = run(seed, steps=300, volatility=0.01)

    for message in messages:
        assert message.ts_event == message.ts_init
        if isinstance(message, QuoteReceived):
            assert 0.0 < message.bid_price < message.ask_price
            assert message.ask_price - message.bid_price >= 0.01 - 1e-9
            assert message.bid_size > 0.0
            assert message.ask_size > 0.0
            assert message.bid_price == round(message.bid_price, 2)
        else:
            assert message.price > 0.0
            assert message.size > 0.0


def test_equity_sizes_whole_and_crypto_sizes_fractional():
    messages = run(5, steps=200)

    equity_sizes = [m.bid_size for m in messages if isinstance(m, QuoteReceived) and m.symbol == "AAPL"]
    crypto_sizes = [m.bid_size for m in messages if isinstance(m, QuoteReceived) and m.symbol == "BTC/USD"]
    crypto_trades = [m.size for m in messages if isinstance(m, TradeReceived) and m.symbol == "BTC/USD"]

    assert all(size == int(size) and size % 100 == 0 for size in equity_sizes)
    assert any(size != int(size) for size in crypto_sizes)
    assert crypto_trades
    assert all(size > 0.0 for size in crypto_trades)


def test_spread_is_a_few_basis_points_of_the_mid():
    market = MarketSimulator(["BTC/USD"], random.Random(2), start_prices={"BTC/USD": 60_000.0})

    quotes = [m for step in range(200) for m in market.step(step) if isinstance(m, QuoteReceived)]

    for quote in quotes:
        spread_bps = (quote.ask_price - quote.bid_price) / quote.mid * 1e4
        assert 1.0 - 0.01 <= spread_bps <= 5.0 + 0.01


def test_start_prices_are_honoured_and_penny_stocks_get_sub_penny_ticks():
    market = MarketSimulator(["AAPL", "PENNY"], random.Random(2), start_prices={"AAPL": 150.0, "PENNY": 0.25})

    messages = market.step(0)

    aapl = market.last_quote("AAPL")
    penny = market.last_quote("PENNY")
    assert messages[0] == aapl
    assert aapl is not None
    assert penny is not None
    assert abs(aapl.mid - 150.0) < 0.5
    assert abs(penny.mid - 0.25) < 0.01
    assert penny.ask_price - penny.bid_price < 0.01


def test_prices_never_reach_zero_under_extreme_volatility():
    market = MarketSimulator(["AAPL"], random.Random(9), start_prices={"AAPL": 0.01}, volatility=0.5)

    for step in range(2000):
        for message in market.step(step):
            price = message.bid_price if isinstance(message, QuoteReceived) else message.price
            assert price > 0.0
            assert math.isfinite(price)


def test_zero_volatility_keeps_the_mid():
    market = MarketSimulator(["AAPL"], random.Random(1), start_prices={"AAPL": 100.0}, volatility=0.0)

    quotes = [m for step in range(20) for m in market.step(step) if isinstance(m, QuoteReceived)]

    for quote in quotes:
        assert quote.mid == pytest.approx(100.0)
        assert 0.02 - 1e-9 <= quote.ask_price - quote.bid_price <= 0.06 + 1e-9  # 1-5 bp, rounded out to ticks


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ([], {}, r"^symbols must not be empty$"),
        (["AAPL", "AAPL"], {}, r"^symbols must be unique"),
        (["AAPL"], {"start_prices": {"AAPL": 0.0}}, r"^start price of AAPL must be a finite number > 0"),
        (["AAPL"], {"start_prices": {"MSFT": 1.0}}, r"^start_prices has symbols that are not simulated"),
        (["AAPL"], {"volatility": math.nan}, r"^volatility must be"),
        (["AAPL"], {"trade_probability": 1.5}, r"^trade_probability must be in"),
        (["AAPL"], {"min_spread_bps": 6.0}, r"^spreads must satisfy"),
    ],
)
def test_invalid_parameters_raise_value_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MarketSimulator(args, random.Random(0), **kwargs)


def test_last_quote_of_unknown_symbol_raises_key_error():
    market = MarketSimulator(["AAPL"], random.Random(0))

    assert market.last_quote("AAPL") is None
    with pytest.raises(KeyError):
        market.last_quote("MSFT")


@pytest.mark.parametrize(("low", "high"), [(1, 10), (1, 1), (1, 100), (1, 1000), (5, 6)])
def test_fast_randint_draws_what_random_randint_draws(low: int, high: int):
    from pyrt.venues.sim.market import _randint

    ours, theirs = random.Random(42), random.Random(42)

    drawn = [_randint(ours.getrandbits, low, high) for _ in range(2000)]

    assert drawn == [theirs.randint(low, high) for _ in range(2000)]
    assert ours.random() == theirs.random()  # and left the generator in the same state

"""A seeded random-walk market: quotes and trades for a set of symbols.

Each :meth:`MarketSimulator.step` moves every symbol's mid price by a log-normal step (so a
price never reaches zero), quotes it with a spread of a few basis points (at least one tick),
and sometimes prints a trade at the bid or the ask. Equities trade in whole shares with quotes
in round lots; crypto pairs (symbols with ``/``, e.g. ``BTC/USD``) in fractional coins. Ticks
are 0.01 for prices of 1 and above and 0.0001 below. Everything random comes from the injected
``rng``, so one seed gives one market.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Final, final

import attrs

from ...messages import QuoteReceived, TradeReceived

__all__ = ["MarketSimulator"]

_TICK: Final = 0.01
_SUB_PENNY_TICK: Final = 0.0001
_CRYPTO_SIZE_DECIMALS: Final = 6


def _is_crypto(symbol: str) -> bool:
    return "/" in symbol


def _randint(getrandbits: Callable[[int], int], low: int, high: int) -> int:
    # random.Random.randint(low, high) draw for draw (CPython's _randbelow_with_getrandbits), at
    # a third of its cost: the market steps are the simulation's hot path (issue 10);
    # tests/unit/test_sim_market.py checks that both give the same numbers
    n = high - low + 1
    k = n.bit_length()
    r = getrandbits(k)
    while r >= n:
        r = getrandbits(k)
    return low + r


@attrs.define
class _SymbolState:
    symbol: str
    crypto: bool
    mid: float
    trade_id: int = 0
    last_quote: QuoteReceived | None = None


@final
class MarketSimulator:
    """Random-walk quotes and trades for several symbols, deterministic for a seed.

    Args:
        symbols: the symbols to simulate, stepped in this order.
        rng: the source of every random draw.
        start_prices: each symbol's first mid price; missing symbols draw one (20-300 for
            equities, 100-50,000 for crypto pairs).
        volatility: standard deviation of the log mid-price change per step (0.0002 = 2 bp).
        trade_probability: chance per symbol per step of a trade at the bid or ask.
        min_spread_bps: narrowest spread, in basis points of the mid (never below one tick).
        max_spread_bps: widest spread, in basis points of the mid.

    Raises:
        ValueError: no or repeated symbols, a start price that is not finite and positive,
            or a parameter out of range.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        rng: random.Random,
        *,
        start_prices: Mapping[str, float] | None = None,
        volatility: float = 0.0002,
        trade_probability: float = 0.3,
        min_spread_bps: float = 1.0,
        max_spread_bps: float = 5.0,
    ) -> None:
        if not symbols:
            raise ValueError("symbols must not be empty")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be unique, was {list(symbols)}")
        if not (math.isfinite(volatility) and volatility >= 0.0):
            raise ValueError(f"volatility must be a finite number >= 0, was {volatility!r}")
        if not (0.0 <= trade_probability <= 1.0):
            raise ValueError(f"trade_probability must be in [0, 1], was {trade_probability!r}")
        if not (0.0 < min_spread_bps <= max_spread_bps and math.isfinite(max_spread_bps)):
            raise ValueError(
                "spreads must satisfy 0 < min_spread_bps <= max_spread_bps, was "
                f"{min_spread_bps!r} and {max_spread_bps!r}"
            )
        prices = dict(start_prices or {})
        unknown = sorted(set(prices) - set(symbols))
        if unknown:
            raise ValueError(f"start_prices has symbols that are not simulated: {unknown}")
        self._rng = rng
        self._volatility = volatility
        self._trade_probability = trade_probability
        self._min_spread_bps = min_spread_bps
        self._max_spread_bps = max_spread_bps
        self._states: list[_SymbolState] = []
        for symbol in symbols:
            crypto = _is_crypto(symbol)
            if symbol in prices:
                price = prices[symbol]
                if not (math.isfinite(price) and price > 0.0):
                    raise ValueError(f"start price of {symbol} must be a finite number > 0, was {price!r}")
            else:
                price = round(rng.uniform(100.0, 50_000.0) if crypto else rng.uniform(20.0, 300.0), 2)
            self._states.append(_SymbolState(symbol=symbol, crypto=crypto, mid=price))
        # every symbol; self._states keeps the ones step() moves, halted ones (closed) left out
        self._all: Final = tuple(self._states)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The simulated symbols, in stepping order."""
        return tuple(state.symbol for state in self._all)

    def last_quote(self, symbol: str) -> QuoteReceived | None:
        """Return the last quote made for ``symbol``, ``None`` before the first step.

        Raises:
            KeyError: ``symbol`` is not simulated.
        """
        for state in self._all:
            if state.symbol == symbol:
                return state.last_quote
        raise KeyError(symbol)

    def halt(self, symbols: Sequence[str]) -> None:
        """Stop stepping ``symbols`` (their market closed): no quotes or trades until :meth:`reopen`.

        Raises:
            KeyError: a symbol that is not simulated.
        """
        halted = set(symbols)
        self._check(halted)
        self._states = [state for state in self._states if state.symbol not in halted]

    def reopen(self, symbols: Sequence[str], *, gap_volatility: float = 0.0) -> None:
        """Step halted ``symbols`` again, each mid first moved by one gap (a log-normal draw).

        Args:
            symbols: the symbols to reopen; those not halted are left as they are.
            gap_volatility: standard deviation of each gap's log price change (0.01 = 1 %).

        Raises:
            KeyError: a symbol that is not simulated.
            ValueError: a ``gap_volatility`` that is not finite and >= 0.
        """
        if not (math.isfinite(gap_volatility) and gap_volatility >= 0.0):
            raise ValueError(f"gap_volatility must be a finite number >= 0, was {gap_volatility!r}")
        opening = set(symbols)
        self._check(opening)
        stepping = {id(state) for state in self._states}
        for state in self._all:  # in stepping order: the gaps' draws do not depend on set order
            if state.symbol in opening and id(state) not in stepping:
                state.mid *= math.exp(gap_volatility * self._rng.gauss(0.0, 1.0))
        self._states = [state for state in self._all if id(state) in stepping or state.symbol in opening]

    def _check(self, symbols: set[str]) -> None:
        unknown = sorted(symbols - {state.symbol for state in self._all})
        if unknown:
            raise KeyError(f"not simulated: {unknown}")

    def step(self, now_ns: int) -> list[QuoteReceived | TradeReceived]:
        """Advance every symbol one step.

        Args:
            now_ns: the time of the step; ``ts_event`` and ``ts_init`` of every message.

        Returns:
            For each symbol in order: one quote, then sometimes one trade at its bid or ask.
        """
        out: list[QuoteReceived | TradeReceived] = []
        rng = self._rng
        # bound methods and the uniform draw inlined (a + (b - a) * random(), as random.uniform
        # computes it): the same draws in the same order as before, for fewer calls per symbol
        gauss = rng.gauss
        draw = rng.random
        bits = rng.getrandbits
        exp, floor, ceil = math.exp, math.floor, math.ceil
        volatility = self._volatility
        min_bps = self._min_spread_bps
        bps_span = self._max_spread_bps - min_bps
        trade_probability = self._trade_probability
        for state in self._states:
            mid = state.mid * exp(volatility * gauss(0.0, 1.0))
            if mid >= 1.0:
                tick, decimals = _TICK, 2
            else:
                tick, decimals = _SUB_PENNY_TICK, 4
            if mid < 2.0 * tick:
                mid = 2.0 * tick
            state.mid = mid
            half_spread = max(tick, mid * (min_bps + bps_span * draw()) / 1e4) / 2.0
            bid_ticks = max(1, floor((mid - half_spread) / tick + 1e-9))
            ask_ticks = max(bid_ticks + 1, ceil((mid + half_spread) / tick - 1e-9))
            bid = round(bid_ticks * tick, decimals)
            ask = round(ask_ticks * tick, decimals)
            if state.crypto:
                bid_size = round(0.001 + (2.0 - 0.001) * draw(), _CRYPTO_SIZE_DECIMALS)
                ask_size = round(0.001 + (2.0 - 0.001) * draw(), _CRYPTO_SIZE_DECIMALS)
            else:
                bid_size = float(_randint(bits, 1, 10) * 100)
                ask_size = float(_randint(bits, 1, 10) * 100)
            quote = QuoteReceived(
                symbol=state.symbol,
                bid_price=bid,
                bid_size=bid_size,
                ask_price=ask,
                ask_size=ask_size,
                ts_event=now_ns,
                ts_init=now_ns,
            )
            state.last_quote = quote
            out.append(quote)
            if draw() < trade_probability:
                at_ask = draw() < 0.5  # a buyer lifting the ask, or a seller hitting the bid
                shown = ask_size if at_ask else bid_size
                if state.crypto:
                    size = max(round(shown * draw(), _CRYPTO_SIZE_DECIMALS), 10.0**-_CRYPTO_SIZE_DECIMALS)
                else:
                    size = float(_randint(bits, 1, int(shown)))
                state.trade_id += 1
                out.append(
                    TradeReceived(
                        symbol=state.symbol,
                        price=ask if at_ask else bid,
                        size=size,
                        trade_id=state.trade_id,
                        ts_event=now_ns,
                        ts_init=now_ns,
                    )
                )
        return out

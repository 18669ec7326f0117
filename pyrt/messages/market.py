"""Market data: ``market.trade``, ``market.quote``, ``market.bar``, ``market.book``."""

from __future__ import annotations

import math
from typing import ClassVar, Final, final

import attrs

from .._validators import (
    finite_non_negative,
    finite_positive,
    is_symbol,
    non_empty,
    non_negative_int,
    optional_finite_positive,
)

__all__ = [
    "MARKING_TYPES",
    "BarReceived",
    "BookLevel",
    "BookReceived",
    "MarkingMessage",
    "QuoteReceived",
    "TradeReceived",
    "mark_price",
]

# The ingest hot path (#3) builds trades and quotes through ``checked`` constructors: the same
# checks as the attrs validators, written inline, then the slots set directly. A property test
# (tests/property/test_messages_props.py) holds both paths to the same accept/reject decisions.
_INF: Final = math.inf
_new = object.__new__
_set = object.__setattr__
_KNOWN_SYMBOLS: set[str] = set()
_MAX_KNOWN_SYMBOLS: Final = 100_000


def _check_symbol(symbol: str) -> None:
    if symbol in _KNOWN_SYMBOLS:
        return
    is_symbol(None, attrs.fields(TradeReceived).symbol, symbol)
    if len(_KNOWN_SYMBOLS) < _MAX_KNOWN_SYMBOLS:
        _KNOWN_SYMBOLS.add(symbol)


@final
@attrs.frozen(kw_only=True)
class TradeReceived:
    """A trade printed at the venue."""

    TOPIC: ClassVar[str] = "market.trade"
    symbol: str = attrs.field(validator=is_symbol)
    price: float = attrs.field(validator=finite_positive)
    size: float = attrs.field(validator=finite_positive)
    trade_id: int = 0
    ts_event: int
    ts_init: int

    @classmethod
    def checked(
        cls, symbol: str, price: float, size: float, trade_id: int, ts_event: int, ts_init: int
    ) -> TradeReceived:
        """Build a trade with the validators' checks done inline (the ingest fast path).

        Raises:
            ValueError: exactly when the ordinary constructor would.
        """
        if symbol.__class__ is not str:
            raise TypeError(f"symbol must be a str, was {symbol!r}")
        _check_symbol(symbol)
        if not (0.0 < price < _INF):
            raise ValueError(f"price must be a finite number > 0, was {price!r}")
        if not (0.0 < size < _INF):
            raise ValueError(f"size must be a finite number > 0, was {size!r}")
        self = _new(cls)
        _set(self, "symbol", symbol)
        _set(self, "price", price)
        _set(self, "size", size)
        _set(self, "trade_id", trade_id)
        _set(self, "ts_event", ts_event)
        _set(self, "ts_init", ts_init)
        return self


@final
@attrs.frozen(kw_only=True)
class QuoteReceived:
    """Top of book: best bid and ask, as the venue sent it (``specs/marketdata.md`` M9).

    A price of 0 is an empty side (IEX sends ``bp: 0`` for a one-sided quote) and a crossed
    quote (bid > ask) is legal: both are real observations and are kept. Anything that prices
    off a quote (marks, mids, collars) must use :attr:`mid`, which is ``None`` unless the quote
    is :attr:`usable`: two-sided and not crossed. Sizes may be 0.
    """

    TOPIC: ClassVar[str] = "market.quote"
    symbol: str = attrs.field(validator=is_symbol)
    bid_price: float = attrs.field(validator=finite_non_negative)
    bid_size: float = attrs.field(validator=finite_non_negative)
    ask_price: float = attrs.field(validator=finite_non_negative)
    ask_size: float = attrs.field(validator=finite_non_negative)
    ts_event: int
    ts_init: int

    @classmethod
    def checked(
        cls,
        symbol: str,
        bid_price: float,
        bid_size: float,
        ask_price: float,
        ask_size: float,
        ts_event: int,
        ts_init: int,
    ) -> QuoteReceived:
        """Build a quote with the validators' checks done inline (the ingest fast path).

        Raises:
            ValueError: exactly when the ordinary constructor would.
        """
        if symbol.__class__ is not str:
            raise TypeError(f"symbol must be a str, was {symbol!r}")
        _check_symbol(symbol)
        if not (0.0 <= bid_price < _INF):
            raise ValueError(f"bid_price must be a finite number >= 0, was {bid_price!r}")
        if not (0.0 <= bid_size < _INF):
            raise ValueError(f"bid_size must be a finite number >= 0, was {bid_size!r}")
        if not (0.0 <= ask_price < _INF):
            raise ValueError(f"ask_price must be a finite number >= 0, was {ask_price!r}")
        if not (0.0 <= ask_size < _INF):
            raise ValueError(f"ask_size must be a finite number >= 0, was {ask_size!r}")
        self = _new(cls)
        _set(self, "symbol", symbol)
        _set(self, "bid_price", bid_price)
        _set(self, "bid_size", bid_size)
        _set(self, "ask_price", ask_price)
        _set(self, "ask_size", ask_size)
        _set(self, "ts_event", ts_event)
        _set(self, "ts_init", ts_init)
        return self

    @property
    def two_sided(self) -> bool:
        """Whether both sides have a price (> 0)."""
        return self.bid_price > 0.0 and self.ask_price > 0.0

    @property
    def crossed(self) -> bool:
        """Whether the quote is two-sided with bid > ask (a locked quote, bid == ask, is not)."""
        return 0.0 < self.ask_price < self.bid_price

    @property
    def usable(self) -> bool:
        """Whether the quote can price anything: two-sided and not crossed (``0 < bid <= ask``)."""
        return 0.0 < self.bid_price <= self.ask_price

    @property
    def mid(self) -> float | None:
        """``(bid + ask) / 2`` of a :attr:`usable` quote; ``None`` for a one-sided or crossed one."""
        bid = self.bid_price
        ask = self.ask_price
        if 0.0 < bid <= ask:
            return (bid + ask) / 2.0
        return None


@final
@attrs.frozen(kw_only=True)
class BarReceived:
    """An OHLCV bar; ``ts_event`` is the bar's start, ``timeframe`` e.g. ``"1m"``, ``"1d"``."""

    TOPIC: ClassVar[str] = "market.bar"
    symbol: str = attrs.field(validator=is_symbol)
    timeframe: str = attrs.field(validator=non_empty)
    open: float = attrs.field(validator=finite_positive)
    high: float = attrs.field(validator=finite_positive)
    low: float = attrs.field(validator=finite_positive)
    close: float = attrs.field(validator=finite_positive)
    volume: float = attrs.field(validator=finite_non_negative)
    vwap: float | None = attrs.field(default=None, validator=optional_finite_positive)
    trade_count: int = attrs.field(default=0, validator=non_negative_int)
    ts_event: int
    ts_init: int

    def __attrs_post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(
                "bar must satisfy low <= open, close <= high, was "
                f"o={self.open} h={self.high} l={self.low} c={self.close}"
            )


@final
@attrs.frozen(kw_only=True)
class BookLevel:
    """One price level; ``size == 0`` in a delta removes the level."""

    price: float = attrs.field(validator=finite_positive)
    size: float = attrs.field(validator=finite_non_negative)


@final
@attrs.frozen(kw_only=True)
class BookReceived:
    """An L2 order-book frame: a full snapshot (``reset``) or a delta of the listed levels."""

    TOPIC: ClassVar[str] = "market.book"
    symbol: str = attrs.field(validator=is_symbol)
    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()
    reset: bool = False
    ts_event: int
    ts_init: int


#: The market messages that can mark a symbol.
MarkingMessage = TradeReceived | QuoteReceived | BarReceived
MARKING_TYPES: Final = (TradeReceived, QuoteReceived, BarReceived)


def mark_price(message: MarkingMessage) -> float | None:
    """The price ``message`` marks its symbol at: a trade's price, a bar's close, a usable quote's
    mid; ``None`` for anything else (a crossed or one-sided quote included).

    The one rule every component that keeps a last price follows (risk's marks, a strategy's
    :meth:`~pyrt.strategy.Strategy.last_price`, execution's slippage mid).
    """
    if isinstance(message, TradeReceived):
        return message.price
    if isinstance(message, QuoteReceived):
        return message.mid
    return message.close

"""Market data: ``market.trade``, ``market.quote``, ``market.bar``, ``market.book``."""

from __future__ import annotations

from typing import ClassVar, final

import attrs

from ._validators import (
    finite_non_negative,
    finite_positive,
    is_symbol,
    non_empty,
    non_negative_int,
    optional_finite_positive,
)

__all__ = ["BarReceived", "BookLevel", "BookReceived", "QuoteReceived", "TradeReceived"]


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


@final
@attrs.frozen(kw_only=True)
class QuoteReceived:
    """Top of book: best bid and ask. Sizes may be 0 (an empty side still has a price)."""

    TOPIC: ClassVar[str] = "market.quote"
    symbol: str = attrs.field(validator=is_symbol)
    bid_price: float = attrs.field(validator=finite_positive)
    bid_size: float = attrs.field(validator=finite_non_negative)
    ask_price: float = attrs.field(validator=finite_positive)
    ask_size: float = attrs.field(validator=finite_non_negative)
    ts_event: int
    ts_init: int

    def __attrs_post_init__(self) -> None:
        if self.ask_price < self.bid_price:
            raise ValueError(f"ask_price must be >= bid_price, was ask={self.ask_price} bid={self.bid_price}")

    @property
    def mid(self) -> float:
        return (self.bid_price + self.ask_price) / 2.0


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

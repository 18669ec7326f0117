"""Order-book imbalance: lean with the side of the book that holds more size."""

from __future__ import annotations

import math
from typing import final

import attrs

from ..indicators import EMA
from ..marketdata.book import BookMode
from ..messages import BookReceived, QuoteReceived
from ..runtime.clock import NS_PER_SECOND
from ._params import StrategyParams, param
from .base import Strategy

__all__ = ["BookImbalance", "BookImbalanceParams"]


@final
@attrs.frozen(kw_only=True)
class BookImbalanceParams(StrategyParams):
    """Parameters of :class:`BookImbalance`; defaults trade within seconds on the embedded venue."""

    levels: int = param(5, ge=1)
    """Book levels per side summed into the imbalance (an L1 book from quotes has one)."""
    smoothing: int = param(3, ge=1)
    """EMA period, in book updates, applied to the imbalance (1: none)."""
    threshold: float = param(0.25, gt=0, le=1)
    """Go long above ``+threshold``, leave (or go short) below ``-threshold``."""
    quantity: float = param(10.0, gt=0)
    """Shares (or coins) per position."""
    min_interval_secs: float = param(1.0, ge=0)
    """Least time between two signals for one symbol, on the run's clock."""
    allow_short: bool = False
    """Go short on a heavy ask side; by default the strategy is long or flat."""


@final
class BookImbalance(Strategy):
    """Trade the imbalance ``(bid size - ask size) / (bid size + ask size)`` of the top of the book.

    After every book update of a symbol (a quote for an L1 book: stocks on Alpaca; a book frame
    for an L2 book: crypto), the imbalance over ``levels`` levels from
    :meth:`pyrt.marketdata.book.OrderBook.imbalance` is smoothed by an EMA of ``smoothing`` updates; then:

    - smoothed imbalance ``> threshold``: hold ``+quantity``.
    - smoothed imbalance ``< -threshold``: hold ``-quantity`` if ``allow_short``, else nothing.
    - in between: keep what is held.

    At most one signal per symbol every ``min_interval_secs``. A crossed book (imbalance
    ``None``) is skipped. Defaults (the first signal comes within about a second on the
    embedded venue): ``levels=5 smoothing=3 threshold=0.25 quantity=10 min_interval_secs=1
    allow_short=false``.
    """

    NAME = "book_imbalance"
    Params = BookImbalanceParams
    params: BookImbalanceParams

    def __init__(self, params: BookImbalanceParams | None = None) -> None:
        super().__init__(params)
        self._last_signal_ns: dict[str, int] = {}

    def on_quote(self, quote: QuoteReceived) -> None:
        book = self.book(quote.symbol)
        if book is not None and book.mode is BookMode.L1:  # an L2 book ignores quotes: no new information
            self._decide(quote.symbol)

    def on_book(self, book: BookReceived) -> None:
        self._decide(book.symbol)

    def _decide(self, symbol: str) -> None:
        book = self.book(symbol)
        if book is None:
            return
        p = self.params
        imbalance = book.imbalance(p.levels)
        if imbalance is None:
            return
        smoothed = self.indicator(symbol, "imbalance", EMA, p.smoothing).update(imbalance)
        if math.isnan(smoothed):
            return
        if smoothed > p.threshold:
            target = p.quantity
        elif smoothed < -p.threshold:
            target = -p.quantity if p.allow_short else 0.0
        else:
            return
        last = self._last_signal_ns.get(symbol)
        if last is not None and self.now_ns - last < p.min_interval_secs * NS_PER_SECOND:
            return
        if self.target_position(symbol, target, reference_price=book.mid) is not None:
            self._last_signal_ns[symbol] = self.now_ns

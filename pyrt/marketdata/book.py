"""Order books: L2 depth from ``market.book`` frames, or L1 from ``market.quote``.

Policies (documented promises, tested in ``tests/unit/test_book.py`` and
``tests/property/test_book_props.py``):

- **Snapshots and deltas.** A :class:`~pyrt.messages.BookReceived` with ``reset=True`` replaces the
  whole book (levels of size 0 in it are skipped). Otherwise it is a delta: size 0 removes the
  level, any other size sets the level's size (insert or replace). Levels are applied in message
  order, so a price listed twice ends at its last size. A removal of a price the book does not
  hold changes nothing and is counted in ``statistics().unknown_removals``.
- **Gaps.** A delta is only meaningful on top of a snapshot. A delta that arrives before the
  first L2 snapshot (or after :meth:`OrderBook.clear`, which a feed calls on reconnect) is
  dropped, counted in ``statistics().gaps`` and reported as :attr:`BookUpdateResult.GAP`; the
  book stays unsynced (empty) until the next snapshot. Applying the delta would present a partial
  book as a whole one.
- **Crossed or locked books.** If an update leaves best bid >= best ask, the update is *kept*
  (the venue's data is the record, and the next delta usually uncrosses it), the book is flagged
  (:attr:`OrderBook.is_crossed`), the update is counted in ``statistics().crossed`` and reported
  as :attr:`BookUpdateResult.CROSSED`. While the flag is up, every *derived* query
  (:attr:`~OrderBook.best_bid`, :attr:`~OrderBook.best_ask`, :attr:`~OrderBook.mid`,
  :attr:`~OrderBook.spread`, :attr:`~OrderBook.spread_bps`, :meth:`~OrderBook.imbalance`,
  :meth:`~OrderBook.vwap_to_fill`) returns ``None``, so nothing prices off a bad book.
  :meth:`~OrderBook.depth` and :meth:`~OrderBook.levels` still show the stored levels, for
  inspection. The flag drops by itself with the first update that leaves the book uncrossed.
- **L1 and L2.** A book has a :class:`BookMode`: ``NONE`` until its first message, then ``L1``
  (fed by quotes) or ``L2`` (fed by book frames). An L1 book holds at most one level per side:
  each quote *replaces* both sides with its bid and ask (a side of size 0 or price 0 is empty;
  a crossed quote is kept and flags the book, as above). An L2
  snapshot always takes over, switching an L1 book to L2. A quote on an L2 book is ignored and
  counted in ``statistics().ignored_quotes`` (:attr:`BookUpdateResult.IGNORED`): depth from the
  book feed is the fuller truth, and a quote would erase it. A delta on an L1 book is a gap.
- **Empty sides.** ``best_*`` is ``None`` for an empty side; ``mid``, ``spread`` and
  ``spread_bps`` are ``None`` unless both sides have a level. :meth:`~OrderBook.imbalance` is
  ``0.0`` when both sides are empty, and ±1 when one is.

Each side is a ``dict`` price → size plus a sorted ``list`` of its prices (issue #4). A size change
at an existing level, the common case, touches the dict only; inserts and removals use ``bisect``,
whose memmove over a few hundred prices costs less than a balanced tree's pointer chasing in
Python. Measured with ``tools/bench/bench_book.py``.
"""

from __future__ import annotations

import enum
import logging
import math
from bisect import bisect_left, insort
from typing import TYPE_CHECKING, final

import attrs

from ..messages import BookReceived, QuoteReceived, Side

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ..messages import BookLevel

__all__ = [
    "BookManager",
    "BookManagerStatistics",
    "BookMode",
    "BookStatistics",
    "BookUpdateResult",
    "OrderBook",
]

logger = logging.getLogger(__name__)


class BookUpdateResult(enum.Enum):
    """What an update did to the book."""

    APPLIED = "applied"
    """Applied; the book is valid (not crossed)."""
    CROSSED = "crossed"
    """Applied, but the book is now crossed or locked (best bid >= best ask)."""
    GAP = "gap"
    """A delta without a prior L2 snapshot: dropped."""
    IGNORED = "ignored"
    """A quote on an L2 book: dropped."""


class BookMode(enum.Enum):
    """Which feed a book follows."""

    NONE = "none"
    """No message yet, or cleared."""
    L1 = "l1"
    """Top of book from quotes: at most one level per side."""
    L2 = "l2"
    """Depth from book snapshots and deltas."""


@final
@attrs.frozen(kw_only=True)
class BookStatistics:
    """Counters of an :class:`OrderBook` (or of all books, summed)."""

    snapshots: int
    """L2 snapshots applied."""
    deltas: int
    """L2 deltas applied (gaps excluded)."""
    quotes: int
    """Quotes applied to an L1 book (ignored ones excluded)."""
    crossed: int
    """Updates that left the book crossed or locked (kept, flagged)."""
    gaps: int
    """Deltas dropped because no L2 snapshot preceded them."""
    ignored_quotes: int
    """Quotes dropped because the book follows L2 frames."""
    unknown_removals: int
    """Removals (size 0 in a delta) of a price the book did not hold."""


@final
@attrs.frozen(kw_only=True)
class BookManagerStatistics:
    """Counters of a :class:`BookManager`."""

    books: int
    """Symbols with a book."""
    crossed_books: int
    """Books crossed or locked right now."""
    totals: BookStatistics
    """Every book's counters, summed."""


_APPLIED = BookUpdateResult.APPLIED
_CROSSED = BookUpdateResult.CROSSED
_L2 = BookMode.L2


@final
class OrderBook:
    """One symbol's order book; see the module docstring for the policies.

    Args:
        symbol: the instrument, e.g. ``"BTC/USD"``.
    """

    __slots__ = (
        "_ask_prices",
        "_asks",
        "_bid_prices",
        "_bids",
        "_crossed",
        "_deltas",
        "_gaps",
        "_ignored_quotes",
        "_is_crossed",
        "_mode",
        "_quotes",
        "_reported_gap",
        "_snapshots",
        "_unknown_removals",
        "symbol",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_prices: list[float] = []  # ascending: best bid last
        self._ask_prices: list[float] = []  # ascending: best ask first
        self._mode = BookMode.NONE
        self._is_crossed = False
        self._reported_gap = False
        self._snapshots = 0
        self._deltas = 0
        self._quotes = 0
        self._crossed = 0
        self._gaps = 0
        self._ignored_quotes = 0
        self._unknown_removals = 0

    def __repr__(self) -> str:
        return (
            f"OrderBook(symbol={self.symbol!r}, mode={self._mode.name}, bids={len(self._bids)}, "
            f"asks={len(self._asks)}, crossed={self._is_crossed})"
        )

    # -- updates -------------------------------------------------------------------------------

    def apply(self, book: BookReceived) -> BookUpdateResult:
        """Apply an L2 snapshot or delta.

        Args:
            book: a frame for this book's symbol (the symbol is not checked here; see
                :class:`BookManager`).

        Returns:
            ``APPLIED``, ``CROSSED`` (applied, flagged) or ``GAP`` (a delta with no snapshot
            before it: dropped).
        """
        if book.reset:
            self._load(book)
        elif self._mode is _L2:
            self._deltas += 1
            if book.bids:
                self._update(book.bids, self._bids, self._bid_prices)
            if book.asks:
                self._update(book.asks, self._asks, self._ask_prices)
        else:
            self._gaps += 1
            if not self._reported_gap:  # once per unsynced stretch: a feed without snapshots would flood
                self._reported_gap = True
                logger.warning(
                    "book delta for %s before any snapshot dropped (gaps=%d)", self.symbol, self._gaps
                )
            return BookUpdateResult.GAP
        bid_prices = self._bid_prices
        ask_prices = self._ask_prices
        if bid_prices and ask_prices and bid_prices[-1] >= ask_prices[0]:
            return self._flag_crossed()
        self._is_crossed = False
        return _APPLIED

    def apply_quote(self, quote: QuoteReceived) -> BookUpdateResult:
        """Apply a top-of-book quote (L1).

        Args:
            quote: a quote for this book's symbol.

        Returns:
            ``APPLIED``, ``CROSSED`` (a crossed or locked quote: applied, flagged) or ``IGNORED``
            (the book follows L2 frames).
        """
        if self._mode is _L2:
            self._ignored_quotes += 1
            return BookUpdateResult.IGNORED
        self._mode = BookMode.L1
        self._quotes += 1
        self._bids.clear()
        self._asks.clear()
        self._bid_prices.clear()
        self._ask_prices.clear()
        if quote.bid_size > 0 and quote.bid_price > 0:  # a price of 0 is an empty side (IEX)
            self._bids[quote.bid_price] = quote.bid_size
            self._bid_prices.append(quote.bid_price)
        if quote.ask_size > 0 and quote.ask_price > 0:
            self._asks[quote.ask_price] = quote.ask_size
            self._ask_prices.append(quote.ask_price)
        # a crossed (bid > ask) or locked quote is kept and flags the book
        if self._bids and self._asks and quote.bid_price >= quote.ask_price:
            return self._flag_crossed()
        self._is_crossed = False
        return _APPLIED

    def clear(self) -> None:
        """Empty the book and forget its mode, so deltas are gaps until the next snapshot.

        Call it when the feed reconnects: deltas from before the break no longer describe the book.
        Counters are kept.
        """
        self._bids.clear()
        self._asks.clear()
        self._bid_prices.clear()
        self._ask_prices.clear()
        self._mode = BookMode.NONE
        self._is_crossed = False
        self._reported_gap = False

    def _load(self, book: BookReceived) -> None:
        self._mode = _L2
        self._reported_gap = False
        self._snapshots += 1
        bids = {level.price: level.size for level in book.bids}
        asks = {level.price: level.size for level in book.asks}
        if 0.0 in bids.values():
            bids = {price: size for price, size in bids.items() if size}
        if 0.0 in asks.values():
            asks = {price: size for price, size in asks.items() if size}
        self._bids = bids
        self._asks = asks
        self._bid_prices = sorted(bids)
        self._ask_prices = sorted(asks)

    def _update(self, levels: tuple[BookLevel, ...], side: dict[float, float], prices: list[float]) -> None:
        for level in levels:
            price = level.price
            size = level.size
            if size:
                if price not in side:
                    insort(prices, price)
                side[price] = size
            elif side.pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
            else:
                self._unknown_removals += 1

    def _flag_crossed(self) -> BookUpdateResult:
        self._crossed += 1
        if not self._is_crossed:
            self._is_crossed = True
            logger.warning(
                "book %s crossed: bid %s >= ask %s (crossed=%d)",
                self.symbol,
                self._bid_prices[-1],
                self._ask_prices[0],
                self._crossed,
            )
        return _CROSSED

    # -- queries -------------------------------------------------------------------------------

    @property
    def mode(self) -> BookMode:
        """Which feed the book follows: ``NONE``, ``L1`` or ``L2``."""
        return self._mode

    @property
    def is_crossed(self) -> bool:
        """Whether the last update left best bid >= best ask (derived queries return ``None``)."""
        return self._is_crossed

    @property
    def best_bid(self) -> tuple[float, float] | None:
        """The best bid as ``(price, size)``; ``None`` if the side is empty or the book is crossed."""
        prices = self._bid_prices
        if not prices or self._is_crossed:
            return None
        price = prices[-1]
        return price, self._bids[price]

    @property
    def best_ask(self) -> tuple[float, float] | None:
        """The best ask as ``(price, size)``; ``None`` if the side is empty or the book is crossed."""
        prices = self._ask_prices
        if not prices or self._is_crossed:
            return None
        price = prices[0]
        return price, self._asks[price]

    @property
    def mid(self) -> float | None:
        """``(best bid + best ask) / 2``; ``None`` unless both sides have a level and the book is valid."""
        if not self._bid_prices or not self._ask_prices or self._is_crossed:
            return None
        return (self._bid_prices[-1] + self._ask_prices[0]) / 2.0

    @property
    def spread(self) -> float | None:
        """``best ask - best bid`` (> 0); ``None`` unless both sides have a level and the book is valid."""
        if not self._bid_prices or not self._ask_prices or self._is_crossed:
            return None
        return self._ask_prices[0] - self._bid_prices[-1]

    @property
    def spread_bps(self) -> float | None:
        """The spread in basis points of the mid; ``None`` when :attr:`spread` is."""
        if not self._bid_prices or not self._ask_prices or self._is_crossed:
            return None
        bid = self._bid_prices[-1]
        ask = self._ask_prices[0]
        return (ask - bid) / ((bid + ask) / 2.0) * 10_000.0

    def depth(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Return the top ``n`` levels per side as ``(price, size)``, best first.

        Shows the stored levels even while the book is crossed.

        Args:
            n: levels per side (fewer if the side is shorter).

        Returns:
            ``(bids, asks)``: bids by descending price, asks by ascending price.

        Raises:
            ValueError: ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, was {n}")
        bids = self._bids
        asks = self._asks
        bid_prices = self._bid_prices
        top_bids = bid_prices[: -n - 1 : -1] if n else []
        return (
            [(price, bids[price]) for price in top_bids],
            [(price, asks[price]) for price in self._ask_prices[:n]],
        )

    def imbalance(self, n: int) -> float | None:
        """Return ``(bid volume - ask volume) / (bid volume + ask volume)`` over the top ``n`` levels.

        Args:
            n: levels per side, >= 1.

        Returns:
            A value in [-1, 1]: ``0.0`` when both sides are empty, ``1.0`` with only bids, ``-1.0``
            with only asks; ``None`` while the book is crossed.

        Raises:
            ValueError: ``n`` is below 1.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, was {n}")
        if self._is_crossed:
            return None
        bids = self._bids
        asks = self._asks
        bid_volume = math.fsum(bids[price] for price in self._bid_prices[: -n - 1 : -1])
        ask_volume = math.fsum(asks[price] for price in self._ask_prices[:n])
        total = bid_volume + ask_volume
        if total == 0.0:
            return 0.0
        # clamp: rounding in the division must not step outside the documented range
        return max(-1.0, min(1.0, (bid_volume - ask_volume) / total))

    def vwap_to_fill(self, side: Side, size: float) -> float | None:
        """Return the average price a market order of ``size`` would pay, walking the book.

        Args:
            side: the order's side: ``BUY`` walks the asks up, ``SELL`` walks the bids down.
            size: quantity to fill, > 0.

        Returns:
            The size-weighted average price, between the best and the last level used (clamped
            there against rounding); ``None`` if the side does not hold ``size`` in total or the
            book is crossed.

        Raises:
            ValueError: ``size`` is not a finite number > 0.
        """
        if not (size > 0.0 and math.isfinite(size)):
            raise ValueError(f"size must be finite and > 0, was {size}")
        if self._is_crossed:
            return None
        if side is Side.BUY:
            levels = self._asks
            ordered: Sequence[float] = self._ask_prices
        else:
            levels = self._bids
            ordered = self._bid_prices[::-1]
        remaining = size
        notional = 0.0
        for last in ordered:
            available = levels[last]
            if available >= remaining:
                notional += last * remaining
                break
            notional += last * available
            remaining -= available
        else:
            return None  # also for an empty side
        # clamp: rounding in the sum must not put the average outside the levels it used
        low, high = sorted((ordered[0], last))
        return min(high, max(low, notional / size))

    def levels(self) -> tuple[int, int]:
        """Return the number of ``(bid, ask)`` levels held."""
        return len(self._bid_prices), len(self._ask_prices)

    def statistics(self) -> BookStatistics:
        """Return the book's counters."""
        return BookStatistics(
            snapshots=self._snapshots,
            deltas=self._deltas,
            quotes=self._quotes,
            crossed=self._crossed,
            gaps=self._gaps,
            ignored_quotes=self._ignored_quotes,
            unknown_removals=self._unknown_removals,
        )


@final
class BookManager:
    """Order books by symbol, fed by book frames and quotes.

    A book is created on the first message for its symbol.
    """

    __slots__ = ("_books",)

    def __init__(self) -> None:
        self._books: dict[str, OrderBook] = {}

    def apply(self, msg: BookReceived | QuoteReceived) -> BookUpdateResult:
        """Apply a book frame or a quote to its symbol's book.

        Args:
            msg: a :class:`~pyrt.messages.BookReceived` or :class:`~pyrt.messages.QuoteReceived`.

        Returns:
            What :meth:`OrderBook.apply` or :meth:`OrderBook.apply_quote` returned.

        Raises:
            TypeError: ``msg`` is neither.
        """
        if type(msg) is BookReceived:
            book = self._books.get(msg.symbol)
            if book is None:
                book = self._books[msg.symbol] = OrderBook(msg.symbol)
            return book.apply(msg)
        if type(msg) is QuoteReceived:
            book = self._books.get(msg.symbol)
            if book is None:
                book = self._books[msg.symbol] = OrderBook(msg.symbol)
            return book.apply_quote(msg)
        raise TypeError(f"expected BookReceived or QuoteReceived, was {type(msg).__name__}")

    def get(self, symbol: str) -> OrderBook | None:
        """Return ``symbol``'s book, or ``None`` if nothing arrived for it yet."""
        return self._books.get(symbol)

    def __getitem__(self, symbol: str) -> OrderBook:
        return self._books[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._books

    def __len__(self) -> int:
        return len(self._books)

    def __iter__(self) -> Iterator[str]:
        return iter(self._books)

    def clear(self, symbol: str | None = None) -> None:
        """Clear one book, or every book (see :meth:`OrderBook.clear`); books and counters stay.

        Args:
            symbol: the book to clear; ``None`` clears all. An unknown symbol is a no-op.
        """
        if symbol is None:
            for book in self._books.values():
                book.clear()
        elif (one := self._books.get(symbol)) is not None:
            one.clear()

    def statistics(self) -> BookManagerStatistics:
        """Return the number of books, how many are crossed, and every book's counters summed."""
        each = [book.statistics() for book in self._books.values()]
        return BookManagerStatistics(
            books=len(self._books),
            crossed_books=sum(book.is_crossed for book in self._books.values()),
            totals=BookStatistics(
                snapshots=sum(s.snapshots for s in each),
                deltas=sum(s.deltas for s in each),
                quotes=sum(s.quotes for s in each),
                crossed=sum(s.crossed for s in each),
                gaps=sum(s.gaps for s in each),
                ignored_quotes=sum(s.ignored_quotes for s in each),
                unknown_removals=sum(s.unknown_removals for s in each),
            ),
        )

from __future__ import annotations

from collections.abc import Sequence

import pytest

import pyrt.marketdata.book
from pyrt.marketdata.book import BookManager, BookMode, BookStatistics, BookUpdateResult, OrderBook
from pyrt.messages import BookLevel, BookReceived, QuoteReceived, Side, TradeReceived

APPLIED = BookUpdateResult.APPLIED
CROSSED = BookUpdateResult.CROSSED
GAP = BookUpdateResult.GAP
IGNORED = BookUpdateResult.IGNORED

Levels = Sequence[tuple[float, float]]


def frame(
    bids: Levels = (), asks: Levels = (), *, reset: bool = False, symbol: str = "BTC/USD"
) -> BookReceived:
    return BookReceived(
        symbol=symbol,
        bids=tuple(BookLevel(price=p, size=s) for p, s in bids),
        asks=tuple(BookLevel(price=p, size=s) for p, s in asks),
        reset=reset,
        ts_event=1,
        ts_init=2,
    )


def snapshot(bids: Levels = (), asks: Levels = (), *, symbol: str = "BTC/USD") -> BookReceived:
    return frame(bids, asks, reset=True, symbol=symbol)


def quote(
    bid: float, ask: float, bid_size: float = 1.0, ask_size: float = 1.0, *, symbol: str = "BTC/USD"
) -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol,
        bid_price=bid,
        bid_size=bid_size,
        ask_price=ask,
        ask_size=ask_size,
        ts_event=1,
        ts_init=2,
    )


def synced_book() -> OrderBook:
    book = OrderBook("BTC/USD")
    book.apply(snapshot([(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)], [(101.0, 1.5), (102.0, 2.5), (103.0, 4.0)]))
    return book


def stats(**changes: int) -> BookStatistics:
    base = dict.fromkeys(
        ("snapshots", "deltas", "quotes", "crossed", "gaps", "ignored_quotes", "unknown_removals"), 0
    )
    return BookStatistics(**(base | changes))


# -- snapshots and deltas -----------------------------------------------------------------------


def test_snapshot_replaces_every_level_of_the_previous_book() -> None:
    book = synced_book()

    result = book.apply(snapshot([(50.0, 7.0)], [(60.0, 8.0), (61.0, 9.0)]))

    assert result is APPLIED
    assert book.depth(10) == ([(50.0, 7.0)], [(60.0, 8.0), (61.0, 9.0)])
    assert book.mode is BookMode.L2
    assert book.statistics() == stats(snapshots=2)


def test_snapshot_skips_levels_of_size_zero() -> None:
    book = OrderBook("BTC/USD")

    book.apply(snapshot([(99.0, 0.0), (98.0, 2.0)], [(101.0, 0.0)]))

    assert book.depth(10) == ([(98.0, 2.0)], [])
    assert book.levels() == (1, 0)


def test_empty_snapshot_syncs_an_empty_book_so_deltas_apply() -> None:
    book = OrderBook("BTC/USD")
    book.apply(snapshot())

    result = book.apply(frame([(99.0, 1.0)]))

    assert result is APPLIED
    assert book.best_bid == (99.0, 1.0)
    assert book.statistics() == stats(snapshots=1, deltas=1)


def test_delta_inserts_replaces_and_removes_levels() -> None:
    book = synced_book()

    result = book.apply(frame([(99.5, 0.5), (98.0, 9.0), (97.0, 0.0)], [(101.0, 0.0), (104.0, 1.0)]))

    assert result is APPLIED
    assert book.depth(10) == (
        [(99.5, 0.5), (99.0, 1.0), (98.0, 9.0)],
        [(102.0, 2.5), (103.0, 4.0), (104.0, 1.0)],
    )
    assert book.statistics() == stats(snapshots=1, deltas=1)


def test_delta_listing_a_price_twice_ends_at_its_last_size() -> None:
    book = synced_book()

    book.apply(frame([(98.0, 5.0), (98.0, 0.0), (96.0, 1.0), (96.0, 6.0)]))

    assert book.depth(10)[0] == [(99.0, 1.0), (97.0, 3.0), (96.0, 6.0)]


def test_removing_an_unknown_price_changes_nothing_and_is_counted() -> None:
    book = synced_book()
    before = book.depth(10)

    result = book.apply(frame([(42.0, 0.0)], [(142.0, 0.0)]))

    assert result is APPLIED
    assert book.depth(10) == before
    assert book.statistics().unknown_removals == 2


def test_removing_the_last_level_of_a_side_leaves_it_empty() -> None:
    book = OrderBook("BTC/USD")
    book.apply(snapshot([(99.0, 1.0)], [(101.0, 1.0)]))

    book.apply(frame([(99.0, 0.0)]))

    assert book.best_bid is None
    assert book.best_ask == (101.0, 1.0)
    assert book.levels() == (0, 1)


# -- gaps ---------------------------------------------------------------------------------------


def test_delta_before_any_snapshot_is_dropped_and_counted_as_a_gap() -> None:
    book = OrderBook("BTC/USD")

    results = [book.apply(frame([(99.0, 1.0)])), book.apply(frame(asks=[(101.0, 1.0)]))]

    assert results == [GAP, GAP]
    assert book.levels() == (0, 0)
    assert book.mode is BookMode.NONE
    assert book.statistics() == stats(gaps=2)


def test_snapshot_after_a_gap_syncs_the_book() -> None:
    book = OrderBook("BTC/USD")
    book.apply(frame([(99.0, 1.0)]))

    book.apply(snapshot([(98.0, 1.0)], [(101.0, 1.0)]))
    result = book.apply(frame([(99.0, 2.0)]))

    assert result is APPLIED
    assert book.best_bid == (99.0, 2.0)
    assert book.statistics() == stats(snapshots=1, deltas=1, gaps=1)


def test_clear_empties_the_book_and_makes_deltas_gaps_until_the_next_snapshot() -> None:
    book = synced_book()

    book.clear()
    result = book.apply(frame([(99.0, 2.0)]))

    assert result is GAP
    assert book.levels() == (0, 0)
    assert book.mode is BookMode.NONE
    assert book.statistics() == stats(snapshots=1, gaps=1)  # counters survive a clear


# -- crossed and locked books -------------------------------------------------------------------


@pytest.mark.parametrize(("bid", "label"), [(101.0, "locked"), (101.5, "crossed")])
def test_delta_that_crosses_or_locks_is_kept_flagged_and_counted(bid: float, label: str) -> None:
    book = synced_book()

    result = book.apply(frame([(bid, 1.0)]))

    assert result is CROSSED, label
    assert book.is_crossed
    assert book.statistics().crossed == 1
    assert book.depth(1) == ([(bid, 1.0)], [(101.0, 1.5)])  # kept, visible for inspection


def test_crossed_book_returns_none_from_every_derived_query() -> None:
    book = synced_book()

    book.apply(frame([(102.0, 1.0)]))

    assert (book.best_bid, book.best_ask, book.mid, book.spread, book.spread_bps) == (None,) * 5
    assert book.imbalance(3) is None
    assert book.vwap_to_fill(Side.BUY, 1.0) is None
    assert book.vwap_to_fill(Side.SELL, 1.0) is None
    assert book.levels() == (4, 3)


def test_crossed_flag_clears_with_the_first_uncrossing_update_and_counts_each_crossed_one() -> None:
    book = synced_book()

    results = [
        book.apply(frame([(102.0, 1.0)])),  # crosses
        book.apply(frame(asks=[(104.0, 1.0)])),  # still crossed
        book.apply(frame([(102.0, 0.0)])),  # uncrossed again
    ]

    assert results == [CROSSED, CROSSED, APPLIED]
    assert not book.is_crossed
    assert book.mid == 100.0
    assert book.statistics().crossed == 2


def test_crossed_snapshot_is_flagged_and_a_valid_snapshot_clears_it() -> None:
    book = OrderBook("BTC/USD")

    first = book.apply(snapshot([(101.0, 1.0)], [(100.0, 1.0)]))
    second = book.apply(snapshot([(99.0, 1.0)], [(100.0, 1.0)]))

    assert (first, second) == (CROSSED, APPLIED)
    assert not book.is_crossed
    assert book.statistics() == stats(snapshots=2, crossed=1)


def test_clear_drops_the_crossed_flag() -> None:
    book = synced_book()
    book.apply(frame([(102.0, 1.0)]))

    book.clear()

    assert not book.is_crossed


# -- L1 books from quotes -----------------------------------------------------------------------


def test_quote_sets_one_level_per_side_and_the_next_quote_replaces_it() -> None:
    book = OrderBook("AAPL")

    first = book.apply_quote(quote(99.0, 101.0, 3.0, 4.0))
    second = book.apply_quote(quote(99.5, 100.5, 1.0, 2.0))

    assert (first, second) == (APPLIED, APPLIED)
    assert book.mode is BookMode.L1
    assert book.depth(5) == ([(99.5, 1.0)], [(100.5, 2.0)])
    assert book.mid == 100.0
    assert book.statistics() == stats(quotes=2)


def test_quote_side_of_size_zero_is_an_empty_side() -> None:
    book = OrderBook("AAPL")

    book.apply_quote(quote(99.0, 101.0, 0.0, 4.0))

    assert book.best_bid is None
    assert book.best_ask == (101.0, 4.0)
    assert book.mid is None


def test_locked_quote_is_flagged_crossed() -> None:
    book = OrderBook("AAPL")

    result = book.apply_quote(quote(100.0, 100.0))

    assert result is CROSSED
    assert book.is_crossed
    assert book.mid is None
    assert book.statistics() == stats(quotes=1, crossed=1)


def test_quote_on_an_l2_book_is_ignored_and_counted() -> None:
    book = synced_book()
    before = book.depth(10)

    result = book.apply_quote(quote(99.5, 100.5))

    assert result is IGNORED
    assert book.depth(10) == before
    assert book.statistics() == stats(snapshots=1, ignored_quotes=1)


def test_snapshot_switches_an_l1_book_to_l2_and_a_delta_on_l1_is_a_gap() -> None:
    book = OrderBook("AAPL")
    book.apply_quote(quote(99.0, 101.0))

    gap = book.apply(frame([(99.5, 1.0)]))
    book.apply(snapshot([(98.0, 1.0)], [(102.0, 1.0)]))

    assert gap is GAP
    assert book.mode is BookMode.L2
    assert book.depth(5) == ([(98.0, 1.0)], [(102.0, 1.0)])


# -- queries ------------------------------------------------------------------------------------


def test_top_of_book_queries_on_a_valid_book() -> None:
    book = synced_book()

    assert book.best_bid == (99.0, 1.0)
    assert book.best_ask == (101.0, 1.5)
    assert book.mid == 100.0
    assert book.spread == 2.0
    assert book.spread_bps == pytest.approx(200.0)
    assert book.levels() == (3, 3)
    assert not book.is_crossed


@pytest.mark.parametrize(
    ("bids", "asks"), [([], []), ([(99.0, 1.0)], []), ([], [(101.0, 1.0)])], ids=["empty", "bids", "asks"]
)
def test_mid_and_spread_need_both_sides(bids: Levels, asks: Levels) -> None:
    book = OrderBook("BTC/USD")

    book.apply(snapshot(bids, asks))

    assert (book.mid, book.spread, book.spread_bps) == (None, None, None)
    assert book.best_bid == (bids[0] if bids else None)
    assert book.best_ask == (asks[0] if asks else None)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, ([], [])),
        (1, ([(99.0, 1.0)], [(101.0, 1.5)])),
        (2, ([(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.5), (102.0, 2.5)])),
        (10, ([(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)], [(101.0, 1.5), (102.0, 2.5), (103.0, 4.0)])),
    ],
)
def test_depth_returns_the_top_n_levels_best_first(n: int, expected: tuple[Levels, Levels]) -> None:
    assert synced_book().depth(n) == expected


def test_depth_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match=r"^n must be >= 0, was -1$"):
        synced_book().depth(-1)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1.0 - 1.5) / 2.5),
        (2, (3.0 - 4.0) / 7.0),
        (3, (6.0 - 8.0) / 14.0),
        (50, (6.0 - 8.0) / 14.0),
    ],
)
def test_imbalance_over_the_top_n_levels(n: int, expected: float) -> None:
    assert synced_book().imbalance(n) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("bids", "asks", "expected"),
    [([], [], 0.0), ([(99.0, 2.0)], [], 1.0), ([], [(101.0, 2.0)], -1.0)],
    ids=["empty", "only-bids", "only-asks"],
)
def test_imbalance_of_empty_and_one_sided_books(bids: Levels, asks: Levels, expected: float) -> None:
    book = OrderBook("BTC/USD")
    book.apply(snapshot(bids, asks))

    assert book.imbalance(5) == expected


def test_imbalance_rejects_n_below_one() -> None:
    with pytest.raises(ValueError, match=r"^n must be >= 1, was 0$"):
        synced_book().imbalance(0)


@pytest.mark.parametrize(
    ("side", "size", "expected"),
    [
        (Side.BUY, 1.0, 101.0),
        (Side.BUY, 1.5, 101.0),
        (Side.BUY, 2.5, (101.0 * 1.5 + 102.0 * 1.0) / 2.5),
        (Side.BUY, 8.0, (101.0 * 1.5 + 102.0 * 2.5 + 103.0 * 4.0) / 8.0),
        (Side.SELL, 0.5, 99.0),
        (Side.SELL, 2.0, (99.0 * 1.0 + 98.0 * 1.0) / 2.0),
        (Side.SELL, 6.0, (99.0 + 98.0 * 2.0 + 97.0 * 3.0) / 6.0),
    ],
)
def test_vwap_to_fill_walks_the_opposite_side(side: Side, size: float, expected: float) -> None:
    assert synced_book().vwap_to_fill(side, size) == pytest.approx(expected)


@pytest.mark.parametrize(("side", "size"), [(Side.BUY, 8.001), (Side.SELL, 6.5)])
def test_vwap_to_fill_without_enough_depth_is_none(side: Side, size: float) -> None:
    assert synced_book().vwap_to_fill(side, size) is None


def test_vwap_to_fill_on_an_empty_side_is_none() -> None:
    book = OrderBook("BTC/USD")
    book.apply(snapshot([(99.0, 1.0)], []))

    assert book.vwap_to_fill(Side.BUY, 0.1) is None
    assert book.vwap_to_fill(Side.SELL, 0.1) == 99.0


@pytest.mark.parametrize("size", [0.0, -1.0, float("nan"), float("inf")])
def test_vwap_to_fill_rejects_a_size_that_is_not_finite_and_positive(size: float) -> None:
    with pytest.raises(ValueError, match=r"^size must be finite and > 0, was "):
        synced_book().vwap_to_fill(Side.BUY, size)


def test_repr_names_symbol_mode_and_level_counts() -> None:
    assert repr(synced_book()) == "OrderBook(symbol='BTC/USD', mode=L2, bids=3, asks=3, crossed=False)"


# -- BookManager --------------------------------------------------------------------------------


def test_manager_creates_a_book_per_symbol_and_dispatches_by_type() -> None:
    books = BookManager()

    results = [
        books.apply(snapshot([(99.0, 1.0)], [(101.0, 1.0)], symbol="BTC/USD")),
        books.apply(quote(10.0, 10.5, symbol="AAPL")),
        books.apply(frame([(99.5, 2.0)], symbol="BTC/USD")),
    ]

    assert results == [APPLIED, APPLIED, APPLIED]
    assert sorted(books) == ["AAPL", "BTC/USD"]
    assert len(books) == 2
    assert "AAPL" in books
    assert "MSFT" not in books
    assert books.get("MSFT") is None
    assert books["BTC/USD"].best_bid == (99.5, 2.0)
    assert books.get("AAPL") is books["AAPL"]
    assert books["AAPL"].mode is BookMode.L1


def test_manager_statistics_sum_every_book_and_count_crossed_books() -> None:
    books = BookManager()
    books.apply(frame([(1.0, 1.0)], symbol="ETH/USD"))  # gap
    books.apply(snapshot([(99.0, 1.0)], [(101.0, 1.0)], symbol="BTC/USD"))
    books.apply(frame([(102.0, 1.0)], symbol="BTC/USD"))  # crosses
    books.apply(quote(10.0, 10.5, symbol="AAPL"))
    books.apply(quote(99.0, 100.0, symbol="BTC/USD"))  # ignored: L2 book

    result = books.statistics()

    assert result.books == 3
    assert result.crossed_books == 1
    assert result.totals == stats(snapshots=1, deltas=1, quotes=1, crossed=1, gaps=1, ignored_quotes=1)


def test_manager_clear_one_symbol_or_all() -> None:
    books = BookManager()
    books.apply(snapshot([(99.0, 1.0)], symbol="BTC/USD"))
    books.apply(snapshot([(9.0, 1.0)], symbol="ETH/USD"))

    books.clear("BTC/USD")
    books.clear("UNKNOWN")
    levels_after_one = (books["BTC/USD"].levels(), books["ETH/USD"].levels())
    books.clear()

    assert levels_after_one == ((0, 0), (1, 0))
    assert books["ETH/USD"].levels() == (0, 0)
    assert len(books) == 2


def test_manager_rejects_other_messages() -> None:
    books = BookManager()
    trade = TradeReceived(symbol="AAPL", price=1.0, size=1.0, ts_event=1, ts_init=1)

    with pytest.raises(TypeError, match=r"^expected BookReceived or QuoteReceived, was TradeReceived$"):
        books.apply(trade)  # type: ignore[arg-type]  # the wrong type is the point

    assert len(books) == 0


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {
        name
        for name, value in vars(pyrt.marketdata.book).items()
        if isinstance(value, type) and name[0] != "_"
    }
    imported = {"BookLevel", "BookReceived", "QuoteReceived", "Side"}

    assert pyrt.marketdata.book.__all__ == sorted(pyrt.marketdata.book.__all__)
    assert set(pyrt.marketdata.book.__all__) == public - imported


def test_M9_a_crossed_quote_is_kept_and_flags_the_book_so_nothing_prices_off_it() -> None:
    book = OrderBook("AAPL")

    assert book.apply_quote(quote(159.52, 158.65, symbol="AAPL")) is BookUpdateResult.CROSSED
    assert book.is_crossed
    assert book.depth(1) == ([(159.52, 1.0)], [(158.65, 1.0)])
    assert (book.mid, book.best_bid, book.spread, book.imbalance(1)) == (None, None, None, None)
    assert book.apply_quote(quote(158.60, 158.65, symbol="AAPL")) is BookUpdateResult.APPLIED
    assert book.mid == pytest.approx(158.625)


def test_M9_a_one_sided_quote_with_price_zero_leaves_that_side_empty() -> None:
    book = OrderBook("AAPL")

    assert book.apply_quote(quote(0.0, 158.65, bid_size=0.0, symbol="AAPL")) is BookUpdateResult.APPLIED
    assert book.levels() == (0, 1)
    assert book.best_ask == (158.65, 1.0)
    assert (book.best_bid, book.mid) == (None, None)
    book.apply_quote(quote(0.0, 158.65, bid_size=100.0, symbol="AAPL"))  # a size without a price
    assert book.levels() == (0, 1)

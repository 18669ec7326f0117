"""Order-book invariants under random snapshots and deltas, checked against a model dict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from pyrt.marketdata.book import BookUpdateResult, OrderBook
from pyrt.messages import BookLevel, BookReceived, Side

Model = dict[float, float]

# a small price grid, so deltas hit existing levels, remove them and re-insert them
grid = st.integers(min_value=1, max_value=40).map(lambda k: round(100.0 + k * 0.25, 2))
bid_grid = st.integers(min_value=1, max_value=40).map(lambda k: round(100.0 - k * 0.25, 2))
ask_grid = grid
sizes = st.one_of(
    st.just(0.0),  # removes
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
positive_sizes = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)


def level_lists(prices: st.SearchStrategy[float]) -> st.SearchStrategy[list[tuple[float, float]]]:
    return st.lists(st.tuples(prices, sizes), max_size=6)


def frame(bids: list[tuple[float, float]], asks: list[tuple[float, float]], *, reset: bool) -> BookReceived:
    return BookReceived(
        symbol="BTC/USD",
        bids=tuple(BookLevel(price=p, size=s) for p, s in bids),
        asks=tuple(BookLevel(price=p, size=s) for p, s in asks),
        reset=reset,
        ts_event=0,
        ts_init=0,
    )


def apply_to_model(model: Model, levels: list[tuple[float, float]], *, reset: bool) -> None:
    if reset:
        model.clear()
    for price, size in levels:
        if size:
            model[price] = size
        else:
            model.pop(price, None)


def frames(
    prices_bid: st.SearchStrategy[float], prices_ask: st.SearchStrategy[float]
) -> st.SearchStrategy[list[tuple[list[tuple[float, float]], list[tuple[float, float]], bool]]]:
    # the first frame is a snapshot; later ones are mostly deltas
    first = st.tuples(level_lists(prices_bid), level_lists(prices_ask), st.just(True))
    later = st.tuples(
        level_lists(prices_bid), level_lists(prices_ask), st.integers(0, 9).map(lambda r: r == 0)
    )
    return st.tuples(first, st.lists(later, max_size=30)).map(lambda fl: [fl[0], *fl[1]])


def expected_depth(bids: Model, asks: Model) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    return sorted(bids.items(), reverse=True), sorted(asks.items())


@pytest.mark.slow  # 30-frame sequences: ~0.3-0.6 s per test
@given(frames(grid, grid))
def test_any_sequence_equals_the_model_and_a_rebuild_from_its_final_levels(
    sequence: list[tuple[list[tuple[float, float]], list[tuple[float, float]], bool]],
) -> None:
    book = OrderBook("BTC/USD")
    bids: Model = {}
    asks: Model = {}

    for bid_levels, ask_levels, reset in sequence:
        result = book.apply(frame(bid_levels, ask_levels, reset=reset))
        apply_to_model(bids, bid_levels, reset=reset)
        apply_to_model(asks, ask_levels, reset=reset)

        crossed = bool(bids) and bool(asks) and max(bids) >= min(asks)
        assert result is (BookUpdateResult.CROSSED if crossed else BookUpdateResult.APPLIED)
        assert book.is_crossed is crossed
        assert book.depth(100) == expected_depth(bids, asks)
        assert book.levels() == (len(bids), len(asks))

    rebuilt = OrderBook("BTC/USD")
    rebuilt.apply(frame(list(bids.items()), list(asks.items()), reset=True))
    assert rebuilt.depth(100) == book.depth(100)
    assert rebuilt.is_crossed is book.is_crossed


@pytest.mark.slow  # 30-frame sequences: ~0.3-0.6 s per test
@given(frames(bid_grid, ask_grid))
def test_uncrossed_updates_keep_best_bid_below_best_ask(
    sequence: list[tuple[list[tuple[float, float]], list[tuple[float, float]], bool]],
) -> None:
    book = OrderBook("BTC/USD")

    for bid_levels, ask_levels, reset in sequence:
        result = book.apply(frame(bid_levels, ask_levels, reset=reset))

        assert result is BookUpdateResult.APPLIED
        assert not book.is_crossed
        best_bid, best_ask = book.best_bid, book.best_ask
        if best_bid is not None and best_ask is not None:
            assert best_bid[0] < best_ask[0]
            assert book.spread is not None
            assert book.spread > 0
            assert book.mid is not None
            assert best_bid[0] < book.mid < best_ask[0]


@pytest.mark.slow  # 30-frame sequences: ~0.3-0.6 s per test
@given(frames(grid, grid), st.integers(min_value=0, max_value=50))
def test_depth_is_sorted_best_first_and_at_most_n_deep(
    sequence: list[tuple[list[tuple[float, float]], list[tuple[float, float]], bool]], n: int
) -> None:
    book = OrderBook("BTC/USD")
    for bid_levels, ask_levels, reset in sequence:
        book.apply(frame(bid_levels, ask_levels, reset=reset))

    bids, asks = book.depth(n)

    bid_prices = [price for price, _ in bids]
    ask_prices = [price for price, _ in asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert len(set(bid_prices)) == len(bid_prices)
    assert len(set(ask_prices)) == len(ask_prices)
    assert len(bids) == min(n, book.levels()[0])
    assert len(asks) == min(n, book.levels()[1])
    assert all(size > 0 for _, size in bids + asks)


@st.composite
def valid_books(draw: st.DrawFn) -> OrderBook:
    # any prices and sizes, split at a mid so the book is valid
    mid = draw(st.floats(min_value=1.0, max_value=1e6, allow_nan=False))
    bid_prices = draw(st.lists(st.floats(min_value=1e-6, max_value=mid * 0.999), max_size=8, unique=True))
    ask_prices = draw(st.lists(st.floats(min_value=mid, max_value=1e7), max_size=8, unique=True))
    bids = [(p, draw(positive_sizes)) for p in bid_prices]
    asks = [(p, draw(positive_sizes)) for p in ask_prices]
    book = OrderBook("BTC/USD")
    book.apply(frame(bids, asks, reset=True))
    return book


@given(valid_books(), st.integers(min_value=1, max_value=20))
def test_imbalance_is_within_minus_one_and_one(book: OrderBook, n: int) -> None:
    value = book.imbalance(n)

    assert value is not None
    assert -1.0 <= value <= 1.0
    bids, asks = book.depth(n)
    bid_volume = math.fsum(size for _, size in bids)
    ask_volume = math.fsum(size for _, size in asks)
    if not bids and not asks:
        assert value == 0.0
    elif not asks:
        assert value == 1.0
    elif not bids:
        assert value == -1.0
    else:
        assert value == pytest.approx((bid_volume - ask_volume) / (bid_volume + ask_volume))


@given(valid_books(), st.sampled_from(Side), positive_sizes)
def test_vwap_to_fill_lies_between_the_best_and_the_worst_level_used(
    book: OrderBook, side: Side, size: float
) -> None:
    bids, asks = book.depth(100)
    levels = asks if side is Side.BUY else bids
    total = math.fsum(s for _, s in levels)

    vwap = book.vwap_to_fill(side, size)

    if size > total * (1 + 1e-9):
        assert vwap is None
    elif size < total * (1 - 1e-9):
        assert vwap is not None
    if vwap is not None:
        # the levels needed: walk until the cumulative size covers the order (up to rounding)
        cumulative = 0.0
        used: list[float] = []
        for price, available in levels:
            used.append(price)
            cumulative += available
            if cumulative >= size * (1 - 1e-9):
                break
        assert min(used) * (1 - 1e-9) <= vwap <= max(used) * (1 + 1e-9)
        if size <= levels[0][1]:
            assert vwap == levels[0][0]  # one level: exactly its price

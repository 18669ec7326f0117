from __future__ import annotations

import itertools
import math

import attrs
import pytest

from pyrt.messages import OrderFilled, Side
from pyrt.risk.portfolio import Portfolio, PositionView

_ids = itertools.count()


def fill(
    side: Side,
    quantity: float,
    price: float,
    *,
    symbol: str = "AAPL",
    fee: float = 0.0,
    execution_id: str | None = None,
) -> OrderFilled:
    n = next(_ids)
    return OrderFilled(
        client_order_id=f"pyrt-{n}",
        venue_order_id=f"v-{n}",
        execution_id=execution_id or f"x-{n}",
        symbol=symbol,
        side=side,
        fill_price=price,
        fill_quantity=quantity,
        cumulative_quantity=quantity,
        leaves_quantity=0.0,
        fee=fee,
        ts_event=n,
        ts_init=n,
    )


def test_long_adds_average_cost_and_sell_realizes_net_of_fees():
    portfolio = Portfolio(100_000.0)

    portfolio.apply_fill(fill(Side.BUY, 100, 10.0, fee=1.0))
    portfolio.apply_fill(fill(Side.BUY, 50, 13.0, fee=0.5))
    portfolio.mark("AAPL", 12.0)

    pos = portfolio.position("AAPL")
    assert pos.quantity == 150
    assert pos.avg_price == pytest.approx(11.0)  # (100*10 + 50*13) / 150
    assert pos.realized_pnl == pytest.approx(-1.5)  # fees only
    assert pos.unrealized_pnl == pytest.approx(150.0)  # 150 * (12 - 11)
    assert pos.market_value == pytest.approx(1800.0)
    assert portfolio.cash == pytest.approx(98_348.5)  # 100000 - 1000 - 650 - 1.5
    assert portfolio.equity == pytest.approx(100_148.5)
    assert portfolio.total_pnl == pytest.approx(148.5)

    portfolio.apply_fill(fill(Side.SELL, 60, 14.0, fee=0.6))

    pos = portfolio.position("AAPL")
    assert pos.quantity == 90
    assert pos.avg_price == pytest.approx(11.0)  # a reduction keeps the average
    assert pos.realized_pnl == pytest.approx(-1.5 + 60 * 3.0 - 0.6)
    assert pos.fees == pytest.approx(2.1)
    assert portfolio.cash == pytest.approx(98_348.5 + 840.0 - 0.6)


def test_short_cover_realizes_and_unrealized_is_negative_when_price_rises():
    portfolio = Portfolio(10_000.0)

    portfolio.apply_fill(fill(Side.SELL, 100, 50.0))
    portfolio.apply_fill(fill(Side.BUY, 40, 45.0))
    portfolio.mark("AAPL", 55.0)

    pos = portfolio.position("AAPL")
    assert pos.quantity == -60
    assert pos.avg_price == 50.0
    assert pos.realized_pnl == pytest.approx(200.0)  # 40 * (50 - 45)
    assert pos.unrealized_pnl == pytest.approx(-300.0)  # -60 * (55 - 50)
    assert pos.market_value == pytest.approx(-3300.0)
    assert portfolio.cash == pytest.approx(10_000.0 + 5000.0 - 1800.0)
    assert portfolio.gross_exposure == pytest.approx(3300.0)
    assert portfolio.equity - portfolio.starting_cash == pytest.approx(portfolio.total_pnl)


def test_fill_through_zero_realizes_closing_part_and_opens_rest_at_fill_price():
    portfolio = Portfolio(100_000.0)
    portfolio.apply_fill(fill(Side.BUY, 100, 10.0))

    portfolio.apply_fill(fill(Side.SELL, 150, 12.0))
    portfolio.mark("AAPL", 11.0)

    pos = portfolio.position("AAPL")
    assert pos.quantity == -50
    assert pos.avg_price == 12.0
    assert pos.realized_pnl == pytest.approx(200.0)  # 100 * (12 - 10); the 50 opened realize nothing
    assert pos.unrealized_pnl == pytest.approx(50.0)  # -50 * (11 - 12)

    portfolio.apply_fill(fill(Side.BUY, 80, 11.0))

    pos = portfolio.position("AAPL")
    assert pos.quantity == 30
    assert pos.avg_price == 11.0
    assert pos.realized_pnl == pytest.approx(250.0)  # + 50 * (12 - 11)
    assert portfolio.cash == pytest.approx(100_000.0 - 1000.0 + 1800.0 - 880.0)


def test_closing_exactly_leaves_flat_position_with_zero_average():
    portfolio = Portfolio(0.0)
    portfolio.apply_fill(fill(Side.SELL, 20, 5.0))

    portfolio.apply_fill(fill(Side.BUY, 20, 4.0))

    pos = portfolio.position("AAPL")
    assert pos.is_flat
    assert pos.avg_price == 0.0
    assert pos.unrealized_pnl == 0.0
    assert pos.realized_pnl == pytest.approx(20.0)
    assert portfolio.positions() == (pos,)
    assert portfolio.statistics().open_positions == 0


def test_partial_fills_average_to_quantity_weighted_price():
    portfolio = Portfolio(100_000.0)

    for quantity, price in [(30, 10.0), (30, 11.0), (40, 12.0)]:
        portfolio.apply_fill(fill(Side.BUY, quantity, price))

    pos = portfolio.position("AAPL")
    assert pos.quantity == 100
    assert pos.avg_price == pytest.approx(11.1)
    assert portfolio.cash == pytest.approx(100_000.0 - 1110.0)


def test_fractional_round_trip_snaps_float_residue_to_flat():
    portfolio = Portfolio(1000.0)
    portfolio.apply_fill(fill(Side.BUY, 0.1, 100.0, symbol="BTC/USD"))
    portfolio.apply_fill(fill(Side.BUY, 0.2, 100.0, symbol="BTC/USD"))

    portfolio.apply_fill(fill(Side.SELL, 0.3, 110.0, symbol="BTC/USD"))

    pos = portfolio.position("BTC/USD")
    assert 0.1 + 0.2 != 0.3  # the residue the portfolio must not keep
    assert pos.quantity == 0.0
    assert pos.avg_price == 0.0
    assert pos.realized_pnl == pytest.approx(3.0)


def test_duplicate_execution_id_is_ignored_and_counted():
    portfolio = Portfolio(10_000.0)
    first = fill(Side.BUY, 10, 100.0, execution_id="dup", fee=1.0)
    portfolio.apply_fill(first)

    portfolio.apply_fill(first)
    portfolio.apply_fill(attrs.evolve(first, client_order_id="other"))

    assert portfolio.position("AAPL").quantity == 10
    assert portfolio.cash == pytest.approx(10_000.0 - 1001.0)
    stats = portfolio.statistics()
    assert stats.fills_applied == 1
    assert stats.duplicate_fills == 2
    assert portfolio.has_execution("dup")


def test_a_repeated_execution_id_with_other_content_is_logged_as_an_error_not_a_duplicate(caplog):
    # the portfolio once skipped a contradicting fill as quietly as a redelivered one
    portfolio = Portfolio(10_000.0)
    first = fill(Side.BUY, 10, 100.0, execution_id="x")
    portfolio.apply_fill(first)

    with caplog.at_level("WARNING", logger="pyrt.risk.portfolio"):
        portfolio.apply_fill(first)
        portfolio.apply_fill(attrs.evolve(first, fill_price=101.0))

    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]
    assert "reused an execution id" in caplog.records[1].getMessage()
    assert portfolio.position("AAPL").quantity == 10
    assert portfolio.statistics().duplicate_fills == 2


def test_first_fill_prices_position_until_marked_and_later_fill_keeps_mark():
    portfolio = Portfolio(10_000.0)
    portfolio.apply_fill(fill(Side.BUY, 10, 100.0))
    assert portfolio.position("AAPL").last_price == 100.0
    portfolio.mark("AAPL", 90.0)

    portfolio.apply_fill(fill(Side.BUY, 10, 95.0))

    pos = portfolio.position("AAPL")
    assert pos.last_price == 90.0
    assert pos.unrealized_pnl == pytest.approx(20 * (90.0 - 97.5))


def test_mark_of_untraded_symbol_is_kept_without_position():
    portfolio = Portfolio(100.0)

    portfolio.mark("MSFT", 300.0)

    assert portfolio.last_price("MSFT") == 300.0
    assert portfolio.position("MSFT") == PositionView(
        symbol="MSFT",
        quantity=0.0,
        avg_price=0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        last_price=300.0,
        market_value=0.0,
        fees=0.0,
    )
    assert portfolio.last_price("AAPL") is None
    assert portfolio.equity == 100.0


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_mark_with_bad_price_raises(price):
    portfolio = Portfolio(100.0)

    with pytest.raises(ValueError, match=r"^price must be a finite number > 0, was "):
        portfolio.mark("AAPL", price)


def test_starting_cash_must_be_finite():
    with pytest.raises(ValueError, match=r"^starting_cash must be a finite number, was nan$"):
        Portfolio(math.nan)


def test_totals_over_symbols_and_statistics():
    portfolio = Portfolio(10_000.0)
    portfolio.apply_fill(fill(Side.BUY, 10, 4.0, symbol="AAA", fee=0.25))
    portfolio.apply_fill(fill(Side.SELL, 4, 25.0, symbol="BBB", fee=0.25))
    portfolio.mark("AAA", 5.0)
    portfolio.mark("BBB", 20.0)

    stats = portfolio.statistics()

    assert [p.symbol for p in portfolio.positions()] == ["AAA", "BBB"]
    assert stats.open_positions == 2
    assert stats.gross_exposure == pytest.approx(50.0 + 80.0)
    assert stats.unrealized_pnl == pytest.approx(10.0 + 20.0)
    assert stats.realized_pnl == pytest.approx(-0.5)
    assert stats.fees == pytest.approx(0.5)
    assert stats.total_pnl == pytest.approx(29.5)
    assert stats.cash == pytest.approx(10_000.0 - 40.0 + 100.0 - 0.5)
    assert stats.equity == pytest.approx(10_000.0 + 29.5)
    assert stats.fills_applied == 2


def test_quantity_is_signed_and_zero_for_untraded():
    portfolio = Portfolio(10_000.0)
    portfolio.apply_fill(fill(Side.SELL, 7, 10.0))

    assert portfolio.quantity("AAPL") == -7
    assert portfolio.quantity("MSFT") == 0.0


def test_running_totals_match_the_positions_across_a_resync():
    portfolio = Portfolio(1_000_000.0)
    portfolio.apply_fill(fill(Side.BUY, 3, 10.0, symbol="AAA"))
    portfolio.apply_fill(fill(Side.SELL, 2, 20.0, symbol="BBB"))

    for n in range(3000):  # past two resyncs of the running sums
        portfolio.mark("AAA", 10.0 + (n % 7) * 0.1)
        portfolio.mark("BBB", 20.0 - (n % 5) * 0.1)

    positions = portfolio.positions()
    market_value = sum(p.market_value for p in positions)
    assert portfolio.equity == pytest.approx(portfolio.cash + market_value, abs=1e-9)
    assert portfolio.gross_exposure == pytest.approx(sum(abs(p.market_value) for p in positions), abs=1e-9)
    assert portfolio.total_pnl == pytest.approx(portfolio.realized_pnl + portfolio.unrealized_pnl, abs=1e-9)


def test_totals_are_exactly_zero_once_every_position_is_flat():
    portfolio = Portfolio(1000.0)
    portfolio.apply_fill(fill(Side.BUY, 0.1, 100.0, symbol="BTC/USD"))
    portfolio.apply_fill(fill(Side.BUY, 0.2, 100.0, symbol="BTC/USD"))
    portfolio.mark("BTC/USD", 123.456)

    portfolio.apply_fill(fill(Side.SELL, 0.3, 110.0, symbol="BTC/USD"))

    assert portfolio.gross_exposure == 0.0
    assert portfolio.equity == portfolio.cash

"""M10 (specs/marketdata.md): marks, mids and last prices never come from a crossed or one-sided quote.

Each consumer of ``QuoteReceived.mid`` is fed a usable quote, then a crossed one (a real IEX
body: bid 159.52 > ask 158.65) and a one-sided one (``bp: 0``), and must still hold the usable
quote's mid.
"""

from __future__ import annotations

from pyrt.execution.actor import ExecutionActor
from pyrt.messages import QuoteReceived
from pyrt.risk.actor import RiskActor
from pyrt.risk.engine import RiskEngine
from pyrt.risk.limits import RiskLimits
from pyrt.risk.portfolio import Portfolio
from pyrt.strategy import Strategy

NOW = 1_700_000_000 * 1_000_000_000


def quote(bid: float, ask: float) -> QuoteReceived:
    return QuoteReceived(
        symbol="AAPL", bid_price=bid, bid_size=1.0, ask_price=ask, ask_size=1.0, ts_event=NOW, ts_init=NOW
    )


GOOD = quote(158.60, 158.70)
BAD = [quote(159.52, 158.65), quote(0.0, 158.65), quote(158.60, 0.0), quote(0.0, 0.0)]


def test_M10_risk_marks_only_usable_quotes() -> None:
    engine = RiskEngine(
        RiskLimits(max_order_size=10.0, max_position_size=10.0, max_daily_loss=100.0), Portfolio(1e6)
    )
    actor = RiskActor(engine)

    actor._apply_marks([GOOD, *BAD], NOW)

    assert engine.portfolio.last_price("AAPL") == GOOD.mid
    assert engine.statistics().invalid_marks == 0


def test_M10_execution_keeps_the_last_usable_mid_for_its_slippage_guard() -> None:
    actor = ExecutionActor(broker=None)  # type: ignore[arg-type]  # quotes need no broker

    actor._set_mids([GOOD, *BAD])

    assert actor.engine.mid("AAPL") == GOOD.mid


def test_M10_a_strategy_last_price_is_never_a_crossed_or_one_sided_mid() -> None:
    strategy = Strategy()
    strategy.handle_quote(GOOD)
    for bad in BAD:
        strategy.handle_quote(bad)

    assert strategy.last_price("AAPL") == GOOD.mid
    book = strategy.book("AAPL")
    assert book is not None
    assert book.mid is None


def test_M10_mark_price_is_the_one_rule_a_trade_a_bar_close_a_usable_mid() -> None:
    from pyrt.messages import BarReceived, TradeReceived, mark_price

    trade = TradeReceived(symbol="AAPL", price=158.61, size=5.0, ts_event=NOW, ts_init=NOW)
    bar = BarReceived(
        symbol="AAPL",
        timeframe="1m",
        open=158.0,
        high=159.0,
        low=157.5,
        close=158.4,
        volume=100.0,
        ts_event=NOW,
        ts_init=NOW,
    )

    assert mark_price(trade) == 158.61
    assert mark_price(bar) == 158.4
    assert mark_price(GOOD) == GOOD.mid
    assert [mark_price(q) for q in BAD] == [None] * len(BAD)

from __future__ import annotations

import itertools
import math
import re

import attrs
import pytest

from pyrt.messages import OrderFilled, OrderType, RiskApproved, RiskRejected, Side, SignalGenerated
from pyrt.risk.engine import RiskEngine
from pyrt.risk.ids import client_order_id_for
from pyrt.risk.limits import (
    BUYING_POWER,
    DUPLICATE_SIGNAL,
    INVALID_INPUT,
    MAX_DAILY_LOSS,
    MAX_GROSS_EXPOSURE,
    MAX_OPEN_ORDERS,
    MAX_ORDER_NOTIONAL,
    MAX_ORDER_SIZE,
    MAX_ORDERS_PER_MINUTE,
    MAX_ORDERS_PER_SECOND,
    MAX_POSITION_SIZE,
    MAX_POSITION_VALUE,
    NO_PRICE,
    PRICE_COLLAR,
    REASON_CODES,
    REDUCE_ONLY,
    SHORT_NOT_ALLOWED,
    STALE_MARKET_DATA,
    SYMBOL_NOT_ALLOWED,
    TRADING_HALTED,
    RiskLimits,
)
from pyrt.risk.portfolio import Portfolio
from pyrt.risk.state import TradingState, TradingStateChange

NOW = 1_700_000_000_000_000_000
_ids = itertools.count()


def signal(
    side: Side = Side.BUY,
    quantity: float = 10,
    *,
    symbol: str = "AAPL",
    reference_price: float | None = 100.0,
    order_type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
    stop_price: float | None = None,
    signal_id: str | None = None,
) -> SignalGenerated:
    return SignalGenerated(
        signal_id=signal_id or f"s{next(_ids)}",
        strategy="test",
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        reference_price=reference_price,
        ts_event=NOW,
        ts_init=NOW,
    )


def fill_of(
    approved: RiskApproved, quantity: float | None = None, price: float | None = None, *, fee: float = 0.0
) -> OrderFilled:
    sig = approved.signal
    quantity = sig.quantity if quantity is None else quantity
    n = next(_ids)
    return OrderFilled(
        client_order_id=approved.client_order_id,
        venue_order_id="v-" + approved.client_order_id,
        execution_id=f"x{n}",
        symbol=sig.symbol,
        side=sig.side,
        fill_price=price or sig.reference_price or 100.0,
        fill_quantity=quantity,
        cumulative_quantity=quantity,
        leaves_quantity=max(sig.quantity - quantity, 0.0),
        fee=fee,
        ts_event=NOW,
        ts_init=NOW,
    )


def outside_fill(side: Side, quantity: float, price: float, *, symbol: str = "AAPL") -> OrderFilled:
    n = next(_ids)
    return OrderFilled(
        client_order_id=f"manual-{n}",
        venue_order_id=f"v{n}",
        execution_id=f"x{n}",
        symbol=symbol,
        side=side,
        fill_price=price,
        fill_quantity=quantity,
        cumulative_quantity=quantity,
        leaves_quantity=0.0,
        ts_event=NOW,
        ts_init=NOW,
    )


def make_engine(cash: float = 1_000_000.0, **overrides: object) -> RiskEngine:
    limits = {"max_order_size": 100.0, "max_position_size": 200.0, "max_daily_loss": 1000.0, **overrides}
    return RiskEngine(RiskLimits(**limits), Portfolio(cash))  # type: ignore[arg-type]  # test overrides


def approve(engine: RiskEngine, sig: SignalGenerated) -> RiskApproved:
    decision = engine.check(sig, now_ns=NOW)
    assert isinstance(decision, RiskApproved), decision
    return decision


def rejected_code(engine: RiskEngine, sig: SignalGenerated) -> str | None:
    decision = engine.check(sig, now_ns=NOW)
    return decision.reason_code if isinstance(decision, RiskRejected) else None


def test_approval_carries_deterministic_order_id_and_clock_time():
    engine = make_engine()
    sig = signal(signal_id="abc-1")

    decision = engine.check(sig, now_ns=NOW + 5)

    assert decision == RiskApproved(
        signal=sig, client_order_id="pyrt-abc-1", ts_event=NOW + 5, ts_init=NOW + 5
    )
    assert engine.is_open("pyrt-abc-1")
    assert make_engine().check(sig, now_ns=NOW) == attrs.evolve(decision, ts_event=NOW, ts_init=NOW)


@pytest.mark.parametrize(
    ("quantity", "code"), [(100, None), (100.0000001, MAX_ORDER_SIZE), (101, MAX_ORDER_SIZE)]
)
def test_max_order_size_boundary(quantity, code):
    engine = make_engine()

    assert rejected_code(engine, signal(quantity=quantity)) == code


def test_rejection_reason_says_expected_and_found():
    engine = make_engine(max_order_size=100.0, max_position_size=1000.0)

    decision = engine.check(signal(quantity=500), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == MAX_ORDER_SIZE
    assert decision.reason == "quantity 500 exceeds max_order_size 100"
    assert (decision.ts_event, decision.ts_init) == (NOW, NOW)
    assert not engine.is_open(client_order_id_for(decision.signal.signal_id))


@pytest.mark.parametrize("side", list(Side))
def test_max_position_size_counts_position_and_same_side_open_orders(side):
    engine = make_engine()
    engine.on_fill(outside_fill(side, 50, 100.0))
    approve(engine, signal(side, 100))  # 50 held + 100 open = 150

    at_limit = engine.check(signal(side, 50), now_ns=NOW)
    over = engine.check(signal(side, 1), now_ns=NOW)

    assert isinstance(at_limit, RiskApproved)
    assert isinstance(over, RiskRejected)
    assert over.reason_code == MAX_POSITION_SIZE
    sign = side.sign
    assert over.reason == (
        f"projected position {201 * sign} (position {50 * sign}, open {side} orders 150, order 1) "
        "exceeds max_position_size 200"
    )


def test_max_position_size_ignores_opposite_side_open_orders_and_allows_flip_within_limit():
    engine = make_engine()
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0))
    approve(engine, signal(Side.BUY, 100))  # long side may reach 200

    # sells see only the position: 100 - 100 - 100 = -100 short at worst
    for _ in range(3):
        approve(engine, signal(Side.SELL, 100))
    assert rejected_code(engine, signal(Side.SELL, 1)) == MAX_POSITION_SIZE


def test_position_over_a_lowered_limit_can_still_be_reduced():
    portfolio = Portfolio(1_000_000.0)
    portfolio.apply_fill(outside_fill(Side.BUY, 150, 100.0))
    engine = RiskEngine(
        RiskLimits(max_order_size=1000, max_position_size=100, max_daily_loss=1000), portfolio
    )

    assert rejected_code(engine, signal(Side.BUY, 1)) == MAX_POSITION_SIZE
    assert rejected_code(engine, signal(Side.SELL, 20)) is None  # 130: still over, but smaller
    assert rejected_code(engine, signal(Side.SELL, 231)) == MAX_POSITION_SIZE  # flips to -101
    assert rejected_code(engine, signal(Side.SELL, 230)) is None  # flips to -100


def test_open_order_reservation_lasts_until_fill_or_close():
    engine = make_engine()
    first = approve(engine, signal(Side.BUY, 100))
    second = approve(engine, signal(Side.BUY, 100))
    assert rejected_code(engine, signal(Side.BUY, 1)) == MAX_POSITION_SIZE

    engine.on_order_closed(second.client_order_id)

    assert not engine.is_open(second.client_order_id)
    third = approve(engine, signal(Side.BUY, 100))
    engine.on_fill(fill_of(first))  # the filled 100 is now position instead of open order
    assert not engine.is_open(first.client_order_id)
    assert rejected_code(engine, signal(Side.BUY, 1)) == MAX_POSITION_SIZE
    engine.on_order_closed(third.client_order_id)
    assert rejected_code(engine, signal(Side.BUY, 100)) is None


@pytest.mark.parametrize(("loss", "reduce_only"), [(999.99, False), (1000.0, True), (1500.0, True)])
def test_max_daily_loss_switches_to_reduce_only(loss, reduce_only):
    engine = make_engine(max_daily_loss=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0))

    engine.on_mark("AAPL", 100.0 - loss / 100)

    assert engine.statistics().reduce_only is reduce_only
    assert rejected_code(engine, signal(Side.BUY, 1)) == (MAX_DAILY_LOSS if reduce_only else None)
    assert rejected_code(engine, signal(Side.BUY, 1, symbol="MSFT")) == (
        MAX_DAILY_LOSS if reduce_only else None
    )
    assert rejected_code(engine, signal(Side.SELL, 60)) is None


def test_reduce_only_counts_open_reducing_orders_and_refuses_flip():
    engine = make_engine(max_daily_loss=1000.0, max_order_size=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0))
    engine.on_mark("AAPL", 90.0)

    assert rejected_code(engine, signal(Side.SELL, 101)) == MAX_DAILY_LOSS
    approve(engine, signal(Side.SELL, 60))
    assert rejected_code(engine, signal(Side.SELL, 41)) == MAX_DAILY_LOSS
    approve(engine, signal(Side.SELL, 40))
    assert rejected_code(engine, signal(Side.SELL, 1)) == MAX_DAILY_LOSS


def test_reduce_only_allows_covering_a_short():
    engine = make_engine(max_daily_loss=500.0)
    engine.on_fill(outside_fill(Side.SELL, 50, 100.0))
    engine.on_mark("AAPL", 110.0)  # -500

    assert rejected_code(engine, signal(Side.SELL, 1)) == MAX_DAILY_LOSS
    assert rejected_code(engine, signal(Side.BUY, 50, reference_price=110.0)) is None


def test_start_new_session_measures_loss_from_then_and_ends_reducing():
    engine = make_engine(max_daily_loss=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0))
    engine.on_mark("AAPL", 90.0)
    assert rejected_code(engine, signal(Side.BUY, 1)) == MAX_DAILY_LOSS

    engine.start_new_session()

    assert engine.daily_pnl == 0.0
    assert rejected_code(engine, signal(Side.BUY, 1)) is None


@pytest.mark.parametrize(("price", "code"), [(100.0, None), (100.01, BUYING_POWER)])
def test_buying_power_boundary(price, code):
    engine = make_engine(cash=10_000.0)

    assert rejected_code(engine, signal(Side.BUY, 100, reference_price=price)) == code


def test_buying_power_reservation_shrinks_with_fills_and_is_released_on_close():
    engine = make_engine(cash=10_000.0)
    order = approve(engine, signal(Side.BUY, 100, reference_price=100.0))
    decision = engine.check(signal(Side.BUY, 1, reference_price=100.0), now_ns=NOW)
    assert isinstance(decision, RiskRejected)
    assert (
        decision.reason
        == "order cost 100 (1 x 100) exceeds buying power 0 (cash 10000, reserved by open buys 10000)"
    )

    engine.on_fill(fill_of(order, 50, 100.0))

    assert engine.portfolio.cash == 5000.0
    assert engine.reserved_cash == 5000.0
    assert rejected_code(engine, signal(Side.BUY, 1, reference_price=100.0)) == BUYING_POWER
    engine.on_order_closed(order.client_order_id)
    assert engine.reserved_cash == 0.0
    assert rejected_code(engine, signal(Side.BUY, 50, reference_price=100.0)) is None


def test_buying_power_values_limit_order_at_limit_and_ignores_sells():
    engine = make_engine(cash=1000.0)

    assert (
        rejected_code(
            engine, signal(Side.BUY, 10, order_type=OrderType.LIMIT, limit_price=100.01, reference_price=90.0)
        )
        == BUYING_POWER
    )
    assert (
        rejected_code(
            engine, signal(Side.BUY, 10, order_type=OrderType.LIMIT, limit_price=100.0, reference_price=120.0)
        )
        is None
    )
    assert rejected_code(engine, signal(Side.SELL, 100, reference_price=100.0)) is None


def test_buy_stop_is_valued_at_no_less_than_its_stop():
    engine = make_engine(cash=1000.0)

    sig = signal(Side.BUY, 10, order_type=OrderType.STOP, stop_price=101.0, reference_price=95.0)

    assert rejected_code(engine, sig) == BUYING_POWER


@pytest.mark.parametrize(("reference", "code"), [(100.0, None), (100.01, MAX_ORDER_NOTIONAL)])
def test_market_order_notional_valued_at_reference_price(reference, code):
    engine = make_engine(max_order_notional=10_000.0)

    assert rejected_code(engine, signal(quantity=100, reference_price=reference)) == code


def test_market_order_without_reference_uses_last_mark_never_zero():
    engine = make_engine(max_order_notional=10_000.0)
    engine.on_mark("AAPL", 101.0)

    decision = engine.check(signal(quantity=100, reference_price=None), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == MAX_ORDER_NOTIONAL
    assert decision.reason == "notional 10100 (100 x 101) exceeds max_order_notional 10000"


def test_market_order_with_no_price_known_is_rejected():
    engine = make_engine(cash=0.0)

    decision = engine.check(signal(quantity=1, reference_price=None), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == NO_PRICE
    assert decision.reason == "market order for AAPL has no reference_price and AAPL has no mark"


def test_max_gross_exposure_counts_positions_and_open_orders_on_all_symbols():
    engine = make_engine(max_gross_exposure=20_000.0)
    engine.on_fill(outside_fill(Side.BUY, 50, 100.0, symbol="MSFT"))  # 5000
    approve(engine, signal(Side.BUY, 50, symbol="AAPL"))  # +5000 once filled
    approve(engine, signal(Side.SELL, 50, symbol="TSLA"))  # +5000 short

    assert rejected_code(engine, signal(Side.BUY, 51, symbol="AAPL")) == MAX_GROSS_EXPOSURE
    approve(engine, signal(Side.BUY, 50, symbol="AAPL"))  # exactly 20000
    assert rejected_code(engine, signal(Side.SELL, 1, symbol="TSLA")) == MAX_GROSS_EXPOSURE
    assert rejected_code(engine, signal(Side.SELL, 50, symbol="MSFT")) is None  # reduces MSFT


def test_max_gross_exposure_reason():
    engine = make_engine(max_gross_exposure=1000.0)

    decision = engine.check(signal(Side.BUY, 11, reference_price=100.0), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert (
        decision.reason
        == "projected gross exposure 1100 (now 0 with open orders) exceeds max_gross_exposure 1000"
    )


def test_symbol_not_allowed():
    engine = make_engine(allowed_symbols=["AAPL", "MSFT"])

    decision = engine.check(signal(symbol="TSLA"), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == SYMBOL_NOT_ALLOWED
    assert decision.reason == "symbol TSLA is not in allowed_symbols"
    assert rejected_code(engine, signal(symbol="MSFT")) is None


def test_max_open_orders_boundary_and_release_on_fill():
    engine = make_engine(max_open_orders=2)
    first = approve(engine, signal())
    approve(engine, signal())

    assert rejected_code(engine, signal()) == MAX_OPEN_ORDERS
    engine.on_fill(fill_of(first))
    assert rejected_code(engine, signal()) is None


def test_redelivered_signal_is_rejected_as_duplicate_and_reserves_nothing_more():
    engine = make_engine()
    sig = signal(signal_id="once")
    approve(engine, sig)

    decision = engine.check(sig, now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == DUPLICATE_SIGNAL
    assert engine.statistics().open_orders == 1


def test_partial_then_final_fill_closes_open_order():
    engine = make_engine()
    order = approve(engine, signal(Side.BUY, 100))
    engine.on_fill(fill_of(order, 40))
    assert engine.is_open(order.client_order_id)

    final = fill_of(order, 60)
    engine.on_fill(attrs.evolve(final, cumulative_quantity=100.0, leaves_quantity=0.0))

    assert not engine.is_open(order.client_order_id)
    assert engine.portfolio.position("AAPL").quantity == 100


def test_duplicate_fill_changes_nothing_and_unknown_order_fill_moves_portfolio():
    engine = make_engine()
    order = approve(engine, signal(Side.BUY, 100))
    partial = fill_of(order, 40)
    engine.on_fill(partial)

    engine.on_fill(partial)
    engine.on_fill(outside_fill(Side.SELL, 5, 100.0))
    engine.on_order_closed("never-seen")

    assert engine.portfolio.position("AAPL").quantity == 35
    assert engine.reserved_cash == 60 * 100.0
    stats = engine.statistics()
    assert stats.fills == 2
    assert stats.duplicate_fills == 1
    assert stats.unknown_order_events == 2


def test_statistics_count_checks_approvals_and_rejections_by_reason():
    engine = make_engine(max_open_orders=1)
    approve(engine, signal())
    engine.check(signal(quantity=1000), now_ns=NOW)
    engine.check(signal(), now_ns=NOW)
    engine.check(signal(), now_ns=NOW)

    stats = engine.statistics()

    assert (stats.checks, stats.approvals, stats.rejections) == (4, 1, 3)
    assert set(stats.rejections_by_reason) == set(REASON_CODES)
    assert stats.rejections_by_reason[MAX_ORDER_SIZE] == 1
    assert stats.rejections_by_reason[MAX_OPEN_ORDERS] == 2
    assert stats.open_orders == 1
    assert stats.reserved_cash == 1000.0


@pytest.mark.parametrize(
    "signal_id",
    ["abc", "a" * 43, "a" * 44, "sig:1/2", "x y", "é", "a.b", "a_b", "-" * 200],
)
def test_client_order_id_is_deterministic_short_and_safe(signal_id):
    first = client_order_id_for(signal_id)

    assert first == client_order_id_for(signal_id)
    assert len(first) <= 48
    assert re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert first.startswith("pyrt-")


def test_client_order_id_keeps_plain_ids_and_separates_sanitized_ones():
    assert client_order_id_for("a" * 43) == "pyrt-" + "a" * 43
    assert client_order_id_for("a.b") != client_order_id_for("a:b")
    assert client_order_id_for("a.b") != client_order_id_for("a_b")
    assert client_order_id_for("a" * 44) != client_order_id_for("a" * 45)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_order_size", 0.0, r"^max_order_size must be a finite number > 0, was 0\.0$"),
        ("max_position_size", math.nan, r"^max_position_size must be a finite number > 0, was nan$"),
        ("max_daily_loss", -5.0, r"^max_daily_loss must be a finite number > 0, was -5\.0$"),
        (
            "max_order_notional",
            math.inf,
            r"^max_order_notional must be a finite number > 0 or None, was inf$",
        ),
        ("max_open_orders", 0, r"^max_open_orders must be an integer >= 1 or None, was 0$"),
    ],
)
def test_risk_limits_reject_bad_values(field, value, message):
    kwargs = {"max_order_size": 1.0, "max_position_size": 1.0, "max_daily_loss": 1.0, field: value}

    with pytest.raises(ValueError, match=message):
        RiskLimits(**kwargs)


def test_risk_limits_allowed_symbols_normalised_and_string_refused():
    limits = RiskLimits(
        max_order_size=1, max_position_size=1, max_daily_loss=1, allowed_symbols=["A", "B", "A"]
    )

    assert limits.allowed_symbols == frozenset({"A", "B"})
    with pytest.raises(
        TypeError, match=r"^allowed_symbols must be a collection of symbols, was the string 'AB'$"
    ):
        RiskLimits(max_order_size=1, max_position_size=1, max_daily_loss=1, allowed_symbols="AB")


# --- valuation, collar, staleness, rates, position value, bad inputs ---

SECOND = 1_000_000_000


@pytest.mark.parametrize(("mark", "expected_code"), [(99.0, None), (101.0, MAX_ORDER_NOTIONAL)])
def test_market_order_is_valued_at_the_higher_of_reference_and_mark(mark, expected_code):
    engine = make_engine(max_order_notional=10_000.0)
    engine.on_mark("AAPL", mark, now_ns=NOW)

    assert rejected_code(engine, signal(quantity=100, reference_price=100.0)) == expected_code


def test_open_orders_report_their_valuation():
    engine = make_engine()
    engine.on_mark("AAPL", 101.0, now_ns=NOW)
    market = approve(engine, signal(Side.BUY, 10, reference_price=100.0))
    limit = approve(
        engine, signal(Side.SELL, 5, order_type=OrderType.LIMIT, limit_price=99.5, reference_price=100.0)
    )

    views = {v.client_order_id: v for v in engine.open_orders()}

    assert views[market.client_order_id].price == 101.0
    assert views[limit.client_order_id].price == 99.5
    assert views[limit.client_order_id].remaining == 5.0
    assert engine.reserved_cash == 1010.0


@pytest.mark.parametrize(
    ("limit_price", "reference_price", "code"),
    [
        (105.0, None, None),  # exactly 500 bps
        (105.01, None, PRICE_COLLAR),
        (94.99, None, PRICE_COLLAR),
        (100.0, 106.0, PRICE_COLLAR),  # the reference price is collared too
    ],
)
def test_price_collar_against_the_last_mark(limit_price, reference_price, code):
    engine = make_engine(price_collar_bps=500.0)
    engine.on_mark("AAPL", 100.0, now_ns=NOW)

    sig = signal(
        order_type=OrderType.LIMIT, limit_price=limit_price, reference_price=reference_price, quantity=1
    )

    assert rejected_code(engine, sig) == code


def test_price_collar_reason_and_no_collar_without_a_mark():
    engine = make_engine(price_collar_bps=100.0)

    assert rejected_code(engine, signal(quantity=1, reference_price=500.0)) is None  # nothing to compare
    engine.on_mark("AAPL", 100.0, now_ns=NOW)
    decision = engine.check(signal(quantity=1, reference_price=110.0), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert (
        decision.reason == "reference_price 110 is 1000 bps from the last mark 100; price_collar_bps is 100"
    )


def test_stale_market_data_boundary_uses_now_ns():
    engine = make_engine(max_quote_age_secs=2.0)
    assert rejected_code(engine, signal(quantity=1)) == STALE_MARKET_DATA  # never marked
    engine.on_mark("AAPL", 100.0, now_ns=NOW)

    fresh = engine.check(signal(quantity=1), now_ns=NOW + 2 * SECOND)
    stale = engine.check(signal(quantity=1), now_ns=NOW + 2 * SECOND + 1)

    assert isinstance(fresh, RiskApproved)
    assert isinstance(stale, RiskRejected)
    assert stale.reason_code == STALE_MARKET_DATA
    assert stale.reason == "AAPL's last mark is 2.000000001 s old; max_quote_age_secs is 2"


def test_mark_without_time_is_stamped_by_the_next_call_with_one():
    engine = make_engine(max_quote_age_secs=1.0)
    engine.check(signal(quantity=1, symbol="MSFT"), now_ns=NOW)

    assert engine.on_mark("AAPL", 100.0) is True  # e.g. an actor that passes no time
    assert engine.last_mark_ns("AAPL") is None

    assert rejected_code_at(engine, signal(quantity=1), NOW + 10 * SECOND) is None
    assert engine.last_mark_ns("AAPL") == NOW + 10 * SECOND
    assert rejected_code_at(engine, signal(quantity=1), NOW + 12 * SECOND) == STALE_MARKET_DATA


def rejected_code_at(engine: RiskEngine, sig: SignalGenerated, now_ns: int) -> str | None:
    decision = engine.check(sig, now_ns=now_ns)
    return decision.reason_code if isinstance(decision, RiskRejected) else None


def test_orders_per_second_window_is_half_open_and_counts_approvals_only():
    engine = make_engine(max_orders_per_second=2)
    approve(engine, signal(quantity=1))
    assert rejected_code_at(engine, signal(quantity=1000), NOW) == MAX_ORDER_SIZE  # not counted
    approve(engine, signal(quantity=1))

    assert rejected_code_at(engine, signal(quantity=1), NOW + SECOND - 1) == MAX_ORDERS_PER_SECOND
    assert rejected_code_at(engine, signal(quantity=1), NOW + SECOND) is None


def test_orders_per_minute_window():
    engine = make_engine(max_orders_per_minute=3)
    for k in range(3):
        assert rejected_code_at(engine, signal(quantity=1), NOW + k * 10 * SECOND) is None

    assert rejected_code_at(engine, signal(quantity=1), NOW + 60 * SECOND - 1) == MAX_ORDERS_PER_MINUTE
    assert rejected_code_at(engine, signal(quantity=1), NOW + 60 * SECOND) is None


def test_time_never_goes_backwards_for_the_rate_limit():
    engine = make_engine(max_orders_per_second=1)
    approve_at = engine.check(signal(quantity=1), now_ns=NOW + 5 * SECOND)
    assert isinstance(approve_at, RiskApproved)

    # an earlier clock reading counts as the latest one seen, not as a fresh window
    assert rejected_code_at(engine, signal(quantity=1), NOW) == MAX_ORDERS_PER_SECOND


def test_max_position_value_counts_same_side_open_orders_and_lets_reductions_through():
    engine = make_engine(max_position_value=15_000.0, max_order_size=1000.0, max_position_size=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0))  # 10,000
    approve(engine, signal(Side.BUY, 50))  # 15,000 once filled

    decision = engine.check(signal(Side.BUY, 1), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == MAX_POSITION_VALUE
    assert decision.reason == "projected position value 15100 (151 x 100) exceeds max_position_value 15000"
    assert rejected_code(engine, signal(Side.SELL, 60)) is None


def test_max_position_value_uses_the_mark_when_a_limit_is_below_it():
    engine = make_engine(max_position_value=1_000.0)
    engine.on_mark("AAPL", 100.0, now_ns=NOW)

    sig = signal(Side.BUY, 15, order_type=OrderType.LIMIT, limit_price=50.0, reference_price=None)

    assert rejected_code(engine, sig) == MAX_POSITION_VALUE  # 15 x 100, not 15 x 50


@pytest.mark.parametrize("field", ["quantity", "reference_price"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_signal_with_a_bad_number_is_rejected_invalid_input(field, bad):
    engine = make_engine()
    sig = signal(quantity=1)
    object.__setattr__(sig, field, bad)  # what message validation forbids

    assert rejected_code(engine, sig) == INVALID_INPUT
    assert engine.statistics().open_orders == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -3.0])
def test_bad_mark_is_ignored_and_counted(bad):
    engine = make_engine()
    engine.on_fill(outside_fill(Side.BUY, 10, 100.0))

    applied = engine.on_mark("AAPL", bad, now_ns=NOW)

    assert applied is False
    assert engine.portfolio.last_price("AAPL") == 100.0
    assert engine.statistics().invalid_marks == 1
    assert engine.portfolio.total_pnl == 0.0


# --- trading states ---


def test_halt_rejects_everything_and_resume_restores():
    engine = make_engine()
    engine.on_fill(outside_fill(Side.BUY, 10, 100.0))

    engine.halt("operator kill switch", now_ns=NOW)

    assert engine.state is TradingState.HALTED
    decision = engine.check(signal(Side.SELL, 5), now_ns=NOW)  # even a reducing order
    assert isinstance(decision, RiskRejected)
    assert (decision.reason_code, decision.reason) == (
        TRADING_HALTED,
        "trading is halted: operator kill switch",
    )
    engine.resume(now_ns=NOW + 1)
    assert engine.state is TradingState.ACTIVE
    assert rejected_code(engine, signal(Side.BUY, 5)) is None
    assert engine.state_changes() == [
        TradingStateChange(
            state=TradingState.HALTED,
            previous=TradingState.ACTIVE,
            reason="operator kill switch",
            automatic=False,
            ts_event=NOW,
        ),
        TradingStateChange(
            state=TradingState.ACTIVE,
            previous=TradingState.HALTED,
            reason="resumed by the operator",
            automatic=False,
            ts_event=NOW + 1,
        ),
    ]
    assert engine.state_changes() == []


def test_reduce_only_lets_only_shrinking_orders_through_with_its_own_code():
    engine = make_engine()
    engine.on_fill(outside_fill(Side.SELL, 30, 100.0))

    engine.reduce_only("wind down", now_ns=NOW)

    assert rejected_code(engine, signal(Side.SELL, 1)) == REDUCE_ONLY
    assert rejected_code(engine, signal(Side.BUY, 31)) == REDUCE_ONLY  # would flip
    assert rejected_code(engine, signal(Side.BUY, 30)) is None
    assert rejected_code(engine, signal(Side.BUY, 1, symbol="MSFT")) == REDUCE_ONLY
    assert engine.statistics().reduce_only is True


def test_repeated_operator_calls_record_no_change():
    engine = make_engine()
    engine.halt("a", now_ns=NOW)
    engine.halt("b", now_ns=NOW)
    engine.resume(now_ns=NOW)
    engine.resume(now_ns=NOW)

    assert [(c.state, c.reason) for c in engine.state_changes()] == [
        (TradingState.HALTED, "a"),
        (TradingState.ACTIVE, "resumed by the operator"),
    ]


@pytest.mark.parametrize("reason", ["", "   "])
def test_operator_call_needs_a_reason(reason):
    engine = make_engine()

    with pytest.raises(ValueError, match=r"^reason must be a non-empty string, was "):
        engine.halt(reason)
    assert engine.state is TradingState.ACTIVE


def test_daily_loss_breach_switches_to_reducing_and_stays_after_recovery():
    engine = make_engine(max_daily_loss=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0), now_ns=NOW)

    engine.on_mark("AAPL", 90.0, now_ns=NOW + 1)

    assert engine.state is TradingState.REDUCING
    (change,) = engine.state_changes()
    assert change.automatic
    assert change.ts_event == NOW + 1
    assert change.reason == "MAX_DAILY_LOSS: daily P&L -1000 is at or below -max_daily_loss -1000"
    engine.on_mark("AAPL", 100.0, now_ns=NOW + 2)  # the loss is gone, the state stays
    assert engine.state is TradingState.REDUCING
    assert rejected_code(engine, signal(Side.BUY, 1)) == MAX_DAILY_LOSS


def test_resume_while_the_daily_loss_is_breached_goes_back_to_reducing():
    engine = make_engine(max_daily_loss=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0), now_ns=NOW)
    engine.on_mark("AAPL", 85.0, now_ns=NOW)
    engine.state_changes()

    engine.resume("try again", now_ns=NOW + 1)

    assert engine.state is TradingState.REDUCING
    assert [(c.state, c.automatic) for c in engine.state_changes()] == [
        (TradingState.ACTIVE, False),
        (TradingState.REDUCING, True),
    ]


def ny_ns(*args: int) -> int:
    import datetime
    import zoneinfo

    return int(datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo("America/New_York")).timestamp()) * SECOND


@pytest.mark.parametrize(
    ("evening", "midnight"),
    [
        ((2024, 1, 10, 23, 59, 59), (2024, 1, 11)),  # EST: 05:00 UTC
        ((2024, 7, 10, 23, 59, 59), (2024, 7, 11)),  # EDT: 04:00 UTC
        ((2024, 3, 9, 23, 59, 59), (2024, 3, 10)),  # the night before clocks go forward
        ((2024, 11, 2, 23, 59, 59), (2024, 11, 3)),  # the night before clocks go back
    ],
)
def test_new_session_starts_at_the_first_event_after_new_york_midnight(evening, midnight):
    engine = make_engine(max_daily_loss=1000.0)
    engine.on_fill(outside_fill(Side.BUY, 100, 100.0), now_ns=ny_ns(*evening))
    engine.on_mark("AAPL", 89.0, now_ns=ny_ns(*evening))  # -1100: REDUCING
    assert engine.state is TradingState.REDUCING

    engine.on_mark("AAPL", 89.0, now_ns=ny_ns(*midnight) - 1)
    assert engine.state is TradingState.REDUCING
    engine.on_mark("AAPL", 88.0, now_ns=ny_ns(*midnight))

    assert engine.state is TradingState.ACTIVE
    assert engine.daily_pnl == pytest.approx(-100.0)  # measured from the close before midnight
    assert engine.statistics().sessions == 2
    changes = engine.state_changes()
    assert (changes[-1].state, changes[-1].automatic, changes[-1].ts_event) == (
        TradingState.ACTIVE,
        True,
        ny_ns(*midnight),
    )


def test_operator_states_outlast_the_session():
    engine = make_engine()
    engine.check(signal(quantity=1), now_ns=ny_ns(2024, 1, 10, 12, 0))
    engine.halt("investigating", now_ns=ny_ns(2024, 1, 10, 12, 0))

    engine.on_mark("AAPL", 100.0, now_ns=ny_ns(2024, 1, 11, 9, 30))

    assert engine.state is TradingState.HALTED
    assert engine.statistics().sessions == 2


def test_statistics_report_state_and_running_sums():
    engine = make_engine()
    engine.on_mark("AAPL", 100.0, now_ns=NOW)
    approve(engine, signal(Side.BUY, 10))
    approve(engine, signal(Side.SELL, 4))
    engine.reduce_only("review", now_ns=NOW)

    stats = engine.statistics()

    assert stats.state is TradingState.REDUCING
    assert stats.reduce_only is True
    assert stats.reserved_cash == 1000.0
    assert stats.projected_gross_exposure == 1000.0  # the worse side: 10 long
    assert stats.sessions == 1


def test_risk_limits_from_config_carries_every_limit():
    from pyrt.config import RiskConfig

    config = RiskConfig(max_order_notional=None, max_orders_per_second=3, price_collar_bps=25.0)

    limits = RiskLimits.from_config(config, allowed_symbols=["AAPL"])

    assert limits == RiskLimits(
        max_order_size=500.0,
        max_position_size=1000.0,
        max_daily_loss=5000.0,
        max_order_notional=None,
        max_position_value=100_000.0,
        max_gross_exposure=None,
        allowed_symbols=frozenset({"AAPL"}),
        max_open_orders=50,
        max_orders_per_second=3,
        max_orders_per_minute=200,
        price_collar_bps=25.0,
        max_quote_age_secs=60.0,
    )


def test_risk_limits_and_risk_config_share_every_limit_by_name():
    from pyrt.config import RiskConfig

    not_limits = {"zmq_subscribe_address", "zmq_publish_address", "starting_cash"}
    from_elsewhere = {"allowed_symbols", "allow_short"}

    config_limits = set(attrs.fields_dict(RiskConfig)) - not_limits
    engine_limits = set(attrs.fields_dict(RiskLimits)) - from_elsewhere

    assert config_limits == engine_limits


def test_default_config_limits_pass_the_sma_demo_order_flow():
    from pyrt.config import RiskConfig

    config = RiskConfig()
    engine = RiskEngine(
        RiskLimits.from_config(config, allowed_symbols=["AAPL", "MSFT"]), Portfolio(config.starting_cash)
    )
    prices = {"AAPL": 300.0, "MSFT": 50.0}
    now = NOW
    # the demo: 10 shares per signal, quotes every 0.1 s, 0.5 s bars; a crossover needs the fast
    # average to cross back, so at most every other bar per symbol (the 20 s demo run sees ~15)
    for bar in range(240):
        for tick in range(5):
            now += SECOND // 10
            for symbol, price in prices.items():
                engine.on_mark(symbol, price * (1 + 0.001 * ((bar + tick) % 7 - 3)), now_ns=now)
        if bar % 2:
            continue
        for symbol in prices:
            side = Side.BUY if bar % 4 == 0 else Side.SELL
            mark = engine.portfolio.last_price(symbol)
            decision = engine.check(signal(side, 10, symbol=symbol, reference_price=mark), now_ns=now)
            assert isinstance(decision, RiskApproved), decision
            engine.on_fill(fill_of(decision, price=mark), now_ns=now)

    assert engine.statistics().rejections == 0


@attrs.frozen(kw_only=True)
class VenueOrder:
    """What restore_open_orders reads (pyrt.execution.orders.OrderView has these and more)."""

    client_order_id: str
    symbol: str = "AAPL"
    side: Side = Side.BUY
    quantity: float = 100.0
    filled_quantity: float = 0.0
    limit_price: float | None = None
    stop_price: float | None = None


def test_restored_open_orders_count_against_limits_and_ids():
    engine = make_engine(cash=10_000.0)
    orders = [
        VenueOrder(client_order_id="pyrt-old-1", quantity=100, filled_quantity=40, limit_price=100.0),
        VenueOrder(client_order_id="pyrt-old-2", side=Side.SELL, quantity=30, stop_price=90.0),
        VenueOrder(client_order_id="pyrt-done", quantity=10, filled_quantity=10, limit_price=1.0),
    ]

    restored = engine.restore_open_orders(orders, now_ns=NOW)

    assert restored == 2
    assert engine.reserved_cash == 6_000.0  # 60 left x 100
    assert [(v.client_order_id, v.remaining, v.price) for v in engine.open_orders()] == [
        ("pyrt-old-1", 60.0, 100.0),
        ("pyrt-old-2", 30.0, 90.0),
    ]
    assert rejected_code(engine, signal(Side.BUY, 100, reference_price=1.0)) is None  # 60 + 100
    assert rejected_code(engine, signal(Side.BUY, 41, reference_price=1.0)) == MAX_POSITION_SIZE  # 201
    assert rejected_code(engine, signal(Side.BUY, 40, reference_price=100.0)) == BUYING_POWER
    assert rejected_code(engine, signal(signal_id="old-1", quantity=1)) == DUPLICATE_SIGNAL
    assert engine.restore_open_orders(orders, now_ns=NOW) == 0  # already open: idempotent


def test_restored_order_without_a_price_is_valued_at_the_first_mark():
    engine = make_engine(cash=10_000.0)
    engine.restore_open_orders([VenueOrder(client_order_id="pyrt-market", quantity=50)], now_ns=NOW)
    assert engine.reserved_cash == 0.0

    engine.on_mark("MSFT", 10.0, now_ns=NOW)
    engine.on_mark("AAPL", 120.0, now_ns=NOW)

    assert engine.reserved_cash == 6_000.0
    assert engine.open_orders()[0].price == 120.0
    engine.on_mark("AAPL", 200.0, now_ns=NOW)  # priced once
    assert engine.reserved_cash == 6_000.0
    assert engine.projected_gross_exposure == 50 * 200.0


# --- regressions from the property tests (issue 8, §5) ---


def test_unmarked_symbol_is_valued_at_its_dearest_open_order_after_the_dearest_ends():
    # The shrunk R21 example: no mark; three buys valued 100, 100 and 100.1; the dearest is
    # cancelled. The symbol's exposure is 2 x 100 (its dearest *open* order), not 2 x 100.1
    engine = make_engine()
    approve(engine, signal(Side.BUY, 1, reference_price=100.0))
    approve(engine, signal(Side.BUY, 1, reference_price=100.0))
    dearest = approve(engine, signal(Side.BUY, 1, reference_price=100.1))
    assert engine.projected_gross_exposure == pytest.approx(3 * 100.1)

    engine.on_order_closed(dearest.client_order_id, now_ns=NOW)

    assert engine.projected_gross_exposure == 200.0
    assert engine.statistics().projected_gross_exposure == 200.0


def test_unmarked_symbol_valuation_follows_fills_and_closes_of_its_open_orders():
    engine = make_engine()
    cheap = approve(
        engine, signal(Side.BUY, 2, order_type=OrderType.LIMIT, limit_price=99.0, reference_price=None)
    )
    dear = approve(
        engine, signal(Side.SELL, 1, order_type=OrderType.LIMIT, limit_price=101.0, reference_price=None)
    )
    assert engine.projected_gross_exposure == pytest.approx(2 * 101.0)

    engine.on_order_closed(dear.client_order_id, now_ns=NOW)
    assert engine.projected_gross_exposure == pytest.approx(2 * 99.0)

    engine.on_order_closed(cheap.client_order_id, now_ns=NOW)
    assert engine.projected_gross_exposure == 0.0


def test_a_fill_that_is_the_first_event_after_midnight_counts_in_the_new_session():
    # The shrunk R19 example: a buy before midnight fills a quarter at half the mark as the first
    # event of the new session. Its P&L (+12.5 at the mark) is the new session's, so the daily
    # P&L is 12.5 (the property test's model had recorded the fill before rolling the session)
    engine = make_engine(max_daily_loss=20.0)
    evening = ny_ns(2024, 11, 2, 23, 59)
    engine.on_mark("AAPL", 100.0, now_ns=evening)
    approved = approve_at(engine, signal(Side.BUY, 1), evening)

    engine.on_fill(fill_of(approved, 0.25, 50.0), now_ns=evening + 61 * SECOND)

    assert engine.statistics().sessions == 2
    assert engine.daily_pnl == 12.5
    assert engine.portfolio.total_pnl == 12.5


def approve_at(engine: RiskEngine, sig: SignalGenerated, now_ns: int) -> RiskApproved:
    decision = engine.check(sig, now_ns=now_ns)
    assert isinstance(decision, RiskApproved), decision
    return decision


# --- R23: long-only strategies (issue 8, §1b) ---


def test_a_long_only_sell_larger_than_the_position_is_refused_not_cut():
    engine = make_engine(allow_short=False)
    bought = approve(engine, signal(Side.BUY, 10))
    engine.on_fill(fill_of(bought), now_ns=NOW)

    decision = engine.check(signal(Side.SELL, 11), now_ns=NOW)

    assert isinstance(decision, RiskRejected)
    assert decision.reason_code == SHORT_NOT_ALLOWED
    assert decision.reason == (
        "sell 11 with open sells 0 exceeds the long position 10: AAPL would go short, and the "
        "strategy does not allow short positions (allow_short is off)"
    )
    assert engine.open_orders() == ()


def test_a_long_only_sell_counts_the_open_sells_and_may_close_the_position_exactly():
    engine = make_engine(allow_short=False)
    engine.on_fill(fill_of(approve(engine, signal(Side.BUY, 10))), now_ns=NOW)

    approve(engine, signal(Side.SELL, 6))
    assert rejected_code(engine, signal(Side.SELL, 5)) == SHORT_NOT_ALLOWED  # 6 + 5 > 10
    approve(engine, signal(Side.SELL, 4))  # 6 + 4 == 10: flat, not short
    assert rejected_code(engine, signal(Side.SELL, 0.001)) == SHORT_NOT_ALLOWED


def test_a_long_only_engine_refuses_a_sell_from_flat_and_lets_buys_cover_an_outside_short():
    engine = make_engine(allow_short=False)
    assert rejected_code(engine, signal(Side.SELL, 1)) == SHORT_NOT_ALLOWED

    engine.on_fill(outside_fill(Side.SELL, 5, 100.0), now_ns=NOW)  # a manual order went short
    assert rejected_code(engine, signal(Side.SELL, 1)) == SHORT_NOT_ALLOWED  # it may not grow
    approve(engine, signal(Side.BUY, 5))  # but it may be covered


def test_shorts_pass_when_allowed_which_is_the_engine_default():
    engine = make_engine()
    assert engine.limits.allow_short is True
    approve(engine, signal(Side.SELL, 10))


def test_risk_limits_from_config_carries_allow_short():
    from pyrt.config import RiskConfig

    assert RiskLimits.from_config(RiskConfig()).allow_short is True
    assert RiskLimits.from_config(RiskConfig(), allow_short=False).allow_short is False

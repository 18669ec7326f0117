from __future__ import annotations

import math
import random
import uuid

import pytest
from hypothesis import given, strategies as st

from pyrt.messages import OrderType, Side, TimeInForce
from pyrt.venues.local._rest import list_orders
from pyrt.venues.sim import EngineEvent, EngineRejected, MatchingEngine

T0 = 1_700_000_000_000_000_000


def make_engine(
    *, cash: float = 100_000.0, seed: int = 7, fee_per_share: float = 0.0, fill_on_trades: bool = True
) -> MatchingEngine:
    engine = MatchingEngine(
        starting_cash=cash,
        rng=random.Random(seed),
        fee_per_share=fee_per_share,
        fill_on_trades=fill_on_trades,
    )
    engine.on_quote("AAPL", 100.0, 100, 100.02, 100, now_ns=T0)
    return engine


def names(events: list[EngineEvent]) -> list[str]:
    return [event.event for event in events]


def buy(engine: MatchingEngine, qty: float = 10, **kwargs: object):
    params: dict[str, object] = {
        "symbol": "AAPL",
        "side": Side.BUY,
        "qty": qty,
        "order_type": OrderType.MARKET,
        "time_in_force": TimeInForce.DAY,
        "now_ns": T0 + 1,
    }
    params.update(kwargs)
    return engine.submit(**params)


def sell(engine: MatchingEngine, qty: float = 10, **kwargs: object):
    return buy(engine, qty, side=Side.SELL, **kwargs)


# ------------------------------------------------------------------ immediate fills


def test_market_buy_fills_at_ask_with_new_then_fill():
    engine = make_engine()

    order, events = buy(engine, 10)

    assert names(events) == ["new", "fill"]
    assert events[0].order.status == "new"
    assert events[0].order.filled_qty == 0.0
    assert order.status == "filled"
    assert order.filled_qty == 10.0
    assert order.filled_avg_price == 100.02
    assert order.filled_at_ns == T0 + 1
    fill = events[1]
    assert (fill.price, fill.qty, fill.position_qty) == (100.02, 10.0, 10.0)
    assert fill.execution_id is not None
    assert uuid.UUID(fill.execution_id).version == 4
    assert engine.account().cash == pytest.approx(100_000.0 - 1000.2, abs=1e-9)


def test_market_sell_fills_at_bid_and_opens_short():
    engine = make_engine()

    _order, events = sell(engine, 5)

    assert names(events) == ["new", "fill"]
    assert events[1].price == 100.0
    assert events[1].position_qty == -5.0
    assert engine.position("AAPL").qty == -5.0
    assert engine.account().cash == 100_500.0


# Each case: order type and prices, with the quote at bid 100.00 x 100 / ask 100.02 x 100 and a
# buy of 150, so every marketable order can take only 100 now.
MARKETABLE = {
    "market": {"order_type": OrderType.MARKET},
    "limit": {"order_type": OrderType.LIMIT, "limit_price": 100.05},
    "stop": {"order_type": OrderType.STOP, "stop_price": 100.01},
    "stop_limit": {"order_type": OrderType.STOP_LIMIT, "stop_price": 100.01, "limit_price": 100.05},
}
# (status after submit, filled after submit, events, status after a refill quote)
TIF_OUTCOMES = {
    TimeInForce.DAY: ("partially_filled", 100.0, ["new", "partial_fill"], "filled"),
    TimeInForce.GTC: ("partially_filled", 100.0, ["new", "partial_fill"], "filled"),
    TimeInForce.IOC: ("canceled", 100.0, ["new", "partial_fill", "canceled"], "canceled"),
    TimeInForce.FOK: ("canceled", 0.0, ["new", "canceled"], "canceled"),
}


@pytest.mark.parametrize("tif", list(TimeInForce))
@pytest.mark.parametrize("kind", list(MARKETABLE))
def test_marketable_order_larger_than_displayed_size_per_time_in_force(kind, tif):
    engine = make_engine()
    status, filled, expected_events, final_status = TIF_OUTCOMES[tif]

    order, events = buy(engine, 150, time_in_force=tif, **MARKETABLE[kind])
    later = engine.on_quote("AAPL", 100.0, 100, 100.02, 100, now_ns=T0 + 2)

    assert (order.status, order.filled_qty, names(events)) == (status, filled, expected_events)
    assert engine.get_order(order.id).status == final_status
    if final_status == "filled":
        assert names(later) == ["fill"]
        assert later[0].qty == 50.0
        assert later[0].order.filled_qty == 150.0
    else:
        assert later == []


@pytest.mark.parametrize("tif", list(TimeInForce))
@pytest.mark.parametrize("kind", list(MARKETABLE))
def test_marketable_order_within_displayed_size_fills_completely(kind, tif):
    engine = make_engine()

    order, events = buy(engine, 60, time_in_force=tif, **MARKETABLE[kind])

    assert names(events) == ["new", "fill"]
    assert order.status == "filled"
    assert order.filled_avg_price == 100.02


# Orders that cannot fill on submit: limit below the ask, stops above it.
RESTING = {
    "limit": {"order_type": OrderType.LIMIT, "limit_price": 99.5},
    "stop": {"order_type": OrderType.STOP, "stop_price": 101.0},
    "stop_limit": {"order_type": OrderType.STOP_LIMIT, "stop_price": 101.0, "limit_price": 101.5},
}


@pytest.mark.parametrize("tif", list(TimeInForce))
@pytest.mark.parametrize("kind", list(RESTING))
def test_unmarketable_order_rests_or_cancels_per_time_in_force(kind, tif):
    engine = make_engine()

    order, events = buy(engine, 10, time_in_force=tif, **RESTING[kind])

    # an untriggered stop waits for its trigger whatever its TIF; a limit IOC/FOK cancels now
    cancels_now = kind == "limit" and tif in (TimeInForce.IOC, TimeInForce.FOK)
    if cancels_now:
        assert names(events) == ["new", "canceled"]
        assert order.status == "canceled"
        assert order.canceled_at_ns == T0 + 1
    else:
        assert names(events) == ["new"]
        assert order.status == "new"
        assert order.is_open


def test_market_order_with_empty_ask_rests_until_size_appears():
    engine = make_engine()
    engine.on_quote("AAPL", 100.0, 100, 100.02, 0, now_ns=T0)

    _order, events = buy(engine, 10)
    later = engine.on_quote("AAPL", 100.0, 100, 100.04, 5, now_ns=T0 + 2)

    assert names(events) == ["new"]
    assert names(later) == ["partial_fill"]
    assert later[0].price == 100.04
    assert later[0].order.filled_qty == 5.0


def test_orders_share_displayed_size_in_time_priority():
    engine = make_engine()
    engine.on_quote("AAPL", 100.0, 100, 100.02, 0, now_ns=T0)
    first, _ = buy(engine, 80, order_type=OrderType.LIMIT, limit_price=100.05)
    second, _ = buy(engine, 80, order_type=OrderType.LIMIT, limit_price=100.05)

    events = engine.on_quote("AAPL", 100.0, 100, 100.02, 100, now_ns=T0 + 2)

    assert [(event.order.id, event.event, event.qty) for event in events] == [
        (first.id, "fill", 80.0),
        (second.id, "partial_fill", 20.0),
    ]


def test_submitted_orders_take_what_earlier_orders_left_of_the_quote():
    engine = make_engine()

    _, first = buy(engine, 70)
    second_order, second = buy(engine, 70, time_in_force=TimeInForce.IOC)

    assert first[-1].qty == 70.0
    assert names(second) == ["new", "partial_fill", "canceled"]
    assert second_order.filled_qty == 30.0


def test_limit_buy_fills_only_when_ask_at_or_below_limit_at_the_ask():
    engine = make_engine()
    order, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.9)

    above = engine.on_quote("AAPL", 99.8, 100, 99.91, 100, now_ns=T0 + 2)
    at_or_below = engine.on_quote("AAPL", 99.7, 100, 99.85, 100, now_ns=T0 + 3)

    assert above == []
    assert names(at_or_below) == ["fill"]
    assert at_or_below[0].price == 99.85  # the ask, not the limit
    assert engine.get_order(order.id).filled_avg_price == 99.85


def test_limit_sell_fills_only_when_bid_at_or_above_limit():
    engine = make_engine()
    _order, _ = sell(engine, 10, order_type=OrderType.LIMIT, limit_price=100.5)

    below = engine.on_quote("AAPL", 100.49, 100, 100.6, 100, now_ns=T0 + 2)
    at = engine.on_quote("AAPL", 100.5, 100, 100.6, 100, now_ns=T0 + 3)

    assert below == []
    assert [(event.event, event.price) for event in at] == [("fill", 100.5)]


def test_partial_fills_average_price_and_leaves():
    engine = make_engine()
    engine.on_quote("AAPL", 100.0, 100, 100.0, 30, now_ns=T0)
    order, _ = buy(engine, 100)

    engine.on_quote("AAPL", 100.0, 100, 101.0, 30, now_ns=T0 + 2)
    events = engine.on_quote("AAPL", 100.0, 100, 102.0, 100, now_ns=T0 + 3)

    final = engine.get_order(order.id)
    assert names(events) == ["fill"]
    assert events[0].qty == 40.0
    assert final.filled_qty == 100.0
    assert final.filled_avg_price == pytest.approx((30 * 100 + 30 * 101 + 40 * 102) / 100)
    assert final.leaves_qty == 0.0


def test_fractional_crypto_quantities_add_up_exactly():
    engine = make_engine()
    engine.on_quote("BTC/USD", 60_000.0, 0.1, 60_010.0, 0.1, now_ns=T0)
    order, _ = buy(engine, 0.3, symbol="BTC/USD", time_in_force=TimeInForce.GTC)

    engine.on_quote("BTC/USD", 60_000.0, 0.1, 60_010.0, 0.1, now_ns=T0 + 2)
    engine.on_quote("BTC/USD", 60_000.0, 0.1, 60_010.0, 0.1, now_ns=T0 + 3)

    final = engine.get_order(order.id)
    assert final.status == "filled"
    assert final.filled_qty == 0.3
    assert engine.position("BTC/USD").qty == 0.3


# ------------------------------------------------------------------ validation and rejections


def test_buy_exactly_at_buying_power_accepted_one_cent_more_refused():
    engine = make_engine(cash=1000.0)
    engine.on_quote("AAPL", 99.0, 100, 100.5, 100, now_ns=T0)

    accepted, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=100.0, now_ns=T0 + 1)
    engine.cancel(accepted.id, now_ns=T0 + 2)
    with pytest.raises(EngineRejected, match=r"^insufficient buying power$") as info:
        buy(engine, 10, order_type=OrderType.LIMIT, limit_price=100.001, now_ns=T0 + 3)

    assert accepted.status == "new"
    assert (info.value.status_code, info.value.code) == (403, 40310000)


def test_open_buy_orders_reserve_buying_power_until_canceled():
    engine = make_engine(cash=10_000.0)
    resting, _ = buy(engine, 60, order_type=OrderType.LIMIT, limit_price=99.0)

    assert engine.account().buying_power == pytest.approx(10_000.0 - 5940.0)
    with pytest.raises(EngineRejected) as info:
        buy(engine, 50, order_type=OrderType.LIMIT, limit_price=99.0)
    engine.cancel(resting.id, now_ns=T0 + 2)
    after, _ = buy(engine, 50, order_type=OrderType.LIMIT, limit_price=99.0)

    assert info.value.status_code == 403
    assert after.status == "new"
    assert engine.account().buying_power == pytest.approx(10_000.0 - 4950.0)


def test_sell_needs_no_buying_power():
    engine = make_engine(cash=0.0)

    order, _ = sell(engine, 10)

    assert order.status == "filled"
    assert engine.account().cash == 1000.0


@pytest.mark.parametrize("reuse_closed", [False, True])
def test_duplicate_client_order_id_refused_with_422(reuse_closed):
    engine = make_engine()
    first, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=90.0, client_order_id="abc")
    if reuse_closed:
        engine.cancel(first.id, now_ns=T0 + 2)

    with pytest.raises(EngineRejected, match=r"^client_order_id must be unique$") as info:
        buy(engine, 10, client_order_id="abc")

    assert (info.value.status_code, info.value.code) == (422, 40010001)
    assert engine.get_order_by_client_id("abc").id == first.id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty": 0}, r"^qty must be a finite number > 0, was 0$"),
        ({"qty": -3}, r"^qty must be a finite number > 0, was -3$"),
        ({"qty": math.nan}, r"^qty must be a finite number > 0, was nan$"),
        ({"qty": math.inf}, r"^qty must be a finite number > 0, was inf$"),
        ({"qty": "10"}, r"^qty must be a number, was '10'$"),
        ({"order_type": OrderType.LIMIT}, r"^limit_price is required for limit orders$"),
        ({"limit_price": 100.0}, r"^limit_price must not be set for market orders, was 100.0$"),
        ({"order_type": OrderType.STOP}, r"^stop_price is required for stop orders$"),
        ({"stop_price": 100.0}, r"^stop_price must not be set for market orders, was 100.0$"),
        ({"order_type": OrderType.LIMIT, "limit_price": -1.0}, r"^limit_price must be a finite number > 0"),
        ({"order_type": "trailing_stop"}, r"^invalid order type: 'trailing_stop'$"),
        ({"time_in_force": "opg"}, r"^invalid time_in_force: 'opg'$"),
        ({"side": "short"}, r"^invalid side: 'short'$"),
        ({"client_order_id": "x" * 129}, r"^client_order_id must be at most 128 characters, was 129$"),
    ],
)
def test_invalid_submit_refused_with_422(kwargs, message):
    engine = make_engine()

    with pytest.raises(EngineRejected, match=message) as info:
        buy(engine, **kwargs)

    assert (info.value.status_code, info.value.code) == (422, 40010001)
    assert engine.orders() == []
    assert engine.statistics().requests_rejected == 1


def test_unknown_symbol_refused_and_registered_symbol_accepted():
    engine = make_engine()

    with pytest.raises(EngineRejected, match=r'^asset "MSFT" not found$') as info:
        buy(engine, symbol="MSFT", order_type=OrderType.LIMIT, limit_price=10.0)
    engine.register_symbol("MSFT")
    order, events = buy(engine, symbol="MSFT", order_type=OrderType.LIMIT, limit_price=10.0)

    assert (info.value.status_code, info.value.code) == (422, 42210000)
    assert names(events) == ["new"]
    assert order.symbol == "MSFT"


def test_market_buy_without_any_price_refused():
    engine = make_engine()
    engine.register_symbol("MSFT")

    with pytest.raises(EngineRejected, match=r"^no price for MSFT yet") as info:
        buy(engine, symbol="MSFT")

    assert info.value.status_code == 422


def test_string_enums_accepted_like_alpaca_json():
    engine = make_engine()

    order, _ = engine.submit(
        symbol="AAPL", side="buy", qty=1, order_type="limit", time_in_force="gtc", limit_price=99.0, now_ns=T0
    )

    assert (order.side, order.order_type, order.time_in_force) == (Side.BUY, OrderType.LIMIT, TimeInForce.GTC)


# ------------------------------------------------------------------ cancel and replace


def test_cancel_open_order_then_cancel_again_is_422():
    engine = make_engine()
    order, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.0)

    events = engine.cancel(order.id, now_ns=T0 + 5)
    with pytest.raises(EngineRejected, match=r"^order is not cancelable$") as info:
        engine.cancel(order.id, now_ns=T0 + 6)

    assert names(events) == ["canceled"]
    assert events[0].order.canceled_at_ns == T0 + 5
    assert events[0].order.status == "canceled"
    assert (info.value.status_code, info.value.code) == (422, 42210000)


def test_cancel_filled_order_is_422_and_unknown_is_404():
    engine = make_engine()
    filled, _ = buy(engine, 1)

    with pytest.raises(EngineRejected) as not_cancelable:
        engine.cancel(filled.id, now_ns=T0 + 2)
    with pytest.raises(EngineRejected, match=r"^order not found$") as unknown:
        engine.cancel("no-such-order", now_ns=T0 + 2)

    assert not_cancelable.value.status_code == 422
    assert (unknown.value.status_code, unknown.value.code) == (404, 40410000)


def test_cancel_partially_filled_order_keeps_its_fill():
    engine = make_engine()
    order, _ = buy(engine, 150)

    events = engine.cancel(order.id, now_ns=T0 + 2)

    assert events[0].order.filled_qty == 100.0
    assert engine.position("AAPL").qty == 100.0


def test_cancel_all_cancels_open_orders_in_submission_order():
    engine = make_engine()
    first, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)
    buy(engine, 1)  # filled: not part of cancel_all
    second, _ = sell(engine, 1, order_type=OrderType.LIMIT, limit_price=110.0)

    results = engine.cancel_all(now_ns=T0 + 2)

    assert [(order_id, status, names(events)) for order_id, status, events in results] == [
        (first.id, 200, ["canceled"]),
        (second.id, 200, ["canceled"]),
    ]
    assert engine.open_orders() == []


def test_replace_creates_new_order_and_marks_old_replaced():
    engine = make_engine()
    old, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.0, client_order_id="c1")

    new, events = engine.replace(old.id, limit_price=99.5, client_order_id="c2", now_ns=T0 + 5)

    assert names(events) == ["replaced", "new"]
    assert events[0].order.id == old.id
    assert events[0].order.status == "replaced"
    assert events[0].order.replaced_by == new.id
    assert events[0].order.replaced_at_ns == T0 + 5
    assert new.id != old.id
    assert new.replaces == old.id
    assert (new.client_order_id, new.limit_price, new.qty, new.status) == ("c2", 99.5, 10.0, "new")
    assert (new.time_in_force, new.order_type) == (TimeInForce.DAY, OrderType.LIMIT)
    assert [order.id for order in engine.open_orders()] == [new.id]
    assert engine.get_order(old.id).status == "replaced"


def test_replace_through_the_market_fills_the_new_order():
    engine = make_engine()
    old, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.0)

    new, events = engine.replace(old.id, limit_price=100.05, now_ns=T0 + 5)

    assert names(events) == ["replaced", "new", "fill"]
    assert new.status == "filled"


def test_replace_partially_filled_order_defaults_to_remaining_quantity():
    engine = make_engine()
    engine.on_quote("AAPL", 100.0, 100, 100.02, 4, now_ns=T0)
    old, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=100.02)
    engine.on_quote("AAPL", 100.0, 100, 100.05, 100, now_ns=T0 + 2)  # above the limit

    new, _ = engine.replace(old.id, time_in_force=TimeInForce.GTC, now_ns=T0 + 3)

    assert engine.get_order(old.id).filled_qty == 4.0
    assert (new.qty, new.filled_qty, new.time_in_force) == (6.0, 0.0, TimeInForce.GTC)


def test_replace_reuses_reservation_of_the_old_order():
    engine = make_engine(cash=1000.0)
    old, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.0)

    new, _ = engine.replace(old.id, qty=10, limit_price=99.9, now_ns=T0 + 2)
    with pytest.raises(EngineRejected, match=r"^insufficient buying power$"):
        engine.replace(new.id, qty=11, now_ns=T0 + 3)

    assert engine.get_order(new.id).status == "new"  # a refused replace leaves the order working
    assert engine.account().buying_power == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "status_code", "message"),
    [
        ({}, 422, r"^replace needs at least one of"),
        ({"client_order_id": "only"}, 422, r"^replace needs at least one of"),
        ({"stop_price": 98.0}, 422, r"^stop_price must not be set for limit orders"),
        ({"qty": 0}, 422, r"^qty must be a finite number > 0"),
    ],
)
def test_replace_with_invalid_change_refused(kwargs, status_code, message):
    engine = make_engine()
    old, _ = buy(engine, 10, order_type=OrderType.LIMIT, limit_price=99.0)

    with pytest.raises(EngineRejected, match=message) as info:
        engine.replace(old.id, now_ns=T0 + 2, **kwargs)

    assert info.value.status_code == status_code
    assert engine.get_order(old.id).status == "new"


def test_replace_closed_order_is_422_and_unknown_is_404():
    engine = make_engine()
    filled, _ = buy(engine, 1)

    with pytest.raises(EngineRejected, match=r"^order is not replaceable$") as closed:
        engine.replace(filled.id, qty=2, now_ns=T0 + 2)
    with pytest.raises(EngineRejected) as unknown:
        engine.replace("nope", qty=2, now_ns=T0 + 2)

    assert (closed.value.status_code, closed.value.code) == (422, 42210000)
    assert unknown.value.status_code == 404


def test_replace_with_used_client_order_id_is_422():
    engine = make_engine()
    buy(engine, 1, client_order_id="taken")
    old, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)

    with pytest.raises(EngineRejected, match=r"^client_order_id must be unique$"):
        engine.replace(old.id, qty=2, client_order_id="taken", now_ns=T0 + 2)


# ------------------------------------------------------------------ stops


def test_buy_stop_triggers_when_ask_reaches_stop():
    engine = make_engine()
    order, _ = buy(engine, 10, order_type=OrderType.STOP, stop_price=100.5)

    below = engine.on_quote("AAPL", 100.3, 100, 100.49, 100, now_ns=T0 + 2)
    at = engine.on_quote("AAPL", 100.4, 100, 100.5, 100, now_ns=T0 + 3)

    assert below == []
    assert [(event.event, event.price) for event in at] == [("fill", 100.5)]
    assert engine.get_order(order.id).status == "filled"


def test_sell_stop_triggers_when_bid_falls_to_stop():
    engine = make_engine()
    buy(engine, 10)
    order, _ = sell(engine, 10, order_type=OrderType.STOP, stop_price=99.0)

    above = engine.on_quote("AAPL", 99.01, 100, 99.05, 100, now_ns=T0 + 2)
    at = engine.on_quote("AAPL", 98.9, 100, 98.95, 100, now_ns=T0 + 3)

    assert above == []
    assert [(event.event, event.price) for event in at] == [("fill", 98.9)]
    assert engine.get_order(order.id).filled_avg_price == 98.9


def test_stop_limit_triggers_then_waits_for_its_limit():
    engine = make_engine()
    order, _ = sell(engine, 10, order_type=OrderType.STOP_LIMIT, stop_price=99.0, limit_price=98.8)

    gapped = engine.on_quote("AAPL", 98.5, 100, 98.6, 100, now_ns=T0 + 2)  # triggers, bid < limit
    recovered = engine.on_quote("AAPL", 98.85, 100, 98.9, 100, now_ns=T0 + 3)  # above the stop again

    assert gapped == []
    assert [(event.event, event.price) for event in recovered] == [("fill", 98.85)]
    assert engine.get_order(order.id).status == "filled"


def test_fok_stop_waits_for_trigger_then_fills_all_or_nothing():
    engine = make_engine()
    order, _ = buy(engine, 50, order_type=OrderType.STOP, stop_price=101.0, time_in_force=TimeInForce.FOK)

    events = engine.on_quote("AAPL", 100.9, 100, 101.0, 20, now_ns=T0 + 2)

    assert names(events) == ["canceled"]
    assert engine.get_order(order.id).filled_qty == 0.0


# ------------------------------------------------------------------ positions and P&L


def test_average_cost_and_realized_pl_into_cash():
    engine = make_engine()
    engine.on_quote("AAPL", 99.0, 1000, 100.0, 1000, now_ns=T0)
    buy(engine, 10)
    engine.on_quote("AAPL", 101.0, 1000, 102.0, 1000, now_ns=T0 + 2)
    buy(engine, 30)

    assert engine.position("AAPL").avg_entry_price == pytest.approx(101.5)

    engine.on_quote("AAPL", 110.0, 1000, 111.0, 1000, now_ns=T0 + 3)
    sell(engine, 20)

    position = engine.position("AAPL")
    assert position.qty == 20.0
    assert position.avg_entry_price == pytest.approx(101.5)  # reducing keeps the average
    assert engine.realized_pl("AAPL") == pytest.approx(20 * (110.0 - 101.5))
    assert engine.account().cash == pytest.approx(100_000 - 1000 - 3060 + 2200)
    assert position.current_price == 110.5
    assert position.unrealized_pl == pytest.approx(20 * (110.5 - 101.5))


def test_sell_through_zero_flips_to_short_at_fill_price():
    engine = make_engine()
    buy(engine, 10)  # at 100.02
    engine.on_quote("AAPL", 105.0, 100, 105.1, 100, now_ns=T0 + 2)

    _, events = sell(engine, 25)

    position = engine.position("AAPL")
    assert events[-1].position_qty == -15.0
    assert position.qty == -15.0
    assert position.avg_entry_price == 105.0
    assert engine.realized_pl("AAPL") == pytest.approx(10 * (105.0 - 100.02))
    assert position.cost_basis == pytest.approx(-15 * 105.0)
    assert position.market_value == pytest.approx(-15 * 105.05)


def test_short_then_cover_realizes_pl_and_closes_position():
    engine = make_engine()
    sell(engine, 10)  # short at 100.00
    engine.on_quote("AAPL", 95.0, 100, 95.5, 100, now_ns=T0 + 2)

    buy(engine, 10)

    assert engine.positions() == []
    assert engine.realized_pl("AAPL") == pytest.approx(10 * (100.0 - 95.5))
    assert engine.account().cash == pytest.approx(100_000 + 45.0)
    with pytest.raises(EngineRejected, match=r"^position does not exist$") as info:
        engine.position("AAPL")
    assert info.value.status_code == 404


def test_fee_per_share_taken_from_cash():
    engine = make_engine(fee_per_share=0.005)

    buy(engine, 100)
    sell(engine, 100)

    assert engine.account().cash == pytest.approx(100_000 - 100 * 0.02 - 200 * 0.005)


def test_account_equity_is_cash_plus_market_values():
    engine = make_engine()
    engine.on_quote("MSFT", 300.0, 100, 300.1, 100, now_ns=T0)
    buy(engine, 10)
    sell(engine, 5, symbol="MSFT")

    account = engine.account()

    assert account.long_market_value == pytest.approx(10 * 100.01)
    assert account.short_market_value == pytest.approx(-5 * 300.05)
    assert account.equity == pytest.approx(
        account.cash + account.long_market_value + account.short_market_value
    )
    assert [position.symbol for position in engine.positions()] == ["AAPL", "MSFT"]


def test_close_position_full_qty_and_percentage():
    engine = make_engine()
    buy(engine, 40)

    _, half = engine.close_position("AAPL", percentage=50, now_ns=T0 + 2)
    _, ten = engine.close_position("AAPL", qty=10, now_ns=T0 + 3)
    rest, _ = engine.close_position("AAPL", now_ns=T0 + 4)

    assert half[-1].qty == 20.0
    assert half[-1].order.side is Side.SELL
    assert ten[-1].position_qty == 10.0
    assert (rest.qty, rest.status, rest.order_type) == (10.0, "filled", OrderType.MARKET)
    assert engine.positions() == []


def test_close_short_position_buys_back():
    engine = make_engine()
    sell(engine, 5)

    order, _ = engine.close_position("AAPL", now_ns=T0 + 2)

    assert (order.side, order.qty, order.status) == (Side.BUY, 5.0, "filled")


@pytest.mark.parametrize(
    ("kwargs", "status_code"),
    [({"qty": 11}, 403), ({"qty": 1, "percentage": 10}, 422), ({"percentage": 150}, 422)],
)
def test_close_position_with_bad_amount_refused(kwargs, status_code):
    engine = make_engine()
    buy(engine, 10)

    with pytest.raises(EngineRejected) as info:
        engine.close_position("AAPL", now_ns=T0 + 2, **kwargs)

    assert info.value.status_code == status_code
    assert engine.position("AAPL").qty == 10.0


def test_close_missing_position_is_404():
    engine = make_engine()

    with pytest.raises(EngineRejected, match=r"^position does not exist$") as info:
        engine.close_position("AAPL", now_ns=T0)

    assert info.value.status_code == 404


# ------------------------------------------------------------------ trades, end of day, queries


def test_trade_crossing_resting_limits_fills_at_limit_sharing_its_size():
    engine = make_engine()
    first, _ = buy(engine, 30, order_type=OrderType.LIMIT, limit_price=99.5)
    second, _ = buy(engine, 30, order_type=OrderType.LIMIT, limit_price=99.6)
    at_limit, _ = buy(engine, 30, order_type=OrderType.LIMIT, limit_price=99.4)

    events = engine.on_trade("AAPL", 99.4, 40, now_ns=T0 + 2)

    assert [(event.order.id, event.event, event.price, event.qty) for event in events] == [
        (first.id, "fill", 99.5, 30.0),
        (second.id, "partial_fill", 99.6, 10.0),
    ]
    assert engine.get_order(at_limit.id).status == "new"  # not strictly crossed
    assert engine.mark("AAPL") == 99.4


def test_trade_fills_nothing_when_fill_on_trades_off():
    engine = make_engine(fill_on_trades=False)
    buy(engine, 30, order_type=OrderType.LIMIT, limit_price=99.5)

    events = engine.on_trade("AAPL", 99.0, 40, now_ns=T0 + 2)

    assert events == []
    assert engine.mark("AAPL") == 99.0


def test_end_of_day_expires_day_orders_only():
    engine = make_engine()
    day, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)
    gtc, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0, time_in_force=TimeInForce.GTC)

    events = engine.end_of_day(now_ns=T0 + 10)

    assert [(event.event, event.order.id) for event in events] == [("expired", day.id)]
    assert events[0].order.expired_at_ns == T0 + 10
    assert engine.get_order(gtc.id).is_open
    assert engine.account().buying_power == pytest.approx(100_000 - 90.0)


# GET /v2/orders filtering lives in the local venue's REST layer, over the engine's orders
def test_list_orders_filters():
    engine = make_engine()
    engine.on_quote("MSFT", 300.0, 100, 300.1, 100, now_ns=T0)
    a, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0, now_ns=T0 + 1)
    b, _ = sell(engine, 1, now_ns=T0 + 2)  # filled: closed
    c, _ = sell(engine, 1, symbol="MSFT", order_type=OrderType.LIMIT, limit_price=400.0, now_ns=T0 + 3)
    d, _ = buy(engine, 1, symbol="MSFT", order_type=OrderType.LIMIT, limit_price=200.0, now_ns=T0 + 4)

    def ids(**kwargs):
        return [order.id for order in list_orders(engine.orders(), **kwargs)]

    assert ids() == [d.id, c.id, a.id]
    assert ids(status="closed") == [b.id]
    assert ids(status="all", direction="asc") == [a.id, b.id, c.id, d.id]
    assert ids(status="all", limit=2) == [d.id, c.id]
    assert ids(status="all", after_ns=T0 + 1, until_ns=T0 + 4) == [c.id, b.id]
    assert ids(status="all", symbols=["MSFT"]) == [d.id, c.id]
    assert ids(status="all", side="sell") == [c.id, b.id]
    assert ids(status="all", symbols=["AAPL"], side=Side.BUY, limit=None) == [a.id]


@pytest.mark.parametrize("kwargs", [{"status": "pending"}, {"direction": "up"}, {"limit": 0}, {"side": "x"}])
def test_list_orders_with_bad_query_is_422(kwargs):
    engine = make_engine()

    with pytest.raises(EngineRejected) as info:
        list_orders(engine.orders(), **kwargs)

    assert info.value.status_code == 422


def test_get_order_by_client_id_and_404():
    engine = make_engine()
    order, _ = buy(engine, 1, client_order_id="mine")

    found = engine.get_order_by_client_id("mine")
    with pytest.raises(EngineRejected, match=r"^order not found$") as info:
        engine.get_order_by_client_id("other")

    assert found == order
    assert info.value.status_code == 404


def test_generated_client_order_id_and_ids_are_uuid4_and_seeded():
    first = make_engine(seed=11)
    again = make_engine(seed=11)
    other = make_engine(seed=12)

    a, a_events = buy(first, 5)
    b, b_events = buy(again, 5)
    c, _ = buy(other, 5)

    assert uuid.UUID(a.id).version == 4
    assert uuid.UUID(a.client_order_id).version == 4
    assert (a.id, a.client_order_id, a_events[-1].execution_id) == (
        b.id,
        b.client_order_id,
        b_events[-1].execution_id,
    )
    assert a.id != c.id


@pytest.mark.parametrize(
    ("bid", "bid_size", "ask", "ask_size"),
    [(0.0, 1, 1.0, 1), (1.0, 1, math.nan, 1), (1.0, -1, 1.1, 1), (1.1, 1, 1.0, 1)],
)
def test_invalid_quote_raises_value_error(bid, bid_size, ask, ask_size):
    engine = make_engine()

    with pytest.raises(ValueError):
        engine.on_quote("AAPL", bid, bid_size, ask, ask_size, now_ns=T0)

    assert engine.last_quote("AAPL") == (100.0, 100.02)


def test_statistics_count_orders_fills_and_open_orders():
    engine = make_engine()
    buy(engine, 150)
    buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)
    with pytest.raises(EngineRejected):
        buy(engine, 0)

    stats = engine.statistics()

    assert (stats.orders_submitted, stats.fills, stats.open_orders, stats.requests_rejected) == (2, 1, 2, 1)


# ------------------------------------------------------------------ invariants under random use

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(["AAPL", "MSFT"]),
            st.sampled_from(list(Side)),
            st.sampled_from([0.5, 1.0, 7.0, 60.0, 250.0]),
            st.sampled_from(list(OrderType)),
            st.sampled_from(list(TimeInForce)),
            st.integers(-30, 30),  # price offset in cents from the mid
        ),
        st.tuples(
            st.just("quote"), st.sampled_from(["AAPL", "MSFT"]), st.integers(-50, 50), st.integers(0, 300)
        ),
        st.tuples(
            st.just("trade"), st.sampled_from(["AAPL", "MSFT"]), st.integers(-50, 50), st.integers(1, 300)
        ),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        st.tuples(st.just("replace"), st.integers(0, 50), st.sampled_from([1.0, 30.0, 100.0])),
        st.tuples(st.just("end_of_day")),
    ),
    max_size=60,
)


@given(operations=OPERATIONS)
def test_random_use_keeps_cash_positions_and_orders_consistent(operations):
    engine = MatchingEngine(starting_cash=50_000.0, rng=random.Random(0), fee_per_share=0.01)
    mids = {"AAPL": 100.0, "MSFT": 50.0}
    for symbol, mid in mids.items():
        engine.on_quote(symbol, mid - 0.01, 100, mid + 0.01, 100, now_ns=T0)
    events: list[EngineEvent] = []
    order_ids: list[str] = []
    refusals: set[int] = set()
    now = T0
    for operation in operations:
        now += 1
        kind = operation[0]
        try:
            if kind == "submit":
                _, symbol, side, qty, order_type, tif, offset = operation
                price = round(mids[symbol] + offset / 100, 2)
                limit = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
                stop = price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
                order, new_events = engine.submit(
                    symbol=symbol,
                    side=side,
                    qty=qty,
                    order_type=order_type,
                    time_in_force=tif,
                    limit_price=limit,
                    stop_price=stop,
                    now_ns=now,
                )
                order_ids.append(order.id)
                events += new_events
            elif kind == "quote":
                _, symbol, move, size = operation
                mids[symbol] = max(1.0, round(mids[symbol] + move / 100, 2))
                events += engine.on_quote(
                    symbol, mids[symbol] - 0.01, size, mids[symbol] + 0.01, size, now_ns=now
                )
            elif kind == "trade":
                _, symbol, move, size = operation
                events += engine.on_trade(symbol, max(0.5, mids[symbol] + move / 100), size, now_ns=now)
            elif kind == "cancel" and order_ids:
                events += engine.cancel(order_ids[operation[1] % len(order_ids)], now_ns=now)
            elif kind == "replace" and order_ids:
                order, new_events = engine.replace(
                    order_ids[operation[1] % len(order_ids)], qty=operation[2], now_ns=now
                )
                order_ids.append(order.id)
                events += new_events
            elif kind == "end_of_day":
                events += engine.end_of_day(now_ns=now)
        except EngineRejected as exc:
            refusals.add(exc.status_code)

    assert refusals <= {403, 422}
    fills = [event for event in events if event.event in ("fill", "partial_fill")]
    # average cost: cash + sum(qty * avg) == start + realized - fees
    fees = sum(event.qty for event in fills) * 0.01
    held = sum(position.qty * position.avg_entry_price for position in engine.positions())
    realized = engine.realized_pl("AAPL") + engine.realized_pl("MSFT")
    assert engine.account().cash + held == pytest.approx(50_000.0 + realized - fees, abs=1e-6)
    for symbol in mids:
        signed = sum(event.qty * event.order.side.sign for event in fills if event.order.symbol == symbol)
        position = [p.qty for p in engine.positions() if p.symbol == symbol]
        assert (position[0] if position else 0.0) == pytest.approx(signed, abs=1e-9)
    for order in engine.orders():
        assert 0.0 <= order.filled_qty <= order.qty
        own = [event for event in fills if event.order.id == order.id]
        assert order.filled_qty == pytest.approx(sum(event.qty for event in own), abs=1e-9)
        assert (order.status == "filled") == (order.filled_qty == order.qty)
        if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK) and order.order_type in (
            OrderType.MARKET,
            OrderType.LIMIT,
        ):
            assert not order.is_open
        if order.time_in_force is TimeInForce.FOK:
            assert order.filled_qty in (0.0, order.qty)
    assert engine.statistics().open_orders == len(engine.open_orders())


# ------------------------------------------------------------------ market sessions


def test_close_market_expires_day_orders_of_its_symbols_only():
    engine = make_engine()
    engine.on_quote("BTC/USD", 50_000.0, 1, 50_010.0, 1, now_ns=T0)
    day, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)
    gtc, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0, time_in_force=TimeInForce.GTC)
    crypto, _ = buy(engine, 0.01, symbol="BTC/USD", order_type=OrderType.LIMIT, limit_price=40_000.0)

    events = engine.close_market(["AAPL"], now_ns=T0 + 10)

    assert [(event.event, event.order.id) for event in events] == [("expired", day.id)]
    assert engine.get_order(gtc.id).is_open
    assert engine.get_order(crypto.id).is_open
    assert not engine.is_market_open("AAPL")
    assert engine.is_market_open("BTC/USD")


def test_orders_while_closed_are_held_then_fill_on_the_first_quote_after_the_open():
    engine = make_engine()
    engine.close_market(["AAPL"], now_ns=T0)

    order, events = buy(engine, 10)
    quiet = engine.on_quote("AAPL", 90.0, 100, 90.02, 100, now_ns=T0 + 2)
    engine.open_market(["AAPL"])
    opening = engine.on_quote("AAPL", 101.0, 100, 101.02, 100, now_ns=T0 + 3)

    assert names(events) == ["new"]
    assert order.status == "new"
    assert quiet == []
    assert names(opening) == ["fill"]
    assert opening[0].price == 101.02
    assert opening[0].ts_ns == T0 + 3


def test_a_second_close_does_not_expire_orders_held_for_the_next_session():
    engine = make_engine()
    engine.close_market(["AAPL"], now_ns=T0)
    held, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=90.0)

    assert engine.close_market(["AAPL"], now_ns=T0 + 5) == []
    engine.open_market(["AAPL"])
    engine.on_quote("AAPL", 100.0, 100, 100.02, 100, now_ns=T0 + 6)
    events = engine.close_market(["AAPL"], now_ns=T0 + 7)

    assert [(event.event, event.order.id) for event in events] == [("expired", held.id)]


def test_a_held_ioc_is_decided_against_the_first_quote_after_the_open():
    engine = make_engine()
    engine.close_market(["AAPL"], now_ns=T0)
    order, _ = buy(engine, 150, time_in_force=TimeInForce.IOC)

    engine.open_market(["AAPL"])
    events = engine.on_quote("AAPL", 100.0, 100, 100.02, 100, now_ns=T0 + 3)

    assert names(events) == ["partial_fill", "canceled"]
    assert engine.get_order(order.id).filled_qty == 100


def test_trades_while_closed_fill_no_resting_limit():
    engine = make_engine()
    order, _ = buy(engine, 1, order_type=OrderType.LIMIT, limit_price=99.0, time_in_force=TimeInForce.GTC)
    engine.close_market(["AAPL"], now_ns=T0)

    events = engine.on_trade("AAPL", 98.0, 10, now_ns=T0 + 2)

    assert events == []
    assert engine.get_order(order.id).is_open

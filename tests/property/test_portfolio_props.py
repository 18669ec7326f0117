from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given, strategies as st

from pyrt.messages import OrderFilled, RiskApproved, Side, SignalGenerated
from pyrt.risk.engine import RiskEngine
from pyrt.risk.limits import RiskLimits
from pyrt.risk.portfolio import Portfolio

SYMBOLS = ("AAA", "BBB", "CCC")

prices = st.decimals(min_value="0.01", max_value="1000", places=2).map(float)
quantities = st.one_of(
    st.integers(min_value=1, max_value=500).map(float),
    st.decimals(min_value="0.001", max_value="5", places=3).map(float),
)


@st.composite
def fills(draw: st.DrawFn, n: int) -> OrderFilled:
    quantity = draw(quantities)
    return OrderFilled(
        client_order_id=f"pyrt-{n}",
        venue_order_id=f"v-{n}",
        # a small id space, so some fills are redeliveries of earlier ones
        execution_id=f"x-{draw(st.integers(min_value=0, max_value=n))}",
        symbol=draw(st.sampled_from(SYMBOLS)),
        side=draw(st.sampled_from(Side)),
        fill_price=draw(prices),
        fill_quantity=quantity,
        cumulative_quantity=quantity,
        leaves_quantity=0.0,
        fee=draw(st.sampled_from([0.0, 0.01, 1.0])),
        ts_event=n,
        ts_init=n,
    )


@st.composite
def events(draw: st.DrawFn) -> list[OrderFilled | tuple[str, float]]:
    out: list[OrderFilled | tuple[str, float]] = []
    for n in range(draw(st.integers(min_value=1, max_value=40))):
        if draw(st.booleans()):
            out.append(draw(fills(n)))
        else:
            out.append((draw(st.sampled_from(SYMBOLS)), draw(prices)))
    return out


@pytest.mark.slow
@given(events())
def test_realized_plus_unrealized_equals_cash_flows_plus_marked_positions(events):
    portfolio = Portfolio(1_000_000.0)
    cash_flow = 0.0
    positions = dict.fromkeys(SYMBOLS, 0.0)
    marks: dict[str, float] = {}
    seen: set[str] = set()
    scale = 1.0

    for event in events:
        if isinstance(event, OrderFilled):
            portfolio.apply_fill(event)
            if event.execution_id in seen:
                continue
            seen.add(event.execution_id)
            signed = event.side.sign * event.fill_quantity
            cash_flow += -signed * event.fill_price - event.fee
            positions[event.symbol] += signed
            marks.setdefault(event.symbol, event.fill_price)  # a fill prices a symbol never marked
            scale += abs(signed) * event.fill_price
        else:
            symbol, price = event
            portfolio.mark(symbol, price)
            marks[symbol] = price

        expected = cash_flow + sum(q * marks[s] for s, q in positions.items() if s in marks)
        tolerance = 1e-9 * scale
        assert math.isclose(portfolio.realized_pnl + portfolio.unrealized_pnl, expected, abs_tol=tolerance)
        assert math.isclose(portfolio.equity - portfolio.starting_cash, expected, abs_tol=tolerance)
        for symbol, quantity in positions.items():
            assert math.isclose(portfolio.position(symbol).quantity, quantity, abs_tol=1e-9)


@pytest.mark.slow
@given(events())
def test_running_totals_equal_sums_over_positions(events):
    portfolio = Portfolio(1_000_000.0)
    scale = 1.0

    for event in events:
        if isinstance(event, OrderFilled):
            portfolio.apply_fill(event)
            scale += event.fill_quantity * event.fill_price
        else:
            portfolio.mark(*event)

        positions = portfolio.positions()
        tolerance = 1e-9 * scale
        market_value = sum(p.market_value for p in positions)
        assert math.isclose(portfolio.equity, portfolio.cash + market_value, abs_tol=tolerance)
        assert math.isclose(
            portfolio.gross_exposure, sum(abs(p.market_value) for p in positions), abs_tol=tolerance
        )
        assert math.isclose(
            portfolio.total_pnl, portfolio.realized_pnl + portfolio.unrealized_pnl, abs_tol=tolerance
        )
        for p in positions:
            assert portfolio.quantity(p.symbol) == p.quantity


@attrs.define
class _Open:
    approval: RiskApproved
    filled: float = 0.0


@st.composite
def risk_actions(draw: st.DrawFn) -> list[tuple[object, ...]]:
    actions: list[tuple[object, ...]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=60))):
        kind = draw(st.sampled_from(["signal", "signal", "fill", "cancel", "mark"]))
        if kind == "signal":
            actions.append(
                (
                    kind,
                    draw(st.sampled_from(SYMBOLS[:2])),
                    draw(st.sampled_from(Side)),
                    draw(quantities),
                    draw(prices),
                )
            )
        elif kind == "fill":
            actions.append((kind, draw(st.integers(min_value=0)), draw(st.sampled_from([0.25, 0.5, 1.0]))))
        elif kind == "cancel":
            actions.append((kind, draw(st.integers(min_value=0))))
        else:
            actions.append((kind, draw(st.sampled_from(SYMBOLS[:2])), draw(prices)))
    return actions


@pytest.mark.slow
@given(
    actions=risk_actions(),
    max_position_size=st.sampled_from([1.0, 50.0, 100.0, 250.0]),
    max_daily_loss=st.sampled_from([10.0, 1e9]),
    cash=st.sampled_from([1_000.0, 1e9]),
    data=st.data(),
)
def test_approved_orders_filled_at_reference_price_never_exceed_max_position_size(
    actions, max_position_size, max_daily_loss, cash, data
):
    limits = RiskLimits(
        max_order_size=100.0, max_position_size=max_position_size, max_daily_loss=max_daily_loss
    )
    engine = RiskEngine(limits, Portfolio(cash))
    open_orders: list[_Open] = []
    executions = iter(range(10**9))
    bound = max_position_size * (1 + 1e-9)

    def fill(index: int, fraction: float) -> None:
        order = open_orders[index]
        approval = order.approval
        sig = approval.signal
        remaining = sig.quantity - order.filled
        quantity = remaining if fraction == 1.0 else remaining * fraction
        order.filled += quantity
        assert sig.reference_price is not None
        engine.on_fill(
            OrderFilled(
                client_order_id=approval.client_order_id,
                venue_order_id="v-" + approval.client_order_id,
                execution_id=f"x-{next(executions)}",
                symbol=sig.symbol,
                side=sig.side,
                fill_price=sig.reference_price,
                fill_quantity=quantity,
                cumulative_quantity=order.filled,
                leaves_quantity=0.0 if fraction == 1.0 else sig.quantity - order.filled,
                ts_event=0,
                ts_init=0,
            )
        )
        if fraction == 1.0:
            del open_orders[index]

    def assert_within_limit() -> None:
        for symbol in SYMBOLS[:2]:
            position = engine.portfolio.position(symbol).quantity
            assert abs(position) <= bound
            # every interleaving of the open orders' fills stays between these two
            buys = sells = 0.0
            for order in open_orders:
                sig = order.approval.signal
                if sig.symbol == symbol:
                    if sig.side is Side.BUY:
                        buys += sig.quantity - order.filled
                    else:
                        sells += sig.quantity - order.filled
            assert abs(position + buys) <= bound
            assert abs(position - sells) <= bound

    for n, action in enumerate(actions):
        kind = action[0]
        if kind == "signal":
            _, symbol, side, quantity, price = action
            sig = SignalGenerated(
                signal_id=f"s{n}",
                strategy="prop",
                symbol=symbol,
                side=side,
                quantity=quantity,
                reference_price=price,
                ts_event=n,
                ts_init=n,
            )
            decision = engine.check(sig, now_ns=n)
            if isinstance(decision, RiskApproved):
                open_orders.append(_Open(approval=decision))
        elif kind == "fill" and open_orders:
            _, index, fraction = action
            fill(index % len(open_orders), fraction)
        elif kind == "cancel" and open_orders:
            canceled = open_orders.pop(action[1] % len(open_orders))
            engine.on_order_closed(canceled.approval.client_order_id)
        elif kind == "mark":
            _, symbol, price = action
            engine.on_mark(symbol, price)
        assert_within_limit()

    while open_orders:
        fill(data.draw(st.integers(min_value=0, max_value=len(open_orders) - 1)), 1.0)
        assert_within_limit()
    assert engine.statistics().open_orders == 0

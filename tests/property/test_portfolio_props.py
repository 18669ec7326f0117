from __future__ import annotations

import math

from hypothesis import given, strategies as st

from pyrt.messages import OrderFilled, Side
from pyrt.portfolio import Portfolio

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

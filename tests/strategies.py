"""Hypothesis strategies for every message (and the values inside them)."""

from __future__ import annotations

from hypothesis import strategies as st

from pyrt import messages as m

symbols = st.sampled_from(["AAPL", "MSFT", "SPY", "BTC/USD", "BRK.B"])
prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)
sizes = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
timestamps = st.integers(min_value=0, max_value=2**62)
texts = st.text(min_size=1, max_size=24)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=36)


@st.composite
def trades(draw: st.DrawFn) -> m.TradeReceived:
    return m.TradeReceived(
        symbol=draw(symbols),
        price=draw(prices),
        size=draw(sizes),
        trade_id=draw(st.integers(0, 2**62)),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def quotes(draw: st.DrawFn) -> m.QuoteReceived:
    bid = draw(prices)
    return m.QuoteReceived(
        symbol=draw(symbols),
        bid_price=bid,
        bid_size=draw(non_negative),
        ask_price=bid + draw(st.floats(0, 100, allow_nan=False)),
        ask_size=draw(non_negative),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def bars(draw: st.DrawFn) -> m.BarReceived:
    points = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
    low, a, b, high = points
    open_, close = (a, b) if draw(st.booleans()) else (b, a)
    return m.BarReceived(
        symbol=draw(symbols),
        timeframe=draw(st.sampled_from(["1s", "1m", "5m", "1h", "1d"])),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=draw(non_negative),
        vwap=draw(st.none() | prices),
        trade_count=draw(st.integers(0, 10**9)),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


levels = st.builds(m.BookLevel, price=prices, size=non_negative)


@st.composite
def books(draw: st.DrawFn) -> m.BookReceived:
    return m.BookReceived(
        symbol=draw(symbols),
        bids=tuple(draw(st.lists(levels, max_size=5))),
        asks=tuple(draw(st.lists(levels, max_size=5))),
        reset=draw(st.booleans()),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def order_shapes(draw: st.DrawFn) -> dict[str, object]:
    order_type = draw(st.sampled_from(list(m.OrderType)))
    limit = draw(prices) if order_type in (m.OrderType.LIMIT, m.OrderType.STOP_LIMIT) else None
    stop = draw(prices) if order_type in (m.OrderType.STOP, m.OrderType.STOP_LIMIT) else None
    return {
        "order_type": order_type,
        "limit_price": limit,
        "stop_price": stop,
        "time_in_force": draw(st.sampled_from(list(m.TimeInForce))),
    }


@st.composite
def signals(draw: st.DrawFn) -> m.SignalGenerated:
    return m.SignalGenerated(
        signal_id=draw(ids),
        strategy=draw(texts),
        symbol=draw(symbols),
        side=draw(st.sampled_from(list(m.Side))),
        quantity=draw(sizes),
        reference_price=draw(st.none() | prices),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
        **draw(order_shapes()),  # type: ignore[arg-type]
    )


@st.composite
def approvals(draw: st.DrawFn) -> m.RiskApproved:
    return m.RiskApproved(
        signal=draw(signals()), client_order_id=draw(ids), ts_event=draw(timestamps), ts_init=draw(timestamps)
    )


@st.composite
def rejections(draw: st.DrawFn) -> m.RiskRejected:
    return m.RiskRejected(
        signal=draw(signals()),
        reason_code=draw(texts),
        reason=draw(st.text()),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def submissions(draw: st.DrawFn) -> m.OrderSubmitted:
    return m.OrderSubmitted(
        client_order_id=draw(ids),
        symbol=draw(symbols),
        side=draw(st.sampled_from(list(m.Side))),
        quantity=draw(sizes),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
        **draw(order_shapes()),  # type: ignore[arg-type]
    )


@st.composite
def accepts(draw: st.DrawFn) -> m.OrderAccepted:
    return m.OrderAccepted(
        client_order_id=draw(ids),
        venue_order_id=draw(ids),
        symbol=draw(symbols),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def fills(draw: st.DrawFn) -> m.OrderFilled:
    qty = draw(sizes)
    return m.OrderFilled(
        client_order_id=draw(ids),
        venue_order_id=draw(ids),
        execution_id=draw(ids),
        symbol=draw(symbols),
        side=draw(st.sampled_from(list(m.Side))),
        fill_price=draw(prices),
        fill_quantity=qty,
        cumulative_quantity=qty + draw(non_negative),
        leaves_quantity=draw(non_negative),
        fee=draw(non_negative),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def cancels(draw: st.DrawFn) -> m.OrderCanceled:
    return m.OrderCanceled(
        client_order_id=draw(ids),
        venue_order_id=draw(st.text(max_size=36)),
        symbol=draw(symbols),
        filled_quantity=draw(non_negative),
        reason=draw(st.text()),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


@st.composite
def order_rejections(draw: st.DrawFn) -> m.OrderRejected:
    return m.OrderRejected(
        client_order_id=draw(ids),
        symbol=draw(symbols),
        reason=draw(st.text()),
        status_code=draw(st.none() | st.integers(100, 599)),
        ts_event=draw(timestamps),
        ts_init=draw(timestamps),
    )


heartbeats = st.builds(
    m.Heartbeat, actor=texts, sequence=st.integers(0, 2**62), ts_event=timestamps, ts_init=timestamps
)
supervisor_events = st.builds(
    m.SupervisorEvent,
    supervisor=texts,
    child=texts,
    kind=st.sampled_from(list(m.SupervisorEventKind)),
    error=st.none() | st.text(),
    restarts=st.integers(0, 1000),
    ts_event=timestamps,
    ts_init=timestamps,
)

trading_states = st.sampled_from(["active", "reducing", "halted"])
state_changes = st.builds(
    m.TradingStateChanged,
    state=trading_states,
    previous=trading_states,
    reason=st.text(),
    automatic=st.booleans(),
    cancel_open_orders=st.booleans(),
    ts_event=timestamps,
    ts_init=timestamps,
)

BY_TYPE = {
    m.TradeReceived: trades(),
    m.QuoteReceived: quotes(),
    m.BarReceived: bars(),
    m.BookReceived: books(),
    m.SignalGenerated: signals(),
    m.RiskApproved: approvals(),
    m.RiskRejected: rejections(),
    m.TradingStateChanged: state_changes,
    m.OrderSubmitted: submissions(),
    m.OrderAccepted: accepts(),
    m.OrderFilled: fills(),
    m.OrderCanceled: cancels(),
    m.OrderRejected: order_rejections(),
    m.Heartbeat: heartbeats,
    m.SupervisorEvent: supervisor_events,
}

any_message = st.one_of(*BY_TYPE.values())

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrt.execution.orders import OrderState, OrderTracker
from pyrt.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
)
from pyrt.persistence.reconcile import PositionMismatch, ReconcileReport, SessionCheck, reconcile
from pyrt.persistence.store import Store, StoredOrder
from pyrt.venues import VenueOrder, VenuePosition

NOW = 1_000_000


def stored(
    coid: str,
    *,
    state: OrderState = OrderState.ACCEPTED,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    quantity: float = 10.0,
    filled_quantity: float = 0.0,
    avg_fill_price: float | None = None,
    venue_order_id: str | None = "default",
    limit_price: float | None = None,
) -> StoredOrder:
    return StoredOrder(
        client_order_id=coid,
        venue_order_id=f"v-{coid}" if venue_order_id == "default" else venue_order_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        filled_quantity=filled_quantity,
        avg_fill_price=avg_fill_price,
        fees=0.0,
        state=state,
        reason="",
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=limit_price,
        stop_price=None,
        signal_id=f"sig-{coid}",
        ts_created=1,
        ts_submitted=2,
        ts_accepted=3,
        ts_last=3,
    )


def venue(
    coid: str,
    *,
    status: str,
    filled: float = 0.0,
    avg: float | None = None,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    quantity: float = 10.0,
    venue_order_id: str | None = None,
) -> VenueOrder:
    return VenueOrder(
        venue_order_id=venue_order_id or f"v-{coid}",
        client_order_id=coid,
        symbol=symbol,
        side=side,
        quantity=quantity,
        filled_quantity=filled,
        filled_avg_price=avg,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        stop_price=None,
        status=status,
    )


def fill(
    coid: str,
    execution_id: str,
    *,
    quantity: float,
    price: float,
    cumulative: float,
    leaves: float,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
) -> OrderFilled:
    return OrderFilled(
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        execution_id=execution_id,
        symbol=symbol,
        side=side,
        fill_price=price,
        fill_quantity=quantity,
        cumulative_quantity=cumulative,
        leaves_quantity=leaves,
        ts_event=5,
        ts_init=5,
    )


def position(symbol: str, quantity: float, avg: float) -> VenuePosition:
    return VenuePosition(symbol=symbol, quantity=quantity, avg_entry_price=avg)


def run(
    orders: list[StoredOrder],
    fills: list[OrderFilled],
    venue_orders: list[VenueOrder],
    positions: list[VenuePosition],
) -> ReconcileReport:
    return reconcile(orders, fills, venue_orders, positions, now_ns=NOW)


# --- missing fills -------------------------------------------------------------------------------


def test_fill_while_down_makes_one_synthetic_fill() -> None:
    report = run(
        [stored("a")],
        [],
        [venue("a", status="partially_filled", filled=4.0, avg=100.0)],
        [position("AAPL", 4.0, 100.0)],
    )

    assert report.missing_fills == (
        OrderFilled(
            client_order_id="a",
            venue_order_id="v-a",
            execution_id="reconcile-a-4",
            symbol="AAPL",
            side=Side.BUY,
            fill_price=100.0,
            fill_quantity=4.0,
            cumulative_quantity=4.0,
            leaves_quantity=6.0,
            ts_event=NOW,
            ts_init=NOW,
        ),
    )
    assert report.closed_orders == ()
    assert report.accepted_orders == ()
    assert report.position_mismatches == ()


def test_partially_filled_order_finished_while_down_gets_the_rest_at_the_venue_average() -> None:
    recorded = [fill("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0)]
    order = stored("a", state=OrderState.PARTIALLY_FILLED, filled_quantity=4.0, avg_fill_price=100.0)

    report = run([order], recorded, [venue("a", status="filled", filled=10.0, avg=101.0)], [])

    [missing] = report.missing_fills
    assert missing.fill_quantity == 6.0
    assert missing.cumulative_quantity == 10.0
    assert missing.leaves_quantity == 0.0
    average = (4.0 * 100.0 + missing.fill_quantity * missing.fill_price) / 10.0
    assert average == pytest.approx(101.0, rel=1e-12)
    assert report.closed_orders == ()  # the final fill ends it


def test_synthetic_fill_price_falls_back_to_venue_average_when_not_positive() -> None:
    recorded = [fill("a", "x1", quantity=5.0, price=200.0, cumulative=5.0, leaves=5.0)]
    order = stored("a", state=OrderState.PARTIALLY_FILLED, filled_quantity=5.0, avg_fill_price=200.0)

    report = run([order], recorded, [venue("a", status="filled", filled=6.0, avg=100.0, quantity=6.0)], [])

    assert [f.fill_price for f in report.missing_fills] == [100.0]


def test_synthetic_fill_without_venue_price_uses_the_order_limit() -> None:
    order = stored("a", limit_price=99.0)

    report = run([order], [], [venue("a", status="filled", filled=10.0, avg=None)], [])

    assert [f.fill_price for f in report.missing_fills] == [99.0]


def test_synthetic_fill_without_any_price_is_a_problem_not_a_fill() -> None:
    report = run([stored("a")], [], [venue("a", status="filled", filled=10.0, avg=None)], [])

    assert report.missing_fills == ()
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "order a: the venue filled 10 more than we recorded but gives no price"
    )


def test_late_fill_for_an_order_we_recorded_as_canceled_is_made_up() -> None:
    order = stored("a", state=OrderState.CANCELED)

    report = run(
        [order], [], [venue("a", status="canceled", filled=2.0, avg=50.0)], [position("AAPL", 2.0, 50.0)]
    )

    assert [(f.fill_quantity, f.leaves_quantity) for f in report.missing_fills] == [(2.0, 8.0)]
    assert report.closed_orders == ()  # already ended here
    assert report.position_mismatches == ()


def test_short_sale_filled_while_down_matches_a_short_venue_position() -> None:
    order = stored("s", side=Side.SELL, quantity=5.0)

    report = run(
        [order],
        [],
        [venue("s", status="filled", filled=5.0, avg=20.0, side=Side.SELL, quantity=5.0)],
        [position("AAPL", -5.0, 20.0)],
    )

    [missing] = report.missing_fills
    assert (missing.side, missing.fill_quantity, missing.fill_price) == (Side.SELL, 5.0, 20.0)
    assert report.position_mismatches == ()


def test_venue_filled_less_than_recorded_is_a_problem() -> None:
    recorded = [fill("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0)]
    order = stored("a", state=OrderState.PARTIALLY_FILLED, filled_quantity=4.0, avg_fill_price=100.0)

    report = run([order], recorded, [venue("a", status="partially_filled", filled=3.0, avg=100.0)], [])

    assert report.missing_fills == ()
    assert report.problems == (
        "order a: we recorded 4 filled, the venue reports only 3 (partially_filled); left as recorded",
    )


# --- closing orders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("canceled", OrderState.CANCELED),
        ("expired", OrderState.EXPIRED),
        ("replaced", OrderState.CANCELED),  # done_for_day is open: see test_alpaca_order_model
        ("rejected", OrderState.REJECTED),
    ],
)
def test_order_ended_while_down_is_closed(status: str, state: OrderState) -> None:
    report = run([stored("a")], [], [venue("a", status=status)], [])

    [closed] = report.closed_orders
    assert closed.reason == f"reconciled: venue reports {status}"
    assert isinstance(closed, OrderRejected if status == "rejected" else OrderCanceled)
    tracker = _tracker_with_accepted_order("a")
    assert tracker.on_message(closed) is None
    view = tracker.get("a")
    assert view is not None
    assert view.state is state


def test_partially_filled_then_canceled_while_down_gets_fill_then_cancel() -> None:
    report = run([stored("a")], [], [venue("a", status="canceled", filled=3.0, avg=10.0)], [])

    tracker = _tracker_with_accepted_order("a")
    for msg in report.messages():
        assert tracker.on_message(msg) is None  # type: ignore[arg-type]  # the report holds tracker inputs
    view = tracker.get("a")
    assert view is not None
    assert (view.state, view.filled_quantity) == (OrderState.CANCELED, 3.0)
    assert [f.leaves_quantity for f in report.missing_fills] == [7.0]


@pytest.mark.parametrize(
    ("state", "venue_order_id"),
    [
        (OrderState.SUBMITTED, None),  # the POST never arrived
        (OrderState.PENDING_SUBMIT, None),  # approved, never sent
        (OrderState.ACCEPTED, "v-a"),  # the venue forgot it (or it aged out of its list)
    ],
)
def test_open_order_the_venue_does_not_know_is_closed_as_unknown(
    state: OrderState, venue_order_id: str | None
) -> None:
    report = run([stored("a", state=state, venue_order_id=venue_order_id)], [], [], [])

    assert report.closed_orders == (
        OrderCanceled(
            client_order_id="a",
            venue_order_id=venue_order_id or "",
            symbol="AAPL",
            filled_quantity=0.0,
            reason="reconciled: unknown at venue",
            ts_event=NOW,
            ts_init=NOW,
        ),
    )


def test_ended_order_the_venue_does_not_know_needs_nothing() -> None:
    report = run([stored("a", state=OrderState.FILLED, filled_quantity=10.0)], [], [], [])

    assert report.closed_orders == ()


def test_open_order_without_venue_id_learns_it_from_the_venue() -> None:
    order = stored("a", state=OrderState.PENDING_SUBMIT, venue_order_id=None)

    report = run([order], [], [venue("a", status="new", venue_order_id="V9")], [])

    assert report.accepted_orders == (
        OrderAccepted(client_order_id="a", venue_order_id="V9", symbol="AAPL", ts_event=NOW, ts_init=NOW),
    )
    assert report.closed_orders == ()
    assert report.adopted_orders == ()


def test_order_still_working_at_the_venue_needs_nothing() -> None:
    report = run([stored("a")], [], [venue("a", status="new")], [])

    assert report.is_clean


# --- orders we never recorded ----------------------------------------------------------------------


def test_open_order_we_never_recorded_is_adopted() -> None:
    other = venue("z", status="new", quantity=7.0)

    report = run([], [], [other], [])

    assert report.adopted_orders == (other,)
    assert report.messages() == ()


def test_open_order_we_recorded_as_ended_is_adopted() -> None:
    other = venue("a", status="accepted")

    report = run([stored("a", state=OrderState.CANCELED)], [], [other], [])

    assert report.adopted_orders == (other,)


def test_ended_unrecorded_order_with_fills_is_reported_with_its_position_effect() -> None:
    gone = venue("z", status="filled", filled=3.0, avg=10.0, quantity=3.0)
    never_filled = venue("y", status="canceled")

    report = run([], [], [gone, never_filled], [position("AAPL", 3.0, 10.0)])

    assert report.unrecorded_filled_orders == (gone,)
    assert report.adopted_orders == ()
    assert report.position_mismatches == (
        PositionMismatch(
            symbol="AAPL", quantity=0.0, venue_quantity=3.0, avg_price=0.0, venue_avg_price=10.0
        ),
    )
    assert report.position_mismatches[0].difference == 3.0


# --- contradictions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        venue("a", status="filled", filled=10.0, avg=1.0, symbol="MSFT"),
        venue("a", status="filled", filled=10.0, avg=1.0, side=Side.SELL),
        venue("a", status="filled", filled=10.0, avg=1.0, venue_order_id="someone-else"),
    ],
)
def test_venue_order_that_contradicts_ours_is_a_problem_and_left_alone(other: VenueOrder) -> None:
    report = run([stored("a")], [], [other], [])

    assert report.messages() == ()
    assert len(report.problems) == 1
    assert report.problems[0].startswith("order a: we recorded")


def test_same_order_listed_open_then_closed_uses_the_closed_view() -> None:
    report = run(
        [stored("a")],
        [],
        [venue("a", status="new"), venue("a", status="canceled")],
        [],
    )

    assert [c.reason for c in report.closed_orders] == ["reconciled: venue reports canceled"]


# --- positions ---------------------------------------------------------------------------------------


def test_position_mismatch_is_reported_not_overwritten() -> None:
    recorded = [fill("a", "x1", quantity=10.0, price=100.0, cumulative=10.0, leaves=0.0)]
    order = stored("a", state=OrderState.FILLED, filled_quantity=10.0, avg_fill_price=100.0)

    report = run(
        [order],
        recorded,
        [venue("a", status="filled", filled=10.0, avg=100.0)],
        [position("AAPL", 12.0, 99.0)],
    )

    assert report.messages() == ()
    assert report.position_mismatches == (
        PositionMismatch(
            symbol="AAPL", quantity=10.0, venue_quantity=12.0, avg_price=100.0, venue_avg_price=99.0
        ),
    )
    assert not report.is_clean


def test_flat_position_matches_a_venue_without_the_symbol() -> None:
    recorded = [
        fill("a", "x1", quantity=10.0, price=100.0, cumulative=10.0, leaves=0.0),
        fill("b", "x2", quantity=10.0, price=101.0, cumulative=10.0, leaves=0.0, side=Side.SELL),
    ]

    report = run([], recorded, [], [])

    assert report.position_mismatches == ()


def test_crypto_pair_matches_the_venue_spelling_without_slash() -> None:
    recorded = [fill("a", "x1", quantity=0.5, price=60000.0, cumulative=0.5, leaves=0.0, symbol="BTC/USD")]

    report = run([], recorded, [], [position("BTCUSD", 0.5, 60000.0)])

    assert report.position_mismatches == ()


def test_float_noise_in_quantities_is_not_a_mismatch() -> None:
    recorded = [
        fill("a", "x1", quantity=0.1, price=10.0, cumulative=0.1, leaves=0.0),
        fill("b", "x2", quantity=0.2, price=10.0, cumulative=0.2, leaves=0.0),
    ]

    report = run([], recorded, [], [position("AAPL", 0.3, 10.0)])

    assert report.position_mismatches == ()


# --- a whole restart -------------------------------------------------------------------------------


def _signal(coid: str, side: Side, quantity: float) -> RiskApproved:
    signal = SignalGenerated(
        signal_id=f"sig-{coid}",
        strategy="test",
        symbol="AAPL",
        side=side,
        quantity=quantity,
        ts_event=1,
        ts_init=1,
    )
    return RiskApproved(signal=signal, client_order_id=coid, ts_event=1, ts_init=1)


def _submit(coid: str, side: Side, quantity: float) -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=coid,
        symbol="AAPL",
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        ts_event=2,
        ts_init=2,
    )


def _accept(coid: str) -> OrderAccepted:
    return OrderAccepted(
        client_order_id=coid, venue_order_id=f"v-{coid}", symbol="AAPL", ts_event=3, ts_init=3
    )


def _tracker_with_accepted_order(coid: str) -> OrderTracker:
    tracker = OrderTracker()
    for msg in (_signal(coid, Side.BUY, 10.0), _submit(coid, Side.BUY, 10.0), _accept(coid)):
        assert tracker.on_message(msg) is None
    return tracker


@pytest.fixture
def crashed_store(tmp_path: Path) -> Iterator[Store]:
    """What a run left behind when it was killed, with the venue moving on while it was down."""
    store = Store.open(tmp_path / "pyrt.sqlite3")
    store.record_many(
        [
            # a: accepted, 4 of 10 filled before the crash; the rest filled while down
            _signal("a", Side.BUY, 10.0),
            _submit("a", Side.BUY, 10.0),
            _accept("a"),
            fill("a", "x1", quantity=4.0, price=100.0, cumulative=4.0, leaves=6.0),
            # b: submitted, but the POST never arrived
            _signal("b", Side.BUY, 1.0),
            _submit("b", Side.BUY, 1.0),
            # c: accepted; 2 of 5 filled while down, then canceled
            _signal("c", Side.BUY, 5.0),
            _submit("c", Side.BUY, 5.0),
            _accept("c"),
            # d: approved; the POST reached the venue just before the crash, still working
            _signal("d", Side.BUY, 3.0),
            # e: a short sale, filled completely while down
            _signal("e", Side.SELL, 8.0),
            _submit("e", Side.SELL, 8.0),
            _accept("e"),
        ]
    )
    with store:
        yield store


VENUE_ORDERS = [
    venue("a", status="filled", filled=10.0, avg=100.6),
    venue("c", status="canceled", filled=2.0, avg=99.0, quantity=5.0),
    venue("d", status="new", quantity=3.0),
    venue("e", status="filled", filled=8.0, avg=102.0, side=Side.SELL, quantity=8.0),
]
# 10 bought in a, 2 in c, 8 sold in e
VENUE_POSITIONS = [position("AAPL", 4.0, 100.0)]


def test_restart_reconcile_applies_cleanly_and_matches_positions(crashed_store: Store) -> None:
    report = reconcile(
        crashed_store.orders(), crashed_store.fills(), VENUE_ORDERS, VENUE_POSITIONS, now_ns=NOW
    )

    assert [f.client_order_id for f in report.missing_fills] == ["a", "c", "e"]
    assert [(c.client_order_id, c.reason) for c in report.closed_orders] == [
        ("b", "reconciled: unknown at venue"),
        ("c", "reconciled: venue reports canceled"),
    ]
    assert [a.client_order_id for a in report.accepted_orders] == ["d"]
    assert report.adopted_orders == ()
    assert report.position_mismatches == ()
    assert report.problems == ()
    assert report.summary().splitlines()[0] == (
        "reconcile: 3 missing fill(s), 2 order(s) closed, 1 accept(s) learned, 0 adopted order(s), "
        "0 unrecorded filled order(s), 0 position mismatch(es), 0 problem(s)"
    )

    assert crashed_store.record_many(report.messages()) == len(report.messages())
    tracker = OrderTracker()
    for msg in crashed_store.messages():
        assert tracker.on_message(msg) is None  # type: ignore[arg-type]  # the store keeps tracker inputs only
    states = {o.client_order_id: o.state for o in crashed_store.orders()}
    assert states == {
        "a": OrderState.FILLED,
        "b": OrderState.CANCELED,
        "c": OrderState.CANCELED,
        "d": OrderState.ACCEPTED,
        "e": OrderState.FILLED,
    }
    assert {o.client_order_id: o.state for o in tracker.open_orders()} == {"d": OrderState.ACCEPTED}
    a = crashed_store.order("a")
    assert a is not None
    assert a.avg_fill_price == pytest.approx(100.6, rel=1e-12)
    assert crashed_store.positions()["AAPL"].quantity == pytest.approx(4.0)


def test_reconciling_twice_after_recording_the_first_report_does_nothing(crashed_store: Store) -> None:
    first = reconcile(
        crashed_store.orders(), crashed_store.fills(), VENUE_ORDERS, VENUE_POSITIONS, now_ns=NOW
    )
    crashed_store.record_many(first.messages())

    second = reconcile(
        crashed_store.orders(), crashed_store.fills(), VENUE_ORDERS, VENUE_POSITIONS, now_ns=NOW + 1
    )

    assert second.is_clean
    assert second.summary() == (
        "reconcile: 0 missing fill(s), 0 order(s) closed, 0 accept(s) learned, 0 adopted order(s), "
        "0 unrecorded filled order(s), 0 position mismatch(es), 0 problem(s)"
    )


def test_recording_a_report_twice_keeps_one_copy_of_each_synthetic_fill(crashed_store: Store) -> None:
    first = reconcile(
        crashed_store.orders(), crashed_store.fills(), VENUE_ORDERS, VENUE_POSITIONS, now_ns=NOW
    )
    again = reconcile(
        crashed_store.orders(), crashed_store.fills(), VENUE_ORDERS, VENUE_POSITIONS, now_ns=NOW + 5
    )

    crashed_store.record_many(first.messages())
    crashed_store.record_many(again.messages())  # e.g. a second crash before the first report was used

    assert [f.execution_id for f in first.missing_fills] == [f.execution_id for f in again.missing_fills]
    assert len(crashed_store.fills()) == 1 + 3
    assert crashed_store.positions()["AAPL"].quantity == pytest.approx(4.0)


# ---------------------------------------------------------------------------- during a session


def _venue(**quantities: float) -> list[VenuePosition]:
    return [VenuePosition(symbol=s, quantity=q, avg_entry_price=100.0) for s, q in quantities.items()]


def test_session_check_halts_at_once_when_the_account_id_changes() -> None:
    check = SessionCheck()
    assert check.check(account_id="A1", ours={"AAPL": 10.0}, venue=_venue(AAPL=10.0), open_orders=0) is None

    reason = check.check(account_id="B2", ours={"AAPL": 10.0}, venue=_venue(AAPL=10.0), open_orders=3)

    assert reason is not None
    assert "account changed" in reason
    assert "A1" in reason
    assert "B2" in reason
    # said once, not at every check after
    assert check.check(account_id="B2", ours={"AAPL": 10.0}, venue=_venue(AAPL=10.0), open_orders=0) is None


def test_session_check_needs_two_mismatches_in_a_row_with_no_order_open() -> None:
    check = SessionCheck(confirmations=2)
    ours = {"AAPL": 10.0, "MSFT": 0.0}

    assert check.check(account_id=None, ours=ours, venue=_venue(), open_orders=0) is None  # 1st
    assert check.check(account_id=None, ours=ours, venue=_venue(), open_orders=1) is None  # in flight
    assert check.check(account_id=None, ours=ours, venue=_venue(), open_orders=0) is None  # 1st again
    reason = check.check(account_id=None, ours=ours, venue=_venue(), open_orders=0)

    assert reason is not None
    assert "AAPL ours 10 venue 0" in reason
    assert "MSFT" not in reason
    assert check.check(account_id=None, ours=ours, venue=_venue(), open_orders=0) is None  # said once


def test_session_check_passes_matching_positions_and_crypto_spellings() -> None:
    check = SessionCheck(confirmations=1)

    for _ in range(3):
        assert (
            check.check(
                account_id="A1",
                ours={"BTC/USD": 0.5, "AAPL": -3.0, "MSFT": 0.0},
                venue=_venue(BTCUSD=0.5, AAPL=-3.0),
                open_orders=0,
            )
            is None
        )


def test_session_check_rearms_after_the_positions_agree_again() -> None:
    check = SessionCheck(confirmations=1)
    assert check.check(account_id=None, ours={"AAPL": 1.0}, venue=_venue(), open_orders=0) is not None
    assert check.check(account_id=None, ours={"AAPL": 1.0}, venue=_venue(AAPL=1.0), open_orders=0) is None

    assert check.check(account_id=None, ours={"AAPL": 1.0}, venue=_venue(), open_orders=0) is not None


def test_session_check_halts_once_when_the_account_may_no_longer_trade() -> None:
    """Issue 8 §4 during a session: an account blocked mid-run halts, as it would at start."""
    check = SessionCheck()
    venue = _venue(AAPL=10.0)
    assert check.check(account_id="A1", ours={"AAPL": 10.0}, venue=venue, open_orders=0) is None

    problem = "venue account PA1 may not trade (trading_blocked)"
    reason = check.check(
        account_id="A1", ours={"AAPL": 10.0}, venue=venue, open_orders=2, account_problem=problem
    )

    assert reason is not None
    assert problem in reason
    # said once while it lasts; said again if it comes back after clearing
    assert (
        check.check(account_id="A1", ours={"AAPL": 10.0}, venue=venue, open_orders=0, account_problem=problem)
        is None
    )
    assert check.check(account_id="A1", ours={"AAPL": 10.0}, venue=venue, open_orders=0) is None
    assert (
        check.check(account_id="A1", ours={"AAPL": 10.0}, venue=venue, open_orders=0, account_problem=problem)
        is not None
    )

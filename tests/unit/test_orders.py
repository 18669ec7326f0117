from __future__ import annotations

import itertools
from typing import Any

import attrs
import pytest

from pyrt.execution.orders import AnomalyKind, OrderAnomaly, OrderState, OrderTracker, TrackerInput
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

COID = "pyrt-s1"
_n = itertools.count(1)


def approved(client_order_id: str = COID, quantity: float = 100.0) -> RiskApproved:
    sig = SignalGenerated(
        signal_id="s1",
        strategy="test",
        symbol="AAPL",
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.LIMIT,
        limit_price=100.0,
        reference_price=99.5,
        ts_event=1,
        ts_init=1,
    )
    return RiskApproved(signal=sig, client_order_id=client_order_id, ts_event=1, ts_init=1)


def submitted(client_order_id: str = COID, quantity: float = 100.0, **changes: Any) -> OrderSubmitted:
    msg = OrderSubmitted(
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=100.0,
        ts_event=2,
        ts_init=2,
    )
    return attrs.evolve(msg, **changes)


def accepted(client_order_id: str = COID, venue_order_id: str = "V1") -> OrderAccepted:
    return OrderAccepted(
        client_order_id=client_order_id, venue_order_id=venue_order_id, symbol="AAPL", ts_event=3, ts_init=3
    )


def filled(
    quantity: float,
    price: float = 100.0,
    *,
    cumulative: float,
    leaves: float,
    client_order_id: str = COID,
    execution_id: str | None = None,
    **changes: Any,
) -> OrderFilled:
    n = next(_n)
    msg = OrderFilled(
        client_order_id=client_order_id,
        venue_order_id="V1",
        execution_id=execution_id or f"x{n}",
        symbol="AAPL",
        side=Side.BUY,
        fill_price=price,
        fill_quantity=quantity,
        cumulative_quantity=cumulative,
        leaves_quantity=leaves,
        fee=0.5,
        ts_event=10 + n,
        ts_init=10 + n,
    )
    return attrs.evolve(msg, **changes)


def canceled(reason: str = "canceled", client_order_id: str = COID) -> OrderCanceled:
    return OrderCanceled(
        client_order_id=client_order_id,
        venue_order_id="V1",
        symbol="AAPL",
        reason=reason,
        ts_event=4,
        ts_init=4,
    )


def rejected(client_order_id: str = COID) -> OrderRejected:
    return OrderRejected(
        client_order_id=client_order_id,
        symbol="AAPL",
        reason="insufficient buying power",
        ts_event=5,
        ts_init=5,
    )


def state(tracker: OrderTracker, client_order_id: str = COID) -> OrderState | None:
    view = tracker.get(client_order_id)
    return None if view is None else view.state


def submitted_tracker() -> OrderTracker:
    tracker = OrderTracker()
    assert tracker.on_approved(approved()) is None
    assert tracker.on_submitted(submitted()) is None
    return tracker


def test_happy_path_walks_every_state_and_averages_fills():
    tracker = OrderTracker()

    steps: list[tuple[TrackerInput, OrderState]] = [
        (approved(), OrderState.PENDING_SUBMIT),
        (submitted(), OrderState.SUBMITTED),
        (accepted(), OrderState.ACCEPTED),
        (filled(40, 99.0, cumulative=40, leaves=60), OrderState.PARTIALLY_FILLED),
        (filled(60, 100.0, cumulative=100, leaves=0), OrderState.FILLED),
    ]

    for message, expected in steps:
        assert tracker.on_message(message) is None
        assert state(tracker) is expected
    view = tracker.get(COID)
    assert view is not None
    assert view.venue_order_id == "V1"
    assert view.filled_quantity == 100
    assert view.avg_fill_price == pytest.approx(99.6)
    assert view.fees == 1.0
    assert view.signal_id == "s1"
    assert view.leaves_quantity == 0.0
    assert tracker.open_orders() == ()
    assert tracker.statistics().fills_applied == 2


def test_fill_before_accept_moves_on_and_late_accept_changes_nothing():
    tracker = submitted_tracker()

    assert tracker.on_filled(filled(30, cumulative=30, leaves=70)) is None
    view = tracker.get(COID)
    assert view is not None
    assert view.state is OrderState.PARTIALLY_FILLED
    assert view.venue_order_id == "V1"  # learned from the fill

    assert tracker.on_accepted(accepted()) is None
    assert tracker.on_submitted(submitted()) is None
    assert state(tracker) is OrderState.PARTIALLY_FILLED
    assert tracker.statistics().anomalies == 0


def test_fill_of_pending_order_and_final_fill_before_accept():
    tracker = OrderTracker()
    tracker.on_approved(approved())

    assert tracker.on_filled(filled(100, cumulative=100, leaves=0)) is None
    assert tracker.on_accepted(accepted()) is None

    assert state(tracker) is OrderState.FILLED


def test_fills_out_of_order_count_both_and_end_filled():
    tracker = submitted_tracker()

    assert tracker.on_filled(filled(60, cumulative=100, leaves=0)) is None
    assert state(tracker) is OrderState.FILLED
    assert tracker.on_filled(filled(40, cumulative=40, leaves=60)) is None

    view = tracker.get(COID)
    assert view is not None
    assert view.state is OrderState.FILLED
    assert view.filled_quantity == 100


def test_fill_after_cancel_within_quantity_counts_and_keeps_canceled():
    tracker = submitted_tracker()
    tracker.on_filled(filled(30, cumulative=30, leaves=70))
    assert tracker.on_canceled(canceled()) is None

    assert tracker.on_filled(filled(20, cumulative=50, leaves=0)) is None

    view = tracker.get(COID)
    assert view is not None
    assert view.state is OrderState.CANCELED
    assert view.filled_quantity == 50
    assert view.leaves_quantity == 0.0


def test_fill_after_cancel_completing_quantity_makes_order_filled():
    tracker = submitted_tracker()
    tracker.on_canceled(canceled())

    assert tracker.on_filled(filled(100, cumulative=100, leaves=0)) is None

    assert state(tracker) is OrderState.FILLED


def test_fill_after_cancel_exceeding_quantity_is_overfill_anomaly():
    tracker = submitted_tracker()
    tracker.on_filled(filled(80, cumulative=80, leaves=20))
    tracker.on_canceled(canceled())
    excess = filled(30, cumulative=110, leaves=0)

    anomaly = tracker.on_filled(excess)

    assert anomaly == OrderAnomaly(
        kind=AnomalyKind.OVERFILL,
        client_order_id=COID,
        detail="filled 80 + 30 exceeds quantity 100 (canceled)",
        message=excess,
    )
    view = tracker.get(COID)
    assert view is not None
    assert view.filled_quantity == 80
    assert view.state is OrderState.CANCELED
    again = tracker.on_filled(excess)
    assert again is not None
    assert again.kind is AnomalyKind.DUPLICATE_EXECUTION


def test_duplicate_execution_is_anomaly_and_not_double_counted():
    tracker = submitted_tracker()
    fill = filled(40, cumulative=40, leaves=60, execution_id="E1")
    tracker.on_filled(fill)

    anomaly = tracker.on_filled(fill)

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.DUPLICATE_EXECUTION
    assert anomaly.detail == "execution E1 was applied before"
    view = tracker.get(COID)
    assert view is not None
    assert view.filled_quantity == 40
    assert view.fees == 0.5
    stats = tracker.statistics()
    assert stats.fills_applied == 1
    assert stats.anomalies_by_kind[AnomalyKind.DUPLICATE_EXECUTION] == 1


@pytest.mark.parametrize(
    "message",
    [
        filled(10, cumulative=10, leaves=90, client_order_id="nope"),
        accepted(client_order_id="nope"),
        canceled(client_order_id="nope"),
        rejected(client_order_id="nope"),
    ],
    ids=["fill", "accept", "cancel", "reject"],
)
def test_input_for_unknown_order_is_anomaly_and_tracks_nothing(message):
    tracker = OrderTracker()

    anomaly = tracker.on_message(message)

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.UNKNOWN_ORDER
    assert anomaly.detail == "no order nope is tracked"
    assert not tracker.is_known("nope")
    assert tracker.statistics().anomalies == 1


def test_cancel_after_fill_is_illegal_transition():
    tracker = submitted_tracker()
    tracker.on_filled(filled(100, cumulative=100, leaves=0))

    anomaly = tracker.on_canceled(canceled())

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.ILLEGAL_TRANSITION
    assert anomaly.detail == "order already filled, cannot become canceled"
    assert state(tracker) is OrderState.FILLED


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("canceled", OrderState.CANCELED), ("expired", OrderState.EXPIRED), ("", OrderState.CANCELED)],
)
def test_cancel_ends_order_as_canceled_or_expired(reason, expected):
    tracker = submitted_tracker()
    tracker.on_accepted(accepted())

    assert tracker.on_canceled(canceled(reason)) is None

    view = tracker.get(COID)
    assert view is not None
    assert view.state is expected
    assert view.reason == reason
    assert not view.is_open


def test_rejected_then_rejected_again_is_illegal_transition():
    tracker = submitted_tracker()

    assert tracker.on_rejected(rejected()) is None
    anomaly = tracker.on_rejected(rejected())

    assert state(tracker) is OrderState.REJECTED
    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.ILLEGAL_TRANSITION
    view = tracker.get(COID)
    assert view is not None
    assert view.reason == "insufficient buying power"


def test_duplicate_approval_is_anomaly_and_keeps_order():
    tracker = submitted_tracker()

    anomaly = tracker.on_approved(approved())

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.DUPLICATE_ORDER
    assert state(tracker) is OrderState.SUBMITTED


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"side": Side.SELL}, "expected side buy, was sell"),
        ({"symbol": "MSFT"}, "expected symbol AAPL, was MSFT"),
        ({"venue_order_id": "V2"}, "expected venue_order_id V1, was V2"),
    ],
)
def test_fill_contradicting_order_is_mismatch(changes, detail):
    tracker = submitted_tracker()
    tracker.on_accepted(accepted())

    anomaly = tracker.on_filled(filled(10, cumulative=10, leaves=90, **changes))

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.MISMATCH
    assert anomaly.detail == detail
    view = tracker.get(COID)
    assert view is not None
    assert view.filled_quantity == 0


def test_accept_with_other_venue_id_is_mismatch():
    tracker = submitted_tracker()
    tracker.on_accepted(accepted())

    anomaly = tracker.on_accepted(accepted(venue_order_id="V2"))

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.MISMATCH
    view = tracker.get(COID)
    assert view is not None
    assert view.venue_order_id == "V1"


def test_submit_without_approval_tracks_order_and_submit_may_round_quantity():
    tracker = OrderTracker()
    tracker.on_approved(approved(quantity=100.4))

    assert tracker.on_submitted(submitted(quantity=100.0)) is None
    assert tracker.on_submitted(submitted("manual-1", quantity=5.0)) is None

    first = tracker.get(COID)
    manual = tracker.get("manual-1")
    assert first is not None
    assert first.quantity == 100.0
    assert manual is not None
    assert manual.state is OrderState.SUBMITTED
    assert manual.signal_id is None
    assert [o.client_order_id for o in tracker.open_orders()] == [COID, "manual-1"]


def test_submit_with_other_side_is_mismatch():
    tracker = OrderTracker()
    tracker.on_approved(approved())

    anomaly = tracker.on_submitted(submitted(side=Side.SELL))

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.MISMATCH
    assert state(tracker) is OrderState.PENDING_SUBMIT


def test_partial_fills_summing_with_float_noise_complete_the_order():
    tracker = OrderTracker()
    tracker.on_approved(approved(quantity=0.3))

    assert tracker.on_filled(filled(0.1, cumulative=0.1, leaves=0.2)) is None
    assert tracker.on_filled(filled(0.2, cumulative=0.3, leaves=0.0)) is None

    assert state(tracker) is OrderState.FILLED


def test_statistics_count_orders_by_state_and_anomalies():
    tracker = OrderTracker()
    for n in range(4):
        tracker.on_approved(approved(f"c{n}"))
    tracker.on_submitted(submitted("c1"))
    tracker.on_filled(filled(100, cumulative=100, leaves=0, client_order_id="c2"))
    tracker.on_canceled(canceled(client_order_id="c3"))
    tracker.on_canceled(canceled(client_order_id="c3"))

    stats = tracker.statistics()

    assert stats.orders == 4
    assert stats.open_orders == 2
    assert stats.orders_by_state[OrderState.PENDING_SUBMIT] == 1
    assert stats.orders_by_state[OrderState.SUBMITTED] == 1
    assert stats.orders_by_state[OrderState.FILLED] == 1
    assert stats.orders_by_state[OrderState.CANCELED] == 1
    assert stats.orders_by_state[OrderState.EXPIRED] == 0
    assert stats.anomalies == 1
    assert stats.anomalies_by_kind[AnomalyKind.ILLEGAL_TRANSITION] == 1
    assert set(stats.anomalies_by_kind) == set(AnomalyKind)
    assert tracker.is_known("c0")
    assert tracker.get("zzz") is None


@pytest.mark.parametrize(
    "changes",
    [
        {"client_order_id": "pyrt-other"},
        {"venue_order_id": "V2"},
        {"fill_price": 101.0},
        {"fill_quantity": 30.0},
        {"ts_event": 999},
    ],
    ids=["order", "venue-order", "price", "quantity", "time"],
)
def test_execution_id_seen_again_with_other_content_is_a_contradiction(changes: dict[str, Any]) -> None:
    # A venue restarted on the same seed reused its execution ids: the second fill is real and
    # different, so it must be raised as a contradiction, never dropped as a duplicate
    tracker = submitted_tracker()
    tracker.on_approved(approved("pyrt-other"))
    fill = filled(40, cumulative=40, leaves=60, execution_id="E1")
    assert tracker.on_filled(fill) is None
    other = attrs.evolve(fill, **changes)

    anomaly = tracker.on_filled(other)

    assert anomaly is not None
    assert anomaly.kind is AnomalyKind.CONTRADICTORY_EXECUTION
    assert anomaly.kind.is_alarm
    assert "E1" in anomaly.detail
    assert not AnomalyKind.DUPLICATE_EXECUTION.is_alarm
    stats = tracker.statistics()
    assert stats.anomalies_by_kind[AnomalyKind.CONTRADICTORY_EXECUTION] == 1
    assert stats.anomalies_by_kind[AnomalyKind.DUPLICATE_EXECUTION] == 0
    assert stats.fills_applied == 1


def test_contradictory_execution_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    tracker = submitted_tracker()
    fill = filled(40, cumulative=40, leaves=60, execution_id="E1")
    tracker.on_filled(fill)

    tracker.on_filled(attrs.evolve(fill, fill_price=99.0))

    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "contradictory_execution" in errors[0].getMessage()

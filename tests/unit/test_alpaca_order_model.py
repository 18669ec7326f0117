"""Alpaca's order model as the real API sends it (#8 §4): statuses, replaces, notional, unsupported.

Wire dicts are decoded directly and fed through the :class:`OrderUpdateMapper`; what it emits is
then applied to a real :class:`pyrt.execution.orders.OrderTracker`, so the tests check what pyrt ends up
believing, not only which messages came out.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import httpx
import orjson
import pytest

from pyrt.errors import DecodeError
from pyrt.execution.orders import OrderState, OrderTracker
from pyrt.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    Side,
    TimeInForce,
)
from pyrt.persistence.reconcile import reconcile
from pyrt.persistence.recovery import recover
from pyrt.persistence.store import Store, StoredOrder
from pyrt.runtime.clock import VirtualClock
from pyrt.venues.alpaca import AlpacaBroker, UnsupportedOrder
from pyrt.venues.alpaca._updates import OrderUpdateMapper
from pyrt.venues.alpaca._wire import account_from_wire, order_from_wire

TS = "2024-01-02T15:51:44.208123456Z"
VID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
VID2 = "7a3f2b1c-0d4e-4f5a-8b6c-9d0e1f2a3b4c"


def wire_order(**overrides: object) -> dict[str, object]:
    order: dict[str, object] = {
        "id": VID,
        "client_order_id": "cid-1",
        "symbol": "AAPL",
        "qty": "10",
        "notional": None,
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "",
        "type": "limit",
        "order_type": "limit",
        "side": "buy",
        "time_in_force": "gtc",
        "limit_price": "100.5",
        "stop_price": None,
        "status": "new",
        "replaced_by": None,
        "replaces": None,
        "legs": None,
        "extended_hours": False,
    }
    order.update(overrides)
    return order


def update(event: str, **fields: object) -> dict[str, object]:
    order_fields = fields.pop("order", {})
    assert isinstance(order_fields, dict)
    payload: dict[str, object] = {"event": event, "timestamp": TS, "order": wire_order(**order_fields)}
    payload.update(fields)
    return payload


def submitted(client_order_id: str = "cid-1") -> OrderSubmitted:
    return OrderSubmitted(
        client_order_id=client_order_id,
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        limit_price=100.5,
        ts_event=0,
        ts_init=0,
    )


def apply_all(tracker: OrderTracker, messages: list[Message]) -> None:
    for msg in messages:
        assert isinstance(msg, OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled)
        assert tracker.on_message(msg) is None, msg


# ---------------------------------------------------------------------------------- statuses

OPEN_BUT_RARE = [
    "done_for_day",
    "held",
    "calculated",
    "stopped",
    "suspended",
    "pending_review",
    "accepted_for_bidding",
]


@pytest.mark.parametrize("status", OPEN_BUT_RARE)
def test_order_from_wire_when_status_is_rare_but_working_the_order_is_open(status: str) -> None:
    assert order_from_wire(wire_order(status=status)).is_open


@pytest.mark.parametrize("status", ["filled", "canceled", "expired", "replaced", "rejected"])
def test_order_from_wire_when_status_is_final_the_order_is_closed(status: str) -> None:
    assert not order_from_wire(wire_order(status=status)).is_open


def test_mapper_when_done_for_day_keeps_the_order_open_and_reports_the_next_days_fill() -> None:
    mapper = OrderUpdateMapper()
    tracker = OrderTracker()
    tracker.on_submitted(submitted())
    mapper.expect("cid-1")

    out: list[Message] = []
    out += mapper.on_stream(update("new"), ts_init=1)
    out += mapper.on_stream(
        update(
            "partial_fill",
            price="100.5",
            qty="4",
            execution_id="e1",
            order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "partially_filled"},
        ),
        ts_init=2,
    )
    done = mapper.on_stream(
        update(
            "done_for_day", order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "done_for_day"}
        ),
        ts_init=3,
    )
    apply_all(tracker, out + done)
    view_after_close = tracker.get("cid-1")
    still_polled = mapper.open_client_order_ids()
    next_day = mapper.on_stream(
        update(
            "fill",
            price="100",
            qty="6",
            execution_id="e2",
            order={"filled_qty": "10", "filled_avg_price": "100.2", "status": "filled"},
        ),
        ts_init=4,
    )
    apply_all(tracker, next_day)

    assert done == []  # no OrderCanceled: the order works again tomorrow
    assert view_after_close is not None
    assert view_after_close.state is OrderState.PARTIALLY_FILLED
    assert still_polled == ["cid-1"]
    assert [(m.fill_quantity, m.leaves_quantity) for m in next_day if isinstance(m, OrderFilled)] == [
        (6.0, 0.0)
    ]
    final = tracker.get("cid-1")
    assert final is not None
    assert (final.state, final.filled_quantity) == (OrderState.FILLED, 10.0)


def test_mapper_when_done_for_day_shows_a_fill_the_stream_missed_reports_it_and_stays_open() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")
    mapper.on_stream(update("new"), ts_init=1)

    out = mapper.on_stream(
        update(
            "done_for_day", order={"filled_qty": "3", "filled_avg_price": "100", "status": "done_for_day"}
        ),
        ts_init=2,
    )

    assert [(type(m), getattr(m, "fill_quantity", None)) for m in out] == [(OrderFilled, 3.0)]
    assert mapper.is_open("cid-1")


@pytest.mark.parametrize("event", ["stopped", "calculated", "suspended", "held", "pending_review"])
def test_mapper_when_event_is_a_working_state_ends_nothing(event: str) -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")
    mapper.on_stream(update("new"), ts_init=1)

    out = mapper.on_stream(update(event, order={"status": event}), ts_init=2)

    assert out == []
    assert mapper.is_open("cid-1")


@pytest.mark.parametrize("status", OPEN_BUT_RARE)
def test_mapper_when_poll_sees_a_working_state_ends_nothing(status: str) -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")

    out = mapper.on_snapshot(order_from_wire(wire_order(status=status)), ts_event=1, ts_init=1)

    assert not any(isinstance(m, OrderCanceled) for m in out)
    assert mapper.is_open("cid-1")


def test_reconcile_when_venue_reports_done_for_day_leaves_the_order_open() -> None:
    order = StoredOrder(
        client_order_id="cid-1",
        venue_order_id=VID,
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        filled_quantity=0.0,
        avg_fill_price=None,
        fees=0.0,
        state=OrderState.ACCEPTED,
        reason="",
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        limit_price=100.5,
        stop_price=None,
        signal_id="sig-1",
        ts_created=1,
        ts_submitted=2,
        ts_accepted=3,
        ts_last=3,
    )

    report = reconcile([order], [], [order_from_wire(wire_order(status="done_for_day"))], [], now_ns=5)

    assert report.closed_orders == ()
    assert report.is_clean


# ---------------------------------------------------------------------------------- account


def wire_account(**overrides: object) -> dict[str, object]:
    account: dict[str, object] = {
        "id": "0d9a5b1e-3c2f-4e8a-9b7d-6f5e4d3c2b1a",
        "account_number": "PA1234567890",
        "status": "ACTIVE",
        "cash": "100000",
        "buying_power": "100000",
        "equity": "100000",
        "trading_blocked": False,
        "account_blocked": False,
        "trade_suspended_by_user": False,
        "transfers_blocked": True,  # not about trading: never halts
    }
    account.update(overrides)
    return account


def test_account_from_wire_when_active_and_unblocked_allows_trading() -> None:
    account = account_from_wire(wire_account())

    assert (account.account_id, account.status, account.halt_reason()) == (
        "0d9a5b1e-3c2f-4e8a-9b7d-6f5e4d3c2b1a",
        "ACTIVE",
        None,
    )


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"trading_blocked": True}, "trading_blocked"),
        ({"account_blocked": True}, "account_blocked"),
        ({"trade_suspended_by_user": True}, "trade_suspended_by_user"),
        ({"status": "ACCOUNT_CLOSED"}, "status ACCOUNT_CLOSED"),
        ({"status": "ONBOARDING", "trading_blocked": True}, "status ONBOARDING, trading_blocked"),
    ],
)
def test_account_from_wire_when_blocked_or_not_active_says_why_trading_must_halt(
    overrides: dict[str, object], said: str
) -> None:
    reason = account_from_wire(wire_account(**overrides)).halt_reason()

    assert reason == f"venue account PA1234567890 may not trade ({said})"


@pytest.mark.parametrize("broken", [{"status": None}, {"trading_blocked": "no"}, {"account_blocked": 1}])
def test_account_from_wire_when_standing_is_unreadable_raises_decode_error(broken: dict[str, object]) -> None:
    with pytest.raises(DecodeError):
        account_from_wire(wire_account(**broken))


# ---------------------------------------------------------------------------------- notional


def test_order_from_wire_when_notional_and_open_keeps_the_notional_and_no_quantity() -> None:
    order = order_from_wire(
        wire_order(qty=None, notional="500", type="market", limit_price=None, time_in_force="day")
    )

    assert (order.quantity, order.notional, order.filled_quantity, order.is_open) == (None, 500.0, 0.0, True)


def test_order_from_wire_when_notional_partly_filled_still_has_no_quantity() -> None:
    order = order_from_wire(
        wire_order(
            qty=None,
            notional="500",
            type="market",
            limit_price=None,
            time_in_force="day",
            filled_qty="2.5",
            filled_avg_price="100",
            status="partially_filled",
        )
    )

    assert (order.quantity, order.notional, order.filled_quantity) == (None, 500.0, 2.5)


def test_mapper_when_notional_order_fills_reports_fills_ending_it_only_when_filled() -> None:
    mapper = OrderUpdateMapper()
    notional = {"qty": None, "notional": "500", "type": "market", "limit_price": None, "time_in_force": "day"}
    mapper.expect("cid-1")

    partial = mapper.on_stream(
        update(
            "partial_fill",
            price="100",
            qty="2",
            execution_id="e1",
            order={**notional, "filled_qty": "2", "filled_avg_price": "100", "status": "partially_filled"},
        ),
        ts_init=1,
    )
    final = mapper.on_stream(
        update(
            "fill",
            price="100",
            qty="3",
            execution_id="e2",
            order={**notional, "filled_qty": "5", "filled_avg_price": "100", "status": "filled"},
        ),
        ts_init=2,
    )

    fills = [m for m in partial + final if isinstance(m, OrderFilled)]
    assert [(f.fill_quantity, f.cumulative_quantity, f.is_final) for f in fills] == [
        (2.0, 2.0, False),
        (3.0, 5.0, True),
    ]
    assert not mapper.is_open("cid-1")


# ---------------------------------------------------------------------------------- unsupported


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"type": "trailing_stop", "trail_percent": "2", "limit_price": None}, "type trailing_stop"),
        ({"order_type": "trailing_stop", "type": None, "limit_price": None}, "type trailing_stop"),
        ({"time_in_force": "opg"}, "time_in_force opg"),
        ({"time_in_force": "cls"}, "time_in_force cls"),
        ({"order_class": "bracket"}, "order_class bracket"),
        ({"order_class": "oco"}, "order_class oco"),
        ({"order_class": "oto"}, "order_class oto"),
        ({"order_class": "simple", "legs": [wire_order(id=VID2)]}, "legs"),
        ({"type": "mystery"}, "type mystery"),
    ],
)
def test_order_from_wire_when_pyrt_cannot_represent_the_order_refuses_it_with_the_reason(
    overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(UnsupportedOrder) as caught:
        order_from_wire(wire_order(**overrides))

    assert reason in caught.value.reason
    assert (caught.value.venue_order_id, caught.value.client_order_id, caught.value.symbol) == (
        VID,
        "cid-1",
        "AAPL",
    )
    assert isinstance(caught.value, DecodeError)


@pytest.mark.parametrize("order_class", ["", "simple", None])
def test_order_from_wire_when_order_class_is_simple_decodes_it(order_class: str | None) -> None:
    assert order_from_wire(wire_order(order_class=order_class)).order_type is OrderType.LIMIT


def test_mapper_when_update_is_for_an_unsupported_order_raises_the_typed_error() -> None:
    mapper = OrderUpdateMapper()

    with pytest.raises(UnsupportedOrder):
        mapper.on_stream(update("new", order={"type": "trailing_stop", "limit_price": None}), ts_init=1)


# ---------------------------------------------------------------------------------- broker


def make_broker(orders: list[dict[str, object]], requests: list[httpx.Request]) -> AlpacaBroker:
    """A broker whose venue (an httpx transport) lists ``orders`` as open and holds no position."""

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.method == "GET" and request.url.path == "/v2/orders":
            return httpx.Response(200, json=orders)
        if request.method == "GET" and request.url.path == "/v2/positions":
            return httpx.Response(200, json=[])
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(404, json={"code": 40410000, "message": "not found"})

    return AlpacaBroker(
        base_url="http://127.0.0.1:9",
        key_id="PKUNITTEST",
        secret_key="unit-secret",
        clock=VirtualClock(0),
        rng=random.Random(1),
        transport=httpx.MockTransport(handler),
    )


TRAILING = wire_order(
    id=VID2, client_order_id="by-hand", type="trailing_stop", side="sell", limit_price=None, trail_percent="2"
)


async def test_list_open_orders_when_one_is_unsupported_skips_counts_and_logs_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    requests: list[httpx.Request] = []
    async with make_broker([wire_order(), TRAILING], requests) as broker:
        with caplog.at_level(logging.ERROR):
            first = await broker.list_open_orders()
            second = await broker.list_open_orders()
        stats = broker.statistics()

    assert [o.client_order_id for o in first] == ["cid-1"]
    assert [o.client_order_id for o in second] == ["cid-1"]
    assert stats.unsupported_orders == 1
    (record,) = [r for r in caplog.records if "by-hand" in r.getMessage()]
    assert "type trailing_stop" in record.getMessage()
    assert "sell AAPL" in record.getMessage()


async def test_recovery_when_the_account_holds_an_order_pyrt_cannot_represent_starts_and_reports_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bracket_leg = wire_order(
        id="c0ffee00-0000-4000-8000-000000000001", client_order_id="leg", order_class="bracket"
    )
    requests: list[httpx.Request] = []
    with Store.open(tmp_path / "s.sqlite3") as store:
        store.begin_run(ts_ns=1, label="test")
        async with make_broker([TRAILING, bracket_leg], requests) as broker:
            with caplog.at_level(logging.ERROR):
                recovery = await recover(store, broker, now_ns=5)
            stats = broker.statistics()

    assert recovery.report.adopted_orders == ()  # not reshaped into a simple order and adopted
    assert recovery.halt_reason is None
    assert stats.unsupported_orders == 2
    assert not [r for r in requests if r.method == "DELETE"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "by-hand" in logged
    assert "order_class bracket" in logged


async def test_broker_when_a_trade_update_is_for_an_unsupported_order_drops_and_counts_it() -> None:
    broker = make_broker([], [])
    message = {"stream": "trade_updates", "data": update("new", order=TRAILING)}

    out = broker._on_stream_message(orjson.dumps(message).decode())

    assert out == []
    assert broker.statistics().unsupported_orders == 1
    assert broker.statistics().updates_dropped == 0


# ---------------------------------------------------------------------------------- replaced


def test_mapper_when_order_is_replaced_ends_it_linked_and_tracks_the_replacement_fills() -> None:
    mapper = OrderUpdateMapper()
    tracker = OrderTracker()
    tracker.on_submitted(submitted())
    mapper.expect("cid-1")
    new = {"id": VID2, "client_order_id": "by-operator", "replaces": VID, "limit_price": "101"}

    out: list[Message] = []
    out += mapper.on_stream(update("new"), ts_init=1)
    out += mapper.on_stream(
        update(
            "partial_fill",
            price="100.5",
            qty="4",
            execution_id="e1",
            order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "partially_filled"},
        ),
        ts_init=2,
    )
    replaced = mapper.on_stream(
        update(
            "replaced",
            order={"filled_qty": "4", "filled_avg_price": "100.5", "status": "replaced", "replaced_by": VID2},
        ),
        ts_init=3,
    )
    replacement = mapper.on_stream(update("new", order={**new, "qty": "6"}), ts_init=4)
    filled = mapper.on_stream(
        update(
            "fill",
            price="101",
            qty="6",
            execution_id="e2",
            order={**new, "qty": "6", "filled_qty": "6", "filled_avg_price": "101", "status": "filled"},
        ),
        ts_init=5,
    )
    apply_all(tracker, out + replaced + replacement + filled)

    (end,) = replaced
    assert isinstance(end, OrderCanceled)
    assert (end.filled_quantity, end.reason) == (4.0, f"replaced by {VID2}")
    assert [type(m) for m in replacement] == [OrderSubmitted, OrderAccepted]
    announced = replacement[0]
    assert isinstance(announced, OrderSubmitted)
    assert (announced.client_order_id, announced.quantity, announced.limit_price) == (
        "by-operator",
        6.0,
        101.0,
    )
    old, new_view = tracker.get("cid-1"), tracker.get("by-operator")
    assert old is not None
    assert new_view is not None
    assert (old.state, old.filled_quantity) == (OrderState.CANCELED, 4.0)
    assert (new_view.state, new_view.filled_quantity, new_view.venue_order_id) == (
        OrderState.FILLED,
        6.0,
        VID2,
    )


def test_mapper_when_poll_finds_the_replacement_first_reports_its_fills_from_zero() -> None:
    mapper = OrderUpdateMapper()
    mapper.expect("cid-1")
    mapper.on_stream(update("new"), ts_init=1)
    replacement = order_from_wire(
        wire_order(
            id=VID2,
            client_order_id="by-operator",
            replaces=VID,
            qty="10",
            filled_qty="3",
            filled_avg_price="100",
            status="partially_filled",
        )
    )

    out = mapper.on_snapshot(replacement, ts_event=2, ts_init=2)

    assert [type(m) for m in out] == [OrderSubmitted, OrderAccepted, OrderFilled]
    assert mapper.is_open("by-operator")


def test_mapper_when_a_foreign_order_is_replaced_does_not_adopt_the_replacement() -> None:
    mapper = OrderUpdateMapper()
    foreign = {"client_order_id": "someone-else"}
    mapper.on_stream(update("new", order=foreign), ts_init=1)

    out = mapper.on_stream(
        update("new", order={"id": VID2, "client_order_id": "their-replacement", "replaces": VID}), ts_init=2
    )

    assert not any(isinstance(m, OrderSubmitted) for m in out)

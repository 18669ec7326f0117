"""Every branch of the execution policy, without trio: inputs in, actions out (issue 8 §1)."""

from __future__ import annotations

import pytest

from pyrt.errors import RateLimited, TransportError, VenueRejected, VenueUnavailable
from pyrt.execution.engine import STALE, Action, Cancel, ExecutionEngine, Lookup, Publish, Submit, Wait
from pyrt.execution.orders import OrderState, OrderTracker
from pyrt.messages import (
    ControlCommand,
    Message,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    Side,
    SignalGenerated,
    TimeInForce,
    TradingStateChanged,
)
from pyrt.venues import VenueOrder

NS = 1_000_000_000
T0 = 1_767_312_000 * NS


def approval(
    n: int,
    *,
    at: int = T0,
    order_type: OrderType = OrderType.MARKET,
    limit: float | None = None,
    reference: float | None = 100.0,
    symbol: str = "AAPL",
) -> RiskApproved:
    signal = SignalGenerated(
        signal_id=f"s{n}",
        strategy="test",
        symbol=symbol,
        side=Side.BUY,
        quantity=10.0,
        order_type=order_type,
        time_in_force=TimeInForce.DAY,
        limit_price=limit,
        reference_price=reference,
        ts_event=at,
        ts_init=at,
    )
    return RiskApproved(signal=signal, client_order_id=f"c{n}", ts_event=at, ts_init=at)


def venue_order(cid: str, status: str = "new") -> VenueOrder:
    return VenueOrder(
        venue_order_id=f"v-{cid}",
        client_order_id=cid,
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        filled_quantity=0.0,
        filled_avg_price=None,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        stop_price=None,
        status=status,
    )


def quote(bid: float, ask: float, symbol: str = "AAPL") -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol, bid_price=bid, bid_size=1.0, ask_price=ask, ask_size=1.0, ts_event=T0, ts_init=T0
    )


def published(actions: list[Action]) -> list[Message]:
    return [m for a in actions if isinstance(a, Publish) for m in a.messages]


def kinds(actions: list[Action]) -> list[str]:
    out: list[str] = []
    for a in actions:
        if isinstance(a, Publish):
            out.extend(type(m).__name__ for m in a.messages)
        else:
            out.append(type(a).__name__)
    return out


def only(actions: list[Action], kind: type[Action]) -> Action:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


def engine(**options: float) -> ExecutionEngine:
    return ExecutionEngine(OrderTracker(), max_order_age_secs=options.pop("age", 5.0), **options)  # type: ignore[arg-type]  # test options


def reason(actions: list[Action]) -> str:
    rejected = [m for m in published(actions) if isinstance(m, OrderRejected)]
    assert len(rejected) == 1, actions
    return rejected[0].reason


# --------------------------------------------------------------------------- the happy path


def test_an_approval_is_published_as_submitted_and_sent_then_accepted() -> None:
    e = engine()
    actions = e.on_approved(approval(1), T0)
    assert kinds(actions) == ["OrderSubmitted", "Submit"]

    accepted = e.on_submit_result("c1", venue_order("c1"), T0)

    assert kinds(accepted) == ["OrderAccepted"]
    view = e.tracker.get("c1")
    assert view is not None
    assert view.state is OrderState.ACCEPTED
    assert view.venue_order_id == "v-c1"
    assert e.statistics().in_flight == 0


def test_a_duplicate_approval_is_not_sent_again() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    assert e.on_approved(approval(1), T0) == []
    assert e.statistics().submits == 1


# --------------------------------------------------------------------------- retries


def test_a_venue_4xx_is_never_retried() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    actions = e.on_submit_result("c1", VenueRejected("insufficient buying power", status_code=403), T0)
    assert kinds(actions) == ["OrderRejected"]
    rejected = published(actions)[0]
    assert isinstance(rejected, OrderRejected)
    assert (rejected.reason, rejected.status_code) == ("insufficient buying power", 403)


def test_a_429_waits_retry_after_and_resends_without_a_lookup() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    wait = only(e.on_submit_result("c1", RateLimited("429", retry_after=2.5), T0), Wait)
    assert isinstance(wait, Wait)
    assert wait.seconds == 2.5

    assert kinds(e.on_wake("c1", wait.token, T0 + 25 * NS // 10)) == ["Submit"]


@pytest.mark.parametrize("error", [VenueUnavailable("503", status_code=503), TransportError("timeout")])
def test_after_an_ambiguous_failure_the_order_is_looked_up_before_a_resend(error: Exception) -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    wait = only(e.on_submit_result("c1", error, T0), Wait)  # type: ignore[arg-type]  # a VenueError
    assert isinstance(wait, Wait)
    assert wait.seconds == 1.0

    assert kinds(e.on_wake("c1", wait.token, T0 + NS)) == ["Lookup"]
    assert kinds(e.on_lookup_result("c1", None, T0 + NS)) == ["Submit"]  # not there: resend is safe


def test_a_lookup_that_finds_the_order_accepts_it_instead_of_resending() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    wait = only(e.on_submit_result("c1", TransportError("reset"), T0), Wait)
    assert isinstance(wait, Wait)
    e.on_wake("c1", wait.token, T0 + NS)

    actions = e.on_lookup_result("c1", venue_order("c1"), T0 + NS)

    assert kinds(actions) == ["OrderAccepted"]
    assert e.statistics().submits == 1


def test_backoff_doubles_and_the_engine_gives_up_after_max_retries() -> None:
    e = engine(max_retries=2, age=60.0)
    e.on_approved(approval(1), T0)
    now = T0
    delays = []
    for _ in range(2):
        wait = only(e.on_submit_result("c1", RateLimited("429", retry_after=0.0), now), Wait)
        assert isinstance(wait, Wait)
        delays.append(wait.seconds)
        assert kinds(e.on_wake("c1", wait.token, now)) == ["Submit"]
    actions = e.on_submit_result("c1", RateLimited("429", retry_after=0.0), now)

    assert reason(actions) == "gave up after 3 attempts: 429"
    assert e.statistics().gave_up == 1
    rejected = published(actions)[0]
    assert isinstance(rejected, OrderRejected)
    assert rejected.status_code == 429

    e2 = engine(max_retries=3, age=60.0)
    e2.on_approved(approval(2), T0)
    got = []
    for _ in range(3):
        wait = only(e2.on_submit_result("c2", VenueUnavailable("503", status_code=503), now), Wait)
        assert isinstance(wait, Wait)
        got.append(wait.seconds)
        e2.on_wake("c2", wait.token, now)
        e2.on_lookup_result("c2", None, now)
    assert got == [1.0, 2.0, 4.0]


def test_giving_up_after_an_ambiguous_failure_looks_the_order_up_first() -> None:
    e = engine(max_retries=0)
    e.on_approved(approval(1), T0)
    actions = e.on_submit_result("c1", VenueUnavailable("502", status_code=502), T0)
    assert kinds(actions) == ["Lookup"]

    assert kinds(e.on_lookup_result("c1", venue_order("c1"), T0)) == ["OrderAccepted"]  # it got through

    e.on_approved(approval(2), T0)
    e.on_submit_result("c2", VenueUnavailable("502", status_code=502), T0)
    rejected = e.on_lookup_result("c2", None, T0)
    assert reason(rejected).startswith("gave up after 1 attempts")


def test_a_422_after_an_earlier_attempt_is_looked_up_as_a_duplicate_client_order_id() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    wait = only(e.on_submit_result("c1", TransportError("timeout"), T0), Wait)
    assert isinstance(wait, Wait)
    e.on_wake("c1", wait.token, T0 + NS)
    e.on_lookup_result("c1", None, T0 + NS)  # not visible yet: resend
    unique = VenueRejected("client_order_id must be unique", status_code=422)

    assert kinds(e.on_submit_result("c1", unique, T0 + NS)) == ["Lookup"]
    assert kinds(e.on_lookup_result("c1", venue_order("c1"), T0 + NS)) == ["OrderAccepted"]


def test_a_422_on_the_first_attempt_is_a_plain_rejection() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    actions = e.on_submit_result("c1", VenueRejected("qty must be > 0", status_code=422), T0)
    assert reason(actions) == "qty must be > 0"


def test_a_lookup_that_fails_is_asked_again_and_nothing_is_rejected_meanwhile() -> None:
    e = engine(age=0.5)
    e.on_approved(approval(1), T0)
    retry_too_late = e.on_submit_result("c1", TransportError("timeout"), T0)
    assert kinds(retry_too_late) == ["Lookup"]
    now = T0
    seconds = []
    for _ in range(7):
        wait = only(e.on_lookup_result("c1", VenueUnavailable("503", status_code=503), now), Wait)
        assert isinstance(wait, Wait)
        seconds.append(wait.seconds)
        now += round(wait.seconds * NS)
        assert kinds(e.on_wake("c1", wait.token, now)) == ["Lookup"]
    assert seconds == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # capped
    view = e.tracker.get("c1")
    assert view is not None
    assert view.state is OrderState.SUBMITTED

    assert reason(e.on_lookup_result("c1", None, now)).startswith(STALE)


def test_a_wake_for_an_older_timer_is_ignored() -> None:
    e = engine(age=60.0)
    e.on_approved(approval(1), T0)
    first = only(e.on_submit_result("c1", TransportError("timeout"), T0), Wait)
    assert isinstance(first, Wait)
    e.on_wake("c1", first.token, T0 + NS)
    second = only(e.on_lookup_result("c1", TransportError("timeout"), T0 + NS), Wait)
    assert isinstance(second, Wait)
    assert second.token != first.token

    assert e.on_wake("c1", first.token, T0 + NS) == []
    assert kinds(e.on_wake("c1", second.token, T0 + 2 * NS)) == ["Lookup"]


# --------------------------------------------------------------------------- staleness


def test_an_approval_older_than_max_order_age_is_rejected_stale() -> None:
    e = engine(age=5.0)
    actions = e.on_approved(approval(1, at=T0), T0 + 6 * NS)
    assert kinds(actions) == ["OrderRejected"]
    assert reason(actions).startswith(f"{STALE}: approved 6.0 s ago")
    assert e.statistics().stale == 1


def test_a_retry_that_would_go_out_after_the_deadline_is_stale_instead() -> None:
    e = engine(age=5.0)
    e.on_approved(approval(1), T0)
    assert reason(e.on_submit_result("c1", RateLimited("429", retry_after=6.0), T0)).startswith(STALE)


def test_an_ambiguous_failure_near_the_deadline_is_looked_up_before_it_is_called_stale() -> None:
    e = engine(age=0.5)
    e.on_approved(approval(1), T0)
    assert kinds(e.on_submit_result("c1", TransportError("timeout"), T0)) == ["Lookup"]
    assert kinds(e.on_lookup_result("c1", venue_order("c1"), T0)) == ["OrderAccepted"]


def test_a_wake_past_the_deadline_is_stale() -> None:
    e = engine(age=2.0)
    e.on_approved(approval(1), T0)
    wait = only(e.on_submit_result("c1", RateLimited("429", retry_after=1.0), T0), Wait)
    assert isinstance(wait, Wait)
    assert reason(e.on_wake("c1", wait.token, T0 + 3 * NS)).startswith(STALE)


def test_queued_approvals_wait_for_a_slot_and_expire_at_their_deadline() -> None:
    e = engine(max_in_flight=1, age=5.0)
    assert kinds(e.on_approved(approval(1), T0)) == ["OrderSubmitted", "Submit"]
    assert e.on_approved(approval(2), T0) == []
    assert e.on_approved(approval(3, at=T0 + NS), T0 + NS) == []
    assert e.next_deadline_ns() == T0 + 5 * NS

    assert e.expire(T0 + 5 * NS) == []  # not past yet
    expired = e.expire(T0 + 5 * NS + 1)
    assert [m.client_order_id for m in published(expired)] == ["c2"]  # type: ignore[attr-defined]
    assert e.next_deadline_ns() == T0 + 6 * NS

    started = e.on_submit_result("c1", venue_order("c1"), T0 + 5 * NS + 2)  # the slot frees
    assert kinds(started) == ["OrderAccepted", "OrderSubmitted", "Submit"]
    assert e.statistics().peak_in_flight == 1


# --------------------------------------------------------------------------- the slippage guard


@pytest.mark.parametrize(
    ("limit", "passes"), [(100.4, True), (100.5, True), (100.6, False), (99.4, False), (99.5, True)]
)
def test_slippage_guard_checks_a_limit_price_against_the_mid(limit: float, passes: bool) -> None:
    e = engine(max_slippage_bps=50.0)
    e.on_quote(quote(99.9, 100.1))  # mid 100: 50 bps is 0.5
    actions = e.on_approved(approval(1, order_type=OrderType.LIMIT, limit=limit, reference=None), T0)
    if passes:
        assert kinds(actions) == ["OrderSubmitted", "Submit"]
    else:
        assert reason(actions).startswith(f"slippage guard: limit price {limit} is")
        assert e.statistics().slippage_rejections == 1


@pytest.mark.parametrize(("reference", "passes"), [(100.2, True), (101.0, False), (None, True)])
def test_slippage_guard_checks_a_market_orders_reference_price(reference: float | None, passes: bool) -> None:
    e = engine(max_slippage_bps=50.0)
    e.on_quote(quote(99.9, 100.1))
    actions = e.on_approved(approval(1, reference=reference), T0)
    if passes:
        assert kinds(actions) == ["OrderSubmitted", "Submit"]
    else:
        assert reason(actions).startswith(
            "slippage guard: reference price 101.0 is 100.0 bps from the mid 100.0"
        )


def test_slippage_guard_passes_an_order_when_there_is_no_mid_yet() -> None:
    e = engine(max_slippage_bps=1.0)
    e.on_quote(quote(99.9, 100.1, symbol="MSFT"))  # another symbol's mid
    assert kinds(e.on_approved(approval(1, reference=500.0), T0)) == ["OrderSubmitted", "Submit"]


@pytest.mark.parametrize(
    ("bid", "ask"), [(101.0, 99.0), (0.0, 100.1), (99.9, 0.0)], ids=["crossed", "no-bid", "no-ask"]
)
def test_a_crossed_or_one_sided_quote_makes_no_mid(bid: float, ask: float) -> None:
    e = engine(max_slippage_bps=50.0)
    e.on_quote(quote(bid, ask))
    assert e.mid("AAPL") is None
    e.on_quote(quote(99.9, 100.1))
    e.on_quote(quote(bid, ask))  # an unusable quote keeps the last usable mid
    assert e.mid("AAPL") == 100.0
    assert reason(e.on_approved(approval(1, reference=101.0), T0)).startswith("slippage guard")


# --------------------------------------------------------------------------- updates


def fill(cid: str, execution_id: str, price: float = 100.0, qty: float = 5.0) -> OrderFilled:
    return OrderFilled(
        client_order_id=cid,
        venue_order_id=f"v-{cid}",
        execution_id=execution_id,
        symbol="AAPL",
        side=Side.BUY,
        fill_price=price,
        fill_quantity=qty,
        cumulative_quantity=qty,
        leaves_quantity=10.0 - qty,
        ts_event=T0,
        ts_init=T0,
    )


def accepted(cid: str) -> OrderAccepted:
    return OrderAccepted(
        client_order_id=cid, venue_order_id=f"v-{cid}", symbol="AAPL", ts_event=T0, ts_init=T0
    )


def test_an_accept_seen_on_the_stream_and_in_the_reply_is_published_once() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    assert kinds(e.on_updates([accepted("c1")], T0)) == ["OrderAccepted"]  # the stream was first

    assert e.on_submit_result("c1", venue_order("c1"), T0) == []  # the REST reply: nothing new
    assert e.on_updates([accepted("c1")], T0) == []
    assert e.statistics().duplicate_accepts >= 1


def test_an_update_showing_the_order_at_the_venue_ends_its_retries() -> None:
    e = engine(max_in_flight=1, age=60.0)
    e.on_approved(approval(1), T0)
    e.on_approved(approval(2), T0)  # queued behind c1
    wait = only(e.on_submit_result("c1", TransportError("timeout"), T0), Wait)
    assert isinstance(wait, Wait)

    actions = e.on_updates([fill("c1", "e1")], T0)  # the venue had it after all

    assert kinds(actions) == ["OrderFilled", "OrderSubmitted", "Submit"]  # c2 takes the slot
    assert e.on_wake("c1", wait.token, T0 + NS) == []  # no lookup, no resend


def test_a_redelivered_fill_is_dropped_and_a_contradicting_one_halts_trading() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    e.on_submit_result("c1", venue_order("c1"), T0)
    assert kinds(e.on_updates([fill("c1", "e1")], T0)) == ["OrderFilled"]
    assert e.on_updates([fill("c1", "e1")], T0) == []

    actions = e.on_updates([fill("c1", "e1", price=101.0)], T0)

    halts = published(actions)
    assert len(halts) == 1
    assert isinstance(halts[0], ControlCommand)
    assert (halts[0].command, halts[0].source) == ("halt", "execution")
    assert "contradictory_execution" in halts[0].reason
    assert e.statistics().alarms == 1


def test_an_update_for_an_order_replaced_at_the_venue_is_tracked() -> None:
    e = engine()
    replacement = OrderSubmitted(
        client_order_id="c9",
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        ts_event=T0,
        ts_init=T0,
    )
    assert kinds(e.on_updates([replacement], T0)) == ["OrderSubmitted"]
    assert e.tracker.is_known("c9")


# --------------------------------------------------------------------------- halts and restarts


def halt(cancel: bool) -> TradingStateChanged:
    return TradingStateChanged(
        state="halted",
        previous="active",
        reason="operator",
        cancel_open_orders=cancel,
        ts_event=T0,
        ts_init=T0,
    )


def test_a_halt_with_cancel_cancels_at_the_venue_and_stops_what_is_not_there_yet() -> None:
    e = engine(max_in_flight=3, age=60.0)
    for n in range(1, 6):
        e.on_approved(approval(n), T0)
    e.on_submit_result("c1", venue_order("c1"), T0)  # at the venue; c4 takes its slot, c5 waits
    e.on_submit_result("c2", RateLimited("429", retry_after=1.0), T0)  # waiting, nothing placed
    # c3: its submit is still out

    actions = e.on_trading_state(halt(cancel=True), T0)

    cancel = only(actions, Cancel)
    assert isinstance(cancel, Cancel)
    assert cancel.venue_order_id == "v-c1"
    ended = {m.client_order_id for m in published(actions) if isinstance(m, OrderRejected)}
    assert ended == {"c2", "c5"}
    # c3's reply comes back: it was placed, so it is accepted and cancelled, never left live
    late = e.on_submit_result("c3", venue_order("c3"), T0)
    assert kinds(late) == ["OrderAccepted", "Cancel"]


def test_a_halt_without_cancel_changes_nothing_here() -> None:
    e = engine()
    e.on_approved(approval(1), T0)
    assert e.on_trading_state(halt(cancel=False), T0) == []


def test_resume_after_a_restart_looks_up_every_order_in_flight() -> None:
    e = engine(age=60.0)
    e.on_approved(approval(1), T0)
    e.on_approved(approval(2), T0)
    e.on_submit_result("c2", RateLimited("429", retry_after=1.0), T0)

    actions = e.resume()

    assert sorted(a.client_order_id for a in actions if isinstance(a, Lookup)) == ["c1", "c2"]
    assert kinds(e.on_lookup_result("c1", None, T0)) == ["Submit"]
    assert kinds(e.on_lookup_result("c2", venue_order("c2"), T0)) == ["OrderAccepted"]


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"age": 0.0}, {"age": float("inf")}, {"max_in_flight": 0}, {"backoff_base": -1.0}],
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be"):
        engine(**options)


def test_every_submit_action_is_a_submit_of_the_order_risk_approved() -> None:
    e = engine()
    actions = e.on_approved(approval(1, order_type=OrderType.LIMIT, limit=100.0, reference=None), T0)
    submit = only(actions, Submit)
    assert isinstance(submit, Submit)
    assert (submit.order.client_order_id, submit.order.limit_price, submit.order.quantity) == (
        "c1",
        100.0,
        10.0,
    )

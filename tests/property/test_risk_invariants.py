"""One Hypothesis test per invariant in specs/risk.md, named ``test_R<n>_...``.

The tests share one rule-based state machine: signals (market, limit and stop; some redelivered,
some with bad numbers), partial and final fills at moving prices, cancels, marks (some unstamped,
some NaN or negative), time moving forward (across New York midnight too), and the operator's
halt / reduce-only / resume. The machine keeps its own model of the open orders, fills and marks;
each test subclasses it and checks its invariant on every decision or after every step.
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from typing import ClassVar

import attrs
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pyrt.messages import OrderFilled, OrderType, RiskApproved, RiskRejected, Side, SignalGenerated
from pyrt.risk.engine import RiskEngine
from pyrt.risk.ids import client_order_id_for
from pyrt.risk.limits import (
    INVALID_INPUT,
    MAX_DAILY_LOSS,
    NO_PRICE,
    REASON_CODES,
    SHORT_NOT_ALLOWED,
    TRADING_HALTED,
    RiskLimits,
)
from pyrt.risk.portfolio import Portfolio
from pyrt.risk.state import TradingState, TradingStateChange

NS = 1_000_000_000
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
SYMBOLS = ("AAA", "BBB", "CCC")
ALLOWED = ("AAA", "BBB")
# Starts: a plain evening, the evening before the March DST change, a minute before midnight
STARTS = (
    int(datetime.datetime(2024, 1, 10, 15, 0, tzinfo=NEW_YORK).timestamp()) * NS,
    int(datetime.datetime(2024, 3, 9, 22, 0, tzinfo=NEW_YORK).timestamp()) * NS,
    int(datetime.datetime(2024, 11, 2, 23, 59, tzinfo=NEW_YORK).timestamp()) * NS,
)
STEPS = (0, 1, 1_000_000, 100_000_000, 999_999_999, NS, NS + 1, 30 * NS, 61 * NS, 3600 * NS, 12 * 3600 * NS)
REL = 1e-9
MAX_EXAMPLES = 50
DEEP_EXAMPLES = 2_000  # the deep profile's count (tests/conftest.py): never capped

# (symbol, side, quantity, order type, limit/stop price factor, with a reference price)
order_wishes = st.tuples(
    st.sampled_from(["AAA", "AAA", "BBB", "BBB", "CCC"]),
    st.sampled_from(Side),
    st.sampled_from([1.0, 0.5, 2.0, 3.0, 5.0, 10.0, 40.0, 250.0]),
    st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.MARKET, OrderType.STOP]),
    st.sampled_from([1.0, 0.999, 1.004, 0.97, 1.2, 0.5]),
    st.booleans(),
)


def maybe(*values: object) -> st.SearchStrategy[object]:
    """Mostly off (None), sometimes one of ``values``: a limit that binds in some runs."""
    return st.sampled_from([None, None, *values])


# Every limit, drawn so each binds in some runs (permissive values first: Hypothesis shrinks
# towards them, so a failure is shown with as few limits in play as possible)
BROAD: dict[str, st.SearchStrategy[object]] = {
    "max_order_size": st.sampled_from([200.0, 50.0, 5.0]),
    "max_position_size": st.sampled_from([400.0, 100.0, 10.0]),
    "max_daily_loss": st.sampled_from([1e9, 500.0, 20.0]),
    "max_order_notional": maybe(5_000.0, 500.0),
    "max_position_value": maybe(20_000.0, 1_000.0),
    "max_gross_exposure": maybe(30_000.0, 2_000.0),
    "allowed_symbols": maybe(ALLOWED),
    "max_open_orders": maybe(8, 3, 1),
    "max_orders_per_second": maybe(5, 2, 1),
    "max_orders_per_minute": maybe(10, 3),
    "price_collar_bps": maybe(1_000.0, 50.0),
    "max_quote_age_secs": maybe(60.0, 0.5),
}
# The background for a test focused on one limit: the others rarely in the way
QUIET: dict[str, st.SearchStrategy[object]] = {
    **{
        key: st.sampled_from([None, None, None, None, value])
        for key, value in (
            ("max_order_notional", 5_000.0),
            ("max_position_value", 20_000.0),
            ("max_gross_exposure", 30_000.0),
            ("allowed_symbols", ALLOWED),
            ("max_open_orders", 8),
            ("max_orders_per_second", 5),
            ("max_orders_per_minute", 10),
            ("price_collar_bps", 1_000.0),
            ("max_quote_age_secs", 60.0),
        )
    },
    "max_order_size": st.just(200.0),
    "max_position_size": st.sampled_from([400.0, 100.0]),
    "max_daily_loss": st.sampled_from([1e9, 500.0]),
}


def limit_kwargs(*, quiet: bool = False, **fixed: object) -> st.SearchStrategy[dict[str, object]]:
    """Limits for a machine: BROAD (or QUIET), with ``fixed`` keys pinned to a value or strategy."""
    drawn = dict(QUIET if quiet else BROAD)
    for key, value in fixed.items():
        drawn[key] = value if isinstance(value, st.SearchStrategy) else st.just(value)
    return st.fixed_dictionaries(drawn)


@attrs.define
class ModelOrder:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    filled: float = 0.0

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled


@attrs.frozen
class Snapshot:
    """What a rejection (R2) or a bad mark (R18) must leave unchanged."""

    open_orders: tuple[object, ...]
    reserved: float
    gross: float
    cash: float
    total_pnl: float
    approvals: int
    marks: tuple[float | None, ...]
    # a check observes its time: it may stamp pending marks and roll the session (not R2's business)
    mark_times: tuple[int | None, ...]
    state: TradingState


class RiskMachine(RuleBasedStateMachine):
    """Drives a RiskEngine and a model of it; subclasses check one invariant each."""

    LIMITS: ClassVar[st.SearchStrategy[dict[str, object]]] = limit_kwargs()
    CASH: ClassVar[st.SearchStrategy[float]] = st.sampled_from([100_000.0, 2_000.0])
    TWIN: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.engine: RiskEngine | None = None
        self.twin: RiskEngine | None = None

    # --- setup and plumbing ---

    @initialize(data=st.data(), start=st.sampled_from(STARTS))
    def setup(self, data: st.DataObject, start: int) -> None:
        # drawn here, not in the decorator, so each subclass's LIMITS and CASH apply
        self.limits = RiskLimits(**data.draw(self.LIMITS, label="limits"))  # type: ignore[arg-type]  # drawn kwargs
        cash = data.draw(self.CASH, label="cash")
        self.engine = RiskEngine(self.limits, Portfolio(cash))
        if self.TWIN:
            self.twin = RiskEngine(self.limits, Portfolio(cash))
        self.now = start
        self.n = 0
        self.orders: dict[str, ModelOrder] = {}
        self.approved: list[tuple[int, RiskApproved]] = []
        self.approved_ids: set[str] = set()
        self.sent: list[SignalGenerated] = []
        self.fills: list[OrderFilled] = []
        self.executions: set[str] = set()
        self.marks: dict[str, float] = {}  # what the portfolio prices positions at
        self.mark_times: dict[str, int] = {}
        self.unstamped: set[str] = set()
        self.changes: list[TradingStateChange] = []  # every change drained, in order (R20)
        self.drained: list[TradingStateChange] = []  # the last call's changes
        self.session_day: datetime.date | None = None  # the engine's first session needs no roll
        self.session_start_pnl = 0.0
        self.sessions = 1
        if data.draw(st.sampled_from([True, True, True, False]), label="marked at start"):
            for symbol in SYMBOLS:
                self.call("on_mark", symbol, 100.0, now_ns=start)
                self.marks[symbol] = 100.0
                self.mark_times[symbol] = start

    @property
    def risk(self) -> RiskEngine:
        assert self.engine is not None
        return self.engine

    @staticmethod
    def day(now_ns: int) -> datetime.date:
        return datetime.datetime.fromtimestamp(now_ns // NS, tz=NEW_YORK).date()

    def call(self, name: str, *args: object, observes: bool = True, **kwargs: object) -> object:
        """Call the engine (and its twin, R22); drain its state changes into the model.

        ``observes``: the call reads its ``now_ns`` (stamps pending marks, may start a session);
        a bad mark does not.
        """
        now_ns = kwargs.get("now_ns")
        if observes and isinstance(now_ns, int):
            for symbol in self.unstamped:
                self.mark_times[symbol] = now_ns
            self.unstamped.clear()
            day = self.day(now_ns)
            if self.session_day is not None and day != self.session_day:
                self.session_start_pnl = self.model_total_pnl()
                self.sessions += 1
            self.session_day = day
        result = getattr(self.risk, name)(*args, **kwargs)
        self.drained = self.risk.state_changes()
        self.changes.extend(self.drained)
        if self.twin is not None:
            assert repr(getattr(self.twin, name)(*args, **kwargs)) == repr(result)  # repr: NaN == NaN
            assert self.twin.state_changes() == self.drained
            assert self.twin.statistics() == self.risk.statistics()
        return result

    def snapshot(self) -> Snapshot:
        risk = self.risk
        return Snapshot(
            open_orders=risk.open_orders(),
            reserved=risk.reserved_cash,
            gross=risk.projected_gross_exposure,
            cash=risk.portfolio.cash,
            total_pnl=risk.portfolio.total_pnl,
            approvals=risk.statistics().approvals,
            marks=tuple(risk.portfolio.last_price(s) for s in SYMBOLS),
            mark_times=tuple(risk.last_mark_ns(s) for s in SYMBOLS),
            state=risk.state,
        )

    def model_total_pnl(self) -> float:
        cash_flow = sum(-f.side.sign * f.fill_quantity * f.fill_price - f.fee for f in self.fills)
        return cash_flow + sum(q * self.marks[s] for s, q in self.positions().items() if q)

    def positions(self) -> dict[str, float]:
        positions = dict.fromkeys(SYMBOLS, 0.0)
        for fill in self.fills:
            positions[fill.symbol] += fill.side.sign * fill.fill_quantity
        return positions

    def open_sums(self, symbol: str) -> tuple[float, float]:
        buys = sum(o.remaining for o in self.orders.values() if o.symbol == symbol and o.side is Side.BUY)
        sells = sum(o.remaining for o in self.orders.values() if o.symbol == symbol and o.side is Side.SELL)
        return buys, sells

    def expected_value(self, signal: SignalGenerated, mark: float | None) -> float | None:
        if signal.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return signal.limit_price
        known = [p for p in (signal.reference_price, mark) if p is not None]
        if signal.order_type is OrderType.STOP and signal.stop_price is not None:
            known.append(signal.stop_price)
        return max(known) if known else None

    # --- hooks for the invariant tests ---

    def on_decision(
        self,
        signal: SignalGenerated,
        decision: RiskApproved | RiskRejected,
        before: Snapshot,
        context: dict[str, object],
    ) -> None:
        """Called after every check with the state before it; subclasses assert."""

    # --- rules ---

    def _signal(self, signal: SignalGenerated) -> None:
        risk = self.risk
        before = self.snapshot()
        mark = risk.portfolio.last_price(signal.symbol)
        buys, sells = self.open_sums(signal.symbol)
        context: dict[str, object] = {
            "mark": mark,
            "marked_at": self.mark_times.get(signal.symbol),
            "position": risk.portfolio.quantity(signal.symbol),
            "buys": buys,
            "sells": sells,
            "worst": self.worst(signal.symbol),
        }
        decision = self.call("check", signal, now_ns=self.now)
        assert isinstance(decision, RiskApproved | RiskRejected)
        context["state"] = risk.state  # a check changes the state only before deciding
        if isinstance(decision, RiskApproved):
            assert decision.client_order_id == client_order_id_for(signal.signal_id)
            value = self.expected_value(signal, mark)
            assert value is not None
            self.orders[decision.client_order_id] = ModelOrder(
                decision.client_order_id, signal.symbol, signal.side, signal.quantity, value
            )
            self.approved.append((self.now, decision))
        self.on_decision(signal, decision, before, context)
        if isinstance(decision, RiskApproved):
            self.approved_ids.add(decision.client_order_id)
        self.sent.append(signal)

    @rule(orders=st.lists(order_wishes, min_size=1, max_size=3))
    def signal(self, orders: list[tuple[str, Side, float, OrderType, float, bool]]) -> None:
        # one to three signals at the same instant (a strategy reacting to one bar)
        for symbol, side, quantity, order_type, price_factor, reference in orders:
            self.n += 1
            base = self.marks.get(symbol, 100.0)
            price = max(round(base * price_factor, 4), 0.01)
            self._signal(
                SignalGenerated(
                    signal_id=f"s{self.n}",
                    strategy="prop",
                    symbol=symbol,
                    side=side,
                    quantity=quantity,
                    order_type=order_type,
                    limit_price=price if order_type is OrderType.LIMIT else None,
                    stop_price=price if order_type is OrderType.STOP else None,
                    reference_price=max(round(base * (2 - price_factor), 4), 0.01) if reference else None,
                    ts_event=self.now,
                    ts_init=self.now,
                )
            )

    @rule(order=order_wishes, step=st.sampled_from(STEPS[:6]))
    def signal_then_tick(self, order: tuple[str, Side, float, OrderType, float, bool], step: int) -> None:
        self.signal([order])
        self.now += step

    @precondition(lambda self: bool(self.sent) or bool(self.fills))
    @rule(index=st.integers(min_value=0), fill=st.booleans())
    def redeliver(self, index: int, fill: bool) -> None:
        # a stream reconnect or a replayed reply: the same signal or fill again
        if fill and self.fills:
            self.apply_fill(self.fills[index % len(self.fills)])
        elif self.sent:
            self._signal(self.sent[index % len(self.sent)])

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        field=st.sampled_from(["mark", "quantity", "reference_price"]),
        bad=st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0]),
    )
    def bad_input(self, symbol: str, field: str, bad: float) -> None:
        if field == "mark":
            self.bad_mark(symbol, bad)
            return
        self.n += 1
        signal = SignalGenerated(
            signal_id=f"s{self.n}",
            strategy="prop",
            symbol=symbol,
            side=Side.BUY,
            quantity=1.0,
            reference_price=self.marks.get(symbol, 100.0),
            ts_event=self.now,
            ts_init=self.now,
        )
        object.__setattr__(signal, field, bad)  # what validation forbids, built anyway
        before = self.snapshot()
        decision = self.call("check", signal, now_ns=self.now)
        assert isinstance(decision, RiskRejected)
        assert decision.reason_code == INVALID_INPUT
        self.on_bad_input(before, observed=True)

    def on_bad_input(self, before: Snapshot, *, observed: bool) -> None:
        """Called after a bad signal (``observed``: it read its time) or a bad mark (R18)."""

    @precondition(lambda self: bool(self.orders))
    @rule(
        index=st.integers(min_value=0),
        fraction=st.sampled_from([0.25, 0.5, 1.0]),
        move=st.sampled_from([0.5, 0.9, 1.0, 1.1, 1.6]),
        fee=st.sampled_from([0.0, 0.01, 1.0]),
    )
    def fill(self, index: int, fraction: float, move: float, fee: float) -> None:
        order = list(self.orders.values())[index % len(self.orders)]
        quantity = order.remaining if fraction == 1.0 else order.remaining * fraction
        order.filled += quantity
        # the engine ends an order whose remaining quantity is float noise
        final = fraction == 1.0 or order.remaining <= 1e-10 * order.quantity
        self.n += 1
        fill = OrderFilled(
            client_order_id=order.client_order_id,
            venue_order_id="v-" + order.client_order_id,
            execution_id=f"x{self.n}",
            symbol=order.symbol,
            side=order.side,
            fill_price=max(round(order.price * move, 4), 0.01),
            fill_quantity=quantity,
            cumulative_quantity=order.filled,
            leaves_quantity=0.0 if final else order.quantity - order.filled,
            fee=fee,
            ts_event=self.now,
            ts_init=self.now,
        )
        self.apply_fill(fill)
        if final:
            del self.orders[order.client_order_id]

    def apply_fill(self, fill: OrderFilled) -> None:
        # the engine rolls the session before it applies the fill, so the model records the fill
        # after the call: a fill that is the first event after midnight counts in the new session
        self.call("on_fill", fill, now_ns=self.now)
        if fill.execution_id not in self.executions:
            self.executions.add(fill.execution_id)
            self.fills.append(fill)
            self.marks.setdefault(fill.symbol, fill.fill_price)

    @precondition(lambda self: bool(self.orders))
    @rule(index=st.integers(min_value=0))
    def cancel(self, index: int) -> None:
        order = list(self.orders.values())[index % len(self.orders)]
        del self.orders[order.client_order_id]
        self.call("on_order_closed", order.client_order_id, now_ns=self.now)

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        move=st.sampled_from([0.5, 0.96, 0.999, 1.0, 1.001, 1.04, 1.7]),
        stamped=st.booleans(),
    )
    def mark(self, symbol: str, move: float, stamped: bool) -> None:
        price = max(round(self.marks.get(symbol, 100.0) * move, 4), 0.01)
        if stamped:
            applied = self.call("on_mark", symbol, price, now_ns=self.now)
            self.mark_times[symbol] = self.now
        else:
            applied = self.call("on_mark", symbol, price)
            self.unstamped.add(symbol)
        assert applied is True
        self.marks[symbol] = price

    def bad_mark(self, symbol: str, bad: float) -> None:
        before = self.snapshot()
        invalid = self.risk.statistics().invalid_marks

        applied = self.call("on_mark", symbol, bad, now_ns=self.now, observes=False)

        assert applied is False
        assert self.risk.statistics().invalid_marks == invalid + 1
        self.on_bad_input(before, observed=False)

    @rule(step=st.sampled_from(STEPS))
    def advance(self, step: int) -> None:
        self.now += step

    @rule(action=st.sampled_from(["resume", "resume", "resume", "halt", "reduce_only"]))
    def operator(self, action: str) -> None:
        # the kill switch: resume is likelier, so a run does not sit halted
        previous = self.risk.state
        reason = f"operator: {action}"
        self.call(action, reason, now_ns=self.now)
        state = self.risk.state
        if action == "halt":
            assert state is TradingState.HALTED
            if previous is not TradingState.HALTED:
                assert (self.drained[-1].state, self.drained[-1].reason) == (state, reason)
        elif action == "reduce_only":
            assert state is TradingState.REDUCING
            if self.drained:
                assert (self.drained[-1].state, self.drained[-1].reason) == (state, reason)
        elif self.risk.daily_pnl > -self.limits.max_daily_loss:
            assert state is TradingState.ACTIVE

    # --- shared helpers for invariants ---

    def worst(self, symbol: str) -> float:
        position = self.risk.portfolio.quantity(symbol)
        buys, sells = self.open_sums(symbol)
        return max(abs(position + buys), abs(position - sells))

    def symbol_term(self, symbol: str) -> float:
        price = self.risk.portfolio.last_price(symbol)
        if price is None:  # valued like the engine: the dearest open order on it
            price = max((o.price for o in self.orders.values() if o.symbol == symbol), default=0.0)
        return self.worst(symbol) * price

    def scale(self) -> float:
        return (
            1.0
            + sum(abs(f.fill_quantity * f.fill_price) for f in self.fills)
            + sum(o.quantity * o.price for o in self.orders.values())
        )


def run(machine: type[RuleBasedStateMachine], *, steps: int = 30) -> None:
    # 22 machines: capped so the module stays in seconds (the profile's CI count would be
    # minutes); the deep profile runs its full count
    examples = settings().max_examples
    if examples < DEEP_EXAMPLES:
        examples = min(examples, MAX_EXAMPLES)
    run_state_machine_as_test(
        machine, settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None)
    )


def at_most(value: float, limit: float | None) -> bool:
    return limit is None or value <= limit * (1 + REL) + REL


def shrinks(projected: float, position: float) -> bool:
    return projected * position >= 0.0 and abs(projected) <= abs(position) * (1 + REL)


def projected_of(signal: SignalGenerated, context: dict[str, object]) -> float:
    position, buys, sells = (float(context[k]) for k in ("position", "buys", "sells"))  # type: ignore[arg-type]
    if signal.side is Side.BUY:
        return position + buys + signal.quantity
    return position - sells - signal.quantity


# --- R1 ---


class PositionLimitMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_position_size=st.sampled_from([10.0, 100.0]))

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            projected = projected_of(signal, context)
            assert at_most(abs(projected), self.limits.max_position_size) or shrinks(
                projected,
                float(context["position"]),  # type: ignore[arg-type]
            )

    @invariant()
    def worst_cases_within_limit(self):
        if self.engine is None:
            return
        for symbol in SYMBOLS:
            position = self.risk.portfolio.quantity(symbol)
            buys, sells = self.open_sums(symbol)
            assert at_most(abs(position + buys), self.limits.max_position_size)
            assert at_most(abs(position - sells), self.limits.max_position_size)


@pytest.mark.slow
def test_R1_position_limit_holds_whatever_the_open_orders_do():
    run(PositionLimitMachine)


# --- R2 ---


class RejectionMachine(RiskMachine):
    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskRejected):
            after = self.snapshot()
            assert attrs.evolve(after, mark_times=(), state=TradingState.ACTIVE) == attrs.evolve(
                before, mark_times=(), state=TradingState.ACTIVE
            )
            client_order_id = client_order_id_for(signal.signal_id)
            assert self.risk.is_open(client_order_id) == (client_order_id in self.orders)
            if client_order_id not in self.approved_ids:
                assert decision.reason_code != "DUPLICATE_SIGNAL"


@pytest.mark.slow
def test_R2_a_rejection_leaves_no_trace():
    run(RejectionMachine)


def test_R2_a_rejected_signal_can_be_approved_once_the_reason_is_gone():
    engine = RiskEngine(
        RiskLimits(max_order_size=10, max_position_size=100, max_daily_loss=1e9), Portfolio(1e6)
    )
    signal = SignalGenerated(
        signal_id="again",
        strategy="prop",
        symbol="AAA",
        side=Side.BUY,
        quantity=5.0,
        reference_price=10.0,
        ts_event=0,
        ts_init=0,
    )
    engine.halt("pause", now_ns=1)
    assert isinstance(engine.check(signal, now_ns=2), RiskRejected)

    engine.resume(now_ns=3)

    assert isinstance(engine.check(signal, now_ns=4), RiskApproved)


# --- R3 ---


class PnlMachine(RiskMachine):
    @invariant()
    def pnl_is_the_fills_at_current_marks(self):
        if self.engine is None:
            return
        portfolio = self.risk.portfolio
        expected = self.model_total_pnl()
        tolerance = 1e-9 * self.scale()
        assert math.isclose(portfolio.realized_pnl + portfolio.unrealized_pnl, expected, abs_tol=tolerance)
        assert math.isclose(portfolio.total_pnl, expected, abs_tol=tolerance)
        assert math.isclose(portfolio.equity - portfolio.starting_cash, expected, abs_tol=tolerance)
        for symbol, quantity in self.positions().items():
            assert math.isclose(portfolio.quantity(symbol), quantity, abs_tol=1e-9)


@pytest.mark.slow
def test_R3_pnl_is_the_pnl_of_the_fills_at_current_marks():
    run(PnlMachine, steps=50)


# --- R4 ---


class ReducingMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_daily_loss=st.sampled_from([20.0, 1e9]))

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved) and context["state"] is TradingState.REDUCING:
            position = float(context["position"])  # type: ignore[arg-type]
            same_side = float(context["buys" if signal.side is Side.BUY else "sells"])  # type: ignore[arg-type]
            assert position != 0.0
            assert (position > 0) != (signal.side is Side.BUY)
            assert same_side + signal.quantity <= abs(position) * (1 + REL)


@pytest.mark.slow
def test_R4_reducing_approves_only_orders_that_shrink_exposure():
    run(ReducingMachine)


# --- R5 ---


class HaltedMachine(RiskMachine):
    def on_decision(self, signal, decision, before, context):
        if context["state"] is TradingState.HALTED:
            assert isinstance(decision, RiskRejected)
            assert decision.reason_code in (INVALID_INPUT, "DUPLICATE_SIGNAL", TRADING_HALTED)


@pytest.mark.slow
def test_R5_halted_approves_nothing():
    run(HaltedMachine)


# --- R6 ---


class BuyingPowerMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True)
    CASH = st.sampled_from([500.0, 2_000.0])

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved) and signal.side is Side.BUY:
            reserved = sum(o.remaining * o.price for o in self.orders.values() if o.side is Side.BUY)
            assert self.risk.portfolio.cash - reserved >= -1e-9 * self.scale()


@pytest.mark.slow
def test_R6_buying_power_is_never_overdrawn_by_an_approval():
    run(BuyingPowerMachine)


# --- R7 ---


class ValuationMachine(RiskMachine):
    def on_decision(self, signal, decision, before, context):
        mark = context["mark"]
        if isinstance(decision, RiskApproved):
            views = {v.client_order_id: v for v in self.risk.open_orders()}
            view = views[decision.client_order_id]
            assert 0.0 < view.price < math.inf
            assert view.price == self.expected_value(signal, mark)  # type: ignore[arg-type]
        elif signal.order_type is OrderType.MARKET and signal.reference_price is None and mark is None:
            # NO_PRICE, unless a check before it failed first
            assert REASON_CODES.index(decision.reason_code) <= REASON_CODES.index(NO_PRICE)

    @invariant()
    def every_open_order_is_priced(self):
        if self.engine is None:
            return
        for view in self.risk.open_orders():
            assert 0.0 < view.price < math.inf


@pytest.mark.slow
def test_R7_orders_are_valued_never_at_zero():
    run(ValuationMachine)


# --- R8 ---


class RateMachine(RiskMachine):
    LIMITS = limit_kwargs(
        quiet=True,
        max_orders_per_second=st.sampled_from([1, 2, 5, None]),
        max_orders_per_minute=st.sampled_from([3, 10, None]),
        max_open_orders=None,
        max_position_size=1e9,
    )
    CASH = st.just(1e12)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            times = [t for t, _ in self.approved]
            now = times[-1]
            per_second = self.limits.max_orders_per_second
            per_minute = self.limits.max_orders_per_minute
            if per_second is not None:
                assert sum(1 for t in times if t > now - NS) <= per_second
            if per_minute is not None:
                assert sum(1 for t in times if t > now - 60 * NS) <= per_minute


@pytest.mark.slow
def test_R8_order_rate_stays_within_both_windows():
    run(RateMachine, steps=50)


# --- R9 ---


class DuplicateMachine(RiskMachine):
    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            assert decision.client_order_id not in self.approved_ids


@pytest.mark.slow
def test_R9_a_signal_is_approved_at_most_once():
    run(DuplicateMachine)


# --- R10 ---


class DailyLossMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_daily_loss=20.0)

    @invariant()
    def breach_means_not_active(self):
        if self.engine is None:
            return
        risk = self.risk
        if risk.daily_pnl <= -self.limits.max_daily_loss:
            assert risk.state is not TradingState.ACTIVE
        if risk.state is TradingState.REDUCING and risk.state_reason.startswith(MAX_DAILY_LOSS):
            assert self.changes[-1].automatic
            assert self.changes[-1].state is TradingState.REDUCING


@pytest.mark.slow
def test_R10_a_daily_loss_breach_switches_to_reducing():
    run(DailyLossMachine, steps=50)


# --- R11 ---


class OrderLimitMachine(RiskMachine):
    LIMITS = limit_kwargs(
        quiet=True,
        max_order_size=st.sampled_from([5.0, 50.0]),
        max_order_notional=st.sampled_from([500.0, 5_000.0, None]),
    )

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            value = self.orders[decision.client_order_id].price
            assert signal.quantity <= self.limits.max_order_size * (1 + REL)
            assert at_most(signal.quantity * value, self.limits.max_order_notional)


@pytest.mark.slow
def test_R11_order_size_and_notional_limits_hold():
    run(OrderLimitMachine)


# --- R12 ---


class PositionValueMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_position_value=1_500.0)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            projected = projected_of(signal, context)
            value = self.orders[decision.client_order_id].price
            mark = context["mark"]
            price = value if mark is None else max(value, float(mark))  # type: ignore[arg-type]
            assert at_most(abs(projected) * price, self.limits.max_position_value) or shrinks(
                projected,
                float(context["position"]),  # type: ignore[arg-type]
            )


@pytest.mark.slow
def test_R12_position_value_limit_holds():
    run(PositionValueMachine)


# --- R13 ---


class GrossExposureMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_gross_exposure=3_000.0)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            gross = sum(self.symbol_term(s) for s in SYMBOLS)
            grew = self.worst(signal.symbol) > float(context["worst"]) * (1 + REL) + REL  # type: ignore[arg-type]
            assert at_most(gross, self.limits.max_gross_exposure) or not grew


@pytest.mark.slow
def test_R13_gross_exposure_limit_holds():
    run(GrossExposureMachine)


# --- R14 ---


class OpenOrdersMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_open_orders=3)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            assert len(self.risk.open_orders()) <= 3

    @invariant()
    def open_until_ended(self):
        if self.engine is None:
            return
        for _, approval in self.approved:
            assert self.risk.is_open(approval.client_order_id) == (approval.client_order_id in self.orders)


@pytest.mark.slow
def test_R14_open_orders_count_until_they_end():
    run(OpenOrdersMachine)


# --- R15 ---


class CollarMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, price_collar_bps=50.0)

    def on_decision(self, signal, decision, before, context):
        mark = context["mark"]
        if isinstance(decision, RiskApproved) and mark is not None:
            band = float(mark) * 50.0 / 10_000 * (1 + REL) + REL  # type: ignore[arg-type]
            if signal.order_type is OrderType.LIMIT:
                assert signal.limit_price is not None
                assert abs(signal.limit_price - float(mark)) <= band  # type: ignore[arg-type]
            if signal.reference_price is not None:
                assert abs(signal.reference_price - float(mark)) <= band  # type: ignore[arg-type]


@pytest.mark.slow
def test_R15_fat_fingers_are_stopped_by_the_price_collar():
    run(CollarMachine)


# --- R16 ---


class StaleMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_quote_age_secs=0.5)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            marked_at = self.mark_times.get(signal.symbol)
            assert marked_at is not None
            assert self.now - marked_at <= 0.5 * NS
            assert self.risk.last_mark_ns(signal.symbol) == marked_at


@pytest.mark.slow
def test_R16_no_approval_on_stale_market_data():
    run(StaleMachine)


# --- R17 ---


class AllowListMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, allowed_symbols=ALLOWED)

    def on_decision(self, signal, decision, before, context):
        if isinstance(decision, RiskApproved):
            assert signal.symbol in ALLOWED


@pytest.mark.slow
def test_R17_only_allowed_symbols_trade():
    run(AllowListMachine)


# --- R18 ---


class BadInputMachine(RiskMachine):
    def on_bad_input(self, before, *, observed):
        after = self.snapshot()
        if observed:  # a bad signal is a rejection: it may only have read its time (R2)
            after = attrs.evolve(after, mark_times=before.mark_times, state=before.state)
        assert after == before


@pytest.mark.slow
def test_R18_bad_numbers_change_nothing():
    run(BadInputMachine)


# --- R19 ---


class SessionMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, max_daily_loss=20.0)

    @invariant()
    def daily_pnl_is_measured_from_new_york_midnight(self):
        if self.engine is None:
            return
        risk = self.risk
        assert risk.statistics().sessions == self.sessions
        expected = self.model_total_pnl() - self.session_start_pnl
        assert math.isclose(risk.daily_pnl, expected, abs_tol=1e-9 * self.scale())

    @rule()
    def first_event_after_midnight_ends_a_daily_loss_reducing(self):
        if self.engine is None:
            return
        risk = self.risk
        before_state = risk.state
        automatic = risk.state_reason.startswith(MAX_DAILY_LOSS)
        next_midnight = datetime.datetime.combine(
            self.day(self.now) + datetime.timedelta(days=1), datetime.time(), tzinfo=NEW_YORK
        )
        self.now = int(next_midnight.timestamp()) * NS
        self.call("on_order_closed", "no-such-order", now_ns=self.now)  # any event rolls the session
        if before_state is TradingState.REDUCING and automatic:
            assert risk.state is TradingState.ACTIVE
            assert self.drained[-1].automatic
        else:
            assert risk.state is before_state


@pytest.mark.slow
def test_R19_sessions_start_at_new_york_midnight():
    run(SessionMachine, steps=50)


# --- R20 ---


class StateChangesMachine(RiskMachine):
    @invariant()
    def changes_chain_to_the_state(self):
        if self.engine is None:
            return
        state = TradingState.ACTIVE
        last_ts = None
        for change in self.changes:
            assert change.previous is state
            assert change.reason
            if last_ts is not None:
                assert change.ts_event >= last_ts
            state, last_ts = change.state, change.ts_event
        assert state is self.risk.state
        assert self.risk.state_changes() == []


@pytest.mark.slow
def test_R20_every_state_change_is_recorded_once_in_order():
    run(StateChangesMachine)


# --- R21 ---


class RunningSumsMachine(RiskMachine):
    @invariant()
    def sums_match_a_recomputation(self):
        if self.engine is None:
            return
        risk = self.risk
        tolerance = 1e-9 * self.scale()
        reserved = sum(o.remaining * o.price for o in self.orders.values() if o.side is Side.BUY)
        assert math.isclose(risk.reserved_cash, reserved, abs_tol=tolerance)
        gross = sum(self.symbol_term(s) for s in SYMBOLS)
        assert math.isclose(risk.projected_gross_exposure, gross, abs_tol=tolerance)
        views = {v.client_order_id: v for v in risk.open_orders()}
        assert set(views) == set(self.orders)
        for client_order_id, order in self.orders.items():
            assert math.isclose(views[client_order_id].remaining, order.remaining, abs_tol=1e-9)
            assert views[client_order_id].price == order.price


@pytest.mark.slow
def test_R21_running_sums_match_a_recomputation():
    run(RunningSumsMachine, steps=50)


# --- R22 ---


class TwinMachine(RiskMachine):
    TWIN = True


@pytest.mark.slow
def test_R22_same_inputs_same_decisions():
    run(TwinMachine)


# --- R23 ---


class LongOnlyMachine(RiskMachine):
    LIMITS = limit_kwargs(quiet=True, allow_short=False)

    def on_decision(self, signal, decision, before, context):
        position, sells = float(context["position"]), float(context["sells"])  # type: ignore[arg-type]
        left = position - sells - signal.quantity  # the worst case once every open sell fills
        if isinstance(decision, RiskApproved) and signal.side is Side.SELL:
            assert left >= -REL * (1.0 + abs(position))
        if isinstance(decision, RiskRejected) and decision.reason_code == SHORT_NOT_ALLOWED:
            assert signal.side is Side.SELL
            assert left < 0.0

    @invariant()
    def never_short(self):
        if self.engine is None:
            return
        for symbol, quantity in self.positions().items():
            assert quantity >= -1e-9
            assert self.risk.portfolio.quantity(symbol) >= -1e-9
            _, sells = self.open_sums(symbol)
            assert quantity - sells >= -1e-9 * (1.0 + abs(quantity))


@pytest.mark.slow
def test_R23_a_long_only_strategy_never_goes_short():
    run(LongOnlyMachine)

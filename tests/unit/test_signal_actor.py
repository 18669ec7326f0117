"""The signal actor on a real Bus and trio's MockClock: dispatch, filtering, books, isolation, restart."""

from __future__ import annotations

import functools
import logging

import attrs
import pytest
import trio
import trio.testing

from pyrt.messages import (
    BarReceived,
    BookLevel,
    BookReceived,
    Message,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteReceived,
    RiskApproved,
    Side,
    SignalGenerated,
)
from pyrt.runtime.bus import Bus, Subscription
from pyrt.runtime.supervisor import ChildSpec, Supervisor
from pyrt.strategy import SmaCrossover, Strategy
from pyrt.strategy.actor import SignalActor
from pyrt.testing import virtual_context

START_NS = 1_700_000_000 * 1_000_000_000


def bar(close: float, *, symbol: str = "AAPL", timeframe: str = "1s", i: int = 0) -> BarReceived:
    return BarReceived(
        symbol=symbol,
        timeframe=timeframe,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=10.0,
        ts_event=i,
        ts_init=i,
    )


def drain(sub: Subscription) -> list[SignalGenerated]:
    out: list[SignalGenerated] = []
    while True:
        try:
            batch = sub.receive_nowait()
        except trio.WouldBlock:
            return out
        out.extend(m for m in batch if isinstance(m, SignalGenerated))


class Recorder(Strategy):
    """Buys one share per bar; remembers every bar and quote it was given."""

    NAME = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def on_start(self) -> None:
        self.buy("SPY", 1, reference_price=400.0)

    def on_bar(self, bar: BarReceived) -> None:
        self.seen.append(bar)
        self.buy(bar.symbol, 1)


class Boom(Strategy):
    """Buys one share per bar and raises on a close of 13, after two signals of its own."""

    NAME = "boom"

    def on_bar(self, bar: BarReceived) -> None:
        self.buy(bar.symbol, 1)
        if bar.close == 13:
            self.buy("ZZZ", 99)  # partial signals that must not escape
            raise RuntimeError("strategy bug")


def approval_and_fill(sig: SignalGenerated, n: int) -> list[Message]:
    """Risk's approval of ``sig`` and the venue's complete fill of it."""
    client_order_id = f"c{n}"
    return [
        RiskApproved(signal=sig, client_order_id=client_order_id, ts_event=0, ts_init=0),
        OrderFilled(
            client_order_id=client_order_id,
            venue_order_id=f"v{n}",
            execution_id=f"e{n}",
            symbol=sig.symbol,
            side=sig.side,
            fill_price=sig.reference_price or 10.0,
            fill_quantity=sig.quantity,
            cumulative_quantity=sig.quantity,
            leaves_quantity=0.0,
            ts_event=0,
            ts_init=0,
        ),
    ]


async def test_bars_in_give_the_strategys_signals_out_stamped_with_the_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")
    actor = SignalActor(lambda: SmaCrossover(fast=1, slow=2, quantity=5))
    closes = [10.0, 9.0, 11.0, 12.0, 8.0, 9.0, 7.0, 10.0]
    reference = SmaCrossover(fast=1, slow=2, quantity=5)
    expected: list[SignalGenerated] = []
    for i, c in enumerate(closes):  # every order fills before the next bar
        reference.set_time(START_NS + 1_000_000_000)
        reference.handle_bar(bar(c, i=i))
        for sig in reference.drain_signals():
            expected.append(sig)
            reference.handle_fill(approval_and_fill(sig, i)[1])  # type: ignore[arg-type]  # the fill

    got: list[SignalGenerated] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, virtual_context(bus=bus, start_ns=START_NS))
        await trio.sleep(1.0)  # virtual time (autojump_clock)
        for i, c in enumerate(closes):
            await bus.publish(bar(c, i=i))
            await trio.testing.wait_all_tasks_blocked()
            for sig in drain(signals):
                got.append(sig)
                await bus.publish_batch(approval_and_fill(sig, i))
                await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert got == expected
    assert [s.side for s in got] == [Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.BUY]
    assert {s.ts_event for s in got} == {START_NS + 1_000_000_000}
    assert actor.signals == 5


async def test_a_long_only_strategy_never_sells_what_a_rejected_buy_asked_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Issue 8's journal: a buy was rejected after retries, the sell cross came while it was still
    # working, the sell went out anyway and filled: short 10. Now the sell cross is not acted on
    # while the buy awaits its outcome; once the buy is rejected the strategy holds nothing (what
    # was filled), sends no sell, and buys again on the next cross up
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")
    strategy = SmaCrossover(fast=1, slow=2, quantity=10)
    actor = SignalActor(lambda: strategy)

    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, virtual_context(bus=bus, start_ns=START_NS))
        await bus.publish_batch([bar(10.0, i=0), bar(9.0, i=1), bar(11.0, i=2)])  # cross up
        await trio.testing.wait_all_tasks_blocked()
        (buy,) = drain(signals)
        await bus.publish(RiskApproved(signal=buy, client_order_id="c1", ts_event=0, ts_init=0))
        await trio.testing.wait_all_tasks_blocked()
        await bus.publish(bar(8.0, i=3))  # cross down while the buy is still working
        await trio.testing.wait_all_tasks_blocked()
        during = drain(signals)
        await bus.publish(
            OrderRejected(
                client_order_id="c1",
                symbol="AAPL",
                reason="gave up after 4 attempts: rate limit exceeded",
                ts_event=0,
                ts_init=0,
            )
        )
        await trio.testing.wait_all_tasks_blocked()
        await bus.publish(bar(7.0, i=4))  # still below: no cross, nothing to do
        await trio.testing.wait_all_tasks_blocked()
        after = drain(signals)
        await bus.publish(bar(12.0, i=5))  # the next cross up
        await trio.testing.wait_all_tasks_blocked()
        again = drain(signals)
        nursery.cancel_scope.cancel()

    assert (buy.side, buy.quantity) == (Side.BUY, 10.0)
    assert during == []
    assert strategy.withheld == 0  # it held nothing filled, so it did not even try to sell
    assert after == []
    assert [(s.side, s.quantity) for s in again] == [(Side.BUY, 10.0)]
    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (0.0, 10.0)  # only the new buy


async def test_signals_on_a_symbol_are_withheld_until_its_intent_has_an_outcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Recorder()  # buys one share per bar
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")

    async with trio.open_nursery() as nursery:
        await nursery.start(SignalActor(lambda: strategy).run, virtual_context(bus=bus, start_ns=START_NS))
        await bus.publish(bar(10.0))
        await trio.testing.wait_all_tasks_blocked()
        _spy, first = drain(signals)
        await bus.publish(RiskApproved(signal=first, client_order_id="c1", ts_event=0, ts_init=0))
        partial = approval_and_fill(first, 1)[1]
        assert isinstance(partial, OrderFilled)
        await bus.publish(
            attrs.evolve(partial, fill_quantity=0.5, cumulative_quantity=0.5, leaves_quantity=0.5)
        )
        await bus.publish_batch([bar(11.0), bar(10.5, symbol="MSFT")])  # AAPL: still working
        await trio.testing.wait_all_tasks_blocked()
        while_working = drain(signals)
        await bus.publish(
            OrderCanceled(
                client_order_id="c1",
                venue_order_id="v1",
                symbol="AAPL",
                reason="expired",
                ts_event=0,
                ts_init=0,
            )
        )
        await bus.publish(bar(12.0))
        await trio.testing.wait_all_tasks_blocked()
        after = drain(signals)
        nursery.cancel_scope.cancel()

    assert [s.symbol for s in while_working] == ["MSFT"]  # other symbols are not held up
    assert strategy.withheld == 1
    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (0.5, 1.0)  # the new buy
    assert [(s.symbol, s.quantity) for s in after] == [("AAPL", 1)]


async def test_strategy_raising_logs_the_message_drops_its_partial_signals_and_propagates(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")
    actor = SignalActor(Boom)
    batch = [bar(11.0), bar(12.0, symbol="MSFT"), bar(13.0, symbol="SPY"), bar(14.0)]

    with pytest.RaisesGroup(
        pytest.RaisesExc(RuntimeError, check=lambda exc: str(exc) == "strategy bug")
    ) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.run, virtual_context(bus=bus, start_ns=START_NS))
            await bus.publish_batch(batch)

    got = drain(signals)
    assert [s.quantity for s in got] == [1, 1]  # bars 11 and 12; bar 13's two signals were rolled back
    (record,) = [r for r in caplog.records if r.name == "pyrt.strategy.driver"]
    assert record.levelno == logging.ERROR
    assert record.args == ("boom", batch[2])  # logged with the message that caused it
    assert record.exc_info is not None
    (error,) = info.value.exceptions
    assert repr(batch[2]) in error.__notes__[0]


async def test_only_subscribed_symbols_and_timeframes_reach_the_strategy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Recorder()
    strategy.subscribe_bars("1s", ["AAPL"])
    strategy.subscribe_bars("1m")
    bus = Bus()
    wanted = [bar(1.0, timeframe="1s"), bar(2.0, symbol="MSFT", timeframe="1m")]
    unwanted = [bar(3.0, symbol="MSFT", timeframe="1s"), bar(4.0, timeframe="5m")]

    async with trio.open_nursery() as nursery:
        await nursery.start(SignalActor(lambda: strategy).run, virtual_context(bus=bus, start_ns=START_NS))
        await bus.publish_batch([wanted[0], unwanted[0], wanted[1], unwanted[1]])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert strategy.seen == wanted


async def test_quotes_and_book_frames_keep_the_strategys_books(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Recorder()
    bus = Bus()
    quote = QuoteReceived(
        symbol="AAPL", bid_price=99.0, bid_size=300, ask_price=99.02, ask_size=100, ts_event=0, ts_init=0
    )
    snapshot = BookReceived(
        symbol="BTC/USD",
        bids=(BookLevel(price=50_000.0, size=1.0),),
        asks=(BookLevel(price=50_010.0, size=3.0),),
        reset=True,
        ts_event=0,
        ts_init=0,
    )
    delta = BookReceived(symbol="BTC/USD", bids=(BookLevel(price=50_005.0, size=2.0),), ts_event=0, ts_init=0)

    async with trio.open_nursery() as nursery:
        await nursery.start(SignalActor(lambda: strategy).run, virtual_context(bus=bus, start_ns=START_NS))
        await bus.publish_batch([quote, snapshot])
        await bus.publish(delta)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    aapl, btc = strategy.book("AAPL"), strategy.book("BTC/USD")
    assert aapl is not None
    assert btc is not None
    assert aapl.imbalance(1) == pytest.approx(0.5)
    assert btc.best_bid == (50_005.0, 2.0)
    assert btc.imbalance(5) == pytest.approx(0.0)
    assert strategy.last_price("BTC/USD") == 50_007.5


async def test_fills_of_the_strategys_approved_orders_update_its_position(
    autojump_clock: trio.testing.MockClock,
) -> None:
    strategy = Recorder()
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")

    async with trio.open_nursery() as nursery:
        await nursery.start(SignalActor(lambda: strategy).run, virtual_context(bus=bus, start_ns=START_NS))
        await bus.publish(bar(10.0))
        await trio.testing.wait_all_tasks_blocked()
        opening, sig = drain(signals)  # on_start's signal went out with the first batch
        await bus.publish(RiskApproved(signal=sig, client_order_id="c1", ts_event=0, ts_init=0))
        await bus.publish(
            OrderFilled(
                client_order_id="c1",
                venue_order_id="v1",
                execution_id="e1",
                symbol="AAPL",
                side=Side.BUY,
                fill_price=10.0,
                fill_quantity=1.0,
                cumulative_quantity=1.0,
                leaves_quantity=0.0,
                ts_event=0,
                ts_init=0,
            )
        )
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert (opening.symbol, opening.reference_price) == ("SPY", 400.0)
    assert strategy.position == {"AAPL": 1.0}
    assert strategy.pending == {"AAPL": 0.0, "SPY": 1.0}  # SPY was never approved


async def test_supervisor_restarts_a_crashed_strategy_fresh_from_the_factory(
    autojump_clock: trio.testing.MockClock,
) -> None:
    built: list[Strategy] = []

    def factory() -> Strategy:
        strategy = Boom() if not built else Recorder()
        built.append(strategy)
        return strategy

    bus = Bus()
    signals = bus.subscribe("signal.", name="test")
    ctx = virtual_context(bus=bus, start_ns=START_NS)
    actor = SignalActor(factory)
    supervisor = Supervisor(
        "test",
        [ChildSpec(name="signal", start=functools.partial(actor.run, ctx))],
        clock=ctx.clock,
        heartbeat_interval=None,
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await bus.publish(bar(13.0))  # Boom raises
        await trio.testing.wait_all_tasks_blocked()
        await bus.publish(bar(14.0))  # the fresh Recorder gets it
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    assert [type(s) for s in built] == [Boom, Recorder]
    assert isinstance(built[1], Recorder)
    assert built[1].seen == [bar(14.0)]
    assert [(s.strategy, s.symbol, s.quantity) for s in drain(signals)] == [
        ("recorder", "SPY", 1),
        ("recorder", "AAPL", 1),
    ]


async def test_a_started_strategy_takes_over_the_orders_still_working(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # After a restart (of the strategy or of pyrt) an order sent by the previous instance is still
    # working: the fresh strategy counts it as an intent, so it neither decides again on AAPL nor
    # misses the fill
    from pyrt.risk.engine import OpenOrderView

    working = OpenOrderView(
        client_order_id="old-1", symbol="AAPL", side=Side.BUY, quantity=10.0, remaining=6.0, price=10.0
    )
    strategy = Recorder()  # buys one share of each bar's symbol
    bus = Bus()
    signals = bus.subscribe("signal.", name="test")
    actor = SignalActor(lambda: strategy, open_orders=lambda: [working])

    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, virtual_context(bus=bus, start_ns=START_NS))
        assert (strategy.awaiting("AAPL"), strategy.pending["AAPL"]) == (True, 6.0)
        await bus.publish(bar(10.0))
        await trio.testing.wait_all_tasks_blocked()
        while_working = drain(signals)
        await bus.publish(
            OrderFilled(
                client_order_id="old-1",
                venue_order_id="v-old",
                execution_id="e-old",
                symbol="AAPL",
                side=Side.BUY,
                fill_price=10.0,
                fill_quantity=6.0,
                cumulative_quantity=10.0,
                leaves_quantity=0.0,
                ts_event=0,
                ts_init=0,
            )
        )
        await bus.publish(bar(11.0))
        await trio.testing.wait_all_tasks_blocked()
        after = drain(signals)
        nursery.cancel_scope.cancel()

    assert [s.symbol for s in while_working] == ["SPY"]  # on_start's; the AAPL bar's buy was withheld
    assert strategy.position["AAPL"] == 6.0  # the fill of the adopted order reached it
    assert [(s.symbol, s.quantity) for s in after] == [("AAPL", 1)]

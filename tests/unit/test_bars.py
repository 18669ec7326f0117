from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from pyrt.marketdata.actor import MarketDataActor
from pyrt.marketdata.bars import BarAggregator, parse_timeframe
from pyrt.messages import BarReceived, Message, TradeReceived
from pyrt.runtime.actor import ActorContext
from pyrt.testing import DEFAULT_START_NS, virtual_context
from pyrt.venues import Emit
from tests.datafiles import DATA

S = 1_000_000_000


def trade(t_s: float, price: float, size: float = 1.0, symbol: str = "AAPL") -> TradeReceived:
    ts = round(t_s * S)
    return TradeReceived(symbol=symbol, price=price, size=size, ts_event=ts, ts_init=ts)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("500ms", S // 2),
        ("1s", S),
        ("5s", 5 * S),
        ("1m", 60 * S),
        ("15m", 900 * S),
        ("4h", 4 * 3600 * S),
        ("1d", 86400 * S),
    ],
)
def test_parse_timeframe(text: str, ns: int) -> None:
    assert parse_timeframe(text) == ns


@pytest.mark.parametrize("text", ["", "0s", "1", "m", "1w", "-1m", "1.5m", "01s"])
def test_parse_timeframe_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="timeframe must look like"):
        parse_timeframe(text)


def test_bar_closes_on_first_trade_of_the_next_window_with_ohlcv_vwap_and_count() -> None:
    agg = BarAggregator(["1m"])

    assert (
        agg.on_trades([trade(60, 10.0, 1), trade(70, 12.0, 3), trade(80, 9.0, 1), trade(119.9, 11.0, 5)])
        == []
    )
    (bar,) = agg.on_trade(trade(120, 20.0))

    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count) == (
        10.0,
        12.0,
        9.0,
        11.0,
        10.0,
        4,
    )
    assert bar.vwap == pytest.approx((10 + 36 + 9 + 55) / 10)
    assert bar.ts_event == 60 * S  # stamped at the window's start
    assert bar.timeframe == "1m"


def test_bar_closes_on_the_clock_even_without_another_trade() -> None:
    agg = BarAggregator(["1s"])
    agg.on_trade(trade(10.2, 5.0))

    assert agg.on_time(round(10.999 * S)) == []
    assert agg.next_close_ns() == 11 * S
    (bar,) = agg.on_time(11 * S)
    assert bar.ts_event == 10 * S
    assert agg.on_time(20 * S) == []  # empty windows emit nothing


def test_several_timeframes_from_one_stream() -> None:
    agg = BarAggregator(["1s", "5s"])
    trades = [trade(t, 100.0 + t) for t in (0.1, 1.1, 2.1, 3.1, 4.1)]

    bars = agg.on_trades(trades) + agg.on_time(5 * S)

    assert [b.timeframe for b in bars].count("1s") == 5
    (five,) = [b for b in bars if b.timeframe == "5s"]
    assert (five.open, five.close, five.high, five.low, five.trade_count) == (100.1, 104.1, 104.1, 100.1, 5)


def test_late_trade_for_an_emitted_bar_is_counted_not_applied() -> None:
    agg = BarAggregator(["1s"])
    agg.on_trade(trade(1.5, 10.0))
    (bar,) = agg.on_trade(trade(2.5, 11.0))

    assert agg.on_trade(trade(1.9, 99.0)) == []

    assert agg.statistics().late_trades == 1
    (nxt,) = agg.on_time(3 * S)
    assert nxt.high == 11.0  # the late print did not leak into the open bar
    assert bar.close == 10.0


def test_symbols_are_aggregated_separately() -> None:
    agg = BarAggregator(["1s"])
    agg.on_trades([trade(0.5, 10.0, symbol="AAPL"), trade(0.6, 300.0, symbol="MSFT")])

    bars = agg.on_time(1 * S)

    assert {(b.symbol, b.close) for b in bars} == {("AAPL", 10.0), ("MSFT", 300.0)}


def load_minute_bars() -> list:
    import csv
    from datetime import datetime

    from pyrt.messages import BarReceived

    out = []
    with (DATA / "2006-01-02-volume-min-001.csv").open() as f:
        for row in csv.DictReader(f):
            ts = int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()) * S
            o, h, lo, c, v = (float(row[k]) for k in ("open", "high", "low", "close", "volume"))
            out.append(
                BarReceived(
                    symbol="FESX",
                    timeframe="1m",
                    open=o,
                    high=h,
                    low=lo,
                    close=c,
                    volume=v,
                    vwap=c,
                    trade_count=1,
                    ts_event=ts,
                    ts_init=ts,
                )
            )
    return out


@pytest.mark.parametrize("target", ["5m", "15m", "1h", "1d"])
def test_resampling_real_minute_bars_matches_an_independent_grouping(target: str) -> None:
    from pyrt.marketdata.bars import BarResampler

    bars = load_minute_bars()
    width = parse_timeframe(target)
    expected: dict[int, list] = {}
    for b in bars:  # the independent computation: group by window start
        expected.setdefault(b.ts_event - b.ts_event % width, []).append(b)
    resampler = BarResampler("1m", [target])

    got = [r for b in bars for r in resampler.on_bar(b)] + resampler.on_time(bars[-1].ts_event + width)

    assert [g.ts_event for g in got] == sorted(expected)
    for g in got:
        group = expected[g.ts_event]
        assert (g.open, g.close) == (group[0].open, group[-1].close)
        assert g.high == max(b.high for b in group)
        assert g.low == min(b.low for b in group)
        assert g.volume == sum(b.volume for b in group)
        assert g.trade_count == len(group)
        assert g.vwap == pytest.approx(
            sum(b.close * b.volume for b in group) / g.volume if g.volume else g.close
        )


def test_resampled_bar_is_emitted_when_the_bar_ending_its_window_arrives() -> None:
    from pyrt.marketdata.bars import BarResampler
    from pyrt.messages import BarReceived

    def minute(m: int, price: float) -> BarReceived:
        return BarReceived(
            symbol="AAPL",
            timeframe="1m",
            open=price,
            high=price,
            low=price,
            close=price,
            volume=1.0,
            ts_event=m * 60 * S,
            ts_init=(m + 1) * 60 * S,
        )

    r = BarResampler("1m", ["5m"])

    assert [r.on_bar(minute(m, 10.0 + m)) for m in range(4)] == [[], [], [], []]
    (five,) = r.on_bar(minute(4, 20.0))
    assert (five.ts_event, five.open, five.close, five.high, five.volume) == (0, 10.0, 20.0, 20.0, 5.0)


def test_resampler_rejects_targets_that_are_not_multiples() -> None:
    from pyrt.marketdata.bars import BarResampler

    with pytest.raises(ValueError, match="whole multiple"):
        BarResampler("1m", ["90s"])
    with pytest.raises(ValueError, match="whole multiple"):
        BarResampler("5m", ["1m"])


def test_M11_trade_whose_notional_overflows_is_counted_not_applied_and_nothing_raises() -> None:
    agg = BarAggregator(["1m"])
    agg.on_trade(trade(1.0, 100.0, 10.0))
    assert agg.on_trade(trade(2.0, 1e308, 2.0)) == []  # 1e308 × 2 is inf: the VWAP of issue 8
    agg.on_trade(trade(3.0, 1e308, 1.0))  # finite notional 1e308 …
    agg.on_trade(trade(4.0, 1e308, 1.0))  # … but the bar's notional would overflow

    (bar,) = agg.on_time(60 * S)
    assert (bar.high, bar.volume, bar.trade_count) == (1e308, 11.0, 2)
    assert bar.vwap is not None
    assert 100.0 <= bar.vwap <= 1e308
    stats = agg.statistics()
    assert (stats.trades, stats.overflows) == (2, 2)


def test_M11_resampler_refuses_a_bar_whose_sums_would_overflow() -> None:
    from pyrt.marketdata.bars import BarResampler
    from pyrt.messages import BarReceived

    def bar(minute: int, price: float, volume: float) -> BarReceived:
        return BarReceived(
            symbol="AAPL",
            timeframe="1m",
            open=price,
            high=price,
            low=price,
            close=price,
            volume=volume,
            vwap=price,
            trade_count=1,
            ts_event=minute * 60 * S,
            ts_init=minute * 60 * S,
        )

    resampler = BarResampler("1m", ["5m"])
    resampler.on_bar(bar(0, 100.0, 10.0))
    resampler.on_bar(bar(1, 1e308, 10.0))  # vwap × volume overflows
    (five,) = resampler.on_time(5 * 60 * S)

    assert (five.volume, five.vwap, resampler.overflows) == (10.0, 100.0, 1)


class ScriptedFeed:
    """Emits one AAPL trade at each of ``at`` (seconds after the start), then stays connected."""

    def __init__(self, ctx: ActorContext, at: Sequence[float]) -> None:
        self._ctx = ctx
        self._at = at

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        clock = self._ctx.clock
        task_status.started()
        for t in self._at:
            await clock.sleep((DEFAULT_START_NS + round(t * S) - clock.now_ns()) / S)
            now = clock.now_ns()
            await emit([TradeReceived(symbol="AAPL", price=100.0, size=1.0, ts_event=now, ts_init=now)])
        await trio.sleep_forever()


async def test_bar_closing_on_time_at_the_run_deadline_is_not_published(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ctx = virtual_context()
    ctx.clock.now_ns()  # the clock's origin: now is DEFAULT_START_NS
    ctx.deadline.end_at(trio.current_time() + 1.0)  # where the second bar closes
    actor = MarketDataActor(ScriptedFeed(ctx, [0.1, 0.6]), ["AAPL"], timeframes=["500ms"])
    bars: list[Message] = []

    async with trio.open_nursery() as nursery:
        with ctx.bus.subscribe(BarReceived, name="bars") as sub:
            await nursery.start(actor.run, ctx)
            with trio.move_on_after(2.0):  # virtual time (autojump_clock): well past the deadline
                async for batch in sub:
                    bars.extend(batch)
        nursery.cancel_scope.cancel()

    assert [(m.ts_event - DEFAULT_START_NS, m.ts_init - DEFAULT_START_NS) for m in bars] == [(0, S // 2)]

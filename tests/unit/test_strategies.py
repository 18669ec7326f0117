"""The shipped strategies, decision by decision, on synthetic series and on the real files in tests/data.

Each real-data test replays a strategy bar by bar (every signal filled at once, as a broker would
on the bar's close) and compares its orders with a reference computed here from the vectorised
indicators of ``pyrt.indicators`` and the strategy's documented rules.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from pyrt.indicators import rolling_zscore, rsi
from pyrt.messages import BarReceived, BookLevel, BookReceived, QuoteReceived, Side
from pyrt.strategy import (
    BookImbalance,
    MeanReversion,
    PairsTrading,
    RsiMomentum,
    Strategy,
    load_strategy,
)
from pyrt.testing import bars_from_closes, fill_all, replay_bars
from tests.datafiles import DATA

NS = 1_000_000_000

Order = tuple[int, str, Side, float]  # bar index, symbol, side, quantity


def load_bars(name: str, symbol: str = "X") -> list[BarReceived]:
    bars = []
    with (DATA / name).open() as f:
        for row in csv.DictReader(f):
            ts = int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()) * NS
            bars.append(
                BarReceived(
                    symbol=row.get("symbol") or symbol,
                    timeframe="1d",
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    volume=float(row["volume"]),
                    ts_event=ts,
                    ts_init=ts,
                )
            )
    return bars


def orders_to_targets(targets: list[tuple[int, float]], symbol: str = "X") -> list[Order]:
    """The orders that move a position through ``(index, target)`` steps, starting flat."""
    held = 0.0
    out: list[Order] = []
    for index, target in targets:
        if target != held:
            out.append((index, symbol, Side.BUY if target > held else Side.SELL, abs(target - held)))
            held = target
    return out


# -- mean reversion -----------------------------------------------------------------------------


def test_mean_reversion_buys_below_the_band_and_exits_at_the_mean() -> None:
    strategy = MeanReversion(MeanReversion.Params(period=4, entry_z=1.5, exit_z=0.0, quantity=5))

    # window [10, 10, 10, 8]: mean 9.5, std 0.866, z = -1.73 -> buy
    # window [10, 10, 8, 9.4]: mean 9.35, z > 0 -> back at the mean: sell
    orders = replay_bars(strategy, bars_from_closes([10, 10, 10, 8, 9.4], symbol="X"))

    assert orders == [(3, "X", Side.BUY, 5.0), (4, "X", Side.SELL, 5.0)]


def test_mean_reversion_shorts_above_the_band_unless_long_only() -> None:
    closes = [10.0, 10, 10, 12, 10.5, 9]

    both = replay_bars(
        MeanReversion(MeanReversion.Params(period=4, entry_z=1.5)), bars_from_closes(closes, symbol="X")
    )
    long_only = replay_bars(
        MeanReversion(MeanReversion.Params(period=4, entry_z=1.5, allow_short=False)),
        bars_from_closes(closes, symbol="X"),
    )

    assert both[:2] == [(3, "X", Side.SELL, 10.0), (4, "X", Side.BUY, 10.0)]
    assert all(side is Side.BUY for _, _, side, _ in long_only[::2])  # entries are buys only


@pytest.mark.slow
@pytest.mark.parametrize("allow_short", [True, False])
def test_mean_reversion_on_orcl_matches_the_vectorised_reference(allow_short: bool) -> None:
    bars = load_bars("orcl-1995-2014.csv")
    params = MeanReversion.Params(period=20, entry_z=2.0, exit_z=0.5, quantity=100, allow_short=allow_short)
    z = rolling_zscore([b.close for b in bars], 20)
    targets = []
    held = 0.0
    for i, zi in enumerate(z):
        if math.isnan(zi):
            continue
        if zi <= -2.0:
            held = 100.0
        elif zi >= 2.0:
            held = -100.0 if allow_short else 0.0
        elif (held > 0 and zi >= -0.5) or (held < 0 and zi <= 0.5):
            held = 0.0
        targets.append((i, held))

    orders = replay_bars(MeanReversion(params), bars)

    assert orders == orders_to_targets(targets)
    assert len(orders) > 100


# -- RSI momentum -------------------------------------------------------------------------------


def test_rsi_momentum_follows_strength_then_weakness() -> None:
    strategy = RsiMomentum(RsiMomentum.Params(period=3, quantity=2))

    # rises only: RSI 100 on bar 3 -> long; falls only: RSI 0 by bar 7 -> short
    orders = replay_bars(strategy, bars_from_closes([10, 11, 12, 13, 14, 13, 12, 11, 10], symbol="X"))

    assert orders[0] == (3, "X", Side.BUY, 2.0)
    assert orders[1][2:] == (Side.SELL, 4.0)  # from +2 to -2 in one order
    assert len(orders) == 2


def test_rsi_momentum_holds_between_the_thresholds() -> None:
    strategy = RsiMomentum(RsiMomentum.Params(period=2, upper=70, lower=30, allow_short=False))

    orders = replay_bars(strategy, bars_from_closes([10, 11, 12, 11.9, 11.95, 11.9, 11.95], symbol="X"))

    assert orders == [(2, "X", Side.BUY, 10.0)]  # RSI stays in [30, 70] afterwards: kept


@pytest.mark.slow
def test_rsi_momentum_on_yhoo_matches_the_vectorised_reference() -> None:
    bars = load_bars("yhoo-1996-2014.csv")
    r = rsi([b.close for b in bars], 14)
    targets = []
    held = 0.0
    for i, ri in enumerate(r):
        if math.isnan(ri):
            continue
        if ri > 70:
            held = 50.0
        elif ri < 30:
            held = 0.0
        targets.append((i, held))

    orders = replay_bars(
        RsiMomentum(RsiMomentum.Params(period=14, upper=70, lower=30, quantity=50, allow_short=False)), bars
    )

    assert orders == orders_to_targets(targets)
    assert len(orders) > 20


# -- order-book imbalance -----------------------------------------------------------------------


def quote(bid_size: float, ask_size: float, symbol: str = "AAPL") -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol,
        bid_price=100.0,
        bid_size=bid_size,
        ask_price=100.02,
        ask_size=ask_size,
        ts_event=0,
        ts_init=0,
    )


def feed_quotes(strategy: BookImbalance, steps: list[tuple[float, float, float]]) -> list[Order]:
    orders: list[Order] = []
    for i, (seconds, bid_size, ask_size) in enumerate(steps):
        strategy.set_time(round(seconds * NS))
        strategy.handle_quote(quote(bid_size, ask_size))
        orders.extend((i, s, side, q) for _, s, side, q in fill_all(strategy, i))
    return orders


def test_book_imbalance_trades_the_heavy_side_at_most_once_per_interval() -> None:
    params = BookImbalance.Params(smoothing=1, threshold=0.5, min_interval_secs=1.0, allow_short=True)

    orders = feed_quotes(
        BookImbalance(params),
        [
            (0.0, 100, 100),  # balanced: nothing
            (0.1, 400, 100),  # +0.6: long
            (0.5, 100, 900),  # -0.8: short wanted, but within a second of the last signal
            (1.2, 100, 900),  # now: from +10 to -10
            (1.3, 200, 100),  # +0.33: inside the band, kept
        ],
    )

    assert orders == [(1, "AAPL", Side.BUY, 10.0), (3, "AAPL", Side.SELL, 20.0)]


def test_book_imbalance_smooths_with_an_ema_of_updates() -> None:
    params = BookImbalance.Params(smoothing=3, threshold=0.5, min_interval_secs=0.0)
    strategy = BookImbalance(params)

    # imbalances +0.8 -0.8 +0.8: the EMA(3) seed is their mean, 0.267 -> no trade;
    # then +0.8 -> 0.533 -> long
    orders = feed_quotes(strategy, [(0.0, 900, 100), (0.1, 100, 900), (0.2, 900, 100), (0.3, 900, 100)])

    assert orders == [(3, "AAPL", Side.BUY, 10.0)]


def test_book_imbalance_uses_l2_depth_and_ignores_quotes_on_an_l2_book() -> None:
    strategy = BookImbalance(BookImbalance.Params(levels=2, smoothing=1, threshold=0.5))
    frame = BookReceived(
        symbol="BTC/USD",
        bids=(BookLevel(price=100.0, size=1.0), BookLevel(price=99.0, size=8.0)),
        asks=(BookLevel(price=101.0, size=2.0), BookLevel(price=102.0, size=50.0)),
        reset=True,
        ts_event=0,
        ts_init=0,
    )

    strategy.handle_book(frame)  # top 2 levels: (9 - 52) / 61 < 0, flat anyway
    strategy.handle_quote(quote(1000, 1, symbol="BTC/USD"))  # ignored by the L2 book: no decision
    deeper_bids = BookReceived(
        symbol="BTC/USD", bids=(BookLevel(price=99.5, size=200.0),), ts_event=0, ts_init=0
    )
    strategy.handle_book(deeper_bids)  # (201 - 2) / 203 > 0.5: long

    signals = strategy.drain_signals()
    assert [(s.symbol, s.side, s.quantity, s.reference_price) for s in signals] == [
        ("BTC/USD", Side.BUY, 10.0, 100.5)
    ]


def test_book_imbalance_skips_a_crossed_book() -> None:
    strategy = BookImbalance(BookImbalance.Params(smoothing=1, threshold=0.1))
    locked = QuoteReceived(
        symbol="AAPL", bid_price=100.0, bid_size=900, ask_price=100.0, ask_size=1, ts_event=0, ts_init=0
    )

    strategy.handle_quote(locked)

    assert strategy.drain_signals() == []


# -- pairs --------------------------------------------------------------------------------------


def test_pairs_opens_both_legs_when_the_spread_stretches_and_closes_them_at_the_mean() -> None:
    params = PairsTrading.Params(leg_a="A", leg_b="B", period=4, entry_z=1.2, exit_z=0.2, quantity=10)
    a = bars_from_closes([100, 100, 100, 110, 101, 103.2], symbol="A")
    b = bars_from_closes([50, 50, 50, 50, 50.5, 50], symbol="B")
    bars = [bar for pair in zip(a, b, strict=True) for bar in pair]

    orders = replay_bars(PairsTrading(params), bars, by_time=True)

    # bar 3: A jumps, spread z = 1.73 -> short A 10, long B 10 * 110 / 50 = 22
    assert orders[:2] == [(3, "A", Side.SELL, 10.0), (3, "B", Side.BUY, 22.0)]
    # bar 4: z = -0.58, inside the bands: kept; bar 5: z = -0.005, back at the mean: both legs closed
    assert orders[2:] == [(5, "A", Side.BUY, 10.0), (5, "B", Side.SELL, 22.0)]


def test_pairs_ignores_bars_that_do_not_line_up_and_other_symbols() -> None:
    strategy = PairsTrading(PairsTrading.Params(leg_a="A", leg_b="B", period=2))

    for bar in [
        *bars_from_closes([1, 2, 3], symbol="A"),
        *bars_from_closes([1, 2, 3], symbol="B", start=10),
        *bars_from_closes([5], symbol="C"),
    ]:
        strategy.handle_bar(bar)

    assert math.isnan(strategy.zscore)


@pytest.mark.slow
def test_pairs_on_aapl_and_msft_daily_matches_the_vectorised_reference() -> None:
    aapl = load_bars("alpaca-daily-AAPL.csv")
    msft = load_bars("alpaca-daily-MSFT.csv")
    assert [b.ts_event for b in aapl] == [b.ts_event for b in msft]
    params = PairsTrading.Params(period=20, entry_z=1.5, exit_z=0.25, quantity=10, hedge_ratio=0.8)
    spread = [math.log(x.close) - 0.8 * math.log(y.close) for x, y in zip(aapl, msft, strict=True)]
    z = rolling_zscore(spread, 20)
    expected: list[Order] = []
    side = 0
    held_a = held_b = 0.0
    for i, zi in enumerate(z):
        if math.isnan(zi):
            continue
        new = -1 if zi >= 1.5 else 1 if zi <= -1.5 else 0 if abs(zi) <= 0.25 else side
        if new == side:
            continue
        if new != 0:
            quantity_b = max(1.0, float(round(10 * 0.8 * aapl[i].close / msft[i].close)))
        side = new
        for symbol, held, target in (("AAPL", held_a, side * 10.0), ("MSFT", held_b, -side * quantity_b)):
            if target != held:
                expected.append((i, symbol, Side.BUY if target > held else Side.SELL, abs(target - held)))
        held_a, held_b = side * 10.0, -side * quantity_b

    orders = replay_bars(
        PairsTrading(params), [x for pair in zip(msft, aapl, strict=True) for x in pair], by_time=True
    )

    assert orders == expected
    assert len(orders) >= 6


# -- every shipped strategy, through config ------------------------------------------------------


@pytest.mark.parametrize("name", ["sma_crossover", "mean_reversion", "rsi_momentum", "pairs"])
def test_default_parameters_trade_within_a_few_seconds_of_half_second_bars(name: str) -> None:
    rng = np.random.default_rng(11)
    params: dict[str, object] = {"timeframe": "500ms"}
    if name == "sma_crossover":
        params.update(fast=2, slow=5, quantity=10)  # pyrt run's default config
    strategy = load_strategy(name, params)
    closes = {s: 100 * np.exp(np.cumsum(rng.normal(0, 0.0006, 16))) for s in ("AAPL", "MSFT")}
    bars = []
    for i in range(16):  # 8 seconds of 500 ms bars
        for symbol, series in closes.items():
            c = float(series[i])
            bars.append(
                BarReceived(
                    symbol=symbol,
                    timeframe="500ms",
                    open=c,
                    high=c,
                    low=c,
                    close=c,
                    volume=100.0,
                    ts_event=i * NS // 2,
                    ts_init=i * NS // 2,
                )
            )

    orders = replay_bars(strategy, bars, by_time=True)

    assert orders, f"{name} sent nothing in 8 s of bars"


def test_the_example_user_strategy_loads_by_import_path_and_follows_macd() -> None:
    strategy = load_strategy("examples.strategies.macd_trend:MacdTrend", {"fast": 2, "slow": 4, "signal": 2})

    orders = replay_bars(
        strategy, bars_from_closes([10, 10, 10, 10, 11, 12, 13, 14, 13, 11, 9, 7], symbol="X")
    )

    assert [(side, quantity) for _, _, side, quantity in orders] == [(Side.BUY, 10.0), (Side.SELL, 10.0)]


# -- the allow_short capability reaches risk (issue 8, §1b; R23) ---------------------------------


class _Seller(Strategy):
    """Sells one share of every symbol on every bar, from flat: a short unless it may short."""

    NAME = "seller"

    def on_bar(self, bar: BarReceived) -> None:
        self.sell(bar.symbol, 1, reference_price=bar.close)


class _ShortSeller(_Seller):
    NAME = "short_seller"
    ALLOW_SHORT = True


@pytest.mark.parametrize(("strategy", "shorts"), [(_Seller, False), (_ShortSeller, True)])
def test_the_tree_refuses_shorts_for_a_strategy_that_does_not_declare_it_may_short(
    tmp_path: Path, strategy: type[Strategy], shorts: bool
) -> None:
    from pyrt.config import load_config
    from pyrt.messages import RiskApproved, RiskRejected
    from pyrt.modes.simulation import run_simulation
    from pyrt.risk.limits import SHORT_NOT_ALLOWED
    from pyrt.runtime.journal import JournalReader

    config = load_config(env={}, overrides={"run.seed": 3, "symbols": ["AAPL", "MSFT"]})

    summary = run_simulation(
        config, journal_path=tmp_path / "j.pyrtj", duration=5.0, strategy_factory=strategy
    )

    messages = list(JournalReader(summary.journal_path))
    refused = [m for m in messages if isinstance(m, RiskRejected) and m.reason_code == SHORT_NOT_ALLOWED]
    approved = [m for m in messages if isinstance(m, RiskApproved)]
    if shorts:
        assert approved
        assert not refused
    else:
        assert refused
        assert not approved
        assert all(p.quantity >= 0 for p in summary.status.positions)

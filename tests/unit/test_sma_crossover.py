"""The SMA crossover strategy against the exact reference results of the workspace spec sma-crossover.md (data: tests/data/)."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest

from pyrt.messages import BarReceived, OrderFilled, Side
from pyrt.strategy import SmaCrossover, load_strategy
from tests.datafiles import DATA


def load_bars(name: str) -> list[BarReceived]:
    bars = []
    with (DATA / name).open() as f:
        for row in csv.DictReader(f):
            ts = int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()) * 10**9
            bars.append(
                BarReceived(
                    symbol="X",
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


def run_reference_rules(bars: list[BarReceived], cash: float) -> tuple[int, float]:
    """Drive the strategy bar by bar with the spec's fill rules: next bar's open, cash check."""
    strategy = SmaCrossover(fast=10, slow=30, quantity=100)
    fills = 0
    position = 0.0
    pending = []
    for i, bar in enumerate(bars):
        for sig in pending:  # orders decided on the previous bar fill at this bar's open
            cost = sig.quantity * bar.open
            if sig.side is Side.BUY and cost > cash:
                strategy.handle_order_closed(sig.symbol, sig.side, sig.quantity)
                continue
            cash -= sig.side.sign * cost
            position += sig.side.sign * sig.quantity
            fills += 1
            strategy.handle_fill(
                OrderFilled(
                    client_order_id=sig.signal_id,
                    venue_order_id=sig.signal_id,
                    execution_id=sig.signal_id,
                    symbol=sig.symbol,
                    side=sig.side,
                    fill_price=bar.open,
                    fill_quantity=sig.quantity,
                    cumulative_quantity=sig.quantity,
                    leaves_quantity=0.0,
                    ts_event=i,
                    ts_init=i,
                )
            )
        strategy.set_time(bar.ts_event)
        strategy.handle_bar(bar)
        pending = strategy.drain_signals()
    return fills, cash + position * bars[-1].close


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "cash", "fills", "equity"),
    [
        ("orcl-1995-2014.csv", 100_000.0, 195, 102_646.0652),
        ("yhoo-1996-2014.csv", 100_000.0, 178, 105_752.6886),
        ("2006-day-001.csv", 100_000.0, 0, 100_000.0),
        ("2006-01-02-volume-min-001.csv", 1_000_000.0, 1234, 998_200.0),
    ],
)
def test_sma_crossover_matches_reference_results(name: str, cash: float, fills: int, equity: float) -> None:
    bars = load_bars(name)

    got_fills, got_equity = run_reference_rules(bars, cash)

    assert got_fills == fills
    assert abs(got_equity - equity) <= 0.01 * fills + 1e-6


def test_sma_crossover_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match=r"0 < fast < slow, was fast=30 slow=10"):
        SmaCrossover(fast=30, slow=10)
    with pytest.raises(ValueError, match=r"quantity must be > 0, was -1"):
        SmaCrossover(quantity=-1)
    with pytest.raises(ValueError, match=r"unknown SmaCrossover parameter\(s\) \['fsat'\]"):
        load_strategy("sma_crossover", {"fsat": 3})
    with pytest.raises(ValueError, match="cannot import strategy module"):
        load_strategy("no_such_module_xyz:Thing", {})
    with pytest.raises(ValueError, match=r"is not a pyrt\.strategy\.Strategy subclass"):
        load_strategy("pathlib:Path", {})

"""Cost of one pre-trade check and one mark-to-market update in the risk engine.

Setup (untimed): 100 symbols, each marked and most holding a position, and 1,000 open orders
(market and limit, buys and sells) approved through the engine, all from ``random.Random(seed)``.
Every limit is on (generous enough that the checks run to the end and approve), so a check runs
all sixteen rules.

Measurements, each the median of REPEATS runs:

- check: ``engine.check(signal, now_ns=...)`` for N fresh signals (client order id, every rule,
  the ``RiskApproved`` built, the open order recorded); the approvals are closed again after
  each run, untimed, so every run starts at 1,000 open orders;
- mark: ``engine.on_mark(symbol, price, now_ns=...)`` for N marks over the 100 symbols
  (portfolio mark, running P&L and exposure sums, the daily loss rule);
- baseline: the seed's four checks (order size, position size, daily loss, buying power) on
  plain dicts and floats over the same signals, measured in the same run;
- check with 10 and 10,000 open orders, to show the cost does not grow with open orders.

Target (issue #5): check ≤ 5 µs. The last line is ``{"check_us": ..., "mark_us": ...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time

import attrs

from pyrt.messages import OrderFilled, OrderType, RiskApproved, Side, SignalGenerated
from pyrt.risk.engine import RiskEngine
from pyrt.risk.ids import client_order_id_for
from pyrt.risk.limits import RiskLimits
from pyrt.risk.portfolio import Portfolio

SYMBOLS = tuple(f"S{i:03d}" for i in range(100))
T0 = 1_700_000_000_000_000_000
STEP_NS = 1_000_000  # 1 ms between events


def make_engine(rng: random.Random, open_orders: int) -> tuple[RiskEngine, dict[str, float], int]:
    limits = RiskLimits(
        max_order_size=1_000.0,
        max_position_size=1e9,
        max_daily_loss=1e12,
        max_order_notional=1e12,
        max_position_value=1e15,
        max_gross_exposure=1e18,
        allowed_symbols=SYMBOLS,
        max_open_orders=10**7,
        max_orders_per_second=10**7,
        max_orders_per_minute=10**8,
        price_collar_bps=500.0,
        max_quote_age_secs=3600.0,
    )
    engine = RiskEngine(limits, Portfolio(1e12))
    prices = {s: round(rng.uniform(50.0, 300.0), 2) for s in SYMBOLS}
    now = T0
    for n, symbol in enumerate(SYMBOLS):
        engine.on_mark(symbol, prices[symbol], now_ns=now)
        if n % 4:  # three symbols in four hold a position
            quantity = float(rng.randint(1, 500))
            engine.on_fill(
                OrderFilled(
                    client_order_id=f"old-{n}",
                    venue_order_id=f"v-old-{n}",
                    execution_id=f"x-old-{n}",
                    symbol=symbol,
                    side=rng.choice((Side.BUY, Side.SELL)),
                    fill_price=prices[symbol],
                    fill_quantity=quantity,
                    cumulative_quantity=quantity,
                    leaves_quantity=0.0,
                    ts_event=now,
                    ts_init=now,
                ),
                now_ns=now,
            )
    for signal in make_signals(rng, prices, open_orders, prefix="open"):
        now += STEP_NS
        assert isinstance(engine.check(signal, now_ns=now), RiskApproved)
    return engine, prices, now


def make_signals(
    rng: random.Random, prices: dict[str, float], n: int, *, prefix: str
) -> list[SignalGenerated]:
    signals = []
    for i in range(n):
        symbol = rng.choice(SYMBOLS)
        price = prices[symbol]
        limit = rng.random() < 0.5
        signals.append(
            SignalGenerated(
                signal_id=f"{prefix}-{i}",
                strategy="bench",
                symbol=symbol,
                side=rng.choice((Side.BUY, Side.SELL)),
                quantity=float(rng.randint(1, 100)),
                order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                limit_price=round(price * rng.uniform(0.99, 1.01), 2) if limit else None,
                reference_price=price,
                ts_event=T0,
                ts_init=T0,
            )
        )
    return signals


def time_checks(engine: RiskEngine, signals: list[SignalGenerated], start_ns: int) -> tuple[float, int]:
    times = [start_ns + (k + 1) * STEP_NS for k in range(len(signals))]
    check = engine.check
    begin = time.perf_counter()
    for signal, now in zip(signals, times, strict=True):
        check(signal, now_ns=now)
    elapsed = time.perf_counter() - begin
    now = times[-1]
    for signal in signals:  # back to the starting open orders, untimed
        client_order_id = client_order_id_for(signal.signal_id)
        assert engine.is_open(client_order_id), "every timed check must approve"
        engine.on_order_closed(client_order_id, now_ns=now)
    return elapsed / len(signals) * 1e6, now


def time_marks(engine: RiskEngine, marks: list[tuple[str, float]], start_ns: int) -> tuple[float, int]:
    now = start_ns
    on_mark = engine.on_mark
    begin = time.perf_counter()
    for symbol, price in marks:
        now += STEP_NS
        on_mark(symbol, price, now_ns=now)
    elapsed = time.perf_counter() - begin
    return elapsed / len(marks) * 1e6, now


def time_seed_checks(signals: list[SignalGenerated], positions: dict[str, float]) -> float:
    # The seed's four checks on plain data: what a check cost before this engine
    max_order_size, max_position_size, max_daily_loss = 1_000.0, 1e9, 1e12
    daily_pnl, cash = 0.0, 1e12
    passed = 0
    begin = time.perf_counter()
    for signal in signals:
        quantity = signal.quantity
        if quantity > max_order_size:
            continue
        position = positions.get(signal.symbol, 0.0) + signal.side.sign * quantity
        if abs(position) > max_position_size:
            continue
        if daily_pnl <= -max_daily_loss:
            continue
        if signal.side is Side.BUY and quantity * (signal.reference_price or 0.0) > cash:
            continue
        passed += 1
    elapsed = time.perf_counter() - begin
    assert passed == len(signals)
    return elapsed / len(signals) * 1e6


def remark(engine: RiskEngine, prices: dict[str, float], now: int) -> None:
    for symbol, price in prices.items():
        engine.on_mark(symbol, price, now_ns=now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="checks and marks per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the setup's outside fills log a warning each

    rng = random.Random(args.seed)
    engine, prices, now = make_engine(rng, 1_000)
    signals = make_signals(rng, prices, args.n * args.repeats, prefix="check")
    marks = [
        (symbol, round(prices[symbol] * rng.uniform(0.995, 1.005), 2))
        for symbol in (rng.choice(SYMBOLS) for _ in range(args.n))
    ]
    positions = {p.symbol: p.quantity for p in engine.portfolio.positions()}

    check_runs, mark_runs, seed_runs = [], [], []
    for r in range(args.repeats):
        batch = signals[r * args.n : (r + 1) * args.n]
        remark(engine, prices, now)  # fresh marks, prices back where the signals expect them
        us, now = time_checks(engine, batch, now)
        check_runs.append(us)
        seed_runs.append(time_seed_checks(batch, positions))
        us, now = time_marks(engine, marks, now)
        mark_runs.append(us)
    assert engine.statistics().open_orders == 1_000

    scaling = {}
    for open_orders in (10, 10_000):
        scale_rng = random.Random(args.seed + open_orders)
        other, other_prices, other_now = make_engine(scale_rng, open_orders)
        other_signals = make_signals(scale_rng, other_prices, args.n, prefix="check")
        runs = []
        for _ in range(3):
            remark(other, other_prices, other_now)
            us, other_now = time_checks(other, other_signals, other_now)
            runs.append(us)
            other_signals = [attrs.evolve(s, signal_id=s.signal_id + "+") for s in other_signals]
        scaling[open_orders] = statistics.median(runs)

    check_us = statistics.median(check_runs)
    mark_us = statistics.median(mark_runs)
    seed_us = statistics.median(seed_runs)
    print(f"100 symbols, 1,000 open orders, n={args.n}, repeats={args.repeats}, seed={args.seed}")
    print(
        f"check (16 rules, approval built):   {check_us:7.3f} µs  (runs: {', '.join(f'{u:.2f}' for u in check_runs)})"
    )
    print(
        f"mark-to-market update:              {mark_us:7.3f} µs  (runs: {', '.join(f'{u:.2f}' for u in mark_runs)})"
    )
    print(
        f"baseline: seed's 4 checks on dicts: {seed_us:7.3f} µs  -> check is {check_us / seed_us:.1f}x the baseline"
    )
    print(
        f"check with 10 / 10,000 open orders: {scaling[10]:7.3f} / {scaling[10_000]:.3f} µs "
        f"(ratio {scaling[10_000] / scaling[10]:.2f}: O(1) in open orders)"
    )
    print(f"target check <= 5 µs: {'met' if check_us <= 5.0 else 'NOT met'}")
    print(json.dumps({"check_us": round(check_us, 3), "mark_us": round(mark_us, 3)}))


if __name__ == "__main__":
    main()

"""The Strategy API: typed parameters, loading, positions, targets, indicators, books, bar filters."""

from __future__ import annotations

import functools

import attrs
import numpy as np
import pytest

from pyrt.errors import ConfigError
from pyrt.indicators import RSI, BollingerBands, rsi
from pyrt.marketdata.book import BookMode
from pyrt.messages import (
    BarReceived,
    BookLevel,
    BookReceived,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteReceived,
    RiskRejected,
    Side,
    SignalGenerated,
)
from pyrt.strategy import (
    BUILTIN_STRATEGIES,
    IntentOutcome,
    MeanReversion,
    Outcome,
    PairsTrading,
    SmaCrossover,
    Strategy,
    StrategyParams,
    load_strategy,
    param,
)
from pyrt.strategy.driver import StrategyDriver
from pyrt.testing import approval_of, bar, fill_of


def quote(bid_size: float, ask_size: float, *, symbol: str = "AAPL", bid: float = 99.0) -> QuoteReceived:
    return QuoteReceived(
        symbol=symbol,
        bid_price=bid,
        bid_size=bid_size,
        ask_price=bid + 1.0,
        ask_size=ask_size,
        ts_event=0,
        ts_init=0,
    )


class Probe(Strategy):
    """A strategy that records what it saw and trades on demand."""

    NAME = "probe"

    @attrs.frozen(kw_only=True)
    class Params(StrategyParams):
        period: int = param(3, ge=2)
        weight: float = param(0.5, gt=0, le=1)
        mode: str = param("fast", choices=("fast", "slow"))
        verbose: bool = False
        limit: float | None = None

    params: Params

    def __init__(self, params: Params | None = None) -> None:
        super().__init__(params)
        self.bars: list[BarReceived] = []

    def on_bar(self, bar: BarReceived) -> None:
        self.bars.append(bar)


# -- parameters ---------------------------------------------------------------------------------


def test_from_params_with_an_unknown_name_lists_the_expected_names() -> None:
    with pytest.raises(ConfigError) as info:
        Probe.from_params({"perod": 3, "weight": 0.2})

    assert info.value.errors == (
        "unknown Probe parameter(s) ['perod']; expected some of "
        "['limit', 'mode', 'name', 'period', 'timeframe', 'verbose', 'weight']",
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"verbose": "true"}, "Probe parameter verbose must be a boolean, was 'true'"),
        ({"period": 2.5}, "Probe parameter period must be an integer, was 2.5"),
        ({"period": True}, "Probe parameter period must be an integer, was True"),
        ({"weight": "0.3"}, "Probe parameter weight must be a number, was '0.3'"),
        ({"mode": 3}, "Probe parameter mode must be a string, was 3"),
        ({"limit": "x"}, "Probe parameter limit must be a number or null, was 'x'"),
    ],
)
def test_from_params_rejects_values_of_the_wrong_type(params: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Probe.from_params(params)

    assert info.value.errors == (problem,)


def test_from_params_reports_every_name_and_type_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Probe.from_params({"nope": 1, "period": "3", "verbose": 0})

    assert len(info.value.errors) == 3


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"period": 1}, "Probe: period must be >= 2, was 1"),
        ({"weight": 0.0}, "Probe: weight must be > 0, was 0.0"),
        ({"weight": 1.5}, "Probe: weight must be <= 1, was 1.5"),
        ({"mode": "medium"}, "Probe: mode must be one of 'fast', 'slow', was 'medium'"),
        ({"timeframe": "1x"}, "Probe: timeframe must look like 500ms, 1s, 5m, 1h or 1d, was '1x'"),
    ],
)
def test_from_params_rejects_values_out_of_range(params: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Probe.from_params(params)

    assert info.value.errors == (problem,)


def test_from_params_converts_json_numbers_to_the_field_type() -> None:
    strategy = Probe.from_params({"period": 4.0, "weight": 1, "limit": None, "verbose": True})

    assert strategy.params == Probe.Params(period=4, weight=1.0, verbose=True)
    assert type(strategy.params.period) is int
    assert type(strategy.params.weight) is float


def test_cross_field_checks_run_after_the_fields() -> None:
    with pytest.raises(ConfigError, match=r"exit_z must be < entry_z, was exit_z=2\.0 entry_z=1\.0"):
        load_strategy("mean_reversion", {"entry_z": 1.0, "exit_z": 2})


def test_a_strategy_refuses_another_strategys_params() -> None:
    with pytest.raises(TypeError, match=r"^MeanReversion takes MeanReversionParams, was Probe\.Params$"):
        MeanReversion(Probe.Params())


def test_name_param_names_the_signals() -> None:
    strategy = Probe.from_params({"name": "probe-2"})

    sig = strategy.buy("AAPL", 1)

    assert strategy.name == "probe-2"
    assert sig.strategy == "probe-2"


# -- loading ------------------------------------------------------------------------------------


def test_builtin_strategies_are_registered_by_short_name() -> None:
    assert set(BUILTIN_STRATEGIES) == {
        "sma_crossover",
        "mean_reversion",
        "rsi_momentum",
        "book_imbalance",
        "pairs",
        "ml",
    }
    for name, cls in BUILTIN_STRATEGIES.items():
        assert name == cls.NAME


@pytest.mark.parametrize(
    "name", ["sma_crossover", "mean_reversion", "rsi_momentum", "book_imbalance", "pairs"]
)
def test_each_builtin_loads_with_defaults_and_the_run_timeframe(name: str) -> None:
    strategy = load_strategy(name, {"timeframe": "500ms"})

    assert strategy.name == name
    assert strategy.bar_timeframes() == {"500ms"}


def test_load_strategy_by_import_path() -> None:
    strategy = load_strategy("tests.unit.test_strategy_api:Probe", {"period": 5})

    assert isinstance(strategy, Probe)
    assert strategy.params.period == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", r"strategy must be one of \['book_imbalance', 'mean_reversion', 'ml', 'pairs', "),
        ("no_such_module_xyz:Thing", r"cannot import strategy module 'no_such_module_xyz'"),
        ("pyrt.strategy:Nothing", r"module 'pyrt.strategy' has no attribute 'Nothing'"),
        ("pathlib:Path", r"'pathlib:Path' is not a pyrt\.strategy\.Strategy subclass"),
    ],
)
def test_load_strategy_with_a_bad_spec_raises_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_strategy(spec, {})


def test_ml_strategy_without_a_model_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"the ml strategy needs a model file: --param model=PATH"):
        load_strategy("ml", {})


# -- positions, pending orders, targets ---------------------------------------------------------


def test_position_and_pending_read_zero_for_a_symbol_never_traded() -> None:
    strategy = Probe()

    assert strategy.position["AAPL"] == 0.0
    assert strategy.pending["AAPL"] == 0.0
    assert "AAPL" not in strategy.position


def test_signals_count_as_pending_until_filled() -> None:
    strategy = Probe()
    sig = strategy.buy("AAPL", 10)

    assert strategy.pending["AAPL"] == 10.0
    strategy.handle_fill(fill_of(sig, 4, cumulative=4))
    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (4.0, 6.0)
    strategy.handle_fill(fill_of(sig, 6, cumulative=10))
    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (10.0, 0.0)


def test_an_order_closed_unfilled_is_no_longer_pending() -> None:
    strategy = Probe()
    strategy.sell("AAPL", 5)

    strategy.handle_order_closed("AAPL", Side.SELL, 5)

    assert strategy.pending["AAPL"] == 0.0
    assert strategy.position["AAPL"] == 0.0


def test_target_position_sends_the_difference_against_position_and_pending() -> None:
    strategy = Probe()
    first = strategy.target_position("AAPL", 10)
    assert first is not None
    assert (first.side, first.quantity) == (Side.BUY, 10)

    assert strategy.target_position("AAPL", 10) is None  # already heading there
    strategy.handle_fill(fill_of(first))
    assert strategy.target_position("AAPL", 10) is None  # there

    flip = strategy.target_position("AAPL", -10)
    assert flip is not None
    assert (flip.side, flip.quantity) == (Side.SELL, 20)
    assert strategy.target_position("AAPL", 0) is None  # withheld: the flip is still working
    strategy.handle_fill(fill_of(flip, 5, cumulative=5))  # a partial fill: still working
    assert strategy.target_position("AAPL", 0) is None
    strategy.handle_order_closed("AAPL", Side.SELL, 15)  # the rest canceled: 5 held (what filled)
    flat = strategy.target_position("AAPL", 0)
    assert flat is not None
    assert (flat.side, flat.quantity) == (Side.SELL, 5)
    assert strategy.drain_signals() == [first, flip, flat]
    assert strategy.withheld == 2


def test_a_signal_is_withheld_while_its_symbol_awaits_an_outcome() -> None:
    strategy = Probe()
    buy = strategy.buy("AAPL", 10)
    assert buy is not None
    assert strategy.awaiting("AAPL")
    assert not strategy.awaiting("MSFT")

    assert strategy.sell("AAPL", 10) is None  # what it asked for is not what it holds
    assert strategy.buy("MSFT", 1) is not None  # other symbols decide freely
    strategy.handle_order_closed("AAPL", Side.BUY, 10)  # rejected (by risk or the venue)

    assert not strategy.awaiting("AAPL")
    assert (strategy.position["AAPL"], strategy.pending["AAPL"], strategy.withheld) == (0.0, 0.0, 1)
    assert strategy.sell("AAPL", 1) is not None
    assert [s.symbol for s in strategy.drain_signals()] == ["AAPL", "MSFT", "AAPL"]


def test_a_final_fill_is_an_outcome_the_strategy_can_act_on_in_on_fill() -> None:
    class Exit(Probe):
        def on_fill(self, fill: OrderFilled) -> None:
            self.exits = self.sell(fill.symbol, self.position[fill.symbol])

    strategy = Exit()
    buy = strategy.buy("AAPL", 4)
    assert buy is not None

    strategy.handle_fill(fill_of(buy, 1, cumulative=1))
    assert strategy.exits is None  # partial: still working
    strategy.handle_fill(fill_of(buy, 3, cumulative=4))

    assert strategy.exits is not None
    assert (strategy.exits.side, strategy.exits.quantity) == (Side.SELL, 4.0)


def test_allow_short_is_a_declared_capability_off_by_default() -> None:
    assert Probe().allow_short is False
    assert SmaCrossover().allow_short is False
    assert MeanReversion().allow_short is True  # its allow_short parameter, default true
    assert load_strategy("mean_reversion", {"allow_short": False}).allow_short is False
    assert load_strategy("book_imbalance", {}).allow_short is False
    assert load_strategy("rsi_momentum", {}).allow_short is True
    assert load_strategy("pairs", {}).allow_short is True  # one leg is always short


def test_rollback_drops_later_signals_and_their_pending_quantity() -> None:
    strategy = Probe()
    kept = strategy.buy("AAPL", 3)
    mark = strategy.signal_count()
    strategy.buy("SPY", 7)
    strategy.sell("MSFT", 2)

    dropped = strategy.rollback_signals(mark)

    assert [s.quantity for s in dropped] == [7, 2]
    assert strategy.drain_signals() == [kept]
    assert strategy.pending["AAPL"] == 3.0
    assert strategy.pending["MSFT"] == strategy.pending["SPY"] == 0.0
    assert (strategy.awaiting("AAPL"), strategy.awaiting("SPY"), strategy.awaiting("MSFT")) == (
        True,
        False,
        False,
    )


def test_signals_carry_the_driver_clock_and_last_price() -> None:
    strategy = Probe()
    strategy.set_time(1_234)
    strategy.handle_bar(bar(101.5))

    sig = strategy.buy("AAPL", 1)

    assert strategy.now_ns == 1_234
    assert (sig.ts_event, sig.ts_init, sig.reference_price) == (1_234, 1_234, 101.5)
    assert sig.signal_id == "probe-1234-1"


def test_an_invalid_signal_raises_and_leaves_nothing_pending() -> None:
    strategy = Probe()

    with pytest.raises(ValueError, match="quantity"):
        strategy.buy("AAPL", -1)

    assert strategy.signal_count() == 0
    assert strategy.pending["AAPL"] == 0.0


# -- indicators ---------------------------------------------------------------------------------


def test_indicator_is_created_once_per_symbol_and_key() -> None:
    strategy = Probe()

    a = strategy.indicator("AAPL", "rsi", RSI, 3)
    b = strategy.indicator("MSFT", "rsi", RSI, 3)

    assert strategy.indicator("AAPL", "rsi", RSI, 3) is a
    assert b is not a
    assert strategy.indicator("AAPL", "bands", functools.partial(BollingerBands, 4, num_std=1.5)).period == 4


@pytest.mark.slow  # the first vectorised call loads numba's compiled kernel
def test_indicator_fed_per_bar_matches_the_vectorised_function() -> None:
    strategy = Probe()
    closes = np.random.default_rng(3).lognormal(0.0, 0.01, 200).cumprod() * 100

    streamed = [strategy.indicator("X", "rsi", RSI, 14).update(float(c)) for c in closes]

    np.testing.assert_array_equal(np.array(streamed), rsi(closes, 14))


# -- order books --------------------------------------------------------------------------------


def test_book_is_none_before_data_then_l1_from_quotes() -> None:
    strategy = Probe()
    assert strategy.book("AAPL") is None

    strategy.handle_quote(quote(300, 100))

    book = strategy.book("AAPL")
    assert book is not None
    assert book.mode is BookMode.L1
    assert book.imbalance(5) == pytest.approx(0.5)
    assert strategy.last_price("AAPL") == 99.5


def test_book_frames_build_an_l2_book_and_set_the_mid() -> None:
    strategy = Probe()
    frame = BookReceived(
        symbol="BTC/USD",
        bids=(BookLevel(price=100.0, size=1.0), BookLevel(price=99.0, size=3.0)),
        asks=(BookLevel(price=101.0, size=2.0),),
        reset=True,
        ts_event=0,
        ts_init=0,
    )

    strategy.handle_book(frame)

    book = strategy.book("BTC/USD")
    assert book is not None
    assert book.mode is BookMode.L2
    assert book.imbalance(1) == pytest.approx(-1 / 3)
    assert book.imbalance(2) == pytest.approx(2 / 6)
    assert strategy.last_price("BTC/USD") == 100.5


# -- bar subscriptions --------------------------------------------------------------------------


def test_without_subscriptions_every_bar_is_wanted() -> None:
    strategy = Probe()

    assert strategy.wants_bar(bar(1.0, timeframe="1d", symbol="ZZ"))
    assert strategy.bar_timeframes() == frozenset()


def test_timeframe_param_subscribes_that_timeframe_for_every_symbol() -> None:
    strategy = Probe.from_params({"timeframe": "500ms"})

    assert strategy.wants_bar(bar(1.0, timeframe="500ms", symbol="MSFT"))
    assert not strategy.wants_bar(bar(1.0, timeframe="1m"))


def test_subscriptions_combine_symbols_and_timeframes() -> None:
    strategy = Probe()
    strategy.subscribe_bars("1m", ["AAPL"])
    strategy.subscribe_bars("1m", ["MSFT"])
    strategy.subscribe_bars("5m", ["SPY"])

    assert strategy.wants_bar(bar(1.0, timeframe="1m", symbol="AAPL"))
    assert strategy.wants_bar(bar(1.0, timeframe="1m", symbol="MSFT"))
    assert not strategy.wants_bar(bar(1.0, timeframe="1m", symbol="SPY"))
    assert strategy.wants_bar(bar(1.0, timeframe="5m", symbol="SPY"))
    assert not strategy.wants_bar(bar(1.0, timeframe="5m", symbol="AAPL"))
    assert strategy.bar_timeframes() == {"1m", "5m"}


def test_traded_symbols_restrict_the_timeframe_subscription() -> None:
    strategy = PairsTrading.from_params({"timeframe": "1s", "leg_a": "KO", "leg_b": "PEP"})

    assert strategy.wants_bar(bar(1.0, timeframe="1s", symbol="KO"))
    assert strategy.wants_bar(bar(1.0, timeframe="1s", symbol="PEP"))
    assert not strategy.wants_bar(bar(1.0, timeframe="1s", symbol="AAPL"))


def test_subscribe_bars_rejects_a_bad_timeframe() -> None:
    with pytest.raises(ValueError, match=r"timeframe must look like"):
        Probe().subscribe_bars("fortnight")


# -- the driver: dispatch and own orders --------------------------------------------------------


def test_driver_tracks_fills_of_its_own_approved_signals_only() -> None:
    strategy = Probe()
    driver = StrategyDriver(strategy)
    out: list[SignalGenerated] = []
    strategy.buy("AAPL", 10)
    driver.feed([], 0, out)
    (mine,) = out
    foreign = attrs.evolve(mine, signal_id="other-1", strategy="other")

    driver.feed(
        [approval_of(mine), approval_of(foreign), fill_of(foreign), fill_of(mine, 4, cumulative=4)], 0, out
    )

    assert strategy.position["AAPL"] == 4.0
    assert strategy.pending["AAPL"] == 6.0
    canceled = OrderCanceled(
        client_order_id=f"c-{mine.signal_id}", venue_order_id="v", symbol="AAPL", ts_event=0, ts_init=0
    )
    driver.feed([canceled], 0, out)
    assert (strategy.position["AAPL"], strategy.pending["AAPL"]) == (4.0, 0.0)


def test_driver_releases_pending_on_a_risk_rejection() -> None:
    strategy = Probe()
    driver = StrategyDriver(strategy)
    out: list[SignalGenerated] = []
    strategy.sell("AAPL", 5)
    driver.feed([], 0, out)

    rejected = RiskRejected(
        signal=out[0], reason_code="MAX_ORDER_SIZE", reason="too big", ts_event=0, ts_init=0
    )
    driver.feed([rejected, rejected], 0, out)  # a duplicate is not counted twice

    assert strategy.pending["AAPL"] == 0.0


def test_driver_delivers_only_wanted_bars_and_stamps_the_batch_time() -> None:
    strategy = Probe.from_params({"timeframe": "1s"})
    driver = StrategyDriver(strategy)
    out: list[SignalGenerated] = []

    driver.feed([bar(1.0, timeframe="1s"), bar(2.0, timeframe="1m"), bar(3.0, timeframe="1s")], 77, out)

    assert [b.close for b in strategy.bars] == [1.0, 3.0]
    assert strategy.now_ns == 77


def test_strategy_package_all_lists_exactly_its_public_names_sorted() -> None:
    import pyrt.strategy

    modules = {
        "actor",
        "annotations",
        "base",
        "book_imbalance",
        "driver",
        "mean_reversion",
        "ml",
        "momentum",
        "pairs",
        "sma",
    }
    public = (
        {name for name in vars(pyrt.strategy) if not name.startswith("_")}
        - modules
        - {"importlib", "Mapping", "Final", "ConfigError"}
    )

    assert pyrt.strategy.__all__ == sorted(pyrt.strategy.__all__)
    assert set(pyrt.strategy.__all__) == public


def test_driver_tells_the_strategy_the_outcome_of_every_intent() -> None:
    class Listener(Probe):
        def __init__(self) -> None:
            super().__init__()
            self.outcomes: list[IntentOutcome] = []

        def on_outcome(self, outcome: IntentOutcome) -> None:
            assert not self.awaiting(outcome.symbol)  # it may decide again from here
            self.outcomes.append(outcome)

    strategy = Listener()
    driver = StrategyDriver(strategy)
    out: list[SignalGenerated] = []
    for symbol in ("AAA", "BBB", "CCC", "DDD", "EEE"):
        strategy.buy(symbol, 4)
    driver.feed([], 0, out)
    a, b, c, d, e = out
    partial = attrs.evolve(fill_of(c, 1, cumulative=1), client_order_id=f"c-{c.signal_id}")

    driver.feed(
        [
            RiskRejected(signal=a, reason_code="MAX_ORDER_SIZE", reason="too big", ts_event=0, ts_init=0),
            approval_of(b),
            approval_of(c),
            approval_of(d),
            approval_of(e),
            OrderRejected(
                client_order_id=f"c-{b.signal_id}",
                symbol="BBB",
                reason="gave up after 4 attempts",
                ts_event=0,
                ts_init=0,
            ),
            partial,
            OrderCanceled(
                client_order_id=f"c-{c.signal_id}",
                venue_order_id="v",
                symbol="CCC",
                filled_quantity=1,
                reason="expired",
                ts_event=0,
                ts_init=0,
            ),
            OrderCanceled(
                client_order_id=f"c-{d.signal_id}",
                venue_order_id="v",
                symbol="DDD",
                reason="canceled",
                ts_event=0,
                ts_init=0,
            ),
            fill_of(e),
        ],
        0,
        out,
    )

    assert [(o.symbol, o.outcome, o.filled, o.reason) for o in strategy.outcomes] == [
        ("AAA", Outcome.REJECTED, 0.0, "MAX_ORDER_SIZE: too big"),
        ("BBB", Outcome.REJECTED, 0.0, "gave up after 4 attempts"),
        ("CCC", Outcome.EXPIRED, 1.0, "expired"),
        ("DDD", Outcome.CANCELED, 0.0, "canceled"),
        ("EEE", Outcome.FILLED, 4.0, ""),
    ]
    assert strategy.outcomes[0].client_order_id is None
    assert strategy.outcomes[4].client_order_id == f"c-{e.signal_id}"
    assert dict(strategy.position) == {"CCC": 1.0, "EEE": 4.0}  # only what was filled
    assert all(strategy.pending[s] == 0.0 for s in ("AAA", "BBB", "CCC", "DDD", "EEE"))

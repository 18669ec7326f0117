"""ModelStrategy: its features, and its signals against the model's own predictions on real data.

The model tests need the optional extra ``pyrt[ml]`` (scikit-learn, onnxruntime, skl2onnx) and
are skipped without it; the feature and error-path tests run everywhere.
"""

from __future__ import annotations

import csv
import math
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from pyrt.config import load_config
from pyrt.errors import ConfigError
from pyrt.messages import BarReceived, OrderFilled, SignalGenerated
from pyrt.strategy import ModelStrategy, Strategy, load_strategy
from pyrt.strategy.ml import FEATURE_NAMES, WARMUP_BARS, FeatureBuilder, bar_features
from tests.datafiles import DATA

NS = 1_000_000_000


def load_bars(name: str) -> list[BarReceived]:
    bars = []
    with (DATA / name).open() as f:
        for row in csv.DictReader(f):
            ts = int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()) * NS
            bars.append(
                BarReceived(
                    symbol="ORCL",
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


@pytest.fixture(scope="module")
def orcl() -> list[BarReceived]:
    return load_bars("orcl-1995-2014.csv")


@pytest.fixture(scope="module")
def features(orcl: list[BarReceived]) -> np.ndarray:
    return bar_features(
        [b.high for b in orcl], [b.low for b in orcl], [b.close for b in orcl], [b.volume for b in orcl]
    )


def replay(strategy: Strategy, bars: list[BarReceived]) -> list[tuple[int, SignalGenerated]]:
    """Feed bars, filling every signal at once; return (bar index, signal)."""
    out = []
    for i, bar in enumerate(bars):
        strategy.set_time(bar.ts_event)
        strategy.handle_bar(bar)
        for sig in strategy.drain_signals():
            out.append((i, sig))
            strategy.handle_fill(
                OrderFilled(
                    client_order_id=sig.signal_id,
                    venue_order_id="v",
                    execution_id=sig.signal_id,
                    symbol=sig.symbol,
                    side=sig.side,
                    fill_price=bar.close,
                    fill_quantity=sig.quantity,
                    cumulative_quantity=sig.quantity,
                    leaves_quantity=0.0,
                    ts_event=bar.ts_event,
                    ts_init=bar.ts_event,
                )
            )
    return out


def expected_orders(
    p_up: np.ndarray, *, threshold: float = 0.5, quantity: float = 10.0
) -> list[tuple[int, float]]:
    """(bar index, signed quantity) of the orders the documented rule gives for P(up) per bar."""
    held = 0.0
    out = []
    for i, p in enumerate(p_up):
        if math.isnan(p):
            continue
        target = quantity if p > threshold else 0.0 if p < 1 - threshold else held
        if target != held:
            out.append((i, target - held))
            held = target
    return out


def signed(orders: list[tuple[int, SignalGenerated]]) -> list[tuple[int, float]]:
    return [(i, s.side.sign * s.quantity) for i, s in orders]


def fit_small_model(features: np.ndarray, orcl: list[BarReceived]) -> object:
    linear_model = pytest.importorskip("sklearn.linear_model")
    close = np.array([b.close for b in orcl])
    rows = np.arange(WARMUP_BARS, 1500)
    labels = (close[rows + 1] > close[rows]).astype(int)
    return linear_model.LogisticRegression(C=10.0, max_iter=500).fit(features[rows], labels)


def probabilities(model: object, features: np.ndarray) -> np.ndarray:
    p = np.full(len(features), np.nan)
    defined = ~np.isnan(features).any(axis=1)
    p[defined] = model.predict_proba(features[defined])[:, 1]  # type: ignore[attr-defined]  # sklearn model
    return p


# -- features: no extra needed ------------------------------------------------------------------


@pytest.mark.slow  # the module's bars and features
def test_streaming_features_equal_the_vectorised_ones_bit_for_bit(
    orcl: list[BarReceived], features: np.ndarray
) -> None:
    builder = FeatureBuilder()

    rows = [builder.update(b.high, b.low, b.close, b.volume) for b in orcl]

    assert all(row is None for row in rows[:WARMUP_BARS])
    assert all(row is not None for row in rows[WARMUP_BARS:])
    assert np.isnan(features[:WARMUP_BARS]).all()
    np.testing.assert_array_equal(np.array(rows[WARMUP_BARS:]), features[WARMUP_BARS:])
    assert features.shape == (len(orcl), len(FEATURE_NAMES))


@pytest.mark.slow  # the module's bars and features
def test_features_are_the_documented_formulas(orcl: list[BarReceived], features: np.ndarray) -> None:
    t = 100
    close = [b.close for b in orcl]
    row = dict(zip(FEATURE_NAMES, features[t], strict=True))

    assert row["return_1"] == close[t] / close[t - 1] - 1.0
    assert row["return_5"] == close[t] / close[t - 5] - 1.0
    assert row["range"] == (orcl[t].high - orcl[t].low) / close[t]
    window = np.array(close[t - 9 : t + 1])
    assert row["zscore"] == pytest.approx((close[t] - window.mean()) / window.std())
    assert -1.0 <= row["rsi"] <= 1.0


@pytest.mark.slow  # the first vectorised call loads numba's compiled kernels
def test_bar_features_of_a_short_series_are_all_undefined() -> None:
    out = bar_features([2.0, 2.0], [1.0, 1.0], [1.5, 1.6], [10.0, 0.0])

    assert out.shape == (2, len(FEATURE_NAMES))
    assert np.isnan(out).all()


def test_a_missing_extra_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError

    with pytest.raises(
        ConfigError,
        match=r"an ONNX model needs onnxruntime: install the optional extra: pip install 'pyrt\[ml\]'",
    ):
        load_strategy("ml", {"model": str(model)})


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("model.txt", r"model file must end in \.onnx, \.joblib, \.pkl or \.pickle"),
        ("missing.onnx", r"no such model file"),
    ],
)
def test_a_model_file_that_cannot_be_used_is_a_config_error(tmp_path: Path, file: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_strategy("ml", {"model": str(tmp_path / file)})


class UpOnRise:
    """A label-only model: predicts up when the last bar rose."""

    n_features_in_ = len(FEATURE_NAMES)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return (rows[:, 0] > 0).astype(int)


@pytest.mark.slow  # the module's bars and features
def test_a_label_only_model_goes_long_on_label_1(orcl: list[BarReceived], features: np.ndarray) -> None:
    p_up = np.where(np.isnan(features[:, 0]) | np.isnan(features).any(axis=1), np.nan, features[:, 0] > 0)

    orders = replay(ModelStrategy(model=UpOnRise()), orcl[:300])

    assert signed(orders) == expected_orders(p_up[:300])


def test_a_model_for_another_feature_set_is_refused() -> None:
    class Narrow(UpOnRise):
        n_features_in_ = 3

    with pytest.raises(ValueError, match=r"^the model takes 3 features, pyrt gives 7"):
        ModelStrategy(model=Narrow())


# -- real models: need the pyrt[ml] extra --------------------------------------------------------


@pytest.mark.slow
def test_signals_follow_a_scikit_learn_models_probabilities_on_orcl(
    orcl: list[BarReceived], features: np.ndarray
) -> None:
    model = fit_small_model(features, orcl)
    p_up = probabilities(model, features)
    bars = orcl[:1500]

    orders = replay(ModelStrategy(ModelStrategy.Params(threshold=0.52), model=model), bars)

    assert signed(orders) == expected_orders(p_up[: len(bars)], threshold=0.52)
    assert len(orders) > 20


@pytest.mark.slow
def test_an_onnx_model_file_drives_the_strategy_like_its_own_session(
    orcl: list[BarReceived], features: np.ndarray, tmp_path: Path
) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    data_types = pytest.importorskip("skl2onnx.common.data_types")

    model = fit_small_model(features, orcl)
    onnx_model = skl2onnx.convert_sklearn(
        model,
        initial_types=[("features", data_types.FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    bars = orcl[:1200]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    defined = ~np.isnan(features[: len(bars)]).any(axis=1)
    p_up = np.full(len(bars), np.nan)
    p_up[defined] = session.run(None, {"features": features[: len(bars)][defined].astype(np.float32)})[1][
        :, 1
    ]

    strategy = load_strategy("ml", {"model": str(path), "quantity": 10})
    orders = replay(strategy, bars)

    assert signed(orders) == expected_orders(p_up)
    assert len(orders) > 10
    np.testing.assert_allclose(p_up[defined], probabilities(model, features[: len(bars)])[defined], atol=1e-5)


@pytest.mark.slow
def test_a_joblib_model_file_gives_the_same_signals_as_the_model_object(
    orcl: list[BarReceived], features: np.ndarray, tmp_path: Path
) -> None:
    joblib = pytest.importorskip("joblib")
    model = fit_small_model(features, orcl)
    joblib.dump(model, tmp_path / "model.joblib")
    bars = orcl[:600]

    from_file = replay(load_strategy("ml", {"model": str(tmp_path / "model.joblib")}), bars)
    from_object = replay(ModelStrategy(model=model), bars)

    assert signed(from_file) == signed(from_object)
    assert from_file


@pytest.mark.slow
def test_the_model_strategy_trades_in_a_simulation(
    orcl: list[BarReceived], features: np.ndarray, tmp_path: Path
) -> None:
    from pyrt.modes.simulation import run_simulation
    from pyrt.runtime.journal import JournalReader

    model = fit_small_model(features, orcl)
    config = load_config(None, overrides={"strategy.name": "ml"})

    summary = run_simulation(
        config,
        journal_path=tmp_path / "j.pyrtj",
        duration=30.0,
        strategy_factory=lambda: ModelStrategy(ModelStrategy.Params(timeframe="500ms"), model=model),
    )

    signals = [m for m in JournalReader(summary.journal_path) if isinstance(m, SignalGenerated)]
    assert signals
    assert {s.strategy for s in signals} == {"ml"}

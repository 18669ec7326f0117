"""Train a small classifier for ``pyrt run --strategy ml`` on 20 years of ORCL daily bars.

Features are pyrt's own (:func:`pyrt.strategy.ml.bar_features`, computed with the vectorised
indicators of :mod:`pyrt.indicators`), so the live strategy, which computes them bar by bar with
the streaming twins, feeds the model exactly the numbers it was trained on. The label of a bar is
1 when the next bar closes higher, else 0. The first 80 % of the bars train a standardised
logistic regression; the last 20 % measure it. The model is written twice: ``model.joblib``
(scikit-learn, for Python) and ``model.onnx`` (for onnxruntime, no scikit-learn needed to run).

Run it from the repository root (needs the optional extra: ``pip install -e '.[ml]'``)::

    python examples/ml/train.py            # writes examples/ml/model.joblib and model.onnx
    python examples/ml/train.py --out /tmp/models --data path/to/bars.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import joblib
import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from pyrt.strategy.ml import FEATURE_NAMES, bar_features

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "tests" / "data" / "orcl-1995-2014.csv"


def load_columns(path: Path) -> dict[str, np.ndarray]:
    """Read ``high, low, close, volume`` from a CSV with those column names."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {name: np.array([float(row[name]) for row in rows]) for name in ("high", "low", "close", "volume")}


def dataset(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return the defined feature rows and their labels (next close > close)."""
    features = bar_features(columns["high"], columns["low"], columns["close"], columns["volume"])
    close = columns["close"]
    up_next = np.zeros(len(close), dtype=np.int64)
    up_next[:-1] = close[1:] > close[:-1]
    usable = ~np.isnan(features).any(axis=1)
    usable[-1] = False  # the last bar has no next bar
    return features[usable], up_next[usable]


def train(features: np.ndarray, labels: np.ndarray) -> Pipeline:
    """Fit a standardised logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(features, labels)
    return model


def to_onnx(model: Pipeline) -> bytes:
    """Convert to ONNX with a plain probability output (``zipmap=False``), float32 input."""
    onnx_model = convert_sklearn(
        model,
        initial_types=[("features", FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={LogisticRegression: {"zipmap": False}},
        target_opset=17,
    )
    return onnx_model.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV with high, low, close, volume")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for model.joblib and model.onnx")
    args = parser.parse_args()

    features, labels = dataset(load_columns(args.data))
    split = int(len(labels) * 0.8)
    model = train(features[:split], labels[:split])
    accuracy = float((model.predict(features[split:]) == labels[split:]).mean())
    base_rate = float(labels[split:].mean())

    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / "model.joblib")
    (args.out / "model.onnx").write_bytes(to_onnx(model))
    print(f"features: {', '.join(FEATURE_NAMES)}")
    print(f"trained on {split} bars, tested on {len(labels) - split}")
    print(f"test accuracy {accuracy:.3f} (bars that closed up: {base_rate:.3f})")
    print(f"wrote {args.out / 'model.joblib'} and {args.out / 'model.onnx'}")


if __name__ == "__main__":
    main()

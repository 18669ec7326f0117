"""Machine-learning strategies: a trained classifier decides, indicator features feed it.

The feature set (:data:`FEATURE_NAMES`, one row per bar, computed from the bar and the bars before
it) is small on purpose and has two implementations that give the same numbers bit for bit:
:func:`bar_features` over whole arrays (training, research) and :class:`FeatureBuilder` one bar at a
time (live, simulation), both from :mod:`pyrt.indicators`.

====================  =========================================================================
``return_1``          ``close[t] / close[t-1] - 1``
``return_5``          ``close[t] / close[t-5] - 1``
``rsi``               ``(RSI(14) - 50) / 50``: Wilder's RSI of the closes, scaled to [-1, 1]
``zscore``            rolling z-score of the close over 10 bars
``volatility``        rolling (population) std of ``return_1`` over 10 bars
``volume_z``          rolling z-score of the volume over 10 bars
``range``             ``(high - low) / close``
====================  =========================================================================

The first :data:`WARMUP_BARS` rows are undefined (NaN): the RSI needs 15 closes.

Models: anything with scikit-learn's ``predict_proba`` or ``predict``, or an ONNX file run by
onnxruntime. scikit-learn, joblib and onnxruntime are imported only when a model is loaded, so
core pyrt does not need them; install the optional extra ``pyrt[ml]`` for them.
"""

from __future__ import annotations

import importlib
import math
import pickle
import types
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, cast, final

import attrs
import numpy as np

from ..errors import ConfigError
from ..indicators import RSI, RollingStd, RollingZScore, rolling_std, rolling_zscore, rsi
from ._params import StrategyParams, param, structure_params
from .base import Strategy

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

    import numpy.typing as npt

    from ..messages import BarReceived

__all__ = [
    "FEATURE_NAMES",
    "WARMUP_BARS",
    "FeatureBuilder",
    "ModelStrategy",
    "ModelStrategyParams",
    "Predictor",
    "bar_features",
    "load_model",
]

FEATURE_NAMES: Final = ("return_1", "return_5", "rsi", "zscore", "volatility", "volume_z", "range")
"""The model's input columns, in order."""
RSI_PERIOD: Final = 14
WINDOW: Final = 10
RETURN_LAG: Final = 5
WARMUP_BARS: Final = RSI_PERIOD
"""Rows of undefined features at the start of a series: the first defined row is this index."""
ML_EXTRA_HINT: Final = "install the optional extra: pip install 'pyrt[ml]'"


def bar_features(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Compute the feature rows of a bar series (the vectorised twin of :class:`FeatureBuilder`).

    Args:
        high: bar highs.
        low: bar lows.
        close: bar closes, > 0.
        volume: bar volumes, >= 0.

    Returns:
        An ``(n, len(FEATURE_NAMES))`` float64 array; rows before :data:`WARMUP_BARS` hold NaN.

    Raises:
        ValueError: arrays of different lengths, not 1-D, or with non-finite values.
    """
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    v = np.asarray(volume, dtype=np.float64)
    n = len(c)
    if not (c.ndim == 1 and h.shape == lo.shape == c.shape == v.shape):
        raise ValueError(
            f"high, low, close and volume must be 1-D of one length, were {h.shape} {lo.shape} {c.shape} {v.shape}"
        )
    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    if n == 0:
        return out
    return_1 = np.full(n, np.nan)
    return_1[1:] = c[1:] / c[:-1] - 1.0
    out[:, 0] = return_1
    out[RETURN_LAG:, 1] = c[RETURN_LAG:] / c[:-RETURN_LAG] - 1.0
    out[:, 2] = (rsi(c, RSI_PERIOD) - 50.0) / 50.0
    out[:, 3] = rolling_zscore(c, WINDOW)
    if n > 1:
        out[1:, 4] = rolling_std(return_1[1:], WINDOW)
    out[:, 5] = rolling_zscore(v, WINDOW)
    out[:, 6] = (h - lo) / c
    out[: min(n, WARMUP_BARS)] = np.nan  # a row is defined only when every column is
    return out


@final
class FeatureBuilder:
    """One symbol's features, one bar at a time (the streaming twin of :func:`bar_features`)."""

    __slots__ = ("_closes", "_rsi", "_volatility", "_volume_z", "_zscore")

    def __init__(self) -> None:
        self._closes: deque[float] = deque(maxlen=RETURN_LAG + 1)
        self._rsi = RSI(RSI_PERIOD)
        self._zscore = RollingZScore(WINDOW)
        self._volatility = RollingStd(WINDOW)
        self._volume_z = RollingZScore(WINDOW)

    def update(self, high: float, low: float, close: float, volume: float) -> tuple[float, ...] | None:
        """Add the next bar; return its feature row, or ``None`` while warming up.

        Raises:
            ValueError: a value is NaN or infinite.
        """
        closes = self._closes
        closes.append(close)
        rsi_value = self._rsi.update(close)
        zscore = self._zscore.update(close)
        volume_z = self._volume_z.update(volume)
        if len(closes) < 2:
            return None
        return_1 = close / closes[-2] - 1.0
        volatility = self._volatility.update(return_1)
        if len(closes) <= RETURN_LAG or math.isnan(rsi_value) or math.isnan(volatility):
            return None
        return (
            return_1,
            close / closes[0] - 1.0,
            (rsi_value - 50.0) / 50.0,
            zscore,
            volatility,
            volume_z,
            (high - low) / close,
        )


class Predictor(Protocol):
    """What :class:`ModelStrategy` asks a model: the chance that the next bar closes up."""

    def probability_up(self, features: npt.NDArray[np.float64]) -> float:
        """Return P(up) for one row of features (a label model answers 0.0 or 1.0)."""
        ...


def _import(module: str, purpose: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{purpose} needs {module}: {ML_EXTRA_HINT}") from exc


@final
class SklearnPredictor:
    """Wrap an object with scikit-learn's ``predict_proba`` (preferred) or ``predict``.

    Labels are "up" when they equal 1 (or ``True``): train on ``next close > close``.

    Args:
        model: a fitted classifier.

    Raises:
        TypeError: the object has neither method.
        ValueError: it was fitted on another number of features.
    """

    def __init__(self, model: object) -> None:
        proba = getattr(model, "predict_proba", None)
        predict = getattr(model, "predict", None)
        if proba is None and predict is None:
            raise TypeError(f"a model needs predict_proba or predict, {type(model).__name__} has neither")
        width = getattr(model, "n_features_in_", None)
        if isinstance(width, int) and width != len(FEATURE_NAMES):
            raise ValueError(
                f"the model takes {width} features, pyrt gives {len(FEATURE_NAMES)}: {FEATURE_NAMES}"
            )
        self._proba: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = proba
        self._predict: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = predict
        classes = list(getattr(model, "classes_", [0, 1]))
        self._up_column = classes.index(1) if 1 in classes else len(classes) - 1

    def probability_up(self, features: npt.NDArray[np.float64]) -> float:
        row = features.reshape(1, -1)
        if self._proba is not None:
            return float(self._proba(row)[0, self._up_column])
        assert self._predict is not None  # checked at construction
        return 1.0 if self._predict(row)[0] == 1 else 0.0


@final
class OnnxPredictor:
    """Run an ONNX classifier with onnxruntime on float32 rows.

    With two outputs (label, probabilities: what skl2onnx writes with ``zipmap=False``) the
    probability of class 1 is used; with one output, the label.

    Args:
        path: the ``.onnx`` file.

    Raises:
        ImportError: onnxruntime is not installed (the ``pyrt[ml]`` extra).
        ValueError: the model's input does not take ``len(FEATURE_NAMES)`` columns.
    """

    def __init__(self, path: str | Path) -> None:
        ort = _import("onnxruntime", "an ONNX model")
        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        shape = inputs[0].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != len(FEATURE_NAMES)):
            raise ValueError(f"the model's input has shape {shape}, pyrt gives [n, {len(FEATURE_NAMES)}]")
        self._input = inputs[0].name
        self._outputs = len(self._session.get_outputs())

    def probability_up(self, features: npt.NDArray[np.float64]) -> float:
        row = features.astype(np.float32).reshape(1, -1)
        out = self._session.run(None, {self._input: row})
        if self._outputs > 1:
            probabilities = out[1]
            if isinstance(probabilities, list):  # a ZipMap output: one dict per row
                return float(probabilities[0].get(1, 0.0))
            return float(probabilities[0][-1])
        return 1.0 if int(out[0][0]) == 1 else 0.0


def load_model(path: str | Path) -> Predictor:
    """Load a model file: ``.onnx`` (onnxruntime), ``.joblib`` (joblib), ``.pkl``/``.pickle``.

    Only load pickle and joblib files you made or trust: unpickling runs code.

    Raises:
        ImportError: the library the file needs is not installed (install ``pyrt[ml]``).
        OSError: the file cannot be read.
        ValueError: an unknown suffix, or a model for another feature set.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".onnx":
        if not file.is_file():
            raise FileNotFoundError(f"no such model file: {str(file)!r}")
        return OnnxPredictor(file)
    if suffix == ".joblib":
        joblib = _import("joblib", "a .joblib model")
        return SklearnPredictor(joblib.load(file))
    if suffix in (".pkl", ".pickle"):
        with file.open("rb") as f:
            return SklearnPredictor(pickle.load(f))  # documented: trusted files only
    raise ValueError(f"model file must end in .onnx, .joblib, .pkl or .pickle, was {str(file)!r}")


@final
@attrs.frozen(kw_only=True)
class ModelStrategyParams(StrategyParams):
    """Parameters of :class:`ModelStrategy`."""

    model: str = ""
    """Path of the model file (``.onnx``, ``.joblib``, ``.pkl``); required unless a model object is given."""
    quantity: float = param(10.0, gt=0)
    """Shares (or coins) per position."""
    threshold: float = param(0.5, ge=0.5, lt=1)
    """Go long when P(up) is above this; leave (or go short) when it is below ``1 - threshold``."""
    allow_short: bool = False
    """Go short when P(up) is below ``1 - threshold``; by default the strategy is long or flat."""


@final
class ModelStrategy(Strategy):
    """Hold a position when a trained classifier expects the next bar to close up.

    On each bar, per symbol, the :data:`FEATURE_NAMES` row is computed (after
    :data:`WARMUP_BARS` bars) and the model gives ``p = P(up)``:

    - ``p > threshold``: hold ``+quantity``.
    - ``p < 1 - threshold``: hold ``-quantity`` if ``allow_short``, else nothing.
    - in between (``p == 0.5`` with the default ``threshold=0.5``): keep what is held.

    A label-only model (``predict``, no probabilities) answers p = 1 for label 1, else 0.

    Args:
        params: a :class:`ModelStrategyParams`; ``model`` names the file unless ``model`` is given.
        model: a fitted scikit-learn-like classifier or a :class:`Predictor`, used instead of the file.

    Raises:
        ValueError: no model given and ``params.model`` is empty.
        ImportError: the model needs a library of the ``pyrt[ml]`` extra that is missing.
    """

    NAME = "ml"
    Params = ModelStrategyParams
    params: ModelStrategyParams

    def __init__(self, params: ModelStrategyParams | None = None, *, model: object | None = None) -> None:
        super().__init__(params)
        self._model: Predictor
        if model is None:
            if not self.params.model:
                raise ValueError(
                    "the ml strategy needs a model file: --param model=PATH (.onnx, .joblib, .pkl)"
                )
            self._model = load_model(self.params.model)
        elif hasattr(model, "probability_up"):
            self._model = cast("Predictor", model)
        else:
            self._model = SklearnPredictor(model)
        self._features: dict[str, FeatureBuilder] = {}
        self._exit_below = 1.0 - self.params.threshold

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Build the strategy from config, loading ``model`` from its file.

        Raises:
            pyrt.errors.ConfigError: bad parameters, or a model file that cannot be used (the
                message names the ``pyrt[ml]`` extra when a library is missing).
        """
        parsed = structure_params(cls.Params, params, owner=cls.__name__)
        try:
            return cls(parsed)
        except (ImportError, OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                [f"model {parsed.model!r}: {exc}"], source=f"{cls.__name__} parameters"
            ) from exc

    def on_bar(self, bar: BarReceived) -> None:
        builder = self._features.get(bar.symbol)
        if builder is None:
            builder = self._features[bar.symbol] = FeatureBuilder()
        row = builder.update(bar.high, bar.low, bar.close, bar.volume)
        if row is None:
            return
        p = self._model.probability_up(np.array(row))
        quantity = self.params.quantity
        if p > self.params.threshold:
            self.target_position(bar.symbol, quantity, reference_price=bar.close)
        elif p < self._exit_below:
            self.target_position(
                bar.symbol, -quantity if self.params.allow_short else 0.0, reference_price=bar.close
            )

"""The Strategy API: subclass :class:`Strategy`, override ``on_bar`` and friends, call ``buy``/``sell``.

Shipped strategies, by the name ``pyrt run --strategy NAME`` takes (:data:`BUILTIN_STRATEGIES`):

==================  ====================  ======================================================
``sma_crossover``   :class:`SmaCrossover`  long-only moving-average crossover (the reference)
``mean_reversion``  :class:`MeanReversion` fade the rolling z-score of the close (Bollinger)
``rsi_momentum``    :class:`RsiMomentum`   long while the RSI shows strength
``book_imbalance``  :class:`BookImbalance` lean with the heavier side of the order book
``pairs``           :class:`PairsTrading`  fade the z-score of the spread of two symbols
``ml``              :class:`ModelStrategy` a trained classifier on indicator features
==================  ====================  ======================================================

Any other strategy runs by import path: ``pyrt run --strategy package.module:Class``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Final

from ..errors import ConfigError
from ._params import StrategyParams as StrategyParams, param as param, structure_params as structure_params
from .base import Positions as Positions, Strategy as Strategy
from .book_imbalance import BookImbalance as BookImbalance, BookImbalanceParams as BookImbalanceParams
from .mean_reversion import MeanReversion as MeanReversion, MeanReversionParams as MeanReversionParams
from .ml import ModelStrategy as ModelStrategy, ModelStrategyParams as ModelStrategyParams
from .momentum import RsiMomentum as RsiMomentum, RsiMomentumParams as RsiMomentumParams
from .pairs import PairsTrading as PairsTrading, PairsTradingParams as PairsTradingParams
from .sma import SmaCrossover as SmaCrossover, SmaCrossoverParams as SmaCrossoverParams

__all__ = [
    "BUILTIN_STRATEGIES",
    "BookImbalance",
    "BookImbalanceParams",
    "MeanReversion",
    "MeanReversionParams",
    "ModelStrategy",
    "ModelStrategyParams",
    "PairsTrading",
    "PairsTradingParams",
    "Positions",
    "RsiMomentum",
    "RsiMomentumParams",
    "SmaCrossover",
    "SmaCrossoverParams",
    "Strategy",
    "StrategyParams",
    "load_strategy",
    "param",
    "structure_params",
]

BUILTIN_STRATEGIES: Final[Mapping[str, type[Strategy]]] = {
    cls.NAME: cls
    for cls in (SmaCrossover, MeanReversion, RsiMomentum, BookImbalance, PairsTrading, ModelStrategy)
}
"""Shipped strategies by short name."""


def load_strategy(spec: str, params: Mapping[str, object]) -> Strategy:
    """Build a strategy from a built-in name (``sma_crossover``) or an import path ``pkg.mod:Class``.

    Args:
        spec: a key of :data:`BUILTIN_STRATEGIES` or ``package.module:Class``.
        params: parameter names to values, checked by the class's ``from_params``.

    Returns:
        A new strategy.

    Raises:
        pyrt.errors.ConfigError: (a ``ValueError``) unknown name, unimportable path, not a Strategy
            subclass, or bad parameters.
    """
    source = f"strategy {spec!r}"
    cls: object
    if spec in BUILTIN_STRATEGIES:
        cls = BUILTIN_STRATEGIES[spec]
    else:
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ConfigError(
                [
                    f"strategy must be one of {sorted(BUILTIN_STRATEGIES)} or an import path "
                    f"'package.module:Class', was {spec!r}"
                ],
                source=source,
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                [f"cannot import strategy module {module_name!r}: {exc}"], source=source
            ) from exc
        try:
            cls = getattr(module, attr)
        except AttributeError as exc:
            raise ConfigError([f"module {module_name!r} has no attribute {attr!r}"], source=source) from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError([f"{spec!r} is not a pyrt.strategy.Strategy subclass"], source=source)
    return cls.from_params(params)

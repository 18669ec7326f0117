"""The Strategy API: subclass :class:`Strategy`, override ``on_bar`` and friends, call ``buy``/``sell``.

Shipped strategies, by the name ``pyrt run --strategy NAME`` takes (:data:`BUILTIN_STRATEGIES`).
Their defaults are tuned so that ``pyrt run --strategy NAME --duration 8s`` trades on the
embedded venue's 0.5 s bars (AAPL and MSFT); on minute or daily bars use longer windows.

==================  ======================  =================================================
name                class                   rule and defaults
==================  ======================  =================================================
``sma_crossover``   :class:`SmaCrossover`   long on a fast/slow SMA cross up, flat on a cross
                                            down; class defaults are the reference spec's
                                            ``fast=10 slow=30 quantity=100``, ``pyrt run``'s
                                            default config passes ``fast=2 slow=5 quantity=10``
``mean_reversion``  :class:`MeanReversion`  fade the rolling z-score of the close:
                                            ``period=4 entry_z=1 exit_z=0 quantity=10
                                            allow_short=true``
``rsi_momentum``    :class:`RsiMomentum`    long above ``upper``, short below ``lower``:
                                            ``period=3 upper=60 lower=40 quantity=10
                                            allow_short=true``
``book_imbalance``  :class:`BookImbalance`  long while the smoothed top-of-book imbalance is
                                            above ``threshold``: ``levels=5 smoothing=3
                                            threshold=0.25 quantity=10 min_interval_secs=1
                                            allow_short=false``
``pairs``           :class:`PairsTrading`   fade the z-score of ``log(a) - h * log(b)``, both
                                            legs: ``leg_a=AAPL leg_b=MSFT hedge_ratio=1
                                            period=4 entry_z=0.8 exit_z=0.2 quantity=10``
``ml``              :class:`ModelStrategy`  a trained classifier on indicator features:
                                            ``model=PATH`` (required) ``quantity=10
                                            threshold=0.5 allow_short=false``; needs the
                                            ``pyrt[ml]`` extra (see ``examples/ml``)
==================  ======================  =================================================

Any other strategy runs by import path: ``pyrt run --strategy package.module:Class`` (see
``examples/strategies/macd_trend.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Final

from ..errors import ConfigError
from ._params import StrategyParams as StrategyParams, param as param, structure_params as structure_params
from .base import (
    IntentOutcome as IntentOutcome,
    Outcome as Outcome,
    Positions as Positions,
    Strategy as Strategy,
)
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
    "IntentOutcome",
    "MeanReversion",
    "MeanReversionParams",
    "ModelStrategy",
    "ModelStrategyParams",
    "Outcome",
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

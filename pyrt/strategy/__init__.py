"""The Strategy API: subclass :class:`Strategy`, override ``on_bar`` and friends, call ``buy``/``sell``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .base import Strategy as Strategy
from .sma import SmaCrossover as SmaCrossover

__all__ = ["BUILTIN_STRATEGIES", "SmaCrossover", "Strategy", "load_strategy"]

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {"sma_crossover": SmaCrossover}


def load_strategy(spec: str, params: Mapping[str, object]) -> Strategy:
    """Build a strategy from a built-in name (``sma_crossover``) or an import path ``pkg.mod:Class``.

    Raises:
        ValueError: unknown name, unimportable path, not a Strategy subclass, or bad parameters.
    """
    cls: object
    if spec in BUILTIN_STRATEGIES:
        cls = BUILTIN_STRATEGIES[spec]
    else:
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(
                f"strategy must be one of {sorted(BUILTIN_STRATEGIES)} or an import path 'package.module:Class', was {spec!r}"
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import strategy module {module_name!r}: {exc}") from exc
        try:
            cls = getattr(module, attr)
        except AttributeError as exc:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{spec!r} is not a pyrt.strategy.Strategy subclass")
    try:
        return cls.from_params(params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {spec!r}: {exc}") from exc

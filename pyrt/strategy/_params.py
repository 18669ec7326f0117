"""Typed strategy parameters: a frozen attrs class per strategy, structured strictly from config.

Config parameters arrive as a flat mapping of JSON scalars (``--param period=14`` gives the int
``14``). :func:`structure_params` checks the names against the class's fields, each value against
its field's type without lossy coercion (``"true"`` is not a bool, ``2.5`` is not an int, an int is
a float), then builds the class, whose validators check the ranges. Every problem found in the
first two steps is reported together, in one :class:`~pyrt.errors.ConfigError` (a ``ValueError``).
"""

from __future__ import annotations

import math
import types
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Final, TypeVar, Union, get_args, get_origin

import attrs

from ..errors import ConfigError
from ..marketdata.bars import parse_timeframe

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["StrategyParams", "param", "structure_params"]

T = TypeVar("T")
P = TypeVar("P", bound="StrategyParams")

_SCALARS: Final = (bool, int, float, str)


def _check_timeframe(_inst: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        parse_timeframe(value)  # raises ValueError naming the expected form


@attrs.frozen(kw_only=True)
class StrategyParams:
    """Parameters every strategy takes; subclass it as the strategy's nested ``Params`` class.

    Declare each parameter with :func:`param` (or ``attrs.field`` with validators) and put
    cross-field checks in ``__attrs_post_init__``, raising ``ValueError``.
    """

    timeframe: str | None = attrs.field(default=None, validator=_check_timeframe)
    """The bar timeframe the strategy trades on (``"500ms"``, ``"1m"``); ``None`` takes every bar.
    ``pyrt run`` sets it from ``signal.bar_interval_secs``."""
    name: str | None = None
    """The name on the strategy's signals; ``None`` uses the class's ``NAME``."""


def _range_problem(
    value: float,
    *,
    gt: float | None,
    ge: float | None,
    lt: float | None,
    le: float | None,
) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be finite"
    if gt is not None and not value > gt:
        return f"must be > {gt:g}"
    if ge is not None and not value >= ge:
        return f"must be >= {ge:g}"
    if lt is not None and not value < lt:
        return f"must be < {lt:g}"
    if le is not None and not value <= le:
        return f"must be <= {le:g}"
    return None


def param(
    default: T,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: Collection[T] | None = None,
) -> T:
    """Declare a strategy parameter with its default and its allowed range.

    Use it as the default of a field in a ``StrategyParams`` subclass::

        period: int = param(14, ge=2)

    Args:
        default: the value when the config does not set it.
        gt: the value must be greater than this.
        ge: the value must be at least this.
        lt: the value must be less than this.
        le: the value must be at most this.
        choices: the only values allowed.

    Returns:
        An attrs field (typed as the default's type, for the class body).
    """

    def check(_inst: object, attribute: attrs.Attribute[T], value: T) -> None:
        problem: str | None = None
        if choices is not None and value not in choices:
            problem = f"must be one of {', '.join(sorted(map(repr, choices)))}"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            problem = _range_problem(value, gt=gt, ge=ge, lt=lt, le=le)
        if problem is not None:
            raise ValueError(f"{attribute.name} {problem}, was {value!r}")

    return attrs.field(default=default, validator=check)


def _expected(kind: type) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[kind]


def _scalar_types(tp: object) -> tuple[tuple[type, ...], bool]:
    # the scalar types a field accepts and whether it accepts None
    if get_origin(tp) in (Union, types.UnionType):
        kinds: list[type] = []
        optional = False
        for arg in get_args(tp):
            if arg is type(None):
                optional = True
            else:
                inner, _ = _scalar_types(arg)
                kinds.extend(inner)
        return tuple(kinds), optional
    if tp in _SCALARS:
        return (tp,), False
    raise TypeError(f"strategy parameters must be bool, int, float or str (or optional), was {tp!r}")


def _convert(value: object, kinds: tuple[type, ...], optional: bool) -> tuple[object, str | None]:
    if value is None:
        return (None, None) if optional else (None, f"must be {_expected(kinds[0])}, was None")
    for kind in kinds:
        if kind is bool:
            if isinstance(value, bool):
                return value, None
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value, None
            if isinstance(value, float) and value.is_integer():
                return int(value), None
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value), None
        elif kind is str and isinstance(value, str):
            return value, None
    wanted = " or ".join(_expected(k) for k in kinds) + (" or null" if optional else "")
    return None, f"must be {wanted}, was {value!r}"


def structure_params(cls: type[P], params: Mapping[str, object], *, owner: str) -> P:
    """Build ``cls`` from a config mapping, checking names and types strictly.

    Args:
        cls: a :class:`StrategyParams` subclass.
        params: parameter names to JSON scalars.
        owner: the strategy's class name, for the messages.

    Returns:
        The validated parameters.

    Raises:
        pyrt.errors.ConfigError: unknown names (the message lists the expected ones), values of the
            wrong type, or values the class's validators refuse; every name and type problem at once.
    """
    fields = attrs.fields_dict(attrs.resolve_types(cls))
    problems: list[str] = []
    unknown = sorted(set(params) - set(fields))
    if unknown:
        problems.append(f"unknown {owner} parameter(s) {unknown}; expected some of {sorted(fields)}")
    values: dict[str, object] = {}
    for name, value in params.items():
        field = fields.get(name)
        if field is None:
            continue
        kinds, optional = _scalar_types(field.type)
        converted, problem = _convert(value, kinds, optional)
        if problem is not None:
            problems.append(f"{owner} parameter {name} {problem}")
        else:
            values[name] = converted
    source = f"{owner} parameters"
    if problems:
        raise ConfigError(problems, source=source)
    build: Callable[..., P] = cls
    try:
        return build(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError([f"{owner}: {exc}"], source=source) from exc

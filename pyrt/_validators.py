"""attrs validators for numbers, symbols and names: one home for the checks messages, config,
the supervisor, the risk limits and the sim venue's faults all make.

Each raises ``ValueError`` with the field's name, what was expected and what was found
(``"qty must be a finite number > 0, was nan"``). A layer-0 room: it imports nothing from pyrt.
"""

from __future__ import annotations

import math
import re
from typing import Final

import attrs

#: What a symbol looks like (``AAPL``, ``BRK.B``, ``BTC/USD``); config checks its symbol lists with it
SYMBOL: Final = re.compile(r"^[A-Z0-9][A-Z0-9./\-]{0,31}$")


def finite_positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    # "not value > 0" is also true for NaN
    if not (value > 0.0 and value != math.inf):
        raise ValueError(f"{attribute.name} must be a finite number > 0, was {value!r}")


def finite_non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value >= 0.0 and value != math.inf):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, was {value!r}")


def finite(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, was {value!r}")


def optional_finite_positive(
    _inst: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not (value > 0.0 and value != math.inf):
        raise ValueError(f"{attribute.name} must be a finite number > 0 or null, was {value!r}")


def non_negative_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, was {value!r}")


def is_symbol(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if SYMBOL.match(value) is None:
        raise ValueError(
            f"{attribute.name} must be an upper-case symbol such as 'AAPL' or 'BTC/USD', was {value!r}"
        )


def non_empty(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")

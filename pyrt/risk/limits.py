"""The limits a :class:`~pyrt.risk.engine.RiskEngine` enforces, and the reason codes it rejects with.

:class:`RiskLimits` is the engine's view of the ``risk`` section of the configuration
(:class:`pyrt.config.RiskConfig`): every limit the section sets, by the same name, plus the two
that come from elsewhere (``allowed_symbols`` from the configured symbols, ``allow_short`` from
the strategy). :data:`REASON_CODES` lists the codes in the order the engine checks them
(``specs/risk.md`` has the same table).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, final

import attrs

from .._validators import finite_positive
from ..config import RiskConfig

__all__ = [
    "BUYING_POWER",
    "DUPLICATE_SIGNAL",
    "INVALID_INPUT",
    "MAX_DAILY_LOSS",
    "MAX_GROSS_EXPOSURE",
    "MAX_OPEN_ORDERS",
    "MAX_ORDERS_PER_MINUTE",
    "MAX_ORDERS_PER_SECOND",
    "MAX_ORDER_NOTIONAL",
    "MAX_ORDER_SIZE",
    "MAX_POSITION_SIZE",
    "MAX_POSITION_VALUE",
    "NO_PRICE",
    "PRICE_COLLAR",
    "REASON_CODES",
    "REDUCE_ONLY",
    "SHORT_NOT_ALLOWED",
    "STALE_MARKET_DATA",
    "SYMBOL_NOT_ALLOWED",
    "TRADING_HALTED",
    "RiskLimits",
]

INVALID_INPUT: Final = "INVALID_INPUT"
DUPLICATE_SIGNAL: Final = "DUPLICATE_SIGNAL"
TRADING_HALTED: Final = "TRADING_HALTED"
SYMBOL_NOT_ALLOWED: Final = "SYMBOL_NOT_ALLOWED"
MAX_ORDER_SIZE: Final = "MAX_ORDER_SIZE"
SHORT_NOT_ALLOWED: Final = "SHORT_NOT_ALLOWED"
MAX_POSITION_SIZE: Final = "MAX_POSITION_SIZE"
MAX_DAILY_LOSS: Final = "MAX_DAILY_LOSS"
REDUCE_ONLY: Final = "REDUCE_ONLY"
MAX_OPEN_ORDERS: Final = "MAX_OPEN_ORDERS"
MAX_ORDERS_PER_SECOND: Final = "MAX_ORDERS_PER_SECOND"
MAX_ORDERS_PER_MINUTE: Final = "MAX_ORDERS_PER_MINUTE"
NO_PRICE: Final = "NO_PRICE"
STALE_MARKET_DATA: Final = "STALE_MARKET_DATA"
PRICE_COLLAR: Final = "PRICE_COLLAR"
MAX_ORDER_NOTIONAL: Final = "MAX_ORDER_NOTIONAL"
MAX_POSITION_VALUE: Final = "MAX_POSITION_VALUE"
MAX_GROSS_EXPOSURE: Final = "MAX_GROSS_EXPOSURE"
BUYING_POWER: Final = "BUYING_POWER"

#: Every reason code a :class:`RiskRejected` from the risk engine can carry, in check order.
REASON_CODES: Final[tuple[str, ...]] = (
    INVALID_INPUT,
    DUPLICATE_SIGNAL,
    TRADING_HALTED,
    SYMBOL_NOT_ALLOWED,
    MAX_ORDER_SIZE,
    SHORT_NOT_ALLOWED,
    MAX_POSITION_SIZE,
    MAX_DAILY_LOSS,
    REDUCE_ONLY,
    MAX_OPEN_ORDERS,
    MAX_ORDERS_PER_SECOND,
    MAX_ORDERS_PER_MINUTE,
    NO_PRICE,
    STALE_MARKET_DATA,
    PRICE_COLLAR,
    MAX_ORDER_NOTIONAL,
    MAX_POSITION_VALUE,
    MAX_GROSS_EXPOSURE,
    BUYING_POWER,
)


def _optional_positive(_inst: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number > 0 or None, was {value!r}")


def _optional_positive_int(_inst: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be an integer >= 1 or None, was {value!r}")


def _to_symbol_set(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"allowed_symbols must be a collection of symbols, was the string {value!r}")
    return frozenset(value)


@final
@attrs.frozen(kw_only=True)
class RiskLimits:
    """The limits a :class:`~pyrt.risk.engine.RiskEngine` enforces; None switches an optional limit off."""

    max_order_size: float = attrs.field(validator=finite_positive)
    """Largest quantity of one order."""
    max_position_size: float = attrs.field(validator=finite_positive)
    """Largest absolute quantity per symbol, counting open orders on the same side."""
    max_daily_loss: float = attrs.field(validator=finite_positive)
    """Loss since the session start (a positive currency amount) that switches to REDUCING."""
    max_order_notional: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest quantity × price of one order."""
    max_position_value: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest absolute position value per symbol, counting open orders on the same side."""
    max_gross_exposure: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest sum of absolute position values once all open orders have filled."""
    allowed_symbols: frozenset[str] | None = attrs.field(default=None, converter=_to_symbol_set)
    """The only symbols that may be traded."""
    max_open_orders: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Most orders approved and not yet ended, over all symbols."""
    max_orders_per_second: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Most approvals within any one second."""
    max_orders_per_minute: int | None = attrs.field(default=None, validator=_optional_positive_int)
    """Most approvals within any sixty seconds."""
    price_collar_bps: float | None = attrs.field(default=None, validator=_optional_positive)
    """Largest distance of a limit or reference price from the last mark, in basis points."""
    max_quote_age_secs: float | None = attrs.field(default=None, validator=_optional_positive)
    """Oldest mark (by ``now_ns``) an order may be checked against, in seconds."""
    allow_short: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    """Whether a sell may open or grow a short; ``pyrt run`` sets it from the strategy's
    ``allow_short`` (off for the shipped long-only strategies)."""

    @classmethod
    def from_config(
        cls, config: RiskConfig, *, allowed_symbols: Iterable[str] | None = None, allow_short: bool = True
    ) -> RiskLimits:
        """Build the limits from the ``risk`` section of a configuration.

        Args:
            config: the section (:class:`pyrt.config.RiskConfig`).
            allowed_symbols: the only symbols that may be traded (typically ``config.symbols``);
                None allows any.
            allow_short: whether sells may open or grow a short (the strategy's
                :attr:`~pyrt.strategy.Strategy.allow_short`).

        Returns:
            The limits, with every optional limit the section sets.
        """
        values = {name: getattr(config, name) for name in _FROM_CONFIG}
        return cls(**values, allowed_symbols=allowed_symbols, allow_short=allow_short)


# The limits the ``risk`` section sets: every field the two classes share by name, so a limit
# added to both needs no copying line here (issue 9)
_FROM_CONFIG: Final = tuple(
    name for name in attrs.fields_dict(RiskLimits) if name in attrs.fields_dict(RiskConfig)
)

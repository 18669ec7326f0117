"""The simulated account: cash and average-cost positions, moved by the fills the matching
engine makes.

Cash moves by every fill's notional and fee; positions use average cost
(:func:`pyrt._accounting.average_cost_fill`, the rule the risk portfolio applies too), so
reducing a position leaves its average price unchanged and books realized P&L into cash, and a
fill through zero opens the new side at the fill price. Money and quantities are floats
rounded to 1e-9 after every update (:func:`round_amount`), so repeated fills of 0.1 add up to
exactly what a person would write.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, final

import attrs

from ..._accounting import average_cost_fill

__all__ = ["EngineAccount", "EnginePosition", "SimAccount", "round_amount"]

_DECIMALS: Final = 9


def round_amount(value: float) -> float:
    """Round money or a quantity to 1e-9, so sums and leaves come out exact (and never -0.0)."""
    rounded = round(value, _DECIMALS)
    return 0.0 if rounded == 0.0 else rounded


@final
@attrs.frozen(kw_only=True)
class EnginePosition:
    """One open position, valued at the engine's mark for its symbol."""

    symbol: str
    qty: float
    """Signed: negative is short."""
    avg_entry_price: float
    cost_basis: float
    """``qty * avg_entry_price`` (signed)."""
    current_price: float
    market_value: float
    """``qty * current_price`` (signed)."""
    unrealized_pl: float
    """``market_value - cost_basis``."""


@final
@attrs.frozen(kw_only=True)
class EngineAccount:
    """The account: ``equity = cash + long_market_value + short_market_value``."""

    cash: float
    buying_power: float
    """``cash`` minus what open buy orders reserve, never below 0."""
    equity: float
    long_market_value: float
    short_market_value: float
    """Negative (or 0): the value of short positions."""


@attrs.define
class _Position:
    qty: float = 0.0
    avg_price: float = 0.0
    realized_pl: float = 0.0


@final
class SimAccount:
    """Cash and positions of one simulated account; plain and synchronous.

    Args:
        starting_cash: the account's cash before any trade.
        fee_per_share: charged on every fill (``qty * fee_per_share``), taken from cash.

    Raises:
        ValueError: ``starting_cash`` or ``fee_per_share`` is not a finite number >= 0.
    """

    def __init__(self, *, starting_cash: float, fee_per_share: float) -> None:
        if not (math.isfinite(starting_cash) and starting_cash >= 0.0):
            raise ValueError(f"starting_cash must be a finite number >= 0, was {starting_cash!r}")
        if not (math.isfinite(fee_per_share) and fee_per_share >= 0.0):
            raise ValueError(f"fee_per_share must be a finite number >= 0, was {fee_per_share!r}")
        self.fee_per_share: Final = fee_per_share
        self._cash = round_amount(starting_cash)
        self._positions: dict[str, _Position] = {}

    @property
    def cash(self) -> float:
        """Cash now: starting cash moved by every fill's notional and fee."""
        return self._cash

    def apply_fill(self, symbol: str, signed_qty: float, price: float) -> float:
        """Book one fill of ``signed_qty`` (positive buys) at ``price``; return the new position."""
        self._cash = round_amount(self._cash - signed_qty * price - abs(signed_qty) * self.fee_per_share)
        position = self._positions.setdefault(symbol, _Position())
        new = round_amount(position.qty + signed_qty)
        position.avg_price, realized = average_cost_fill(
            position.qty, position.avg_price, signed_qty, price, new
        )
        position.realized_pl = round_amount(position.realized_pl + realized)
        position.qty = new
        return new

    def quantity(self, symbol: str) -> float:
        """Return the signed position in ``symbol`` (0 if none)."""
        position = self._positions.get(symbol)
        return 0.0 if position is None else position.qty

    def realized_pl(self, symbol: str) -> float:
        """Return the P&L realized in ``symbol`` so far (already part of cash; fees excluded)."""
        position = self._positions.get(symbol)
        return 0.0 if position is None else position.realized_pl

    def position(self, symbol: str, marks: Mapping[str, float]) -> EnginePosition | None:
        """Return the open position in ``symbol`` valued at ``marks``, or None when flat."""
        position = self._positions.get(symbol)
        if position is None or position.qty == 0.0:
            return None
        return self._snapshot(symbol, position, marks)

    def positions(self, marks: Mapping[str, float]) -> list[EnginePosition]:
        """Return the open (non-zero) positions valued at ``marks``, sorted by symbol."""
        return [
            self._snapshot(symbol, position, marks)
            for symbol, position in sorted(self._positions.items())
            if position.qty != 0.0
        ]

    @staticmethod
    def _snapshot(symbol: str, position: _Position, marks: Mapping[str, float]) -> EnginePosition:
        price = marks.get(symbol, position.avg_price)
        cost_basis = round_amount(position.qty * position.avg_price)
        market_value = round_amount(position.qty * price)
        return EnginePosition(
            symbol=symbol,
            qty=position.qty,
            avg_entry_price=round_amount(position.avg_price),
            cost_basis=cost_basis,
            current_price=price,
            market_value=market_value,
            unrealized_pl=round_amount(market_value - cost_basis),
        )

    def snapshot(self, marks: Mapping[str, float], *, reserved: float) -> EngineAccount:
        """Return cash, buying power (cash less ``reserved``), equity and market values."""
        long_value = 0.0
        short_value = 0.0
        for symbol, position in self._positions.items():
            if position.qty == 0.0:
                continue
            value = position.qty * marks.get(symbol, position.avg_price)
            if value > 0.0:
                long_value += value
            else:
                short_value += value
        long_value = round_amount(long_value)
        short_value = round_amount(short_value)
        return EngineAccount(
            cash=self._cash,
            buying_power=max(round_amount(self._cash - reserved), 0.0),
            equity=round_amount(self._cash + long_value + short_value),
            long_market_value=long_value,
            short_market_value=short_value,
        )

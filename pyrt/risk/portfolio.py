"""Positions, cash and P&L from fills: the plain logic behind the risk actor.

:class:`Portfolio` keeps, per symbol, a signed quantity (negative = short), the average cost of
the open quantity, the realized P&L (net of fees) and the last mark. A fill that crosses zero
realizes the closing part at the old average and opens the rest at the fill price.

The identity every state satisfies (a property test checks it)::

    realized_pnl + unrealized_pnl == sum over fills of (-side * quantity * price - fee)
                                     + sum over symbols of (quantity * last_price)
                                  == equity - starting_cash

``equity``, ``total_pnl`` and ``gross_exposure`` are kept as running sums, so reading them is O(1)
in the number of symbols (the risk engine reads them on every check and mark); every
1,024 updates they are recomputed from the positions, so float drift stays bounded.
``realized_pnl`` and ``unrealized_pnl`` are summed over the positions when read.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final, final

import attrs

from .._accounting import average_cost_fill
from ..messages import ExecutionLedger, ExecutionVerdict

if TYPE_CHECKING:
    from ..messages import OrderFilled

__all__ = ["Portfolio", "PortfolioStatistics", "PositionView"]

logger = logging.getLogger(__name__)

# A quantity within this fraction of the quantities involved is float noise (0.1 + 0.2 - 0.3),
# not a position: it is snapped to flat so a closed position does not linger as 5e-17 shares
_FLAT_TOLERANCE: Final = 1e-10
# Running sums (market value, gross exposure) are recomputed exactly after this many updates
_RESYNC_EVERY: Final = 1024


def _check_price(price: float) -> None:
    if not (price > 0.0 and math.isfinite(price)):
        raise ValueError(f"price must be a finite number > 0, was {price!r}")


@final
@attrs.frozen(kw_only=True)
class PositionView:
    """A snapshot of one symbol's position."""

    symbol: str
    """The instrument."""
    quantity: float
    """Signed quantity: positive long, negative short, 0 flat."""
    avg_price: float
    """Average cost of the open quantity; 0 when flat."""
    realized_pnl: float
    """P&L locked in by closing fills, net of all fees paid on this symbol."""
    unrealized_pnl: float
    """``quantity * (last_price - avg_price)``; 0 when flat or never priced."""
    last_price: float | None
    """The last mark (or the first fill price until the first mark); None if never priced."""
    market_value: float
    """Signed ``quantity * last_price``; 0 when never priced."""
    fees: float
    """Fees paid on this symbol (already subtracted from ``realized_pnl``)."""

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0.0


@final
@attrs.frozen(kw_only=True)
class PortfolioStatistics:
    """A snapshot of the portfolio's counters and totals."""

    fills_applied: int
    """Fills that changed the portfolio."""
    duplicate_fills: int
    """Fills ignored because their ``execution_id`` had been applied already."""
    open_positions: int
    """Symbols with a non-zero quantity."""
    starting_cash: float
    """Cash at construction."""
    cash: float
    """Cash now: starting cash minus what buys cost plus what sells brought, minus fees."""
    equity: float
    """``cash`` plus the market value of every position at its last mark."""
    realized_pnl: float
    """Sum of the positions' realized P&L (net of fees)."""
    unrealized_pnl: float
    """Sum of the positions' unrealized P&L at their last marks."""
    total_pnl: float
    """``realized_pnl + unrealized_pnl`` (equals ``equity - starting_cash``)."""
    fees: float
    """All fees paid."""
    gross_exposure: float
    """Sum of ``abs(market_value)`` over positions."""


@attrs.define
class _Position:
    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0


@final
class Portfolio:
    """Positions, cash and P&L, driven by fills and marks.

    Fills are applied at most once per ``execution_id``, so a fill delivered twice (a stream
    reconnect, a replayed REST reply) changes nothing the second time. Marks come from whatever
    the caller chooses (quote mids, trades, bar closes); a symbol's first fill also marks it
    until the first real mark, so a fresh position is never unpriced.

    Args:
        starting_cash: cash in account currency before any fill.

    Raises:
        ValueError: ``starting_cash`` is not a finite number.
    """

    __slots__ = (
        "_cash",
        "_duplicate_fills",
        "_executions",
        "_fees",
        "_gross",
        "_market_value",
        "_marks",
        "_nonflat",
        "_positions",
        "_starting_cash",
        "_updates",
    )

    def __init__(self, starting_cash: float) -> None:
        if not math.isfinite(starting_cash):
            raise ValueError(f"starting_cash must be a finite number, was {starting_cash!r}")
        self._starting_cash = float(starting_cash)
        self._cash = float(starting_cash)
        self._fees = 0.0
        self._positions: dict[str, _Position] = {}
        self._marks: dict[str, float] = {}
        self._executions = ExecutionLedger()
        self._duplicate_fills = 0
        # running sums over positions of quantity * mark and of abs(quantity * mark)
        self._market_value = 0.0
        self._gross = 0.0
        self._updates = 0
        self._nonflat = 0  # positions with a non-zero quantity

    def has_execution(self, execution_id: str) -> bool:
        """Return whether the fill ``execution_id`` has been applied."""
        return execution_id in self._executions

    def apply_fill(self, fill: OrderFilled) -> None:
        """Apply one execution to cash and the symbol's position.

        A fill whose ``execution_id`` was applied before is ignored and counted in
        ``statistics().duplicate_fills``: logged as a warning when it repeats the first, as an
        error when it contradicts it (:class:`~pyrt.messages.ExecutionLedger` tells them apart).

        Args:
            fill: the execution.
        """
        verdict = self._executions.check(fill)
        if verdict is not ExecutionVerdict.NEW:
            self._duplicate_fills += 1
            if verdict is ExecutionVerdict.CONTRADICTORY:  # the order tracker raises the alarm
                logger.error("fill ignored: %s", self._executions.contradiction(fill))
            else:
                logger.warning(
                    "duplicate fill %s for %s ignored (%d so far)",
                    fill.execution_id,
                    fill.client_order_id,
                    self._duplicate_fills,
                )
            return
        self._executions.remember(fill)
        price = fill.fill_price
        signed = fill.side.sign * fill.fill_quantity
        self._cash -= signed * price + fill.fee
        self._fees += fill.fee

        pos = self._positions.get(fill.symbol)
        if pos is None:
            pos = self._positions[fill.symbol] = _Position(fill.symbol)
        old = pos.quantity
        old_value = old * self._marks.get(fill.symbol, 0.0)
        new = old + signed
        if abs(new) <= _FLAT_TOLERANCE * max(abs(old), abs(signed)):
            new = 0.0
        pos.avg_price, realized = average_cost_fill(old, pos.avg_price, signed, price, new)
        pos.realized_pnl += realized
        pos.quantity = new
        pos.realized_pnl -= fill.fee
        pos.fees += fill.fee
        new_value = new * self._marks.setdefault(fill.symbol, price)
        self._nonflat += (new != 0.0) - (old != 0.0)
        if self._nonflat == 0:  # all flat: the sums are exactly zero, whatever float residue built up
            self._market_value = self._gross = 0.0
        else:
            self._moved(old_value, new_value)
        logger.debug(
            "fill %s %s %s x %s: position %s avg %s",
            fill.execution_id,
            fill.symbol,
            signed,
            price,
            new,
            pos.avg_price,
        )

    def mark(self, symbol: str, price: float) -> None:
        """Set ``symbol``'s current price for unrealized P&L, market value and exposure.

        Args:
            symbol: the instrument; it need not have a position.
            price: the price, e.g. a quote's mid, a trade's price or a bar's close.

        Raises:
            ValueError: ``price`` is not a finite number > 0.
        """
        _check_price(price)
        old_price = self._marks.get(symbol)
        self._marks[symbol] = price
        pos = self._positions.get(symbol)
        if pos is not None and pos.quantity != 0.0:
            self._moved(pos.quantity * (old_price or 0.0), pos.quantity * price)

    def _moved(self, old_value: float, new_value: float) -> None:
        # One position's market value changed: update the running sums, resyncing now and then
        self._updates += 1
        if self._updates % _RESYNC_EVERY == 0:
            self._resync()
            return
        self._market_value += new_value - old_value
        self._gross += abs(new_value) - abs(old_value)

    def _resync(self) -> None:
        market_value = gross = 0.0
        for pos in self._positions.values():
            value = pos.quantity * self._marks.get(pos.symbol, 0.0)
            market_value += value
            gross += abs(value)
        self._market_value = market_value
        self._gross = gross

    def last_price(self, symbol: str) -> float | None:
        """Return ``symbol``'s last mark (or first fill price), or None if never priced."""
        return self._marks.get(symbol)

    def quantity(self, symbol: str) -> float:
        """Return ``symbol``'s signed quantity (0 if never traded); O(1), no snapshot built."""
        pos = self._positions.get(symbol)
        return 0.0 if pos is None else pos.quantity

    def position(self, symbol: str) -> PositionView:
        """Return a snapshot of ``symbol``'s position (flat and zero if never traded)."""
        pos = self._positions.get(symbol)
        if pos is None:
            return PositionView(
                symbol=symbol,
                quantity=0.0,
                avg_price=0.0,
                realized_pnl=0.0,
                unrealized_pnl=0.0,
                last_price=self._marks.get(symbol),
                market_value=0.0,
                fees=0.0,
            )
        return self._view(pos)

    def positions(self) -> tuple[PositionView, ...]:
        """Return snapshots of every symbol ever filled, flat ones included, sorted by symbol."""
        return tuple(self._view(pos) for _, pos in sorted(self._positions.items()))

    def _view(self, pos: _Position) -> PositionView:
        last = self._marks.get(pos.symbol)
        return PositionView(
            symbol=pos.symbol,
            quantity=pos.quantity,
            avg_price=pos.avg_price,
            realized_pnl=pos.realized_pnl,
            unrealized_pnl=self._unrealized(pos),
            last_price=last,
            market_value=0.0 if last is None else pos.quantity * last,
            fees=pos.fees,
        )

    def _unrealized(self, pos: _Position) -> float:
        last = self._marks.get(pos.symbol)
        if last is None or pos.quantity == 0.0:
            return 0.0
        return pos.quantity * (last - pos.avg_price)

    @property
    def starting_cash(self) -> float:
        """Cash at construction."""
        return self._starting_cash

    @property
    def cash(self) -> float:
        """Cash now, after every fill's cost or proceeds and fees."""
        return self._cash

    @property
    def fees(self) -> float:
        """All fees paid."""
        return self._fees

    @property
    def equity(self) -> float:
        """Cash plus the market value of every position at its last mark (O(1): a running sum)."""
        return self._cash + self._market_value

    @property
    def realized_pnl(self) -> float:
        """Realized P&L over all symbols, net of fees."""
        return sum(pos.realized_pnl for pos in self._positions.values())

    @property
    def unrealized_pnl(self) -> float:
        """Unrealized P&L over all symbols at their last marks."""
        return sum(self._unrealized(pos) for pos in self._positions.values())

    @property
    def total_pnl(self) -> float:
        """Realized plus unrealized P&L, read as ``equity - starting_cash`` (O(1))."""
        return self._cash + self._market_value - self._starting_cash

    @property
    def gross_exposure(self) -> float:
        """Sum of the absolute market values of all positions (O(1): a running sum)."""
        return self._gross

    def statistics(self) -> PortfolioStatistics:
        """Return a snapshot of the portfolio's counters and totals."""
        realized = self.realized_pnl
        unrealized = self.unrealized_pnl
        return PortfolioStatistics(
            fills_applied=len(self._executions),
            duplicate_fills=self._duplicate_fills,
            open_positions=sum(1 for pos in self._positions.values() if pos.quantity != 0.0),
            starting_cash=self._starting_cash,
            cash=self._cash,
            equity=self.equity,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            total_pnl=self.total_pnl,
            fees=self._fees,
            gross_exposure=self.gross_exposure,
        )

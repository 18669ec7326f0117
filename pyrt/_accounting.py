"""Average-cost position accounting: the one rule both the sim venue's account and the risk
portfolio apply to every fill.

A fill that opens or adds to a position moves its average cost towards the fill price; one that
reduces it leaves the average unchanged and realizes ``closed * (price - average)`` (sign by
side); one that goes through zero closes the old side at its average and opens the rest at the
fill price. Callers keep their own quantity rounding and pass the rounded result in, because
the sim rounds to 1e-9 and the portfolio snaps float noise to flat.
"""

from __future__ import annotations

__all__ = ["average_cost_fill"]


def average_cost_fill(
    quantity: float, avg_price: float, signed_qty: float, price: float, new_quantity: float
) -> tuple[float, float]:
    """Return the average price after one fill and the P&L the fill realizes (fees excluded).

    Args:
        quantity: the signed position before the fill (negative is short).
        avg_price: its average cost (0 when flat).
        signed_qty: the fill's signed quantity (positive buys).
        price: the fill price.
        new_quantity: ``quantity + signed_qty`` as the caller rounds it.

    Returns:
        ``(new_avg_price, realized)``: 0 when the position ends flat, the fill price when it
        flips, and a realized P&L of 0 when the fill opens or adds.
    """
    if quantity == 0.0 or (quantity > 0.0) == (signed_qty > 0.0):
        # opening or adding: the average cost moves towards the fill price
        return (abs(quantity) * avg_price + abs(signed_qty) * price) / abs(new_quantity), 0.0
    closing = min(abs(signed_qty), abs(quantity))
    realized = closing * (price - avg_price) * (1.0 if quantity > 0.0 else -1.0)
    if new_quantity == 0.0:
        return 0.0, realized
    if (new_quantity > 0.0) != (quantity > 0.0):
        return price, realized  # flipped through zero: the rest opens at the fill price
    return avg_price, realized

"""Reconcile recorded order state with what the venue reports, after a restart.

:func:`reconcile` is pure: it takes what the store recorded (:class:`pyrt.persistence.store.StoredOrder`,
the recorded fills) and what the venue reports (its orders, open and recently closed, and its
positions), and returns a :class:`ReconcileReport` that says what to do and what to look at.
The caller records the report's :meth:`~ReconcileReport.messages` in the store, feeds them to
the order tracker and the portfolio, and publishes them, in that order; reconciling again
afterwards finds nothing more to do.

What it finds, per recorded order (looked up at the venue by ``client_order_id``):

- **Fills we missed** (the venue filled more than we recorded, e.g. while we were down): one
  synthetic ``OrderFilled`` for the difference, priced so that our average fill price becomes
  the venue's ``filled_avg_price``, with execution id ``reconcile-<client_order_id>-<cumulative>``
  (deterministic, so a second run makes the same id and the store keeps it once). Its fee is 0
  (the venue's order does not say). The venue's order update stream does not replay missed
  events, so the real executions do not arrive later on top of the synthetic one.
- **Venue ids we never heard** (an open order whose accept we did not record): an
  ``OrderAccepted``, so the order can be canceled by id later.
- **Orders that ended** while we were down (canceled, expired, rejected, done for the day …),
  and open orders the venue does not know at all (approved or submitted, but the request never
  arrived): an ``OrderCanceled`` (``OrderRejected`` for a rejection) that ends them, with a
  reason that starts with ``"reconciled: "``. An order the venue reports filled ends through
  its (synthetic) final fill.
- **Orders we never recorded**: open ones are *adopted* (reported with the venue's view; the
  caller decides to track or cancel them), as are open ones we recorded as ended; ended ones
  with fills are reported too, since their fills moved a position our fills do not explain.

Then it compares positions: ours, from the recorded fills plus the synthetic ones (computed as
:class:`pyrt.risk.portfolio.Portfolio` does), against the venue's, symbol by symbol (``BTC/USD``
matches the venue's ``BTCUSD``). Differences are reported, never papered over. Contradictions
(a venue order with another symbol, side or venue id than ours; the venue reporting less filled
than we recorded) are reported as problems and nothing is done about that order.

The caller must pass, for every recorded *open* order, the venue's answer when it has one
(Alpaca's open orders plus recently closed ones, or a lookup by client order id per order): an
order missing from ``venue_orders`` is taken as unknown to the venue and closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, final

import attrs

from ..messages import ExecutionLedger, Message, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from ..risk.portfolio import Portfolio

if TYPE_CHECKING:
    from ..venues import VenueOrder, VenuePosition
    from .store import StoredOrder

__all__ = ["PositionMismatch", "ReconcileReport", "SessionCheck", "reconcile"]

# Quantities within this fraction of the larger one (and at least of 1 unit) are equal: float
# sums of partial fills, or decimal strings from the venue
_QTY_TOLERANCE: Final = 1e-9
_REASON_PREFIX: Final = "reconciled: "


@final
@attrs.frozen(kw_only=True)
class PositionMismatch:
    """A symbol whose position differs between our records and the venue."""

    symbol: str
    """The symbol as we spell it (the venue's spelling if we never traded it)."""
    quantity: float
    """Our signed quantity, after the synthetic fills."""
    venue_quantity: float
    """The venue's signed quantity (0 if it reports no position)."""
    avg_price: float
    """Our average cost of the open quantity (0 when flat)."""
    venue_avg_price: float | None
    """The venue's average entry price; None if it reports no position."""

    @property
    def difference(self) -> float:
        """``venue_quantity - quantity``: what we would have to buy (negative: sell) to agree."""
        return self.venue_quantity - self.quantity


@final
@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What :func:`reconcile` found: messages to apply and differences to look at."""

    accepted_orders: tuple[OrderAccepted, ...]
    """Accepts for recorded open orders whose venue id we never recorded."""
    missing_fills: tuple[OrderFilled, ...]
    """Synthetic fills for quantity the venue filled that we never recorded."""
    closed_orders: tuple[OrderCanceled | OrderRejected, ...]
    """Messages that end recorded open orders the venue reports ended, or does not know."""
    adopted_orders: tuple[VenueOrder, ...]
    """Open orders at the venue that we do not track as open: a ``client_order_id`` we never
    recorded, or one we recorded as ended."""
    unrecorded_filled_orders: tuple[VenueOrder, ...]
    """Ended orders at the venue that we never recorded and that filled some quantity."""
    position_mismatches: tuple[PositionMismatch, ...]
    """Symbols whose position (after the synthetic fills) differs from the venue's."""
    problems: tuple[str, ...]
    """Contradictions left alone for a human: one line each."""

    def messages(self) -> tuple[Message, ...]:
        """Return the messages to record and apply, in order: accepts, fills, then ends.

        Per order this is the order in which the venue's events happened, so an
        :class:`pyrt.execution.orders.OrderTracker` takes all of them without an anomaly.
        """
        return (*self.accepted_orders, *self.missing_fills, *self.closed_orders)

    @property
    def is_clean(self) -> bool:
        """Whether there is nothing to apply and nothing to report."""
        return not (
            self.accepted_orders
            or self.missing_fills
            or self.closed_orders
            or self.adopted_orders
            or self.unrecorded_filled_orders
            or self.position_mismatches
            or self.problems
        )

    def summary(self) -> str:
        """Describe the report for the log: a count line, then one line per finding."""
        lines = [
            f"reconcile: {len(self.missing_fills)} missing fill(s), {len(self.closed_orders)} order(s) "
            f"closed, {len(self.accepted_orders)} accept(s) learned, {len(self.adopted_orders)} "
            f"adopted order(s), {len(self.unrecorded_filled_orders)} unrecorded filled order(s), "
            f"{len(self.position_mismatches)} position mismatch(es), {len(self.problems)} problem(s)"
        ]
        lines.extend(
            f"  accept {msg.client_order_id}: venue id {msg.venue_order_id}" for msg in self.accepted_orders
        )
        lines.extend(
            f"  fill {fill.client_order_id}: {fill.side} {fill.fill_quantity:.12g} {fill.symbol} "
            f"@ {fill.fill_price:.12g} (cumulative {fill.cumulative_quantity:.12g}, "
            f"execution {fill.execution_id})"
            for fill in self.missing_fills
        )
        lines.extend(f"  close {msg.client_order_id}: {msg.reason}" for msg in self.closed_orders)
        lines.extend(
            f"  adopted {order.client_order_id} (venue {order.venue_order_id}): {order.side} "
            f"{_size(order)} {order.symbol} {order.status}, filled {order.filled_quantity:.12g}"
            for order in self.adopted_orders
        )
        lines.extend(
            f"  unrecorded {order.client_order_id} (venue {order.venue_order_id}): {order.side} "
            f"{order.filled_quantity:.12g} {order.symbol} filled, {order.status}"
            for order in self.unrecorded_filled_orders
        )
        lines.extend(
            f"  position {m.symbol}: ours {m.quantity:.12g}, venue {m.venue_quantity:.12g} "
            f"(difference {m.difference:.12g})"
            for m in self.position_mismatches
        )
        lines.extend(f"  problem: {problem}" for problem in self.problems)
        return "\n".join(lines)


def _size(order: VenueOrder) -> str:
    # a notional order has no quantity until it fills: show its dollars
    return f"{order.quantity:.12g}" if order.quantity is not None else f"${order.notional or 0.0:.12g} of"


def _symbol_key(symbol: str) -> str:
    # Alpaca spells crypto pairs BTC/USD in orders and BTCUSD in positions
    return symbol.replace("/", "")


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= _QTY_TOLERANCE * max(1.0, abs(a), abs(b))


def _newest(a: VenueOrder, b: VenueOrder) -> VenueOrder:
    # The same order listed twice (open list, then closed list): the more filled one is newer,
    # and an ended order never reopens
    if not _same(a.filled_quantity, b.filled_quantity):
        return a if a.filled_quantity > b.filled_quantity else b
    return b if a.is_open and not b.is_open else a


def _fill_price(venue: VenueOrder, order: StoredOrder, our_notional: float, diff: float) -> float | None:
    venue_avg = venue.filled_avg_price
    if venue_avg is None or not (venue_avg > 0.0 and math.isfinite(venue_avg)):
        # the venue filled but does not say at what price: the order's own limit is the best guess
        return order.limit_price or order.avg_fill_price
    price = (venue_avg * venue.filled_quantity - our_notional) / diff
    return price if price > 0.0 and math.isfinite(price) else venue_avg


def _end_message(order: StoredOrder, venue: VenueOrder, *, now_ns: int) -> OrderCanceled | OrderRejected:
    reason = f"{_REASON_PREFIX}venue reports {venue.status}"
    if venue.status == "rejected":
        return OrderRejected(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            reason=reason,
            ts_event=now_ns,
            ts_init=now_ns,
        )
    return OrderCanceled(
        client_order_id=order.client_order_id,
        venue_order_id=venue.venue_order_id,
        symbol=order.symbol,
        filled_quantity=venue.filled_quantity,
        reason=reason,
        ts_event=now_ns,
        ts_init=now_ns,
    )


@attrs.define
class _Findings:
    accepted: list[OrderAccepted] = attrs.Factory(list)
    fills: list[OrderFilled] = attrs.Factory(list)
    closed: list[OrderCanceled | OrderRejected] = attrs.Factory(list)
    adopted: list[VenueOrder] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)


def _reconcile_order(
    order: StoredOrder,
    venue: VenueOrder,
    recorded: tuple[float, float],
    found: _Findings,
    *,
    now_ns: int,
) -> None:
    coid = order.client_order_id
    if _symbol_key(venue.symbol) != _symbol_key(order.symbol) or venue.side is not order.side:
        found.problems.append(
            f"order {coid}: we recorded {order.side} {order.symbol}, the venue has "
            f"{venue.side} {venue.symbol} (venue id {venue.venue_order_id}); left as recorded"
        )
        return
    if order.venue_order_id is not None and order.venue_order_id != venue.venue_order_id:
        found.problems.append(
            f"order {coid}: we recorded venue id {order.venue_order_id}, the venue reports "
            f"{venue.venue_order_id}; left as recorded"
        )
        return
    if order.is_open and order.venue_order_id is None:
        found.accepted.append(
            OrderAccepted(
                client_order_id=coid,
                venue_order_id=venue.venue_order_id,
                symbol=order.symbol,
                ts_event=now_ns,
                ts_init=now_ns,
            )
        )
    our_filled, our_notional = recorded
    diff = venue.filled_quantity - our_filled
    final_fill = False
    if _same(venue.filled_quantity, our_filled):
        pass
    elif diff < 0.0:
        found.problems.append(
            f"order {coid}: we recorded {our_filled:.12g} filled, the venue reports only "
            f"{venue.filled_quantity:.12g} ({venue.status}); left as recorded"
        )
    else:
        price = _fill_price(venue, order, our_notional, diff)
        if price is None:
            found.problems.append(
                f"order {coid}: the venue filled {diff:.12g} more than we recorded but gives no "
                "price, and the order has none; fill not made up"
            )
        else:
            ordered = venue.quantity if venue.quantity is not None else order.quantity
            leaves = 0.0 if venue.status == "filled" else max(ordered - venue.filled_quantity, 0.0)
            final_fill = leaves == 0.0  # ends the order (FILLED) by itself
            cumulative = venue.filled_quantity
            found.fills.append(
                OrderFilled(
                    client_order_id=coid,
                    venue_order_id=venue.venue_order_id,
                    execution_id=f"reconcile-{coid}-{cumulative:.12g}",
                    symbol=order.symbol,
                    side=order.side,
                    fill_price=price,
                    fill_quantity=diff,
                    cumulative_quantity=cumulative,
                    leaves_quantity=leaves,
                    ts_event=now_ns,
                    ts_init=now_ns,
                )
            )
    if order.is_open and not venue.is_open and not final_fill:
        found.closed.append(_end_message(order, venue, now_ns=now_ns))
    elif not order.is_open and venue.is_open:
        found.adopted.append(venue)  # we ended it (e.g. as unknown), yet it works at the venue


def _compare_positions(
    fills: Sequence[OrderFilled], venue_positions: Sequence[VenuePosition]
) -> tuple[PositionMismatch, ...]:
    portfolio = Portfolio(0.0)
    for fill in fills:
        portfolio.apply_fill(fill)  # skips a repeated execution_id, as the live portfolio does
    ours: dict[str, tuple[str, float, float]] = {}
    for view in portfolio.positions():
        key = _symbol_key(view.symbol)
        _name, quantity, _avg = ours.get(key, (view.symbol, 0.0, 0.0))
        ours[key] = (view.symbol, quantity + view.quantity, view.avg_price)
    theirs: dict[str, VenuePosition] = {}
    for position in venue_positions:
        theirs[_symbol_key(position.symbol)] = position
    mismatches = []
    for key in sorted(ours.keys() | theirs.keys()):
        symbol, quantity, avg_price = ours.get(key, ("", 0.0, 0.0))
        venue = theirs.get(key)
        venue_quantity = 0.0 if venue is None else venue.quantity
        if not _same(quantity, venue_quantity):
            mismatches.append(
                PositionMismatch(
                    symbol=symbol or (venue.symbol if venue is not None else key),
                    quantity=quantity,
                    venue_quantity=venue_quantity,
                    avg_price=avg_price,
                    venue_avg_price=None if venue is None else venue.avg_entry_price,
                )
            )
    return tuple(mismatches)


def reconcile(
    stored_orders: Sequence[StoredOrder],
    stored_fills: Sequence[OrderFilled],
    venue_orders: Sequence[VenueOrder],
    venue_positions: Sequence[VenuePosition],
    *,
    now_ns: int,
) -> ReconcileReport:
    """Compare recorded orders, fills and positions with the venue's; say what to do.

    Pure: reads its arguments only, and the same arguments give the same report.

    Args:
        stored_orders: every recorded order (:meth:`pyrt.persistence.store.Store.orders`), open or ended.
        stored_fills: every recorded fill (:meth:`pyrt.persistence.store.Store.fills`).
        venue_orders: the venue's orders, open and recently closed, including its answer for
            every recorded open order it knows; looked up by ``client_order_id``.
        venue_positions: the venue's positions.
        now_ns: the time to stamp on the messages the report makes.

    Returns:
        The report; apply :meth:`ReconcileReport.messages` and look at the rest.
    """
    venue_by_id: dict[str, VenueOrder] = {}
    for venue_order in venue_orders:
        known = venue_by_id.get(venue_order.client_order_id)
        venue_by_id[venue_order.client_order_id] = (
            venue_order if known is None else _newest(known, venue_order)
        )
    recorded: dict[str, tuple[float, float]] = {}
    executions = ExecutionLedger()
    for fill in stored_fills:
        if fill.execution_id in executions:
            continue
        executions.remember(fill)
        quantity, notional = recorded.get(fill.client_order_id, (0.0, 0.0))
        recorded[fill.client_order_id] = (
            quantity + fill.fill_quantity,
            notional + fill.fill_quantity * fill.fill_price,
        )

    found = _Findings()
    ours: set[str] = set()
    for order in stored_orders:
        ours.add(order.client_order_id)
        venue = venue_by_id.get(order.client_order_id)
        if venue is not None:
            _reconcile_order(
                order, venue, recorded.get(order.client_order_id, (0.0, 0.0)), found, now_ns=now_ns
            )
        elif order.is_open:
            found.closed.append(
                OrderCanceled(
                    client_order_id=order.client_order_id,
                    venue_order_id=order.venue_order_id or "",
                    symbol=order.symbol,
                    filled_quantity=order.filled_quantity,
                    reason=f"{_REASON_PREFIX}unknown at venue",
                    ts_event=now_ns,
                    ts_init=now_ns,
                )
            )
    unknown = [venue for client_order_id, venue in venue_by_id.items() if client_order_id not in ours]
    return ReconcileReport(
        accepted_orders=tuple(found.accepted),
        missing_fills=tuple(found.fills),
        closed_orders=tuple(found.closed),
        adopted_orders=(*found.adopted, *(venue for venue in unknown if venue.is_open)),
        unrecorded_filled_orders=tuple(
            venue for venue in unknown if not venue.is_open and venue.filled_quantity > 0.0
        ),
        position_mismatches=_compare_positions([*stored_fills, *found.fills], venue_positions),
        problems=tuple(found.problems),
    )


@final
class SessionCheck:
    """Reconciliation *during* a session: is the venue's account still the one we trade?

    The periodic reconciler (:class:`pyrt.persistence.reconciler.ReconcilerActor`) calls
    :meth:`check` every ``execution.reconcile_interval_secs`` with the venue's account id and
    positions and ours. It says why to halt when:

    - the venue's **account id** changed since the first check (a restarted venue, another
      account behind the same URL): at once, whatever is in flight;
    - the **account may no longer trade** (blocked, suspended, not ``ACTIVE``: the problem the
      caller read off :meth:`pyrt.venues.AccountSnapshot.halt_reason`): at once, as at start;
    - **positions** differ, ``confirmations`` checks in a row, each with no order open (ours or
      the venue's). Fills in flight are why: with an order working, a fill may have reached the
      venue's positions and not yet our portfolio (or the other way round), so those checks are
      skipped and reset the count; with nothing open, one check can still straddle a final fill,
      so one mismatch is not enough.

    Each finding is said once (no halt request every interval for the same cause); agreeing
    positions re-arm the position check.

    Args:
        confirmations: mismatching checks in a row, with nothing open, before positions count
            as different (at least 1).
    """

    __slots__ = (
        "_account_id",
        "_account_reported",
        "_confirmations",
        "_position_reported",
        "_problem_reported",
        "_streak",
    )

    def __init__(self, *, confirmations: int = 2) -> None:
        if confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, was {confirmations!r}")
        self._confirmations = confirmations
        self._account_id: str | None = None
        self._account_reported = False
        self._position_reported = False
        self._problem_reported = False
        self._streak = 0

    def check(
        self,
        *,
        account_id: str | None,
        ours: Mapping[str, float],
        venue: Sequence[VenuePosition],
        open_orders: int,
        account_problem: str | None = None,
    ) -> str | None:
        """Compare one reading of the venue with ours; return why to halt, or None.

        Args:
            account_id: the venue's account id now; None if the venue does not say.
            ours: our signed quantity per symbol (flat symbols may be left out or be 0).
            venue: the venue's positions now.
            open_orders: orders open, ours and the venue's together.
            account_problem: why the account may not trade now, or None.
        """
        if account_problem is None:
            self._problem_reported = False
        elif not self._problem_reported:
            self._problem_reported = True
            return f"reconcile: {account_problem}"
        if account_id is not None:
            if self._account_id is None:
                self._account_id = account_id
            elif account_id != self._account_id and not self._account_reported:
                self._account_reported = True
                return (
                    f"reconcile: the venue's account changed under the run: was {self._account_id}, "
                    f"now {account_id}"
                )
        if open_orders:
            self._streak = 0
            return None
        mismatches = _position_differences(ours, venue)
        if not mismatches:
            self._streak = 0
            self._position_reported = False
            return None
        self._streak += 1
        if self._streak < self._confirmations or self._position_reported:
            return None
        self._position_reported = True
        return "reconcile: positions differ from the venue's: " + "; ".join(
            f"{symbol} ours {quantity:g} venue {venue_quantity:g}"
            for symbol, quantity, venue_quantity in mismatches
        )


def _position_differences(
    ours: Mapping[str, float], venue: Sequence[VenuePosition]
) -> list[tuple[str, float, float]]:
    mine: dict[str, tuple[str, float]] = {}
    for symbol, quantity in ours.items():
        name, total = mine.get(_symbol_key(symbol), (symbol, 0.0))
        mine[_symbol_key(symbol)] = (name, total + quantity)
    theirs: dict[str, tuple[str, float]] = {}
    for position in venue:
        name, total = theirs.get(_symbol_key(position.symbol), (position.symbol, 0.0))
        theirs[_symbol_key(position.symbol)] = (name, total + position.quantity)
    out = []
    for key in sorted(mine.keys() | theirs.keys()):
        name, quantity = mine.get(key, (theirs[key][0] if key in theirs else key, 0.0))
        venue_quantity = theirs[key][1] if key in theirs else 0.0
        if not _same(quantity, venue_quantity):
            out.append((name, quantity, venue_quantity))
    return out

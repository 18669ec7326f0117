from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeAlias, final

import attrs
import trio

from ..messages import Message, OrderSubmitted, OrderType, Side, TimeInForce

#: Where a venue delivers what arrived together (one frame, one tick): publishes one batch.
Emit: TypeAlias = Callable[[Sequence[Message]], Awaitable[None]]


@final
@attrs.frozen(kw_only=True)
class VenueOrder:
    """An order as the venue knows it (a REST reply or a reconciliation read)."""

    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float | None
    """Shares or coins ordered; None for a notional order (sized in dollars by the venue)."""
    filled_quantity: float
    filled_avg_price: float | None
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None
    stop_price: float | None
    status: str
    """Alpaca's status spelling: ``new``, ``partially_filled``, ``filled``, ``canceled`` …"""
    notional: float | None = None
    """The dollar amount of a notional order; None for an order of a quantity."""
    replaced_by: str | None = None
    """For a ``replaced`` order: the venue id of the order that replaced it."""
    replaces: str | None = None
    """For a replacement: the venue id of the order it replaced."""

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill: any status but a final one (an unknown one is open)."""
        return self.status not in CLOSED_STATUSES


#: Alpaca's final statuses (``/work/shared/alpaca-protocol.md`` section 2.5): nothing more happens.
CLOSED_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
#: Every other status Alpaca documents: the order is still working, or may work again. In
#: particular ``done_for_day`` (no more fills today; a GTC order works again tomorrow), ``held``
#: (a bracket leg waiting for its parent), ``stopped``, ``suspended``, ``calculated`` (done for the
#: day, settlement pending), ``pending_review`` and ``accepted_for_bidding`` are open, not ended.
OPEN_STATUSES: frozenset[str] = frozenset(
    {
        "new",
        "partially_filled",
        "done_for_day",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "pending_review",
        "held",
        "calculated",
        "stopped",
        "suspended",
    }
)


@final
@attrs.frozen(kw_only=True)
class VenuePosition:
    """A position at the venue: signed quantity (negative = short) and average entry price."""

    symbol: str
    quantity: float
    avg_entry_price: float


@final
@attrs.frozen(kw_only=True)
class AccountSnapshot:
    """The venue's view of the account: money, and whether it may trade at all."""

    cash: float
    buying_power: float
    equity: float
    account_id: str | None = None
    """The venue's id of the account, when it says."""
    account_number: str | None = None
    """The account number people see (Alpaca's ``PA…``), when the venue says."""
    status: str = "ACTIVE"
    """Alpaca's account status: ``ACTIVE`` normally (``ONBOARDING``, ``ACCOUNT_CLOSED`` …)."""
    trading_blocked: bool = False
    """The venue blocks trading on the account."""
    account_blocked: bool = False
    """The venue blocks the whole account."""
    trade_suspended_by_user: bool = False
    """The account's owner suspended trading (an account setting)."""

    def halt_reason(self) -> str | None:
        """Return why this account may not trade (a status other than ``ACTIVE``, a block), or None."""
        problems = [f"status {self.status}"] if self.status != "ACTIVE" else []
        problems += [
            name
            for name, on in (
                ("trading_blocked", self.trading_blocked),
                ("account_blocked", self.account_blocked),
                ("trade_suspended_by_user", self.trade_suspended_by_user),
            )
            if on
        ]
        if not problems:
            return None
        name = self.account_number or self.account_id
        account = f"venue account {name}" if name else "the venue account"
        return f"{account} may not trade ({', '.join(problems)})"


class MarketDataFeed(Protocol):
    """A source of ``market.*`` messages for a set of symbols."""

    async def run(
        self,
        symbols: Sequence[str],
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream market data for ``symbols`` into ``emit`` until cancelled.

        Calls ``task_status.started()`` once subscribed. Each call of ``emit`` carries what
        arrived together; ``emit`` may block (backpressure). Reconnects are the feed's job.
        """
        ...


class Broker(Protocol):
    """Order entry and order updates.

    Raises (from every method): :class:`pyrt.errors.VenueRejected` for a refused request
    (never retried), :class:`pyrt.errors.RateLimited`, :class:`pyrt.errors.VenueUnavailable`
    and :class:`pyrt.errors.TransportError` for failures the caller may retry.
    """

    async def submit_order(self, order: OrderSubmitted) -> VenueOrder:
        """Send one order under its ``client_order_id``; return the venue's acknowledgement."""
        ...

    async def cancel_order(self, venue_order_id: str) -> None:
        """Ask the venue to cancel an order; the outcome arrives as an update."""
        ...

    async def get_order_by_client_id(self, client_order_id: str) -> VenueOrder | None:
        """Look an order up by its client order id; ``None`` if the venue never saw it."""
        ...

    async def list_open_orders(self) -> list[VenueOrder]:
        """Return the orders still working at the venue."""
        ...

    async def list_positions(self) -> list[VenuePosition]:
        """Return the venue's positions."""
        ...

    async def get_account(self) -> AccountSnapshot:
        """Return cash, buying power, equity and the account's standing (status, blocks)."""
        ...

    async def run_updates(
        self,
        emit: Emit,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream order updates as ``order.accepted|filled|canceled|rejected`` messages.

        Calls ``task_status.started()`` once listening; runs until cancelled.
        """
        ...

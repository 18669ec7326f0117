"""The execution policy as plain logic: what to send, when to retry, what to call stale.

:class:`ExecutionEngine` has no trio and no I/O. Every input — an approval, a venue reply, a
lookup answer, a timer, an order update, a trading-state change — returns a list of *actions*
for the caller to perform and report back:

- :class:`Publish`: put these messages on the bus (``order.*``, ``control.command``);
- :class:`Submit`: send this order; report with :meth:`ExecutionEngine.on_submit_result`;
- :class:`Lookup`: ask the venue for the order by ``client_order_id``; report with
  :meth:`ExecutionEngine.on_lookup_result`;
- :class:`Wait`: call :meth:`ExecutionEngine.on_wake` after this many seconds;
- :class:`Cancel`: ask the venue to cancel this order (the outcome arrives as an update).

The execution actor performs them concurrently on trio; a simulation or a backtest can drive the
same engine synchronously. The policy (issue 8):

- **Bounded concurrency.** At most ``max_in_flight`` orders are between their first submit and
  their outcome; further approvals wait, in approval order, in the engine's queue.
- **Staleness.** An approval must reach the venue within ``max_order_age_secs`` of risk's
  approval (``RiskApproved.ts_event``). One still queued at its deadline, or whose next retry
  would go out after it, becomes ``order.rejected`` with a reason starting ``stale``.
- **Retries.** ``RateLimited`` (429) waits its ``retry_after``; ``VenueUnavailable`` (5xx) and
  ``TransportError`` back off ``backoff_base · 2ⁿ`` s (1, 2, 4 …), up to ``max_retries`` retries,
  then give up (``order.rejected``, ``gave up after N attempts: …``). ``VenueRejected`` (other
  4xx) is never retried.
- **Lookup before resubmit.** After an *ambiguous* failure (5xx or transport: the venue may
  have the order) the order is looked up by ``client_order_id`` before any resend, and before
  any rejection (give-up or stale): pyrt never calls rejected an order that is live at the venue.
  A lookup that fails is itself retried with backoff (capped at :data:`MAX_LOOKUP_BACKOFF`)
  until the venue answers; the order stays ``submitted`` meanwhile. A 422 after an earlier
  attempt (``client_order_id must be unique``) is looked up too.
- **Duplicate-accept suppression.** An ``order.accepted`` for an order whose venue id is known
  is not published again (the REST reply and the stream both report it); duplicate fills are
  the tracker's to drop. An update that shows the order at the venue ends any retry under way.
- **Alarms.** A fill whose execution id was seen with other content (a venue that reused its
  ids) publishes a ``control.command`` halt (source ``execution``) for a person to look at.
- **Slippage guard.** Before the first submit, a limit (or stop-limit) order priced more than
  ``max_slippage_bps`` from the mid, or a market order whose signal's reference price is that far
  from it, is rejected. The mid is the last *usable* quote's (two-sided, not crossed); without
  one the guard passes the order (risk's price collar and quote-age checks still apply).
- **Halt with cancel.** Open orders with a venue id are cancelled at once (never queued behind
  submits); queued approvals are rejected, and an order still retrying stops: it is looked up
  (cancelled if found) when its last attempt was ambiguous, else rejected.
"""

from __future__ import annotations

import collections
import enum
import logging
import math
from collections.abc import Sequence
from typing import Final, TypeAlias, final

import attrs

from ..errors import RateLimited, TransportError, VenueError, VenueRejected, VenueUnavailable
from ..messages import (
    ControlCommand,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    TradingStateChanged,
)
from ..runtime.clock import NS_PER_SECOND
from ..venues import VenueOrder
from .orders import OrderAnomaly, OrderTracker

__all__ = [
    "STALE",
    "Action",
    "Cancel",
    "ExecutionEngine",
    "ExecutionStatistics",
    "Lookup",
    "Publish",
    "Submit",
    "Wait",
]

logger = logging.getLogger(__name__)

STALE: Final = "stale"
"""The first word of the reason of an approval rejected for age."""
MAX_LOOKUP_BACKOFF: Final = 30.0
"""Longest pause between two lookups of an order whose outcome the venue has not told yet."""
_CONTRADICTION_SOURCE: Final = "execution"


@final
@attrs.frozen(kw_only=True)
class Publish:
    """Publish ``messages`` on the bus, as one batch."""

    messages: tuple[Message, ...]


@final
@attrs.frozen(kw_only=True)
class Submit:
    """Send ``order`` to the venue; report the reply (or the error) with ``on_submit_result``."""

    order: OrderSubmitted


@final
@attrs.frozen(kw_only=True)
class Lookup:
    """Ask the venue for the order; report with ``on_lookup_result``."""

    client_order_id: str


@final
@attrs.frozen(kw_only=True)
class Wait:
    """Call ``on_wake(client_order_id, token, …)`` after ``seconds`` on the run's clock."""

    client_order_id: str
    seconds: float
    token: int
    """Names this timer: a wake for an older one is ignored."""


@final
@attrs.frozen(kw_only=True)
class Cancel:
    """Ask the venue to cancel the order ``venue_order_id`` (outcome arrives as an update)."""

    client_order_id: str
    venue_order_id: str


Action: TypeAlias = Publish | Submit | Lookup | Wait | Cancel


@final
@attrs.frozen(kw_only=True)
class ExecutionStatistics:
    """A snapshot of an :class:`ExecutionEngine`'s counters."""

    queued: int
    """Approvals waiting for a free slot."""
    in_flight: int
    """Orders between their first submit and their outcome."""
    peak_in_flight: int
    """The largest ``in_flight`` seen."""
    submits: int
    """Submit actions returned (each retry counts)."""
    retries: int
    """Submits after the first one of an order."""
    lookups: int
    """Lookup actions returned."""
    stale: int
    """Approvals rejected as stale."""
    gave_up: int
    """Orders rejected after their retries ran out."""
    slippage_rejections: int
    """Orders the slippage guard rejected."""
    duplicate_accepts: int
    """``order.accepted`` updates not published again."""
    anomalies: int
    """Updates the order tracker refused."""
    alarms: int
    """Anomalies that halted trading (a contradicting execution id)."""


class _Next(enum.Enum):
    # what a "not at the venue" lookup answer leads to
    SUBMIT = "submit"
    GIVE_UP = "give_up"
    STALE = "stale"
    REFUSED = "refused"  # a 422 that was not a duplicate after all
    ABANDON = "abandon"  # a halt with cancel stopped the order


@attrs.define(eq=False)
class _Attempt:
    order: OrderSubmitted
    deadline_ns: int
    submits: int = 0
    ambiguous: bool = False  # some attempt may have reached the venue
    last_error: VenueError | None = None
    lookup_failures: int = 0
    after_lookup: _Next = _Next.SUBMIT
    refusal: tuple[str, int | None] = ("", None)
    abandoned: bool = False
    busy: bool = False  # a submit or lookup is outstanding
    at_venue: bool = False  # an update showed the order at the venue while a request was out
    timer: int = 0


@final
class ExecutionEngine:
    """Turns approvals into orders and venue replies into outcomes (see the module docstring).

    Args:
        tracker: the order state machine (kept by the caller across restarts).
        max_retries: retries of a retryable submit error before giving up.
        max_slippage_bps: the slippage guard's limit, in basis points of the mid.
        max_order_age_secs: how long after risk's approval an order may still be sent.
        max_in_flight: orders submitted concurrently at most.
        backoff_base: first backoff of a 5xx or transport error, in seconds (doubles per retry).

    Raises:
        ValueError: a negative retry count, a non-positive age or in-flight limit.
    """

    def __init__(
        self,
        tracker: OrderTracker,
        *,
        max_retries: int = 3,
        max_slippage_bps: float = 50.0,
        max_order_age_secs: float = 5.0,
        max_in_flight: int = 8,
        backoff_base: float = 1.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, was {max_retries!r}")
        if not (max_order_age_secs > 0 and math.isfinite(max_order_age_secs)):
            raise ValueError(f"max_order_age_secs must be a finite number > 0, was {max_order_age_secs!r}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, was {max_in_flight!r}")
        if not (backoff_base >= 0 and math.isfinite(backoff_base)):
            raise ValueError(f"backoff_base must be a finite number >= 0, was {backoff_base!r}")
        self.tracker = tracker
        self.max_retries = max_retries
        self.max_slippage_bps = max_slippage_bps
        self.max_age_ns = round(max_order_age_secs * NS_PER_SECOND)
        self.max_in_flight = max_in_flight
        self.backoff_base = backoff_base
        self._mids: dict[str, float] = {}
        self._queue: collections.deque[tuple[RiskApproved, int]] = collections.deque()
        self._in_flight: dict[str, _Attempt] = {}
        self._peak = 0
        self._submits = 0
        self._retries = 0
        self._lookups = 0
        self._stale = 0
        self._gave_up = 0
        self._slippage = 0
        self._duplicate_accepts = 0
        self._anomalies = 0
        self._alarms = 0

    # ------------------------------------------------------------------ market data

    def on_quote(self, quote: QuoteReceived) -> None:
        """Remember the quote's mid for the slippage guard; an unusable quote changes nothing."""
        mid = quote.mid
        if mid is not None:
            self._mids[quote.symbol] = mid

    def mid(self, symbol: str) -> float | None:
        """Return the last usable mid of ``symbol``, or ``None``."""
        return self._mids.get(symbol)

    # ------------------------------------------------------------------ approvals

    def on_approved(self, approval: RiskApproved, now_ns: int) -> list[Action]:
        """Take an approval: send it now, queue it, or reject it (stale, slippage, duplicate)."""
        if self.tracker.on_approved(approval) is not None:
            return []  # an approval seen before: the first one is being handled (logged by the tracker)
        self._queue.append((approval, approval.ts_event + self.max_age_ns))
        return self._start_queued(now_ns)

    def next_deadline_ns(self) -> int | None:
        """Return when the oldest queued approval goes stale, or ``None`` if none is queued."""
        return min((deadline for _, deadline in self._queue), default=None)

    def expire(self, now_ns: int) -> list[Action]:
        """Reject the queued approvals whose deadline has passed (call at ``next_deadline_ns``)."""
        actions: list[Action] = []
        kept: collections.deque[tuple[RiskApproved, int]] = collections.deque()
        for approval, deadline in self._queue:
            if now_ns > deadline:
                actions.extend(
                    self._reject(
                        self._order(approval, now_ns), self._stale_reason(approval, now_ns), None, now_ns
                    )
                )
                self._stale += 1
            else:
                kept.append((approval, deadline))
        self._queue = kept
        return actions

    def _start_queued(self, now_ns: int) -> list[Action]:
        actions: list[Action] = []
        while self._queue and len(self._in_flight) < self.max_in_flight:
            approval, deadline = self._queue.popleft()
            order = self._order(approval, now_ns)
            if now_ns > deadline:
                self._stale += 1
                actions.extend(self._reject(order, self._stale_reason(approval, now_ns), None, now_ns))
                continue
            breach = self._slippage_breach(order, approval.signal.reference_price)
            if breach is not None:
                self._slippage += 1
                logger.warning("slippage guard rejected %s: %s", order.client_order_id, breach)
                actions.extend(self._reject(order, f"slippage guard: {breach}", None, now_ns))
                continue
            self.tracker.on_submitted(order)
            attempt = _Attempt(order=order, deadline_ns=deadline)
            self._in_flight[order.client_order_id] = attempt
            self._peak = max(self._peak, len(self._in_flight))
            actions.append(Publish(messages=(order,)))
            actions.append(self._submit(attempt))
        return actions

    def _stale_reason(self, approval: RiskApproved, now_ns: int) -> str:
        age = (now_ns - approval.ts_event) / NS_PER_SECOND
        return (
            f"{STALE}: approved {age:.1f} s ago, not sent within max_order_age_secs "
            f"{self.max_age_ns / NS_PER_SECOND:g}"
        )

    @staticmethod
    def _order(approval: RiskApproved, now_ns: int) -> OrderSubmitted:
        return OrderSubmitted.of(
            approval.signal, client_order_id=approval.client_order_id, ts_event=now_ns, ts_init=now_ns
        )

    def _slippage_breach(self, order: OrderSubmitted, reference: float | None) -> str | None:
        mid = self._mids.get(order.symbol)
        if mid is None:
            return None
        limit = self.max_slippage_bps
        has_limit = order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        price = order.limit_price if has_limit else reference
        if price is None:
            return None
        bps = abs(price - mid) / mid * 10_000
        if bps > limit:
            what = "limit price" if has_limit else "reference price"
            return f"{what} {price} is {bps:.1f} bps from the mid {mid}, over max_slippage_bps {limit}"
        return None

    # ------------------------------------------------------------------ venue replies

    def _submit(self, attempt: _Attempt) -> Submit:
        attempt.submits += 1
        attempt.busy = True
        self._submits += 1
        if attempt.submits > 1:
            self._retries += 1
        return Submit(order=attempt.order)

    @staticmethod
    def _wait(attempt: _Attempt, seconds: float) -> Wait:
        attempt.timer += 1
        return Wait(client_order_id=attempt.order.client_order_id, seconds=seconds, token=attempt.timer)

    def _lookup(self, attempt: _Attempt, then: _Next) -> Lookup:
        attempt.after_lookup = then
        attempt.busy = True
        self._lookups += 1
        return Lookup(client_order_id=attempt.order.client_order_id)

    def _settle(
        self, client_order_id: str, result: VenueOrder | VenueError | None, now_ns: int
    ) -> _Attempt | list[Action]:
        # What a submit's and a lookup's answer have in common: the request is over, and an order
        # the venue has (it said so, or an update did) ends the attempt. Returns the attempt
        # when the answer is the caller's to handle (an error, or "not there")
        attempt = self._in_flight.get(client_order_id)
        if attempt is None:
            return []
        attempt.busy = False
        if attempt.at_venue:
            return self._drop(attempt, now_ns)
        if isinstance(result, VenueOrder):
            return self._accept(attempt, result, now_ns)  # _accept logs it and ends the attempt
        return attempt

    def on_submit_result(
        self, client_order_id: str, result: VenueOrder | VenueError, now_ns: int
    ) -> list[Action]:
        """Report the outcome of a :class:`Submit`: the venue's order, or the error it raised."""
        attempt = self._settle(client_order_id, result, now_ns)
        if not isinstance(attempt, _Attempt):
            return attempt
        assert not isinstance(result, VenueOrder)  # _settle accepted it
        if isinstance(result, VenueRejected):
            refusal = (str(result), result.status_code)
            if result.status_code == 422 and attempt.submits > 1:
                # "client_order_id must be unique": an earlier attempt may have got through
                attempt.refusal = refusal
                return [self._lookup(attempt, _Next.REFUSED)]
            logger.warning("venue rejected %s: %s", client_order_id, result)
            return self._finish_rejected(attempt, *refusal, now_ns)
        attempt.last_error = result
        if isinstance(result, TransportError | VenueUnavailable):
            attempt.ambiguous = True
        return self._after_failure(attempt, now_ns)

    def _after_failure(self, attempt: _Attempt, now_ns: int) -> list[Action]:
        last = attempt.last_error
        cid = attempt.order.client_order_id
        if attempt.abandoned:
            return self._abandon(attempt, now_ns)
        if attempt.submits > self.max_retries:
            logger.error("gave up on %s after %d attempts: %s", cid, attempt.submits, last)
            if attempt.ambiguous:
                return [self._lookup(attempt, _Next.GIVE_UP)]
            return self._give_up(attempt, now_ns)
        delay = (
            last.retry_after
            if isinstance(last, RateLimited)
            else self.backoff_base * 2 ** (attempt.submits - 1)
        )
        if now_ns + round(delay * NS_PER_SECOND) > attempt.deadline_ns:
            logger.warning("%s would be retried after its deadline: stale (after: %s)", cid, last)
            if attempt.ambiguous:
                return [self._lookup(attempt, _Next.STALE)]
            return self._finish_stale(attempt, now_ns)
        logger.warning(
            "retrying %s in %.1f s (attempt %d of %d) after: %s",
            cid,
            delay,
            attempt.submits + 1,
            self.max_retries + 1,
            last,
        )
        return [self._wait(attempt, delay)]

    def on_wake(self, client_order_id: str, token: int, now_ns: int) -> list[Action]:
        """Report that the :class:`Wait` named ``token`` ended."""
        attempt = self._in_flight.get(client_order_id)
        if attempt is None or attempt.busy or token != attempt.timer:
            return []
        if attempt.abandoned:
            return self._abandon(attempt, now_ns)
        if attempt.lookup_failures:
            return [self._lookup(attempt, attempt.after_lookup)]  # ask again what the venue has
        if now_ns > attempt.deadline_ns:
            if attempt.ambiguous:
                return [self._lookup(attempt, _Next.STALE)]
            return self._finish_stale(attempt, now_ns)
        if attempt.ambiguous:
            return [self._lookup(attempt, _Next.SUBMIT)]  # never send one intent twice
        return [self._submit(attempt)]

    def on_lookup_result(
        self, client_order_id: str, result: VenueOrder | VenueError | None, now_ns: int
    ) -> list[Action]:
        """Report a :class:`Lookup`: the order, ``None`` (the venue never saw it), or the error."""
        attempt = self._settle(client_order_id, result, now_ns)
        if not isinstance(attempt, _Attempt):
            return attempt
        assert not isinstance(result, VenueOrder)  # _settle accepted it
        if isinstance(result, VenueError):
            # not knowing is not "absent": ask again, the order stays submitted meanwhile
            attempt.lookup_failures += 1
            delay = min(MAX_LOOKUP_BACKOFF, self.backoff_base * 2 ** (attempt.lookup_failures - 1))
            if isinstance(result, RateLimited):
                delay = max(delay, result.retry_after)
            logger.warning("lookup of %s failed (%s); asking again in %.1f s", client_order_id, result, delay)
            return [self._wait(attempt, delay)]
        attempt.lookup_failures = 0
        then = attempt.after_lookup
        if then is _Next.REFUSED:
            logger.warning("venue rejected %s: %s", client_order_id, attempt.refusal[0])
            return self._finish_rejected(attempt, *attempt.refusal, now_ns)
        if then is _Next.ABANDON or attempt.abandoned:
            return self._abandon(attempt, now_ns, looked_up=True)
        if then is _Next.GIVE_UP:
            return self._give_up(attempt, now_ns)
        if then is _Next.STALE or now_ns > attempt.deadline_ns:
            return self._finish_stale(attempt, now_ns)
        attempt.ambiguous = False  # the venue does not have it: a resend cannot duplicate it
        return [self._submit(attempt)]

    # ------------------------------------------------------------------ outcomes

    def _accept(self, attempt: _Attempt, venue_order: VenueOrder, now_ns: int) -> list[Action]:
        order = attempt.order
        del self._in_flight[order.client_order_id]
        accepted = OrderAccepted(
            client_order_id=order.client_order_id,
            venue_order_id=venue_order.venue_order_id,
            symbol=order.symbol,
            ts_event=now_ns,
            ts_init=now_ns,
        )
        actions: list[Action] = []
        fresh = self._apply_updates([accepted])
        actions.extend(fresh)
        if fresh:
            logger.info("order %s accepted as %s", order.client_order_id, venue_order.venue_order_id)
        if attempt.abandoned and venue_order.is_open:
            actions.append(
                Cancel(client_order_id=order.client_order_id, venue_order_id=venue_order.venue_order_id)
            )
        actions.extend(self._start_queued(now_ns))
        return actions

    def _give_up(self, attempt: _Attempt, now_ns: int) -> list[Action]:
        self._gave_up += 1
        last = attempt.last_error
        status = (
            last.status_code
            if isinstance(last, VenueUnavailable)
            else (429 if isinstance(last, RateLimited) else None)
        )
        return self._finish_rejected(
            attempt, f"gave up after {attempt.submits} attempts: {last}", status, now_ns
        )

    def _finish_stale(self, attempt: _Attempt, now_ns: int) -> list[Action]:
        self._stale += 1
        age = (now_ns - (attempt.deadline_ns - self.max_age_ns)) / NS_PER_SECOND
        reason = (
            f"{STALE}: not sent within max_order_age_secs {self.max_age_ns / NS_PER_SECOND:g} "
            f"({attempt.submits} attempt(s) in {age:.1f} s, last: {attempt.last_error})"
        )
        return self._finish_rejected(attempt, reason, None, now_ns)

    def _drop(self, attempt: _Attempt, now_ns: int) -> list[Action]:
        # the order is at the venue (an update said so): its updates tell the rest
        del self._in_flight[attempt.order.client_order_id]
        return self._start_queued(now_ns)

    def _abandon(self, attempt: _Attempt, now_ns: int, *, looked_up: bool = False) -> list[Action]:
        if attempt.ambiguous and not looked_up:
            return [self._lookup(attempt, _Next.ABANDON)]
        return self._finish_rejected(
            attempt, "halted: open orders cancelled before this one was sent", None, now_ns
        )

    def _finish_rejected(
        self, attempt: _Attempt, reason: str, status: int | None, now_ns: int
    ) -> list[Action]:
        del self._in_flight[attempt.order.client_order_id]
        actions = self._reject(attempt.order, reason, status, now_ns)
        actions.extend(self._start_queued(now_ns))
        return actions

    def _reject(self, order: OrderSubmitted, reason: str, status: int | None, now_ns: int) -> list[Action]:
        if reason.startswith(STALE):
            logger.warning("order %s rejected: %s", order.client_order_id, reason)
        rejected = OrderRejected(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            reason=reason,
            status_code=status,
            ts_event=now_ns,
            ts_init=now_ns,
        )
        return self._apply_updates([rejected])

    # ------------------------------------------------------------------ updates and state

    def on_updates(self, updates: Sequence[Message], now_ns: int) -> list[Action]:
        """Apply order updates from the venue; return what to publish (and what may start now).

        Duplicates and refused updates are dropped (counted); an update that shows an order at
        the venue ends its retries; a contradicting execution id adds a halt command.
        """
        before = len(self._in_flight)
        actions = self._apply_updates(updates)
        if len(self._in_flight) < before:
            actions.extend(self._start_queued(now_ns))
        return actions

    def _apply_updates(self, updates: Sequence[Message]) -> list[Action]:
        fresh: list[Message] = []
        for msg in updates:
            if not isinstance(
                msg, OrderSubmitted | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected
            ):
                fresh.append(msg)
                continue
            if isinstance(msg, OrderAccepted):
                view = self.tracker.get(msg.client_order_id)
                if view is not None and view.venue_order_id is not None:
                    self.tracker.on_message(msg)  # may still report a mismatch
                    self._duplicate_accepts += 1
                    continue
            anomaly = self.tracker.on_message(msg)
            if anomaly is not None:
                self._anomalies += 1
                if anomaly.kind.is_alarm:
                    fresh.append(self._halt(anomaly, msg.ts_init))
                continue
            fresh.append(msg)
            if isinstance(msg, OrderAccepted | OrderFilled | OrderCanceled | OrderRejected):
                self._seen_at_venue(msg.client_order_id)
        return [Publish(messages=tuple(fresh))] if fresh else []

    def _seen_at_venue(self, client_order_id: str) -> None:
        # the stream told us the venue has the order: stop retrying (a reply still coming is ignored)
        attempt = self._in_flight.get(client_order_id)
        if attempt is None:
            return
        if attempt.busy:
            attempt.at_venue = True
        else:
            del self._in_flight[client_order_id]

    def _halt(self, anomaly: OrderAnomaly, now_ns: int) -> ControlCommand:
        self._alarms += 1
        logger.error("halting trading: %s (%s)", anomaly.detail, anomaly.kind)
        return ControlCommand(
            command="halt",
            reason=f"{anomaly.kind}: {anomaly.detail}",
            source=_CONTRADICTION_SOURCE,
            ts_event=now_ns,
            ts_init=now_ns,
        )

    def on_trading_state(self, change: TradingStateChanged, now_ns: int) -> list[Action]:
        """A halt with ``cancel_open_orders``: cancel at the venue, reject what is not there yet."""
        if not change.cancel_open_orders:
            return []
        actions: list[Action] = []
        orders = self.tracker.open_orders()
        logger.error("cancelling %d open order(s): %s", len(orders), change.reason)
        for view in orders:
            if view.venue_order_id is not None:
                actions.append(
                    Cancel(client_order_id=view.client_order_id, venue_order_id=view.venue_order_id)
                )
        queued, self._queue = self._queue, collections.deque()
        for approval, _ in queued:
            actions.extend(
                self._reject(
                    self._order(approval, now_ns), f"halted before it was sent: {change.reason}", None, now_ns
                )
            )
        for attempt in list(self._in_flight.values()):
            attempt.abandoned = True
            if not attempt.busy and not attempt.lookup_failures:
                actions.extend(self._abandon(attempt, now_ns))
        return actions

    def resume(self) -> list[Action]:
        """Start again after the caller lost its outstanding actions (an actor restart).

        Every order in flight may have reached the venue, so each is looked up before anything
        else happens to it.
        """
        actions: list[Action] = []
        for attempt in self._in_flight.values():
            attempt.ambiguous = True
            attempt.busy = False
            actions.append(
                self._lookup(attempt, attempt.after_lookup if attempt.lookup_failures else _Next.SUBMIT)
            )
        return actions

    def statistics(self) -> ExecutionStatistics:
        """Return a snapshot of the engine's counters."""
        return ExecutionStatistics(
            queued=len(self._queue),
            in_flight=len(self._in_flight),
            peak_in_flight=self._peak,
            submits=self._submits,
            retries=self._retries,
            lookups=self._lookups,
            stale=self._stale,
            gave_up=self._gave_up,
            slippage_rejections=self._slippage,
            duplicate_accepts=self._duplicate_accepts,
            anomalies=self._anomalies,
            alarms=self._alarms,
        )

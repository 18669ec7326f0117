"""The market-data screen: what a venue sends is checked before anything trusts it.

:class:`MarketDataScreen` is the plain (synchronous) logic the market-data actor runs on every
batch a feed delivers, whatever the venue: it refuses items no venue should send and flags the
odd-but-real ones. The policy is ``specs/marketdata.md`` (rules M4–M10, M12), each rule with
its test; in short:

- **Refused** (not published, counted by reason in :meth:`MarketDataScreen.statistics`):
  a symbol not subscribed; an event time outside ``[now - max_age, now + max_ahead]`` of the
  run's clock; a price above ``max_price`` or a size above ``max_size``; a trade id seen again
  with the same event time (per symbol, the last ``duplicate_window`` trades); a trade or quote
  more than ``max_jump`` times away from the symbol's reference price.
- **Kept and flagged** (published, counted in ``flagged``): crossed quotes, one-sided quotes
  (a price of 0 on a side), and a reference price that moved because ``reanchor_after``
  consecutive items agreed on a new level (a real jump must not lock a symbol out for good).

Each reason is logged at WARNING the first time, then at most once per ``log_interval`` (run
clock) with a tally; the counters are exact.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Final, final

import attrs

from ..messages import BarReceived, BookReceived, Message, QuoteReceived, TradeReceived
from ..runtime.clock import NS_PER_SECOND as NS

__all__ = ["MarketDataScreen", "ScreenStatistics"]

logger = logging.getLogger(__name__)


#: Reasons an item is refused (keys of ``ScreenStatistics.refused``).
UNSUBSCRIBED_SYMBOL: Final = "unsubscribed_symbol"
FUTURE_TIMESTAMP: Final = "future_timestamp"
STALE_TIMESTAMP: Final = "stale_timestamp"
PRICE_OUT_OF_BOUNDS: Final = "price_out_of_bounds"
SIZE_OUT_OF_BOUNDS: Final = "size_out_of_bounds"
PRICE_JUMP: Final = "price_jump"
DUPLICATE_TRADE: Final = "duplicate_trade"
#: What is kept but flagged (keys of ``ScreenStatistics.flagged``).
CROSSED_QUOTE: Final = "crossed_quote"
ONE_SIDED_QUOTE: Final = "one_sided_quote"
REANCHORED: Final = "reanchored"


@final
@attrs.frozen(kw_only=True)
class ScreenStatistics:
    """A snapshot of a :class:`MarketDataScreen`'s counters."""

    accepted: int
    """Items passed on (flagged ones included)."""
    refused: dict[str, int]
    """Items refused, by reason: ``unsubscribed_symbol``, ``future_timestamp``,
    ``stale_timestamp``, ``price_out_of_bounds``, ``size_out_of_bounds``, ``price_jump``,
    ``duplicate_trade``."""
    flagged: dict[str, int]
    """Items kept but odd, by kind: ``crossed_quote``, ``one_sided_quote``; and ``reanchored``:
    times a symbol's reference price moved to a level that many consecutive items agreed on."""


@final
class _Symbol:
    """What the screen remembers per subscribed symbol."""

    __slots__ = ("candidate", "order", "reference", "seen", "streak")

    def __init__(self) -> None:
        self.reference = 0.0  # last accepted trade price or usable mid; 0: none yet
        self.candidate = 0.0  # the level out-of-band items agree on
        self.streak = 0
        self.seen: set[tuple[int, int]] = set()  # (trade_id, ts_event) of the last trades …
        self.order: deque[tuple[int, int]] = deque()  # … oldest first


@final
class MarketDataScreen:
    """Refuse or flag market data by the rules of ``specs/marketdata.md``.

    Args:
        symbols: the subscribed symbols; anything else is refused.
        max_age_secs: oldest plausible event time, seconds before the run's clock.
        max_ahead_secs: latest plausible event time, seconds after the run's clock.
        max_price: largest plausible price (every price is already finite and >= 0).
        max_size: largest plausible size (trade, quote side, book level, bar volume).
        max_jump: a trade or quote priced more than this factor away from the symbol's
            reference (the last accepted trade or usable mid) is refused; > 1.
        reanchor_after: consecutive out-of-band items within ``max_jump`` of each other that
            move the reference to their level (and let the last of them through).
        duplicate_window: trades per symbol whose ``(trade_id, ts_event)`` is remembered.
        log_interval: minimum seconds (run clock) between two warnings of one reason.

    Raises:
        ValueError: a bound that is not a finite number > 0, ``max_jump <= 1``, or counts < 1.
    """

    __slots__ = (
        "_accepted",
        "_flagged",
        "_jump",
        "_last_warned",
        "_log_interval_ns",
        "_max_age_ns",
        "_max_ahead_ns",
        "_max_price",
        "_max_size",
        "_reanchor_after",
        "_refused",
        "_states",
        "_suppressed",
        "_window",
    )

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        max_age_secs: float = 3600.0,
        max_ahead_secs: float = 60.0,
        max_price: float = 1e8,
        max_size: float = 1e12,
        max_jump: float = 5.0,
        reanchor_after: int = 20,
        duplicate_window: int = 4096,
        log_interval: float = 10.0,
    ) -> None:
        for name, value in (
            ("max_age_secs", max_age_secs),
            ("max_ahead_secs", max_ahead_secs),
            ("max_price", max_price),
            ("max_size", max_size),
            ("log_interval", log_interval),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number > 0, was {value!r}")
        if not (max_jump > 1.0 and math.isfinite(max_jump)):
            raise ValueError(f"max_jump must be a finite number > 1, was {max_jump!r}")
        if reanchor_after < 1 or duplicate_window < 1:
            raise ValueError(
                f"reanchor_after and duplicate_window must be >= 1, were {reanchor_after}, {duplicate_window}"
            )
        self._states = {symbol.upper(): _Symbol() for symbol in symbols}
        self._max_age_ns = round(max_age_secs * NS)
        self._max_ahead_ns = round(max_ahead_secs * NS)
        self._max_price = max_price
        self._max_size = max_size
        self._jump = max_jump
        self._reanchor_after = reanchor_after
        self._window = duplicate_window
        self._log_interval_ns = round(log_interval * NS)
        self._accepted = 0
        self._refused: dict[str, int] = {}
        self._flagged: dict[str, int] = {}
        self._last_warned: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MarketDataScreen(symbols={sorted(self._states)!r})"

    def screen(self, batch: Sequence[Message], now_ns: int) -> list[Message]:
        """Return the items of ``batch`` that pass, in order; count and log the rest.

        Args:
            batch: one feed batch (messages other than market data pass untouched).
            now_ns: the run's clock now.
        """
        out: list[Message] = []
        append = out.append
        states = self._states
        oldest = now_ns - self._max_age_ns
        latest = now_ns + self._max_ahead_ns
        max_price = self._max_price
        max_size = self._max_size
        jump = self._jump
        window = self._window
        msg: Any  # its class is checked below; Any spares the hot loop a cast per item
        for msg in batch:
            kind = type(msg)
            if kind is TradeReceived:
                # the common case inline (the ingest hot path); anything else takes _trade
                state = states.get(msg.symbol)
                if state is not None:
                    ts = msg.ts_event
                    price = msg.price
                    reference = state.reference
                    if (
                        oldest <= ts <= latest
                        and price <= max_price
                        and msg.size <= max_size
                        and reference
                        and price <= reference * jump
                        and price * jump >= reference
                    ):
                        trade_id = msg.trade_id
                        if not trade_id:
                            state.reference = price
                            state.streak = 0
                            append(msg)
                            continue
                        key = (trade_id, ts)
                        seen = state.seen
                        if key not in seen:
                            seen.add(key)
                            order = state.order
                            order.append(key)
                            if len(order) > window:
                                seen.discard(order.popleft())
                            state.reference = price
                            state.streak = 0
                            append(msg)
                            continue
                reason = self._trade(state, msg, oldest, latest)
            elif kind is QuoteReceived:
                state = states.get(msg.symbol)
                if state is not None:
                    ts = msg.ts_event
                    bid = msg.bid_price
                    ask = msg.ask_price
                    reference = state.reference
                    if (
                        0.0 < bid <= ask <= max_price
                        and oldest <= ts <= latest
                        and msg.bid_size <= max_size
                        and msg.ask_size <= max_size
                        and reference
                    ):
                        mid = (bid + ask) / 2.0
                        if mid <= reference * jump and mid * jump >= reference:
                            state.reference = mid
                            state.streak = 0
                            append(msg)
                            continue
                reason = self._quote(state, msg, oldest, latest)
            elif kind is BarReceived or kind is BookReceived:
                reason = self._other(states.get(msg.symbol), msg, oldest, latest)
            else:
                reason = None
            if reason is None:
                append(msg)
            else:
                self._refuse(reason, msg, now_ns)
        self._accepted += len(out)
        return out

    # -- rules ---------------------------------------------------------------------------------

    def _trade(self, state: _Symbol | None, trade: TradeReceived, oldest: int, latest: int) -> str | None:
        if state is None:
            return UNSUBSCRIBED_SYMBOL
        ts = trade.ts_event
        if ts > latest:
            return FUTURE_TIMESTAMP
        if ts < oldest:
            return STALE_TIMESTAMP
        price = trade.price
        if price > self._max_price:
            return PRICE_OUT_OF_BOUNDS
        if trade.size > self._max_size:
            return SIZE_OUT_OF_BOUNDS
        trade_id = trade.trade_id
        if trade_id:  # 0: the venue sent no id; nothing to deduplicate on
            key = (trade_id, ts)
            seen = state.seen
            if key in seen:
                return DUPLICATE_TRADE
            seen.add(key)  # before the band: copies of a refused trade are duplicates too
            order = state.order
            order.append(key)
            if len(order) > self._window:
                seen.discard(order.popleft())
        reference = state.reference
        jump = self._jump
        out_of_band = reference and (price > reference * jump or price * jump < reference)
        if out_of_band and not self._reanchor(state, trade.symbol, price):
            return PRICE_JUMP
        state.reference = price
        state.streak = 0
        return None

    def _quote(self, state: _Symbol | None, quote: QuoteReceived, oldest: int, latest: int) -> str | None:
        if state is None:
            return UNSUBSCRIBED_SYMBOL
        ts = quote.ts_event
        if ts > latest:
            return FUTURE_TIMESTAMP
        if ts < oldest:
            return STALE_TIMESTAMP
        bid = quote.bid_price
        ask = quote.ask_price
        if bid > self._max_price or ask > self._max_price:
            return PRICE_OUT_OF_BOUNDS
        if quote.bid_size > self._max_size or quote.ask_size > self._max_size:
            return SIZE_OUT_OF_BOUNDS
        level = (bid + ask) / 2.0 if bid and ask else bid or ask
        if not level:  # both sides empty: nothing to price
            self._flag(ONE_SIDED_QUOTE)
            return None
        reference = state.reference
        jump = self._jump
        usable = 0.0 < bid <= ask
        out_of_band = reference and (level > reference * jump or level * jump < reference)
        # only what could set the reference (trades, usable quotes) may move it: a run of far
        # one-sided quotes (a lone deep ask on IEX) must not drag the reference away
        if out_of_band and not (usable and self._reanchor(state, quote.symbol, level)):
            return PRICE_JUMP
        if usable:
            state.reference = level
            state.streak = 0
        elif bid and ask:
            self._flag(CROSSED_QUOTE)
        else:
            self._flag(ONE_SIDED_QUOTE)
        return None

    def _other(
        self, state: _Symbol | None, msg: BarReceived | BookReceived, oldest: int, latest: int
    ) -> str | None:
        if state is None:
            return UNSUBSCRIBED_SYMBOL
        ts = msg.ts_event
        if ts > latest:
            return FUTURE_TIMESTAMP
        if ts < oldest:
            return STALE_TIMESTAMP
        max_price = self._max_price
        max_size = self._max_size
        if isinstance(msg, BarReceived):
            if msg.high > max_price:
                return PRICE_OUT_OF_BOUNDS
            if msg.volume > max_size:
                return SIZE_OUT_OF_BOUNDS
            return None
        for levels in (msg.bids, msg.asks):
            for level in levels:
                if level.price > max_price:
                    return PRICE_OUT_OF_BOUNDS
                if level.size > max_size:
                    return SIZE_OUT_OF_BOUNDS
        return None

    def _reanchor(self, state: _Symbol, symbol: str, price: float) -> bool:
        """Count an out-of-band price; True when enough agree that the reference moves to it."""
        candidate = state.candidate
        jump = self._jump
        if candidate and candidate / jump <= price <= candidate * jump:
            state.streak += 1
        else:
            state.candidate = price
            state.streak = 1
        if state.streak < self._reanchor_after:
            return False
        logger.warning(
            "market data %s: reference price moved from %s to %s after %d consecutive items agreed",
            symbol,
            state.reference,
            price,
            state.streak,
        )
        self._flag(REANCHORED)
        state.candidate = 0.0
        state.streak = 0
        return True

    # -- counting and logging ------------------------------------------------------------------

    def _flag(self, kind: str) -> None:
        self._flagged[kind] = self._flagged.get(kind, 0) + 1

    def _refuse(self, reason: str, msg: Message, now_ns: int) -> None:
        total = self._refused[reason] = self._refused.get(reason, 0) + 1
        last = self._last_warned.get(reason)
        if last is not None and now_ns - last < self._log_interval_ns:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last_warned[reason] = now_ns
        logger.warning(
            "market data refused (%s; %d so far, %d more since the last warning): %.200r",
            reason,
            total,
            self._suppressed.pop(reason, 0),
            msg,
        )

    def statistics(self) -> ScreenStatistics:
        """Return a snapshot of the counters."""
        return ScreenStatistics(
            accepted=self._accepted, refused=dict(self._refused), flagged=dict(self._flagged)
        )

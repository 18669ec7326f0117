"""The :class:`Strategy` base class: callbacks in, signals out, plain synchronous code."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, Final, Self, TypeVar, TypeVarTuple, cast, final

import attrs

from ..marketdata.bars import parse_timeframe
from ..marketdata.book import BookManager, OrderBook
from ..messages import (
    BarReceived,
    BookReceived,
    OrderFilled,
    OrderType,
    QuoteReceived,
    Side,
    SignalGenerated,
    TimeInForce,
    TradeReceived,
)
from ._params import StrategyParams, structure_params

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["IntentOutcome", "Outcome", "Positions", "Strategy"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

QUANTITY_EPSILON: Final = 1e-9
"""Quantities closer to zero than this count as zero (float residue of fills)."""


class Outcome(enum.StrEnum):
    """How an intent (a signal and the order it became) ended."""

    FILLED = "filled"
    """Filled completely."""
    REJECTED = "rejected"
    """Refused by risk (``risk.rejected``) or by the venue or execution (``order.rejected``)."""
    CANCELED = "canceled"
    """Canceled, possibly after partial fills."""
    EXPIRED = "expired"
    """Ended by its time in force (a cancel whose reason is ``expired``)."""


@final
@attrs.frozen(kw_only=True)
class IntentOutcome:
    """The outcome of one of the strategy's intents, given to :meth:`Strategy.on_outcome`."""

    symbol: str
    """The instrument."""
    side: Side
    """Buy or sell."""
    quantity: float
    """What the signal asked for."""
    filled: float
    """What was filled in all (already in :attr:`Strategy.position`)."""
    outcome: Outcome
    """How it ended."""
    reason: str = ""
    """Risk's reason code and reason, or the venue's reason; empty for a fill."""
    client_order_id: str | None = None
    """The order's id; None when risk rejected the signal (no order was made)."""


class Positions(dict[str, float]):
    """Signed quantity per symbol; a symbol never seen reads as ``0.0`` (and is not added)."""

    def __missing__(self, key: str) -> float:
        return 0.0


class Strategy:
    """Base class of every strategy: override the ``on_*`` callbacks, call :meth:`buy`/:meth:`sell`.

    A strategy is plain synchronous code. The signal actor (live, simulation) or a backtest driver
    calls the ``handle_*`` methods, which keep the strategy's view of the world (positions, pending
    orders, order books, last prices, the clock) and then call the matching ``on_*`` callback; the
    driver collects what the strategy produced with :meth:`drain_signals`. Nothing a strategy does
    reaches a venue before the risk manager approves it.

    One intent at a time per symbol: a signal is an *intent* until its outcome is known (rejected
    by risk, rejected or canceled by the venue — an expiry is a cancel with a reason —, or filled
    completely; a partial fill leaves it working). While a symbol has an intent awaiting its
    outcome, :meth:`signal` (and so :meth:`buy`, :meth:`sell`, :meth:`target_position`) on that
    symbol is *withheld*: nothing is produced, it returns ``None`` and :attr:`withheld` counts it.
    The callbacks still run (indicators keep up); the strategy decides again on that symbol once
    it knows what it holds. Other symbols are not affected.

    A strategy that may hold a negative quantity declares it: :attr:`allow_short` (``False`` by
    default; :attr:`ALLOW_SHORT` for the class, or an ``allow_short`` parameter). The risk
    manager refuses a sell that would open or grow a short for a strategy that does not
    (``SHORT_NOT_ALLOWED``, R23 in ``specs/risk.md``).

    Parameters are typed: a strategy declares a nested ``Params`` class (a frozen attrs subclass of
    :class:`~pyrt.strategy.StrategyParams`, fields declared with :func:`~pyrt.strategy.param`) and
    takes an instance of it; :meth:`from_params` builds one from config, strictly.

    What a strategy can use:

    - ``self.params``: its validated parameters.
    - ``self.position[symbol]`` / ``self.pending[symbol]``: signed quantity held (only what was
      filled, never what was asked for) and signed quantity of its orders still working (signals
      sent, not yet filled or closed); a symbol never traded reads ``0.0``.
    - :meth:`awaiting`: whether an intent on the symbol is still waiting for its outcome.
    - ``self.now_ns``: the driver's clock, stamped on every signal.
    - :meth:`indicator`: one streaming indicator per symbol and key, created on first use.
    - :meth:`book`: the symbol's order book (L2 from ``market.book``, L1 from ``market.quote``).
    - :meth:`last_price`: the last trade, bar close or quote mid seen.
    - :meth:`signal`, :meth:`buy`, :meth:`sell`, :meth:`target_position`: produce signals.
    - :meth:`subscribe_bars`: which symbol × timeframe bars it wants (call it in ``__init__``);
      the signal actor delivers only those. ``params.timeframe`` is subscribed automatically,
      for the symbols :meth:`traded_symbols` returns.

    Args:
        params: the strategy's parameters; ``None`` takes the defaults.

    Raises:
        TypeError: ``params`` is not an instance of the class's ``Params``.

    Attributes:
        name: the strategy's name, on every signal it produces.
        params: the validated parameters.
        position: signed quantity held per symbol, from the fills it was told about.
        pending: signed quantity of orders sent and not yet filled, canceled or rejected.
        withheld: signals refused because their symbol had an intent awaiting its outcome.
        books: the order books, fed by :meth:`handle_quote` and :meth:`handle_book`.
    """

    NAME: ClassVar[str] = "strategy"
    ALLOW_SHORT: ClassVar[bool] = False
    """Whether the class may hold short positions (an ``allow_short`` parameter overrides it)."""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    params: StrategyParams

    def __init__(self, params: StrategyParams | None = None) -> None:
        if params is None:
            params = self.Params()
        elif not isinstance(params, self.Params):
            raise TypeError(
                f"{type(self).__name__} takes {self.Params.__qualname__}, was {type(params).__qualname__}"
            )
        self.params = params
        self.name = params.name or self.NAME
        self.position = Positions()
        self.pending = Positions()
        self.withheld = 0
        self._awaiting: dict[str, int] = {}  # symbol -> intents sent whose outcome is not known yet
        self.books = BookManager()
        self._now_ns = 0
        self._seq = 0
        self._outbox: list[SignalGenerated] = []
        self._last_price: dict[str, float] = {}
        self._indicators: dict[tuple[str, str], object] = {}
        self._bar_filter: dict[str | None, frozenset[str] | None] = {}
        if params.timeframe is not None:
            self.subscribe_bars(params.timeframe, self.traded_symbols())

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Build the strategy from config parameters, checked against ``cls.Params``.

        Raises:
            pyrt.errors.ConfigError: unknown names (listing the expected ones), wrong types or
                values out of range.
        """
        return cls(structure_params(cls.Params, params, owner=cls.__name__))

    # -- driver side -------------------------------------------------------------------------
    def set_time(self, now_ns: int) -> None:
        """Set the time stamped on signals produced from now on (the driver calls this)."""
        self._now_ns = now_ns

    def drain_signals(self) -> list[SignalGenerated]:
        """Return and forget the signals produced since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def signal_count(self) -> int:
        """Return how many signals were produced since the last :meth:`drain_signals`."""
        return len(self._outbox)

    def rollback_signals(self, keep: int) -> list[SignalGenerated]:
        """Drop the signals produced after the first ``keep`` since the last drain.

        Their quantities are taken out of :attr:`pending` again. The signal actor calls this when a
        callback raised, so no partial output of that callback escapes.

        Returns:
            The dropped signals.
        """
        dropped = self._outbox[keep:]
        del self._outbox[keep:]
        for sig in dropped:
            self._add_pending(sig.symbol, -sig.side.sign * sig.quantity)
            self._end_intent(sig.symbol)
        return dropped

    def wants_bar(self, bar: BarReceived) -> bool:
        """Return whether ``bar`` matches :meth:`subscribe_bars` (every bar matches when none was made)."""
        subscribed = self._bar_filter
        if not subscribed:
            return True
        if bar.timeframe in subscribed:
            symbols = subscribed[bar.timeframe]
            if symbols is None or bar.symbol in symbols:
                return True
        if None in subscribed:
            symbols = subscribed[None]
            return symbols is None or bar.symbol in symbols
        return False

    def bar_timeframes(self) -> frozenset[str]:
        """Return the timeframes of the bars subscribed (what the market-data actor must build)."""
        return frozenset(tf for tf in self._bar_filter if tf is not None)

    def handle_bar(self, bar: BarReceived) -> None:
        """Record the close as the last price, then call :meth:`on_bar`."""
        self._last_price[bar.symbol] = bar.close
        self.on_bar(bar)

    def handle_trade(self, trade: TradeReceived) -> None:
        """Record the last price, then call :meth:`on_trade`."""
        self._last_price[trade.symbol] = trade.price
        self.on_trade(trade)

    def handle_quote(self, quote: QuoteReceived) -> None:
        """Update the symbol's book (L1) and last price (the mid), then call :meth:`on_quote`."""
        if quote.mid is not None:  # a crossed or one-sided quote has no mid: the last price stays
            self._last_price[quote.symbol] = quote.mid
        self.books.apply(quote)
        self.on_quote(quote)

    def handle_book(self, book: BookReceived) -> None:
        """Update the symbol's book (L2) and last price (its mid, if any), then call :meth:`on_book`."""
        self.books.apply(book)
        mid = self.books[book.symbol].mid
        if mid is not None:
            self._last_price[book.symbol] = mid
        self.on_book(book)

    def handle_fill(self, fill: OrderFilled) -> None:
        """Track the position and what is still pending, then call :meth:`on_fill`.

        A final fill (nothing left to fill) is the outcome of its intent: the symbol is no longer
        :meth:`awaiting` once :meth:`on_fill` runs, so the strategy may decide again there.
        """
        signed = fill.side.sign * fill.fill_quantity
        self.position[fill.symbol] = self.position[fill.symbol] + signed
        self._add_pending(fill.symbol, -signed)
        if fill.is_final:
            self._end_intent(fill.symbol)
        self.on_fill(fill)

    def handle_order_closed(self, symbol: str, side: Side, unfilled_quantity: float) -> None:
        """An intent of this strategy ended with ``unfilled_quantity`` never filled; call the hook.

        Rejected by risk or the venue, canceled or expired: the symbol is no longer
        :meth:`awaiting`; the hook runs when some quantity was left unfilled.
        """
        self._end_intent(symbol)
        if unfilled_quantity > 0:
            self._add_pending(symbol, -side.sign * unfilled_quantity)
            self.on_order_closed(symbol, side, unfilled_quantity)

    def _add_pending(self, symbol: str, quantity: float) -> None:
        left = self.pending[symbol] + quantity
        self.pending[symbol] = 0.0 if abs(left) < QUANTITY_EPSILON else left

    def handle_outcome(self, outcome: IntentOutcome) -> None:
        """Call :meth:`on_outcome` (the driver calls this once an intent has ended)."""
        self.on_outcome(outcome)

    def adopt_intent(self, symbol: str, side: Side, remaining: float) -> None:
        """Count an order sent before this instance was built as an intent awaiting its outcome.

        The driver calls this (:meth:`~pyrt.strategy.driver.StrategyDriver.adopt`) for the orders
        still working when a strategy is (re)started; ``remaining`` (its unfilled quantity) is
        pending.
        """
        self._add_pending(symbol, side.sign * remaining)
        self._awaiting[symbol] = self._awaiting.get(symbol, 0) + 1

    def _end_intent(self, symbol: str) -> None:
        count = self._awaiting.get(symbol, 0)
        if count > 1:
            self._awaiting[symbol] = count - 1
        else:
            self._awaiting.pop(symbol, None)

    # -- author side: callbacks --------------------------------------------------------------
    def on_start(self) -> None:
        """Called once before any data."""

    def on_bar(self, bar: BarReceived) -> None:
        """Called for each closed bar of a subscribed symbol and timeframe."""

    def on_trade(self, trade: TradeReceived) -> None:
        """Called for each trade."""

    def on_quote(self, quote: QuoteReceived) -> None:
        """Called for each quote, after the symbol's book was updated."""

    def on_book(self, book: BookReceived) -> None:
        """Called for each order-book frame, after the symbol's book was updated."""

    def on_fill(self, fill: OrderFilled) -> None:
        """Called after the position was updated for one of this strategy's fills."""

    def on_order_closed(self, symbol: str, side: Side, unfilled_quantity: float) -> None:
        """Called when one of this strategy's orders was rejected or canceled with quantity unfilled."""

    def on_outcome(self, outcome: IntentOutcome) -> None:
        """Called once per intent when it ends (filled, rejected, canceled, expired), after
        :meth:`on_fill` / :meth:`on_order_closed`; the symbol is no longer :meth:`awaiting`."""

    def on_stop(self) -> None:
        """Called once when the run stops."""

    # -- author side: state ------------------------------------------------------------------
    def traded_symbols(self) -> Iterable[str] | None:
        """Return the symbols this strategy trades, or ``None`` for whatever the run streams.

        Override it to restrict the bars of ``params.timeframe`` to those symbols (it is called
        from ``__init__``, with only :attr:`params` set).
        """
        return None

    @property
    def now_ns(self) -> int:
        """The driver's clock in epoch nanoseconds (the time stamped on signals)."""
        return self._now_ns

    @property
    def allow_short(self) -> bool:
        """Whether this strategy may hold a short position (its ``allow_short`` parameter, if any,
        else :attr:`ALLOW_SHORT`); the risk manager refuses shorts for a strategy that may not."""
        return bool(getattr(self.params, "allow_short", self.ALLOW_SHORT))

    def awaiting(self, symbol: str) -> bool:
        """Return whether an intent on ``symbol`` is still waiting for its outcome.

        While it is, signals on ``symbol`` are withheld (see the class docstring).
        """
        return symbol in self._awaiting

    def last_price(self, symbol: str) -> float | None:
        """Return the last trade price, bar close or quote mid seen for ``symbol``."""
        return self._last_price.get(symbol)

    def book(self, symbol: str) -> OrderBook | None:
        """Return ``symbol``'s order book, or ``None`` before its first quote or book frame.

        Stocks on Alpaca have no depth feed: their book is L1, one level per side from quotes.
        """
        return self.books.get(symbol)

    def indicator(self, symbol: str, key: str, factory: Callable[[*Ts], T], *args: *Ts) -> T:
        """Return ``symbol``'s indicator named ``key``, created with ``factory(*args)`` on first use.

        For example ``self.indicator(bar.symbol, "rsi", RSI, self.params.period).update(bar.close)``.
        A key names one indicator per symbol: later calls return the same object whatever
        ``factory`` they pass. For keyword arguments pass a ``functools.partial``.

        Args:
            symbol: whose indicator.
            key: which of the symbol's indicators.
            factory: builds it (an indicator class from :mod:`pyrt.indicators`, or any callable).
            *args: positional arguments for ``factory``.
        """
        slot = (symbol, key)
        found = self._indicators.get(slot)
        if found is None:
            found = self._indicators[slot] = factory(*args)
        return cast("T", found)

    def subscribe_bars(self, timeframe: str | None, symbols: Iterable[str] | None = None) -> None:
        """Ask for the bars of ``timeframe`` (``None``: any) and ``symbols`` (``None``: all).

        Call it in ``__init__``: ``pyrt run`` reads the timeframes before the run starts. Repeated
        calls add up. With no subscription at all, every bar is delivered.

        Raises:
            ValueError: ``timeframe`` is not like ``500ms``, ``1s``, ``5m``, ``1h`` or ``1d``.
        """
        if timeframe is not None:
            parse_timeframe(timeframe)
        wanted = None if symbols is None else frozenset(symbols)
        if timeframe in self._bar_filter:
            held = self._bar_filter[timeframe]
            wanted = None if held is None or wanted is None else held | wanted
        self._bar_filter[timeframe] = wanted

    # -- author side: orders -----------------------------------------------------------------
    def signal(
        self,
        symbol: str,
        side: Side,
        quantity: float,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        reference_price: float | None = None,
    ) -> SignalGenerated | None:
        """Produce a ``signal.generated`` and count its quantity as pending.

        Withheld (nothing produced, ``None`` returned, :attr:`withheld` counted) while ``symbol``
        has an intent :meth:`awaiting` its outcome: one decision at a time per symbol.

        Args:
            symbol: what to trade.
            side: buy or sell.
            quantity: how much, > 0.
            order_type: market (default), limit, stop or stop-limit.
            limit_price: required for limit and stop-limit orders.
            stop_price: required for stop and stop-limit orders.
            time_in_force: day (default), gtc, ioc, fok …
            reference_price: the price the decision saw; default :meth:`last_price`.

        Returns:
            The signal (also queued for :meth:`drain_signals`), or ``None`` when withheld.

        Raises:
            ValueError: invalid input (``quantity <= 0``, a price missing for the order type …);
                nothing is produced.
        """
        if symbol in self._awaiting:
            self.withheld += 1
            logger.debug(
                "strategy %s: %s %s %s withheld: an intent on %s awaits its outcome (%d withheld so far)",
                self.name,
                side,
                quantity,
                symbol,
                symbol,
                self.withheld,
            )
            return None
        sig = SignalGenerated(
            signal_id=f"{self.name}-{self._now_ns}-{self._seq + 1}",
            strategy=self.name,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            time_in_force=time_in_force,
            limit_price=limit_price,
            stop_price=stop_price,
            reference_price=reference_price if reference_price is not None else self._last_price.get(symbol),
            ts_event=self._now_ns,
            ts_init=self._now_ns,
        )
        self._seq += 1
        self._outbox.append(sig)
        self._add_pending(symbol, side.sign * quantity)
        self._awaiting[symbol] = self._awaiting.get(symbol, 0) + 1
        return sig

    def buy(
        self,
        symbol: str,
        quantity: float,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        reference_price: float | None = None,
    ) -> SignalGenerated | None:
        """Produce a buy signal (``None`` when withheld); arguments as in :meth:`signal`."""
        return self.signal(
            symbol,
            Side.BUY,
            quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            reference_price=reference_price,
        )

    def sell(
        self,
        symbol: str,
        quantity: float,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        reference_price: float | None = None,
    ) -> SignalGenerated | None:
        """Produce a sell signal (``None`` when withheld); arguments as in :meth:`signal`."""
        return self.signal(
            symbol,
            Side.SELL,
            quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            reference_price=reference_price,
        )

    def target_position(
        self, symbol: str, target: float, *, reference_price: float | None = None
    ) -> SignalGenerated | None:
        """Trade toward holding ``target`` (signed) of ``symbol``, counting orders still pending.

        Sends a market order for ``target - (position + pending)``, or nothing when that is zero,
        so calling it on every bar with the same target sends one order, not one per bar.

        Args:
            symbol: what to trade.
            target: the signed quantity to hold (negative: short).
            reference_price: as in :meth:`signal`.

        Returns:
            The signal sent, or ``None`` when already at (or heading to) the target, or when
            withheld (an intent on ``symbol`` awaits its outcome).
        """
        difference = target - (self.position[symbol] + self.pending[symbol])
        if abs(difference) < QUANTITY_EPSILON:
            return None
        side = Side.BUY if difference > 0 else Side.SELL
        return self.signal(symbol, side, abs(difference), reference_price=reference_price)

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

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


class Strategy:
    """Base class of every strategy: override the ``on_*`` callbacks, call :meth:`buy`/:meth:`sell`.

    A strategy is plain synchronous code. The signal actor (live, simulation) or the backtest
    driver calls its callbacks and collects the signals it produced with :meth:`drain_signals`.
    Nothing a strategy does reaches a venue before the risk manager approves it.

    Attributes:
        name: the strategy's name, on every signal it produces.
        position: signed quantity held per symbol, from the fills it was told about.
    """

    NAME: ClassVar[str] = "strategy"

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.NAME
        self.position: dict[str, float] = {}
        self._now_ns = 0
        self._seq = 0
        self._outbox: list[SignalGenerated] = []
        self._last_price: dict[str, float] = {}

    # -- driver side -------------------------------------------------------------------------
    def set_time(self, now_ns: int) -> None:
        """Set the time stamped on signals produced from now on (the driver calls this)."""
        self._now_ns = now_ns

    def drain_signals(self) -> list[SignalGenerated]:
        """Return and forget the signals produced since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def handle_fill(self, fill: OrderFilled) -> None:
        """Track the position, then call :meth:`on_fill`."""
        self.position[fill.symbol] = self.position.get(fill.symbol, 0.0) + fill.side.sign * fill.fill_quantity
        self.on_fill(fill)

    def handle_order_closed(self, symbol: str, side: Side, unfilled_quantity: float) -> None:
        """An order of this strategy ended with ``unfilled_quantity`` never filled; call the hook."""
        if unfilled_quantity > 0:
            self.on_order_closed(symbol, side, unfilled_quantity)

    def handle_bar(self, bar: BarReceived) -> None:
        self._last_price[bar.symbol] = bar.close
        self.on_bar(bar)

    def handle_trade(self, trade: TradeReceived) -> None:
        self._last_price[trade.symbol] = trade.price
        self.on_trade(trade)

    def handle_quote(self, quote: QuoteReceived) -> None:
        self._last_price[quote.symbol] = quote.mid
        self.on_quote(quote)

    # -- author side -------------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once before any data."""

    def on_bar(self, bar: BarReceived) -> None:
        """Called for each closed bar of a subscribed timeframe."""

    def on_trade(self, trade: TradeReceived) -> None:
        """Called for each trade."""

    def on_quote(self, quote: QuoteReceived) -> None:
        """Called for each quote."""

    def on_book(self, book: BookReceived) -> None:
        """Called for each order-book frame."""

    def on_fill(self, fill: OrderFilled) -> None:
        """Called after the position was updated for one of this strategy's fills."""

    def on_order_closed(self, symbol: str, side: Side, unfilled_quantity: float) -> None:
        """Called when one of this strategy's orders was rejected or canceled with quantity unfilled."""

    def on_stop(self) -> None:
        """Called once when the run stops."""

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
    ) -> SignalGenerated:
        """Produce a ``signal.generated``; invalid input raises ``ValueError`` and produces nothing."""
        self._seq += 1
        sig = SignalGenerated(
            signal_id=f"{self.name}-{self._now_ns}-{self._seq}",
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
        self._outbox.append(sig)
        return sig

    def buy(self, symbol: str, quantity: float, **kwargs: object) -> SignalGenerated:
        """Produce a buy signal; keyword arguments as in :meth:`signal`."""
        return self.signal(symbol, Side.BUY, quantity, **kwargs)  # type: ignore[arg-type]  # forwarded keywords are typed by signal()

    def sell(self, symbol: str, quantity: float, **kwargs: object) -> SignalGenerated:
        """Produce a sell signal; keyword arguments as in :meth:`signal`."""
        return self.signal(symbol, Side.SELL, quantity, **kwargs)  # type: ignore[arg-type]  # forwarded keywords are typed by signal()

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Strategy:
        """Build the strategy from config parameters (override to validate them)."""
        return cls(**params)  # type: ignore[arg-type]  # subclasses declare their own keyword parameters

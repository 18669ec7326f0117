"""OHLCV bars from trades, closed on the run's clock.

Policies (documented promises, tested in ``tests/unit/test_bars.py``):

- Windows are aligned to the Unix epoch: a ``1m`` bar covers ``[k·60 s, (k+1)·60 s)``; its
  ``ts_event`` is the window's start (Alpaca's convention).
- A bar is emitted when its window has ended: on the first trade at or after the window's end, or
  when :meth:`BarAggregator.on_time` is called with a time at or after it — whichever comes first —
  so a quiet symbol's bar is not held back waiting for the next trade.
- Empty windows produce no bar (no trade, no bar: a flat bar would invent a price).
- Late trades (``ts_event`` before the open window's start, i.e. the bar was already emitted) are
  not applied; they are counted in ``statistics().late_trades``.
- Arithmetic is checked (``specs/marketdata.md`` M11): a trade whose notional (price × size), or
  whose addition to an open bar's volume or notional, is not a finite number is not applied and
  is counted in ``statistics().overflows``; nothing raises. A bar's VWAP is clamped to its
  ``[low, high]`` against rounding. :class:`BarResampler` checks its sums the same way
  (:attr:`BarResampler.overflows`). An emitted bar is never
  revised: corrections reach strategies as the venue's own updated bars, not as edits here.
- :class:`BarResampler` turns bars of one timeframe (e.g. the venue's ``1m``) into larger ones
  (``5m``, ``1h`` …): open of the first, high/low over all, close of the last, volumes and trade
  counts summed, VWAP volume-weighted. A resampled bar is emitted as soon as the input bar that
  ends its window arrives, or on the clock (:meth:`BarResampler.on_time`), or when a bar of the
  next window arrives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Final, final

import attrs

from ..messages import BarReceived, TradeReceived
from ..runtime.clock import NS_PER_SECOND as NS

__all__ = ["BarAggregator", "BarResampler", "BarStatistics", "parse_timeframe"]

_INF: Final = math.inf
_UNITS: Final = {"ms": NS // 1000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
_TIMEFRAME: Final = re.compile(r"^([1-9][0-9]*)(ms|[smhd])$")


def parse_timeframe(timeframe: str) -> int:
    """Return a timeframe such as ``"500ms"``, ``"1s"``, ``"5m"``, ``"4h"``, ``"1d"`` in nanoseconds.

    Raises:
        ValueError: the text is not a count followed by one of ms, s, m, h, d.
    """
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise ValueError(f"timeframe must look like 500ms, 1s, 5m, 1h or 1d, was {timeframe!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@final
@attrs.frozen(kw_only=True)
class BarStatistics:
    """Counters of a :class:`BarAggregator`."""

    trades: int
    """Trades applied to a bar."""
    bars: int
    """Bars emitted."""
    late_trades: int
    """Trades older than the open window, not applied."""
    overflows: int
    """Trades not applied because a sum would not be a finite number (price 1e308 …)."""


@attrs.define
class _Open:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    notional: float
    count: int


@final
class BarAggregator:
    """Build bars in several timeframes from one stream of trades.

    Args:
        timeframes: e.g. ``["1s", "1m"]``.
    """

    def __init__(self, timeframes: Sequence[str]) -> None:
        if not timeframes:
            raise ValueError("BarAggregator needs at least one timeframe")
        self._frames: tuple[tuple[str, int], ...] = tuple((tf, parse_timeframe(tf)) for tf in timeframes)
        self._open: dict[tuple[str, str], _Open] = {}
        self._trades = 0
        self._bars = 0
        self._late = 0
        self._overflows = 0

    def on_trade(self, trade: TradeReceived) -> list[BarReceived]:
        """Apply a trade; return the bars its time closed (oldest first)."""
        out: list[BarReceived] = []
        ts = trade.ts_event
        price = trade.price
        size = trade.size
        notional = price * size
        if not notional < _INF:  # checked: a finite price and size can still overflow
            self._overflows += 1
            return out
        applied = False
        for tf, width in self._frames:
            key = (trade.symbol, tf)
            start = ts - ts % width
            bar = self._open.get(key)
            if bar is not None and start != bar.start:
                if start < bar.start:
                    continue  # late for this timeframe
                out.append(self._emit(trade.symbol, tf, bar, trade.ts_init))
                bar = None
            if bar is None:
                self._open[key] = _Open(start, price, price, price, price, size, notional, 1)
            else:
                volume = bar.volume + size
                total = bar.notional + notional
                if not (volume < _INF and total < _INF):
                    self._overflows += 1
                    return out
                bar.high = max(bar.high, price)
                bar.low = min(bar.low, price)
                bar.close = price
                bar.volume = volume
                bar.notional = total
                bar.count += 1
            applied = True
        if applied:
            self._trades += 1
        else:
            self._late += 1
        return out

    def on_trades(self, trades: Iterable[TradeReceived]) -> list[BarReceived]:
        """Apply many trades in order; return every bar they closed."""
        out: list[BarReceived] = []
        for trade in trades:
            out.extend(self.on_trade(trade))
        return out

    def on_time(self, now_ns: int) -> list[BarReceived]:
        """Close every open bar whose window ended at or before ``now_ns``."""
        out: list[BarReceived] = []
        for (symbol, tf), bar in list(self._open.items()):
            width = dict(self._frames)[tf]
            if bar.start + width <= now_ns:
                out.append(self._emit(symbol, tf, bar, now_ns))
                del self._open[(symbol, tf)]
        out.sort(key=lambda b: (b.ts_event, b.symbol))
        return out

    def next_close_ns(self) -> int | None:
        """Return the earliest time at which an open bar closes, or ``None`` if none is open."""
        frames = dict(self._frames)
        ends = [bar.start + frames[tf] for (_, tf), bar in self._open.items()]
        return min(ends) if ends else None

    def _emit(self, symbol: str, tf: str, bar: _Open, ts_init: int) -> BarReceived:
        self._bars += 1
        return BarReceived(
            symbol=symbol,
            timeframe=tf,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            vwap=min(max(bar.notional / bar.volume, bar.low), bar.high) if bar.volume > 0 else None,
            trade_count=bar.count,
            ts_event=bar.start,
            ts_init=ts_init,
        )

    def statistics(self) -> BarStatistics:
        """Return the aggregator's counters."""
        return BarStatistics(
            trades=self._trades, bars=self._bars, late_trades=self._late, overflows=self._overflows
        )


@attrs.define
class _Resampled:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap_notional: float
    vwap_volume: float
    count: int


@final
class BarResampler:
    """Resample incoming bars of one timeframe into one or more larger timeframes.

    Args:
        source: the incoming bars' timeframe (bars of any other timeframe are ignored).
        targets: larger timeframes, each a whole multiple of ``source``.

    Raises:
        ValueError: a target that is not a whole multiple of the source.
    """

    def __init__(self, source: str, targets: Sequence[str]) -> None:
        width = parse_timeframe(source)
        frames = []
        for tf in targets:
            w = parse_timeframe(tf)
            if w <= width or w % width:
                raise ValueError(
                    f"resample target {tf!r} must be a whole multiple > 1 of the source {source!r}"
                )
            frames.append((tf, w))
        self.source = source
        self._width = width
        self._frames = tuple(frames)
        self._open: dict[tuple[str, str], _Resampled] = {}
        self._late = 0
        self._overflows = 0

    def on_bar(self, bar: BarReceived) -> list[BarReceived]:
        """Fold one source bar in; return the resampled bars it completed."""
        if bar.timeframe != self.source:
            return []
        out: list[BarReceived] = []
        for tf, width in self._frames:
            key = (bar.symbol, tf)
            start = bar.ts_event - bar.ts_event % width
            acc = self._open.get(key)
            if acc is not None and acc.start != start:
                if start < acc.start:
                    self._late += 1
                    continue
                out.append(self._emit(bar.symbol, tf, acc, bar.ts_init))
                acc = None
            vw_volume = bar.volume if bar.vwap is not None else 0.0
            vw_notional = bar.vwap * bar.volume if bar.vwap is not None else 0.0
            if not vw_notional < _INF or (
                acc is not None
                and not (
                    acc.volume + bar.volume < _INF
                    and acc.vwap_notional + vw_notional < _INF
                    and acc.vwap_volume + vw_volume < _INF
                )
            ):
                self._overflows += 1  # checked: the sums would leave the finite numbers
                continue
            if acc is None:
                acc = self._open[key] = _Resampled(
                    start,
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.volume,
                    vw_notional,
                    vw_volume,
                    bar.trade_count,
                )
            else:
                acc.high = max(acc.high, bar.high)
                acc.low = min(acc.low, bar.low)
                acc.close = bar.close
                acc.volume += bar.volume
                acc.vwap_notional += vw_notional
                acc.vwap_volume += vw_volume
                acc.count += bar.trade_count
            if bar.ts_event + self._width >= start + width:  # this bar ends the window
                out.append(self._emit(bar.symbol, tf, acc, bar.ts_init))
                del self._open[key]
        return out

    def on_time(self, now_ns: int) -> list[BarReceived]:
        """Emit every resampled bar whose window ended at or before ``now_ns``."""
        frames = dict(self._frames)
        out = [
            self._emit(symbol, tf, acc, now_ns)
            for (symbol, tf), acc in list(self._open.items())
            if acc.start + frames[tf] <= now_ns
        ]
        for bar in out:
            del self._open[(bar.symbol, bar.timeframe)]
        out.sort(key=lambda b: (b.ts_event, b.symbol))
        return out

    @property
    def late_bars(self) -> int:
        """Source bars that arrived after their window was emitted (not applied)."""
        return self._late

    @property
    def overflows(self) -> int:
        """Source bars not applied (per target) because a sum would not be a finite number."""
        return self._overflows

    @staticmethod
    def _emit(symbol: str, tf: str, acc: _Resampled, ts_init: int) -> BarReceived:
        return BarReceived(
            symbol=symbol,
            timeframe=tf,
            open=acc.open,
            high=acc.high,
            low=acc.low,
            close=acc.close,
            volume=acc.volume,
            vwap=min(max(acc.vwap_notional / acc.vwap_volume, acc.low), acc.high)
            if acc.vwap_volume > 0
            else None,
            trade_count=acc.count,
            ts_event=acc.start,
            ts_init=ts_init,
        )

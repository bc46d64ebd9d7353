"""Incremental indicators on one bar type, shared by the strategies that trade it.

The strategies read their indicators from a `BarIndicators`: each indicator is updated once per
bar, in O(1) (NautilusTrader's Cython indicators, and KDJ here), not recomputed over the trailing
window. `build_strategies` hands the eleven strategies of an instrument one shared instance, so
that the six that read ATR(14) update one ATR; a strategy built on its own has a private one. The
same `signal` feeds it in backtests, live and the warm-up history: every strategy passes every bar
it accepts, and a bar whose timestamp the instance has already seen is skipped, so a bar fed by
several strategies counts once. The strategies must therefore see each bar in step, all of them
before the next bar: in a live node one of them requests the warm-up history for all its
`readers` and hands each history bar to each of them in turn (`strategies.base`); were each to
replay its own history, all but the first would read indicators already at the last bar.

Each indicator is a `Line`: its readings on the last `depth` bars, `line[-1]` the newest, NaN
until its look-back is filled (and in the `depth` slots before the first bar).

Seeding, against the ta-lib functions of `strategies.indicators` over the strategies' 100-bar
window that these replace (the observation features still use those):
- SMA, ROC, Bollinger bands, Donchian channels and volume ratios are the same numbers, to
  floating-point rounding: their look-back is shorter than the window.
- ATR and RSI are Wilder-smoothed (alpha = 1/n) from the first bar of the series, not re-seeded
  at the start of each window. Nautilus seeds the average with the first bar's value (ATR: that
  bar's high - low, as it has no previous close; RSI: a gain and loss of 0), where ta-lib seeds
  with the mean of the first n values after the first bar. A seed's weight decays as (1 - 1/n)
  per bar: after the 100 warm-up bars it is (13/14)**100 ~ 6e-4 for n=14, while ta-lib's
  windowed value carried its own window's seed at (13/14)**86 ~ 2e-3 (n=14) and (19/20)**80 ~
  2e-2 (n=20, Turtle's and ATRBreakout's ATR). On SPX's 10,635 daily bars ATR(14) moved by 1e-4
  (median; 3e-3 at most), ATR(20) by 9e-4 (2e-2 at most) and RSI(14) by 0.01 points (0.17 at
  most). That moves a decision only where an ATR stop or an RSI threshold falls within it:
  `benchmarks/signal_diff.py` counts 99 of the 11 x 10,635 target exposures changed (Turtle
  54, ATRBreakout 28, Bollinger 12, RSI 5; each starts at a threshold hit within the seed
  effect and lasts until the trade closes).
  RSI is 100 (nautilus) where ta-lib gave 0 when both averages are exactly 0 (no move at all).
- KDJ seeds K and D at 50 on the first full n-bar range, as before; the old windowed value was
  re-seeded 91 bars back, where the seed weighs (2/3)**91 ~ 1e-16: the same numbers.
"""

import math
from collections import deque
from collections.abc import Callable

from nautilus_trader.indicators import (
    AverageTrueRange,
    BollingerBands,
    DonchianChannel,
    MovingAverageType,
    RateOfChange,
    RelativeStrengthIndex,
    SimpleMovingAverage,
)
from nautilus_trader.model.data import Bar, BarType

from bot.core.bars import bar_values
from strategies.indicators import BarWindow

NAN = math.nan

# (open, high, low, close, volume) -> None, and () -> the reading
Feed = Callable[[float, float, float, float, float], None]
Read = Callable[[], object]


class Line:
    """One indicator's readings on the last `depth` bars, oldest first: `line[-1]` is now."""

    __slots__ = ("_feed", "_read", "history")

    def __init__(self, feed: Feed, read: Read, depth: int, blank: object) -> None:
        self._feed, self._read = feed, read
        self.history = deque([blank] * depth, maxlen=depth)

    def __getitem__(self, index: int):
        return self.history[index]

    def update(self, open_: float, high: float, low: float, close: float, volume: float) -> None:
        self._feed(open_, high, low, close, volume)
        self.history.append(self._read())

    def deepen(self, depth: int) -> None:
        if depth > self.history.maxlen:
            blank = [self.history[0]] * (depth - self.history.maxlen)
            self.history = deque(blank + list(self.history), maxlen=depth)


class BarIndicators:
    """The indicators the strategies on `bar_type` read, each updated once per bar.

    Ask for a line before the first bar (strategies do it when built): asking twice for the same
    indicator returns the same line, as deep as the deepest request.
    """

    def __init__(self, bar_type: BarType) -> None:
        self.bar_type = bar_type
        self.last_ts = -1
        self.readers: list = []  # the strategies that read them, which warm up together
        self.warmup_requested = False
        self._lines: dict[tuple, Line] = {}
        self._window: BarWindow | None = None

    def feed(self, bar: Bar) -> None:
        """`update` with a nautilus bar, its prices read out once for all the readers."""
        if bar.ts_event > self.last_ts:
            self.update(*bar_values(bar))

    def update(self, ts: int, open_: float, high: float, low: float, close: float, volume: float):
        """Feed one bar, once: a bar at or before the last timestamp fed is skipped."""
        if ts <= self.last_ts:
            return
        self.last_ts = ts
        if self._window is not None:
            self._window.push(open_, high, low, close, volume)
        for line in self._lines.values():
            line.update(open_, high, low, close, volume)

    def window(self, capacity: int) -> BarWindow:
        """The trailing OHLCV bars, one ring buffer for all the readers, as deep as the deepest
        request (the strategies read only its last few bars); ask before the first bar."""
        if self._window is None:
            self._window = BarWindow(capacity)
        self._window.deepen(capacity)
        return self._window

    def sma(self, period: int, depth: int = 1, volume: bool = False) -> Line:
        """Simple moving average of closes (or volumes) over `period` bars, current included."""
        ma = SimpleMovingAverage(period)
        if volume:
            return self._line(("sma_volume", period), depth, lambda *b: ma.update_raw(b[4]), ma)
        return self._line(("sma", period), depth, lambda *b: ma.update_raw(b[3]), ma)

    def volume_ratio(self, period: int, depth: int = 1) -> Line:
        """Volume over the mean volume of the `period` bars before it (NaN where that is 0)."""
        ratio = _VolumeRatio(self.sma(period, depth=2, volume=True))
        return self._line(("volume_ratio", period), depth, ratio.update, read=ratio.read)

    def roc(self, period: int, depth: int = 1) -> Line:
        """close[t] / close[t - period] - 1 (nautilus' RateOfChange(n) looks n - 1 bars back)."""
        roc = RateOfChange(period + 1)
        return self._line(("roc", period), depth, lambda *b: roc.update_raw(b[3]), roc)

    def rsi(self, period: int, depth: int = 1) -> Line:
        """Wilder RSI of closes on the 0..100 scale (see the module note on its seed)."""
        rsi = RelativeStrengthIndex(period, MovingAverageType.WILDER)
        return self._line(
            ("rsi", period),
            depth,
            lambda *b: rsi.update_raw(b[3]),
            read=lambda: 100.0 * rsi.value if rsi.initialized else NAN,
        )

    def atr(self, period: int, depth: int = 1) -> Line:
        """Wilder-smoothed average true range (see the module note on its seed)."""
        atr = AverageTrueRange(period, MovingAverageType.WILDER)
        return self._line(("atr", period), depth, lambda *b: atr.update_raw(*b[1:4]), atr)

    def bollinger(self, period: int, k: float, depth: int = 1) -> Line:
        """(upper, middle, lower): SMA of closes -/+ k population standard deviations."""
        bands = BollingerBands(period, k)
        return self._line(
            ("bollinger", period, k),
            depth,
            lambda *b: bands.update_raw(b[3], b[3], b[3]),  # its "typical price" is the close
            read=lambda: (bands.upper, bands.middle, bands.lower) if bands.initialized else _NAN3,
            blank=_NAN3,
        )

    def channel(self, period: int, depth: int = 2) -> Line:
        """(highest high, lowest low) of the last `period` bars, current included: line[-2] is
        the channel of the bars before the current one (a Donchian breakout level)."""
        dc = DonchianChannel(period)
        return self._line(
            ("channel", period),
            depth,
            lambda *b: dc.update_raw(b[1], b[2]),
            read=lambda: (dc.upper, dc.lower) if dc.initialized else _NAN2,
            blank=_NAN2,
        )

    def kdj(self, period: int, depth: int = 1) -> Line:
        """(K, D, J) as `strategies.indicators.kdj`: RSV over the `period`-bar range, K and D
        its 3-bar Chinese smoothing seeded at 50, J = 3K - 2D."""
        kdj = _KDJ(self.channel(period))
        return self._line(("kdj", period), depth, kdj.update, read=kdj.read, blank=_NAN3)

    def _line(
        self, key: tuple, depth: int, feed: Feed, indicator=None, read=None, blank=NAN
    ) -> Line:
        line = self._lines.get(key)
        if line is None:
            read = read or _value_of(indicator)
            line = self._lines[key] = Line(feed, read, depth, blank)
        line.deepen(depth)
        return line


_NAN2, _NAN3 = (NAN, NAN), (NAN, NAN, NAN)


def _value_of(indicator) -> Read:
    return lambda: indicator.value if indicator.initialized else NAN


class _VolumeRatio:
    # Reads the mean from its SMA line, which the hub updates first (it was asked first).
    def __init__(self, mean: Line) -> None:
        self._mean = mean
        self._value = NAN

    def update(self, open_: float, high: float, low: float, close: float, volume: float):
        prior = self._mean[-2]
        self._value = volume / prior if prior > 0 else NAN

    def read(self) -> float:
        return self._value


class _KDJ:
    # Reads the range from its channel line, which the hub updates first (it was asked first).
    def __init__(self, channel: Line) -> None:
        self._channel = channel
        self._k = self._d = NAN

    def update(self, open_: float, high: float, low: float, close: float, volume: float):
        hh, ll = self._channel[-1]
        if math.isnan(hh):
            return
        span = hh - ll
        rsv = 100.0 * (close - ll) / span if span > 0 else 50.0
        k, d = (50.0, 50.0) if math.isnan(self._k) else (self._k, self._d)
        self._k = (2.0 * k + rsv) / 3.0
        self._d = (2.0 * d + self._k) / 3.0

    def read(self) -> tuple[float, float, float]:
        return self._k, self._d, 3.0 * self._k - 2.0 * self._d

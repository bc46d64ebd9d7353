"""VolumeBreakout (Algorithm 7): price-channel breakouts confirmed by a volume surge."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule, votes


class VolumeBreakoutConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 7 with the paper's parameters (price window 20, volume window 5, MA 10,
    lambda=1.5, ATR 14, m=1.8); the paper gives no layer limit, we use L=3.

    Volume ratio = volume / mean volume of the previous 5 bars. Recent high / low = highest high
    / lowest low of the 20 bars before the current one. "Volume high" means the mean volume of
    the last 5 bars is above the mean of the last 20.

    - Entry: close above the recent high (long) or below the recent low (short) with volume
      ratio > lambda; 1 layer, or 2 when the ratio exceeds 2 x lambda ("breakout score").
    - Stop: set at entry to entry -/+ m x ATR and reset to average entry -/+ m x ATR on each
      add; the trade closes when the close crosses it.
    - Volume exhaustion: close back through the 10-bar MA against the trade while volume is no
      longer high; the trade closes.
    - Add ("breakout extends and volume stays high"): a new close beyond the recent high (long)
      / low (short), beyond the last entry, while volume is high.
    """

    price_window: PositiveInt = 20
    volume_window: PositiveInt = 5
    ma_period: PositiveInt = 10
    volume_mult: PositiveFloat = 1.5


class VolumeBreakout(RoutedStrategy):
    """Breakout expert: joins range breaks that come with heavy volume."""

    def _attach(self, indicators: BarIndicators) -> None:
        cfg = self.config
        self.channel = indicators.channel(cfg.price_window)
        self.atr = indicators.atr(cfg.atr_period)
        self.ma = indicators.sma(cfg.ma_period)
        self.volume_ratio = indicators.volume_ratio(cfg.volume_window)
        self.volume_short = indicators.sma(cfg.volume_window, volume=True)
        self.volume_long = indicators.sma(cfg.price_window, volume=True)

    def decide(self, window: BarWindow) -> float:
        high, low = self.channel[-2]  # the bars before this one
        atr_now = self.atr[-1]
        if self.layers.side == 0:
            self._enter(window, high, low, atr_now)
        else:
            self._manage(window, high if self.layers.side > 0 else low, atr_now)
        return self.layers.exposure

    def _enter(self, window: BarWindow, high: float, low: float, atr_now: float) -> None:
        cfg, price = self.config, window.close[-1]
        ratio = self.volume_ratio[-1]
        side = 1 if price > high else -1 if price < low else 0
        if side and ratio > cfg.volume_mult:
            strong = votes(ratio > 2 * cfg.volume_mult)
            why = f"range {'high' if side > 0 else 'low'} broken on heavy volume"
            self.layers.open(side, price, window.count, layers=1 + strong, reason=why)
            self.layers.place_stop(cfg.atr_mult * atr_now)

    def _manage(self, window: BarWindow, extreme: float, atr_now: float) -> None:
        cfg, layers = self.config, self.layers
        side, price = layers.side, window.close[-1]
        volume_high = self.volume_short[-1] > self.volume_long[-1]
        below_ma = side * (price - self.ma[-1]) < 0
        why = first_rule(
            ("stop", layers.stopped(price)),
            ("back across the MA on fading volume", below_ma and not volume_high),
        )
        if why:
            layers.close(reason=why)
        elif (
            layers.can_add
            and side * (price - extreme) > 0
            and side * (price - layers.last_entry) > 0
            and volume_high
        ):
            layers.add(price, window.count, reason="new extreme on volume")
            layers.place_stop(cfg.atr_mult * atr_now)

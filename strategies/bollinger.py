"""Bollinger (Algorithm 4): fade closes outside the bands, take profit back at the middle band."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import votes


class BollingerConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 4 with the paper's parameters (n=20, k=1.8, ATR 14, m=1.8, L=3).

    Bands: SMA(20) +/- 1.8 population standard deviations of closes.

    - Oversold score (0..3): RSI(14) < 35, 5-bar return < -3%, volume ratio (volume / mean of
      the previous 20 bars) > 1.2. Overbought score: RSI > 65, 5-bar return > +3%, volume ratio
      > 1.2.
    - Long entry: close below the lower band with an oversold score >= 1; short entry: close
      above the upper band with an overbought score >= 1. Size by score: 1 layer for a score
      of 1, 2 layers for 2 or more.
    - Target: close back at or beyond the middle band with negative momentum against the trade
      (long: close >= middle and close < previous close).
    - Stop: close beyond average entry -/+ m x ATR.
    - Add ("more extreme, time"): close still outside the band, at least 0.5 x ATR beyond the
      last entry, and at least `add_gap` (3) bars after it.
    """

    period: PositiveInt = 20
    k: PositiveFloat = 1.8
    add_gap: PositiveInt = 3


class Bollinger(RoutedStrategy):
    """Reversal expert: mean reversion from the Bollinger bands back to their middle."""

    def _attach(self, indicators: BarIndicators) -> None:
        cfg = self.config
        self.bands = indicators.bollinger(cfg.period, cfg.k)
        self.atr = indicators.atr(cfg.atr_period)
        self.rsi = indicators.rsi(14)
        self.roc = indicators.roc(5)
        self.volume_ratio = indicators.volume_ratio(20)

    def decide(self, window: BarWindow) -> float:
        cfg, close = self.config, window.close
        upper, middle, lower = self.bands[-1]
        if self.layers.side == 0:
            self._enter(window, upper, lower)
            return self.layers.exposure
        layers, price = self.layers, close[-1]
        side = layers.side
        atr_now = self.atr[-1]
        band = lower if side > 0 else upper
        if side * (price - middle) >= 0 and side * (price - close[-2]) < 0:
            layers.close(reason="back to the middle band")
        elif layers.stop_hit(price, cfg.atr_mult * atr_now):
            layers.close(reason="ATR stop")
        elif (
            layers.can_add
            and side * (band - price) > 0
            and side * (layers.last_entry - price) > 0.5 * atr_now
            and window.count - layers.last_entry_bar >= cfg.add_gap
        ):
            layers.add(price, window.count, reason="further outside the band")
        return layers.exposure

    def _enter(self, window: BarWindow, upper: float, lower: float) -> None:
        price = window.close[-1]
        rsi_now, ret5 = self.rsi[-1], self.roc[-1]
        heavy = self.volume_ratio[-1] > 1.2
        if price < lower:
            score = votes(rsi_now < 35, ret5 < -0.03, heavy)
            side = 1
        elif price > upper:
            score = votes(rsi_now > 65, ret5 > 0.03, heavy)
            side = -1
        else:
            return
        if score >= 1:
            band = "below the lower band" if side > 0 else "above the upper band"
            self.layers.open(side, price, window.count, layers=min(score, 2), reason=band)

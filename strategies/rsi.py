"""RSI (Algorithm 5): swing reversals from oversold / overbought RSI."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule, mirror, votes


class RSIConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 5 with the paper's parameters (RSI 14, 35/65, neutral 50, ATR 14, m=1.8, L=3).

    RSI is Wilder's on the 0..100 scale. "As seen by the trade" below means the long rule on
    the RSI for longs and on 100 - RSI for shorts (the paper's "symmetric short-side logic").

    - Oversold score (0..4): RSI rising on the bar; volume spike (volume / mean of the previous
      20 bars > 1.5); bullish divergence (close below every close of the previous 10 bars while
      RSI is above its lowest value over them); RSI < 25.
    - Long entry ("strong oversold signals"): RSI < 35 and oversold score >= 2; 1 layer for a
      score of 2, 2 layers for 3 or more.
    - Short entry: RSI > 65 and a flat or negative trend: SMA(20) at most 0.5% above its value
      5 bars ago.
    - Exit, as seen by the trade: RSI > 50 and falling (mean reversion done); close beyond
      average entry -/+ m x ATR (stop); profit > 8% with RSI > 60 (profit target).
    - Add ("RSI even more extreme, price drop"), as seen by the trade: RSI at least 5 points
      below its value at the last entry, or close 3% beyond the last entry against the trade.
    """

    rsi_period: PositiveInt = 14
    oversold: PositiveFloat = 35.0
    overbought: PositiveFloat = 65.0
    neutral: PositiveFloat = 50.0
    profit_target: PositiveFloat = 0.08


class RSI(RoutedStrategy):
    """Reversal expert: buys oversold and sells overbought RSI, exits as it normalises."""

    def _attach(self, indicators: BarIndicators) -> None:
        self.rsi = indicators.rsi(self.config.rsi_period, depth=11)
        self.trend = indicators.sma(20, depth=6)
        self.atr = indicators.atr(self.config.atr_period)
        self.volume_ratio = indicators.volume_ratio(20)

    def decide(self, window: BarWindow) -> float:
        values = list(self.rsi.history)  # the last 11 bars, oldest first
        if self.layers.side == 0:
            self._enter(window, values)
        else:
            self._manage(window, values)
        return self.layers.exposure

    def _enter(self, window: BarWindow, values) -> None:
        cfg, close, now = self.config, window.close, values[-1]
        if now < cfg.oversold:
            divergence = close[-1] < close[-11:-1].min() and now > min(values[-11:-1])
            score = votes(
                now > values[-2],
                self.volume_ratio[-1] > 1.5,
                divergence,
                now < 25,
            )
            if score >= 2:
                self.layers.open(
                    1, close[-1], window.count, min(score - 1, 2), now, reason="RSI oversold"
                )
        elif now > cfg.overbought:
            if self.trend[-1] <= self.trend[-6] * 1.005:
                self.layers.open(-1, close[-1], window.count, level=now, reason="RSI overbought")

    def _manage(self, window: BarWindow, values) -> None:
        cfg, layers = self.config, self.layers
        side, price = layers.side, window.close[-1]
        now, before = mirror(values[-1], side), mirror(values[-2], side)
        atr_now = self.atr[-1]
        why = first_rule(
            ("RSI turned past neutral", now > cfg.neutral and now < before),
            ("ATR stop", layers.stop_hit(price, cfg.atr_mult * atr_now)),
            ("profit target", layers.profit(price) > cfg.profit_target and now > 60),
        )
        if why:
            layers.close(reason=why)
        elif layers.can_add and (
            now < mirror(layers.entry_level, side) - 5
            or side * (price / layers.last_entry - 1.0) < -0.03
        ):
            layers.add(price, window.count, level=values[-1], reason="RSI more extreme")

"""Momentum (Algorithm 2): blended multi-horizon momentum with RSI and volume confirmation."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule, votes


class MomentumConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 2 with the paper's parameters (l=10, entry 0.02, exit 0.005, ATR 14, m=1.5, L=3).

    momentum = 0.5 x ROC(l) + 0.3 x ROC(l/2) + 0.2 x ROC(2l) on closes; acceleration = momentum
    now minus momentum `accel_bars` (5) bars ago; volume ratio = volume / mean volume of the
    previous `volume_bars` (20) bars; RSI is Wilder's, 14 bars.

    - Long entry: momentum > entry AND at least 2 of {acceleration > 0, RSI > 50, volume ratio
      > 1.2} (the paper lists the three without saying how many must hold).
    - Short entry: momentum < -entry AND acceleration < 0 AND RSI < `short_rsi` (40).
    - Exit: price beyond average entry -/+ m x ATR, or momentum in the trade's direction below
      `exit` (long: momentum < 0.005; short: momentum > -0.005).
    - Add a layer when at least 2 of: momentum beyond entry x (1 + 0.5 x layers), price beyond
      the first entry by 1% x layers, acceleration beyond 0.5 x entry, volume ratio > 1.3 (all
      in the trade's direction).
    """

    atr_mult: PositiveFloat = 1.5
    lookback: PositiveInt = 10
    entry: PositiveFloat = 0.02
    exit: PositiveFloat = 0.005
    short_rsi: PositiveFloat = 40.0
    rsi_period: PositiveInt = 14
    accel_bars: PositiveInt = 5
    volume_bars: PositiveInt = 20


class Momentum(RoutedStrategy):
    """Trend expert: follows strong blended momentum, pyramiding while it strengthens."""

    def _attach(self, indicators: BarIndicators) -> None:
        cfg = self.config
        depth = cfg.accel_bars + 1
        self.rocs = (  # the blend's weights and look-backs
            (0.5, indicators.roc(cfg.lookback, depth)),
            (0.3, indicators.roc(max(cfg.lookback // 2, 1), depth)),
            (0.2, indicators.roc(2 * cfg.lookback, depth)),
        )
        self.volume_ratio = indicators.volume_ratio(cfg.volume_bars)
        self.rsi = indicators.rsi(cfg.rsi_period)
        self.atr = indicators.atr(cfg.atr_period)

    def decide(self, window: BarWindow) -> float:
        cfg = self.config
        momentum = self._blend(-1)
        accel = momentum - self._blend(-1 - cfg.accel_bars)
        vol = self.volume_ratio[-1]
        if self.layers.side == 0:
            self._enter(momentum, accel, self.rsi[-1], vol, window.count)
        else:
            self._manage(momentum, accel, vol, self.atr[-1], window.count)
        return self.layers.exposure

    def _blend(self, index: int) -> float:
        return sum(weight * roc[index] for weight, roc in self.rocs)

    def _enter(self, momentum: float, accel: float, rsi_now: float, vol: float, bar: int) -> None:
        cfg, price = self.config, self.window.close[-1]
        confirmations = votes(accel > 0, rsi_now > 50, vol > 1.2)
        if momentum > cfg.entry and confirmations >= 2:
            self.layers.open(1, price, bar, reason="confirmed upward momentum")
        elif momentum < -cfg.entry and accel < 0 and rsi_now < cfg.short_rsi:
            self.layers.open(-1, price, bar, reason="accelerating downward momentum")

    def _manage(self, momentum: float, accel: float, vol: float, atr_now: float, bar: int) -> None:
        cfg, layers = self.config, self.layers
        side, price = layers.side, self.window.close[-1]
        why = first_rule(
            ("ATR stop", layers.stop_hit(price, cfg.atr_mult * atr_now)),
            ("momentum faded", side * momentum < cfg.exit),
        )
        if why:
            layers.close(reason=why)
            return
        n = layers.count
        agree = votes(
            side * momentum > cfg.entry * (1 + 0.5 * n),
            side * (price / layers.entries[0] - 1.0) > 0.01 * n,
            side * accel > 0.5 * cfg.entry,
            vol > 1.3,
        )
        if layers.can_add and agree >= 2:
            layers.add(price, bar, reason="momentum building")

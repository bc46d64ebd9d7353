"""MACross (Algorithm 1): moving-average crossover with trend-scaled ATR stops and pyramiding."""

import numpy as np
from nautilus_trader.config import PositiveFloat, PositiveInt

from bot.core.errors import ConfigError
from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule


class MACrossConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 1 with the paper's parameters (f=5, s=20, ATR 14, m=1.5, L=4, gamma=0.02).

    All prices are closes; tau = close / close 5 bars ago - 1; spread = (fast - slow) / slow.

    - Long entry: a golden cross (spread <= 0 on the previous bar, > 0 now), or a rising price
      (tau > 0) with spread > gamma or tau > entry_trend (0.03). The paper writes |spread| >
      gamma; a wide spread below the slow MA, or a falling price, is not read as a buy.
    - Short entry: a death cross with tau < -gamma (as in the paper).
    - Stop: average entry -/+ m' x ATR, m' = 1.5m when tau (in the trade's favour) > 0.05,
      1.2m when it is in (0.02, 0.05], else m. The trade closes only when price is beyond the
      stop AND tau < -gamma against it, as in the paper.
    - Exit: the opposite cross with tau < -gamma against the trade.
    - Add a layer ("recent breakout, MA divergence, pullback"): spread beyond gamma in the
      trade's direction and wider than on the previous bar, AND either a new `breakout_bars`
      closing extreme or a pullback that touched the fast MA (long: low <= fast < close).
    - Short trades use the mirrored rules.
    """

    atr_mult: PositiveFloat = 1.5
    max_layers: PositiveInt = 4
    fast: PositiveInt = 5
    slow: PositiveInt = 20
    gamma: PositiveFloat = 0.02
    entry_trend: PositiveFloat = 0.03
    trend_bars: PositiveInt = 5
    breakout_bars: PositiveInt = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fast >= self.slow:
            raise ConfigError(
                f"MACross fast={self.fast} is not below slow={self.slow}: its rules read a golden "
                "cross as the fast MA rising through the slow one. Lower fast or raise slow."
            )


class MACross(RoutedStrategy):
    """Trend expert: rides fast/slow moving-average crosses, adding layers as the trend widens."""

    def _attach(self, indicators: BarIndicators) -> None:
        cfg = self.config
        self.fast = indicators.sma(cfg.fast, depth=2)
        self.slow = indicators.sma(cfg.slow, depth=2)
        self.atr = indicators.atr(cfg.atr_period)

    def decide(self, window: BarWindow) -> float:
        cfg = self.config
        close, fast, slow = window.close, self.fast, self.slow
        spread = ((fast[-2] - slow[-2]) / slow[-2], (fast[-1] - slow[-1]) / slow[-1])
        tau = close[-1] / close[-1 - cfg.trend_bars] - 1.0
        if self.layers.side == 0:
            self._enter(spread, tau, window.count)
        else:
            self._manage(window, fast[-1], spread, tau, self.atr[-1])
        return self.layers.exposure

    def _enter(self, spread: tuple[float, float], tau: float, bar: int) -> None:
        cfg, price = self.config, self.window.close[-1]
        golden = spread[0] <= 0 < spread[1]
        death = spread[0] >= 0 > spread[1]
        if golden or (tau > 0 and (spread[1] > cfg.gamma or tau > cfg.entry_trend)):
            self.layers.open(1, price, bar, reason="golden cross" if golden else "rising trend")
        elif death and tau < -cfg.gamma:
            self.layers.open(-1, price, bar, reason="death cross while falling")

    def _manage(self, window, fast: float, spread: tuple, tau: float, atr_now: float) -> None:
        cfg, side = self.config, self.layers.side
        price = window.close[-1]
        favour = side * tau
        mult = cfg.atr_mult * (1.5 if favour > 0.05 else 1.2 if favour > 0.02 else 1.0)
        crossed_against = side * spread[0] >= 0 > side * spread[1]
        why = first_rule(
            ("ATR stop", self.layers.stop_hit(price, mult * atr_now)),
            ("opposite cross", crossed_against),
        )
        if favour < -cfg.gamma and why:
            self.layers.close(reason=why)
        elif self.layers.can_add and self._add_signal(window, fast, spread):
            self.layers.add(price, window.count, reason="MA divergence")

    def _add_signal(self, window, fast: float, spread: tuple[float, float]) -> bool:
        side, n = self.layers.side, self.config.breakout_bars
        close = window.close
        diverging = side * spread[1] > self.config.gamma and side * spread[1] > side * spread[0]
        breakout = side * close[-1] > np.max(side * close[-1 - n : -1])
        touch = window.low[-1] if side > 0 else window.high[-1]
        pullback = side * touch <= side * fast < side * close[-1]
        return bool(diverging and (breakout or pullback))

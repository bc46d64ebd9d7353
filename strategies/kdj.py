"""KDJ (Algorithm 6): stochastic-oscillator reversals confirmed by K/D crosses."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule, mirror, votes


class KDJConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 6 with the paper's parameters (n=9, J/K buy 10/20, J/K sell 90/80, ATR 14,
    m=1.8, L=3).

    K, D, J as in `strategies.indicators.kdj` (3-bar Chinese smoothing, J = 3K - 2D). A golden
    cross is K crossing above D on this bar; a death cross, K crossing below D. "As seen by the
    trade" means the long rule on K, D, J for longs and on 100 - K, 100 - D, 100 - J for shorts.

    - Long entry: (J < 10 or K < 20) and at least 2 of {golden cross, volume ratio (volume /
      mean of the previous 20 bars) > 1.2, close above the previous close}; 1 layer, or 2 when
      all three hold.
    - Short entry: J > 90 and K > 80 and (death cross, or close below the previous close on a
      volume ratio > 1.2).
    - Exit, as seen by the trade: a death cross with K > 70; J > 80 falling more than 10 points
      in the bar; close beyond average entry -/+ m x ATR; profit > 8% with J or K > 70.
    - Add, as seen by the trade: J at least 5 points below its value at the last entry, or a new
      golden cross with K < 30.
    """

    period: PositiveInt = 9
    j_buy: PositiveFloat = 10.0
    k_buy: PositiveFloat = 20.0
    j_sell: PositiveFloat = 90.0
    k_sell: PositiveFloat = 80.0
    profit_target: PositiveFloat = 0.08


class KDJ(RoutedStrategy):
    """Reversal expert: buys oversold and sells overbought KDJ on confirming crosses."""

    def _attach(self, indicators: BarIndicators) -> None:
        self.kdj = indicators.kdj(self.config.period, depth=2)
        self.atr = indicators.atr(self.config.atr_period)
        self.volume_ratio = indicators.volume_ratio(20)

    def decide(self, window: BarWindow) -> float:
        k, d, j = zip(*self.kdj.history, strict=True)  # each (before, now)
        if self.layers.side == 0:
            self._enter(window, k, d, j)
        else:
            self._manage(window, k, d, j)
        return self.layers.exposure

    def _enter(self, window: BarWindow, k, d, j) -> None:
        cfg, close = self.config, window.close
        up = close[-1] > close[-2]
        heavy = self.volume_ratio[-1] > 1.2
        if j[-1] < cfg.j_buy or k[-1] < cfg.k_buy:
            score = votes(k[-2] <= d[-2] and k[-1] > d[-1], heavy, up)
            if score >= 2:
                self.layers.open(
                    1,
                    close[-1],
                    window.count,
                    score - 1,
                    j[-1],
                    reason="KDJ oversold and turning up",
                )
        elif j[-1] > cfg.j_sell and k[-1] > cfg.k_sell:
            death = k[-2] >= d[-2] and k[-1] < d[-1]
            if death or (not up and heavy):
                why = "KDJ death cross" if death else "KDJ overbought with heavy selling"
                self.layers.open(-1, close[-1], window.count, level=j[-1], reason=why)

    def _manage(self, window: BarWindow, k, d, j) -> None:
        cfg, layers = self.config, self.layers
        side, price = layers.side, window.close[-1]
        km, kp = mirror(k[-1], side), mirror(k[-2], side)
        dm, dp = mirror(d[-1], side), mirror(d[-2], side)
        jm, jp = mirror(j[-1], side), mirror(j[-2], side)
        atr_now = self.atr[-1]
        why = first_rule(
            ("KDJ crossed against the trade", kp >= dp and km < dm and km > 70),
            ("J turned from extreme", jm > 80 and jm - jp < -10),
            ("ATR stop", layers.stop_hit(price, cfg.atr_mult * atr_now)),
            ("profit target", layers.profit(price) > cfg.profit_target and (jm > 70 or km > 70)),
        )
        if why:
            layers.close(reason=why)
        elif layers.can_add and (
            jm < mirror(layers.entry_level, side) - 5 or (kp <= dp and km > dm and km < 30)
        ):
            layers.add(price, window.count, level=j[-1], reason="KDJ more extreme")

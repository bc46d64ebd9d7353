"""ATRBreakout (Algorithm 8): breakouts from an ATR channel around the moving average."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule, votes


class ATRBreakoutConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 8 with the paper's parameters (MA 20, ATR 20, entry 1.5, exit 0.75, stop 1.2);
    the paper gives no layer limit, we use L=3.

    Channel: MA -/+ entry_mult x ATR, recomputed every bar.

    - Entry: close above the upper channel (long) or below the lower one (short); 1 layer, or 2
      when the close is more than 0.5 x ATR beyond the channel ("quality score").
    - Stop: set at entry to entry -/+ m x ATR, reset to average entry -/+ m x ATR on each add
      (m = `atr_mult`, the paper's stop multiple 1.2).
    - Exit: close back inside MA + exit_mult x ATR (long) / MA - exit_mult x ATR (short), or
      through the stop.
    - Add ("breakout continues"): close still beyond the entry channel and at least 0.5 x ATR
      beyond the last entry.
    """

    atr_period: PositiveInt = 20
    atr_mult: PositiveFloat = 1.2
    ma_period: PositiveInt = 20
    entry_mult: PositiveFloat = 1.5
    exit_mult: PositiveFloat = 0.75


class ATRBreakout(RoutedStrategy):
    """Breakout expert: trades volatility-scaled breaks away from the moving average."""

    def _attach(self, indicators: BarIndicators) -> None:
        self.ma = indicators.sma(self.config.ma_period)
        self.atr = indicators.atr(self.config.atr_period)

    def decide(self, window: BarWindow) -> float:
        cfg, layers = self.config, self.layers
        price, ma, atr_now = window.close[-1], self.ma[-1], self.atr[-1]
        if layers.side == 0:
            beyond = abs(price - ma) - cfg.entry_mult * atr_now  # distance outside the channel
            if beyond > 0:
                side = 1 if price > ma else -1
                layers.open(
                    side,
                    price,
                    window.count,
                    1 + votes(beyond > 0.5 * atr_now),
                    reason="ATR channel broken",
                )
                layers.place_stop(cfg.atr_mult * atr_now)
            return layers.exposure
        side = layers.side
        exit_price = ma + side * cfg.exit_mult * atr_now
        why = first_rule(
            ("stop", layers.stopped(price)),
            ("back inside the exit band", side * (price - exit_price) < 0),
        )
        if why:
            layers.close(reason=why)
        elif (
            layers.can_add
            and side * (price - ma) > cfg.entry_mult * atr_now
            and side * (price - layers.last_entry) >= 0.5 * atr_now
        ):
            layers.add(price, window.count, reason="further beyond the channel")
            layers.place_stop(cfg.atr_mult * atr_now)
        return layers.exposure

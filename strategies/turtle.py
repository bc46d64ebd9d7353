"""Turtle (Algorithm 3): Donchian breakouts with unit pyramiding, N-stops and one partial profit."""

from nautilus_trader.config import PositiveFloat, PositiveInt

from strategies.bar_indicators import BarIndicators
from strategies.base import LayeredConfig, RoutedStrategy
from strategies.indicators import BarWindow
from strategies.layers import first_rule


class TurtleConfig(LayeredConfig, kw_only=True, frozen=True):
    """Algorithm 3 with the paper's parameters (entry 20, exit 10, ATR 20, m=2.0, U=5 units).

    Channels are the highest high / lowest low of the bars BEFORE the current one.

    - Entry: close above the 20-bar high -> long 1 unit; below the 20-bar low -> short 1 unit.
      Each unit is 1/U of the strategy's capital: the router, not volatility, sizes capital.
    - Stop ("dynamic m x ATR"): the classic Turtle 2N stop, m x the current ATR from the MOST
      RECENT unit's entry, so it trails up as units are added.
    - Exit: close beyond the 10-bar channel against the trade (long: below the 10-bar low).
    - Partial profit: once per trade, when profit on the average entry exceeds 10% and more
      than one unit is held, drop one unit; the trade adds no units after that.
    - Add ("pyramid signal"): the classic rule, close at least `add_step` (0.5) x ATR beyond
      the last unit's entry in the trade's direction.
    """

    atr_period: PositiveInt = 20
    atr_mult: PositiveFloat = 2.0
    max_layers: PositiveInt = 5
    entry_period: PositiveInt = 20
    exit_period: PositiveInt = 10
    take_profit: PositiveFloat = 0.10
    add_step: PositiveFloat = 0.5


class Turtle(RoutedStrategy):
    """Trend expert: the Turtle breakout system on a fixed capital share per unit."""

    def __init__(self, config: TurtleConfig) -> None:
        super().__init__(config)
        self.took_profit = False

    def _attach(self, indicators: BarIndicators) -> None:
        cfg = self.config
        self.entry_channel = indicators.channel(cfg.entry_period)
        self.exit_channel = indicators.channel(cfg.exit_period)
        self.atr = indicators.atr(cfg.atr_period)

    def decide(self, window: BarWindow) -> float:
        cfg, price = self.config, window.close[-1]
        if self.layers.side == 0:
            high, low = self.entry_channel[-2]  # the bars before this one
            if price > high or price < low:
                side = 1 if price > high else -1
                why = f"{cfg.entry_period}-bar {'high' if side > 0 else 'low'} broken"
                self.layers.open(side, price, window.count, reason=why)
                self.took_profit = False
        else:
            self._manage(window, price)
        return self.layers.exposure

    def _manage(self, window: BarWindow, price: float) -> None:
        cfg, layers = self.config, self.layers
        side = layers.side
        high, low = self.exit_channel[-2]
        exit_level = low if side > 0 else high
        atr_now = self.atr[-1]
        beyond_last = side * (price - layers.last_entry)
        why = first_rule(
            (f"{cfg.exit_period}-bar exit channel", side * (price - exit_level) < 0),
            ("ATR stop", beyond_last < -cfg.atr_mult * atr_now),
        )
        if why:
            layers.close(reason=why)
        elif not self.took_profit and layers.count > 1 and layers.profit(price) > cfg.take_profit:
            layers.reduce(reason="take profit")
            self.took_profit = True
        elif not self.took_profit and layers.can_add and beyond_last >= cfg.add_step * atr_now:
            layers.add(price, window.count, reason="half-ATR step")

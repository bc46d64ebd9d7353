"""LongOnly (Algorithm 9): hold a full long position at all times."""

from nautilus_trader.config import PositiveInt

from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.indicators import BarWindow


class LongOnlyConfig(RoutedStrategyConfig, frozen=True):
    """Always long: the signal is +1 from the first bar (no indicators, so one warm-up bar)."""

    warmup_bars: PositiveInt = 1


class LongOnly(RoutedStrategy):
    """Buy on the first bar and hold; the router decides how much capital that is."""

    def decide(self, window: BarWindow) -> float:
        return 1.0

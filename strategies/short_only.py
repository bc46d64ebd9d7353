"""ShortOnly (Algorithm 10): hold a full short position at all times."""

from nautilus_trader.config import PositiveInt

from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.indicators import BarWindow


class ShortOnlyConfig(RoutedStrategyConfig, frozen=True):
    """Always short: the signal is -1 from the first bar; on long-only (spot) accounts it is
    clipped to 0, so the strategy holds nothing there."""

    warmup_bars: PositiveInt = 1


class ShortOnly(RoutedStrategy):
    """Sell short on the first bar and keep the short; the router decides its size."""

    def decide(self, window: BarWindow) -> float:
        return -1.0

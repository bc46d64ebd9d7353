"""Cash (Algorithm 11): hold no position; capital routed here stays in cash."""

from nautilus_trader.config import PositiveInt

from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.indicators import BarWindow


class CashConfig(RoutedStrategyConfig, frozen=True):
    """Always flat: the signal is 0 on every bar."""

    warmup_bars: PositiveInt = 1


class Cash(RoutedStrategy):
    """Never trades: a real choice for the router to hold no risk."""

    def decide(self, window: BarWindow) -> float:
        return 0.0

"""The strategy table: the eleven strategies of MM-DREX Appendix A, in the model's action order.

The order of `STRATEGIES` is the router model's action space: checkpoints record it and refuse
a mismatch, so append, never reorder. Users add rows of their own, after these, without editing
the package: `strategies.plugins`.
"""

from collections.abc import Collection
from typing import NamedTuple

from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId, StrategyId

from strategies.atr_breakout import ATRBreakout, ATRBreakoutConfig
from strategies.bar_indicators import BarIndicators
from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.bollinger import Bollinger, BollingerConfig
from strategies.cash import Cash, CashConfig
from strategies.kdj import KDJ, KDJConfig
from strategies.long_only import LongOnly, LongOnlyConfig
from strategies.ma_cross import MACross, MACrossConfig
from strategies.momentum import Momentum, MomentumConfig
from strategies.rsi import RSI, RSIConfig
from strategies.short_only import ShortOnly, ShortOnlyConfig
from strategies.turtle import Turtle, TurtleConfig
from strategies.volume_breakout import VolumeBreakout, VolumeBreakoutConfig

EXPERTS = ("trend", "reversal", "breakout", "position")


class StrategySpec(NamedTuple):
    """One row of the table: the strategy's name, its expert, and its classes."""

    name: str
    expert: str
    strategy: type[RoutedStrategy]
    config: type[RoutedStrategyConfig]


STRATEGIES: tuple[StrategySpec, ...] = (
    StrategySpec("MACross", "trend", MACross, MACrossConfig),
    StrategySpec("Momentum", "trend", Momentum, MomentumConfig),
    StrategySpec("Turtle", "trend", Turtle, TurtleConfig),
    StrategySpec("Bollinger", "reversal", Bollinger, BollingerConfig),
    StrategySpec("RSI", "reversal", RSI, RSIConfig),
    StrategySpec("KDJ", "reversal", KDJ, KDJConfig),
    StrategySpec("VolumeBreakout", "breakout", VolumeBreakout, VolumeBreakoutConfig),
    StrategySpec("ATRBreakout", "breakout", ATRBreakout, ATRBreakoutConfig),
    StrategySpec("LongOnly", "position", LongOnly, LongOnlyConfig),
    StrategySpec("ShortOnly", "position", ShortOnly, ShortOnlyConfig),
    StrategySpec("Cash", "position", Cash, CashConfig),
)


def strategy_names() -> tuple[str, ...]:
    """The strategy names in table order."""
    return tuple(spec.name for spec in STRATEGIES)


def strategy_id(name: str) -> StrategyId:
    """The StrategyId that `build_strategies` gives the strategy `name`: `{name}-{row:03d}`.

    Nautilus needs a distinct order-id tag per strategy, so the tag is the table row (a plug-in's
    row counts on after the built-in ones).
    """
    return StrategyId(f"{name}-{_all_names().index(name):03d}")


def name_of(strategy: StrategyId) -> str:
    """The table name in a StrategyId that `strategy_id` made (its tag cut off)."""
    return strategy.value.rsplit("-", 1)[0]


def build_strategies(
    instrument_id: InstrumentId,
    bar_type: BarType,
    *,
    long_only: bool = False,
    params: dict[str, dict] | None = None,
    plugins: Collection[str] = (),
    only: str | None = None,
) -> list[RoutedStrategy]:
    """One instance of every built-in strategy, and of the plug-ins named in `plugins`, in table
    order, with its default parameters except the config fields `params` sets per strategy name
    (e.g. {"RSI": {"period": 10}}, `bot sweep`); with `only`, just the strategy of that name."""
    from strategies.plugins import table  # it builds on this module

    params = params or {}
    strategies = [
        spec.strategy(
            spec.config(
                instrument_id=instrument_id,
                bar_type=bar_type,
                long_only=long_only,
                order_id_tag=f"{row:03d}",
                **params.get(spec.name, {}),
            )
        )
        for row, spec in enumerate(table())
        if (row < len(STRATEGIES) or spec.name in plugins) and only in (None, spec.name)
    ]
    shared = BarIndicators(bar_type)  # one ATR(14) for the six strategies that read it
    for strategy in strategies:
        strategy.share_indicators(shared)
    return strategies


def _all_names() -> tuple[str, ...]:
    from strategies.plugins import table  # it builds on this module

    return tuple(spec.name for spec in table())

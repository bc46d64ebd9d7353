"""Assembling a run: the router actor and the strategies, added in order to a backtest engine or
a live node's Trader, so both run the same components the same way."""

from collections.abc import Sequence
from typing import Protocol

from bot.engine.router import RouterActor
from strategies.base import RoutedStrategy


class ComponentHost(Protocol):
    """What `assemble` adds components to: a BacktestEngine or a live node's Trader."""

    def add_actor(self, actor: RouterActor) -> None: ...

    def add_strategy(self, strategy: RoutedStrategy) -> None: ...


def assemble(
    host: ComponentHost, strategies: Sequence[RoutedStrategy], actor: RouterActor
) -> RouterActor:
    """Add the router actor (first, so it sees each bar before the strategies) and then
    `strategies` to `host`; returns the actor, watching the strategies. Build the actor,
    `RouterActor(config, load_policy)`, before the engine or node: it loads its policy, and a
    model policy without `load_policy` (ConfigError) or whose model does not load
    (CheckpointError) stops the run before anything is built or trades."""
    actor.watch(list(strategies))
    host.add_actor(actor)
    for strategy in strategies:
        host.add_strategy(strategy)
    return actor

"""The contract every row of the strategy table keeps, built-in or plug-in, as one function:
`tests/strategies/test_contract.py` runs it over the table, and the test `bot strategies new`
writes beside a new strategy runs it on that one."""

import numpy as np
import pandas as pd
from nautilus_trader.model.instruments import Instrument

from strategies import StrategySpec
from strategies.base import RoutedStrategy, RoutedStrategyConfig
from tests.strategies.harness import bar_type_for, run, signals, sizing_gap, to_bars

WEIGHT = 0.4
SWITCH_OFF = 220  # the router moves the strategy's weight to 0 on this bar


def build(spec: StrategySpec, instrument: Instrument) -> RoutedStrategy:
    """The row's strategy with its default parameters."""
    return spec.strategy(
        spec.config(instrument_id=instrument.id, bar_type=bar_type_for(instrument))
    )


def check_contract(spec: StrategySpec, instrument: Instrument, regime: pd.DataFrame) -> None:
    """Run the strategy on `regime` (`patterns.regime()`) at WEIGHT, then 0 from SWITCH_OFF on,
    and assert the contract: it constructs from its frozen config, named after its row; no order
    during warm-up; the engine position follows weight x equity x signal / price; at weight 0 it
    holds nothing and stops trading; it never fails."""
    strategy = build(spec, instrument)
    other = "LongOnly" if spec.name == "Cash" else "Cash"
    schedule = {0: {spec.name: WEIGHT, other: 1 - WEIGHT}, SWITCH_OFF: {other: 1.0}}

    result = run(instrument, regime, [strategy], schedule)

    assert isinstance(strategy, RoutedStrategy) and strategy.name == spec.name
    assert isinstance(strategy.config, spec.config) and isinstance(
        strategy.config, RoutedStrategyConfig
    )
    assert type(strategy).__name__ == spec.name and spec.config.__name__ == f"{spec.name}Config"
    fills = result.fills_of(spec.name)
    if spec.name != "Cash":
        assert not fills.empty, "the regime series must make every directional strategy trade"
    assert fills.empty or fills["bar"].min() >= strategy.config.warmup_bars - 1
    exposure = signals(build(spec, instrument), to_bars(regime, instrument))
    assert np.all(np.abs(exposure) <= 1.0)
    weights = np.where(np.arange(len(regime)) < SWITCH_OFF, WEIGHT, 0.0)
    assert np.all(sizing_gap(result, spec.name, exposure, weights) <= 1e-9)
    assert np.all(result.held(spec.name)[SWITCH_OFF:] == 0)
    assert (fills["bar"] <= SWITCH_OFF).all()
    assert strategy.failure is None

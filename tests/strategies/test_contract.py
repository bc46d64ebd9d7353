"""The contract every strategy in the table keeps, checked on one seeded regime patterns."""

import pytest

from strategies import EXPERTS, STRATEGIES, build_strategies, strategy_id, strategy_names
from strategies.base import LayeredConfig
from strategies.plugins import table
from tests.strategies import patterns
from tests.strategies.contract import check_contract
from tests.strategies.harness import bar_type_for


@pytest.fixture(scope="module")
def regime():
    return patterns.regime()


def test_table_order_and_experts():
    assert strategy_names() == (
        "MACross",
        "Momentum",
        "Turtle",
        "Bollinger",
        "RSI",
        "KDJ",
        "VolumeBreakout",
        "ATRBreakout",
        "LongOnly",
        "ShortOnly",
        "Cash",
    )
    assert [spec.expert for spec in STRATEGIES] == [
        *["trend"] * 3,
        *["reversal"] * 3,
        *["breakout"] * 2,
        *["position"] * 3,
    ]
    assert set(spec.expert for spec in STRATEGIES) == set(EXPERTS)


def test_build_strategies_gives_stable_ids_and_the_long_only_flag(stock):
    built = build_strategies(stock.id, bar_type_for(stock), long_only=True)

    assert [s.name for s in built] == list(strategy_names())
    assert [s.id for s in built] == [strategy_id(name) for name in strategy_names()]
    assert all(s.config.long_only and s.config.oms_type == "NETTING" for s in built)


@pytest.mark.parametrize("spec", table(), ids=lambda spec: spec.name)
def test_strategy_keeps_the_contract(spec, stock, regime):
    check_contract(spec, stock, regime)  # a plug-in in BOT_STRATEGIES is checked too


# The parameters every layered algorithm shares, as the paper gives them (Appendix A):
# (warmup_bars, atr_period, atr_mult, max_layers); each config overrides only what differs.
PAPER_SHARED = {
    "MACross": (100, 14, 1.5, 4),
    "Momentum": (100, 14, 1.5, 3),
    "Turtle": (100, 20, 2.0, 5),
    "Bollinger": (100, 14, 1.8, 3),
    "RSI": (100, 14, 1.8, 3),
    "KDJ": (100, 14, 1.8, 3),
    "VolumeBreakout": (100, 14, 1.8, 3),
    "ATRBreakout": (100, 20, 1.2, 3),
}


@pytest.mark.parametrize("spec", STRATEGIES, ids=lambda spec: spec.name)
def test_layered_configs_keep_the_papers_shared_parameters(spec, stock):
    config = spec.config(instrument_id=stock.id, bar_type=bar_type_for(stock))

    if spec.name not in PAPER_SHARED:
        assert not isinstance(config, LayeredConfig) and config.warmup_bars == 1
        return
    assert isinstance(config, LayeredConfig)
    shared = (config.warmup_bars, config.atr_period, config.atr_mult, config.max_layers)
    assert shared == PAPER_SHARED[spec.name]
    overridden = spec.config(
        instrument_id=stock.id, bar_type=bar_type_for(stock), atr_mult=2.5, max_layers=2
    )
    assert (overridden.atr_mult, overridden.max_layers) == (2.5, 2)

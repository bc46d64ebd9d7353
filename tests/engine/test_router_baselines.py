"""The `rule` and `momentum` baseline routers: crafted decisions, no look-ahead, real backtests."""

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.regime import REGIMES, WARMUP_BARS, trailing_regimes
from bot.core.settings import RouterSettings, TrainSettings
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.data import load_bars, store_bars
from bot.engine.policy import (
    GuardedPolicy,
    PolicySpec,
    RouterContext,
    build_policy,
    check_policy,
    expert_weights,
)
from bot.engine.router_baselines import MOMENTUM_BARS, REGIME_EXPERTS, RULE_HORIZON
from bot.model.policy import load_policy
from strategies import EXPERTS, STRATEGIES

MEMBERS = {e: [s.name for s in STRATEGIES if s.expert == e] for e in EXPERTS}
COLUMNS = {e: [i for i, s in enumerate(STRATEGIES) if s.expert == e] for e in EXPERTS}
NO_RETURNS = np.zeros((0, len(STRATEGIES)))
SLICE = BacktestRequest(symbol="SPX", start=date(2018, 1, 1), end=date(2019, 12, 31))


def _frame(close: np.ndarray) -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=len(close), tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1e3},
        index=index,
    )


def _rule(bars: pd.DataFrame, name: str = "rule"):
    return build_policy(PolicySpec(name)).decide(context=RouterContext(bars, NO_RETURNS))


def _only(decision, expert: str) -> None:
    assert decision.experts[expert] == pytest.approx(1.0)
    assert {n for n, w in decision.weights.items() if w > 0} == set(MEMBERS[expert])
    assert math.fsum(decision.weights.values()) == pytest.approx(1.0)


def test_rule_horizon_is_the_default_label_horizon():
    assert RULE_HORIZON == TrainSettings().horizon


@pytest.mark.parametrize(
    ("close", "regime"),
    [
        (100.0 + np.arange(250.0), "uptrend"),
        (400.0 - np.arange(250.0), "downtrend"),
        (100.0 + np.tile([0.0, 1.0], 125), "consolidation"),
    ],
    ids=["rise", "fall", "zigzag"],
)
def test_rule_maps_the_trailing_regime_to_its_expert(close, regime):
    decision = _rule(_frame(close))

    _only(decision, REGIME_EXPERTS[regime])
    assert decision.regime == {name: float(name == regime) for name in REGIMES}
    assert decision.policy == "rule" and not decision.fallback


def test_rule_reads_only_its_trailing_span():
    # 150 rising bars, then 100 of zigzag: rule:90 sees only the range, rule:200 the rise too.
    close = np.r_[100.0 + np.arange(150.0), 249.0 + np.tile([0.0, 1.0], 50)]

    _only(_rule(_frame(close), "rule:90"), "reversal")
    _only(_rule(_frame(close), "rule:200"), "trend")


def test_rule_decision_is_the_evaluations_trailing_regime():
    bars = load_bars("SPX", start="2015-01-01", end="2019-12-31")
    regimes = trailing_regimes(bars, RULE_HORIZON)

    for t in range(REQUIRED_BARS, len(bars), 97):
        decision = _rule(bars.iloc[t + 1 - REQUIRED_BARS : t + 1])
        _only(decision, REGIME_EXPERTS[REGIMES[regimes[t]]])


def test_rule_refuses_a_history_shorter_than_its_span_plus_warmup():
    needed = RULE_HORIZON + WARMUP_BARS

    _rule(_frame(100.0 + np.arange(float(needed))))
    with pytest.raises(DataError, match=f"needs {needed} bars"):
        _rule(_frame(100.0 + np.arange(needed - 1.0)))


@pytest.mark.parametrize("name", ["rule:0", "rule:abc", "rule:-5", f"rule:{REQUIRED_BARS}"])
def test_rule_refuses_a_bad_span(name):
    with pytest.raises(ConfigError, match="rule:<bars>"):
        check_policy(PolicySpec(name))


def _returns(best: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.01, (MOMENTUM_BARS, len(STRATEGIES)))
    returns[:, COLUMNS[best]] += 0.004
    return returns


def _momentum(returns: np.ndarray):
    bars = _frame(100.0 + np.arange(10.0))
    return build_policy(PolicySpec("momentum")).decide(context=RouterContext(bars, returns))


@pytest.mark.parametrize("best", ["trend", "reversal", "breakout"])
def test_momentum_picks_the_expert_whose_strategies_earned_most(best):
    _only(_momentum(_returns(best)), best)


def test_momentum_reads_only_the_last_window_of_returns():
    old, recent = _returns("trend", seed=1), _returns("breakout", seed=2)

    _only(_momentum(np.r_[old, recent]), "breakout")


def test_momentum_is_uniform_until_a_full_window_exists():
    decision = _momentum(_returns("trend")[1:])

    assert all(w == pytest.approx(1 / 11) for w in decision.weights.values())
    assert decision.policy == "momentum"


def test_momentum_refuses_returns_of_another_table():
    with pytest.raises(DataError, match="all 11 strategies"):
        _momentum(np.zeros((MOMENTUM_BARS, 3)))


def test_guarded_baseline_gets_the_context_and_never_builds_an_observation():
    def observe():
        raise AssertionError("a bar baseline must not build the chart observation")

    guarded = GuardedPolicy(PolicySpec("rule"), "uniform", 5.0)
    bars = _frame(100.0 + np.arange(250.0))

    decision, observation = guarded.decide(observe, lambda: RouterContext(bars, NO_RETURNS))
    needed = RULE_HORIZON + WARMUP_BARS
    short, _ = guarded.decide(observe, lambda: RouterContext(bars.iloc[: needed - 1], NO_RETURNS))

    assert observation is None and not decision.fallback
    _only(decision, "trend")
    assert short.fallback and short.policy == "uniform" and f"needs {needed} bars" in short.error


@pytest.mark.parametrize("fallback", ["rule", "momentum"])
def test_a_bar_baseline_cannot_be_the_fallback(fallback):
    with pytest.raises(ConfigError, match="not a static policy"):
        GuardedPolicy(PolicySpec("uniform"), fallback, 5.0)
    with pytest.raises(ValueError, match="router.fallback must be a static policy"):
        RouterSettings(fallback=fallback)


def test_unknown_policy_error_lists_the_baselines():
    with pytest.raises(ConfigError) as caught:
        build_policy(PolicySpec("bogus"))

    assert all(name in str(caught.value) for name in ("rule", "momentum", "lgbm:"))


def _dominant(weights: pd.DataFrame) -> pd.Series:
    return weights.apply(
        lambda row: max(expert_weights(row.to_dict()).items(), key=lambda kv: kv[1])[0], axis=1
    )


@pytest.mark.parametrize("policy", ["rule", "momentum"])
def test_backtest_routes_with_the_baseline_and_its_weights_change(policy):
    result = run_backtest(replace(SLICE, policy=policy), load_policy)

    assert not any("fell back" in flag for flag in result.flags)
    assert np.allclose(result.weights.sum(axis=1), 1.0)
    assert _dominant(result.weights).nunique() >= 2
    assert (result.weights.max(axis=1) >= 1 / 3 - 1e-9).all()  # one expert at a time


@pytest.mark.parametrize("policy", ["rule", "momentum"])
def test_backtest_no_look_ahead_changing_future_bars_keeps_past_decisions(policy, tmp_path):
    shift = pd.Timestamp("2019-01-01", tz="UTC")
    altered = load_bars("SPX")
    future = altered.index >= shift
    noise = np.exp(np.cumsum(np.random.default_rng(0).normal(0.0, 0.02, future.sum())))
    for column in ("open", "high", "low", "close"):
        altered.loc[future, column] *= noise
    store_bars(altered, "SPX", "index", "1d", policy="strict", catalog_dir=tmp_path)

    base = run_backtest(replace(SLICE, policy=policy), load_policy)
    changed = run_backtest(replace(SLICE, policy=policy, catalog=str(tmp_path)), load_policy)

    past = base.weights.index < shift
    pd.testing.assert_frame_equal(
        base.weights[past], changed.weights[changed.weights.index < shift]
    )
    assert not base.weights[~past].equals(changed.weights[changed.weights.index >= shift])

"""Baseline routers that a learned router must beat, deciding from past bars only.

- `rule` (`rule:<bars>`): the regime of the last `RULE_HORIZON` bars up to and including the
  decision bar (`bot.core.regime.trailing_regimes`, the labelling rule on past bars), mapped to an
  expert by `REGIME_EXPERTS`, capital spread evenly over that expert's strategies.
- `momentum`: the expert whose strategies, blended evenly, had the best Sharpe over the last
  `MOMENTUM_BARS` bars of unit-capital returns (`RouterContext.unit_returns`); uniform over all
  eleven strategies until that much history exists.
(The LightGBM router, `lgbm:<dir>`, is a model: `bot.model.lgbm`.)

Both read the router's `RouterContext` (never the chart observation), are deterministic,
and see nothing after the decision bar.
"""

import numpy as np

from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.metrics import sharpe
from bot.core.observation import Observation
from bot.core.regime import REGIMES, WARMUP_BARS, trailing_regimes
from bot.engine.policy import (
    Decision,
    Policy,
    RouterContext,
    complete,
    expert_uniform,
    expert_weights,
)
from strategies import EXPERTS, STRATEGIES, strategy_names

# Trend strategies go short as well as long, so a downtrend is their regime too (ShortOnly
# would hold its short through every rebound); a range is the reversal strategies'. The rule
# never picks breakout or position: no regime of the labelling rule points at them.
REGIME_EXPERTS = {"uptrend": "trend", "downtrend": "trend", "consolidation": "reversal"}
RULE_HORIZON = 20  # bars: the default label horizon H (`train.horizon`; the paper's is 90)
MAX_RULE_HORIZON = REQUIRED_BARS - WARMUP_BARS  # what the router's bar history can hold
MOMENTUM_BARS = 60  # bars of unit returns behind a momentum decision (about a quarter of days)


def build_baseline(name: str) -> Policy | None:
    """The baseline policy `name` names (`rule`, `rule:<bars>`, `momentum`), or None for
    another name."""
    if name == "rule":
        return RulePolicy(RULE_HORIZON)
    if name.startswith("rule:"):
        return RulePolicy(_bars(name))
    if name == "momentum":
        return MomentumPolicy(MOMENTUM_BARS)
    return None


def _bars(name: str) -> int:
    text = name.removeprefix("rule:")
    if not text.isdigit() or not 1 <= int(text) <= MAX_RULE_HORIZON:
        raise ConfigError(
            f"Policy {name!r}: rule:<bars> takes the trailing span in bars, a whole number from "
            f"1 to {MAX_RULE_HORIZON} (the router keeps {REQUIRED_BARS} bars); e.g. rule:90."
        )
    return int(text)


def _need_context(context: RouterContext | None, name: str) -> RouterContext:
    if context is None:
        raise ConfigError(f"policy {name} decides from the router's bar history; none was given")
    return context


class RulePolicy:
    """The trailing regime of the labelling rule, mapped to an expert (`REGIME_EXPERTS`)."""

    needs_observation, needs_context = False, True

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.name = "rule" if horizon == RULE_HORIZON else f"rule:{horizon}"

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        bars = _need_context(context, self.name).bars
        needed = self.horizon + WARMUP_BARS
        if len(bars) < needed:
            raise DataError(
                f"{self.name} needs {needed} bars ({self.horizon} trailing plus {WARMUP_BARS} of "
                f"indicator warm-up) but the router holds {len(bars)}; the fallback decides."
            )
        regime = REGIMES[trailing_regimes(bars, self.horizon)[-1]]
        weights = expert_uniform(REGIME_EXPERTS[regime])
        return Decision(
            weights=complete(weights),
            experts=expert_weights(weights),
            policy=self.name,
            regime={name: float(name == regime) for name in REGIMES},
        )


class MomentumPolicy:
    """The expert with the best trailing Sharpe of its strategies' evenly blended unit returns."""

    needs_observation, needs_context = False, True

    def __init__(self, bars: int) -> None:
        self.bars = bars
        self.name = "momentum"
        self._members = {
            expert: [row for row, spec in enumerate(STRATEGIES) if spec.expert == expert]
            for expert in EXPERTS
        }

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        returns = np.asarray(_need_context(context, self.name).unit_returns, dtype=np.float64)
        if returns.ndim != 2 or returns.shape[1] != len(STRATEGIES):
            raise DataError(
                f"momentum needs unit returns of all {len(STRATEGIES)} strategies per bar, got an "
                f"array shaped {returns.shape}."
            )
        if len(returns) < self.bars:  # too little history: no expert has a record yet
            weights = dict.fromkeys(strategy_names(), 1 / len(STRATEGIES))
        else:
            weights = expert_uniform(self.best_expert(returns[-self.bars :]))
        return Decision(complete(weights), expert_weights(weights), self.name)

    def best_expert(self, returns: np.ndarray) -> str:
        """The expert whose even blend of `returns` (bars x strategies) has the best Sharpe;
        a tie goes to the first in `EXPERTS` order."""
        scores = {e: sharpe(returns[:, rows].mean(axis=1)) for e, rows in self._members.items()}
        return max(EXPERTS, key=lambda expert: scores[expert])

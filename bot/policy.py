"""Router policies behind one interface. The static ones are baselines and the safe fallback.

A policy spec is a string: `uniform`, `fixed`, `best-expert`, `random`, `single:<strategy>`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bot.errors import ConfigError
from strategies import EXPERTS, STRATEGIES, strategy_names

WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Decision:
    """One router decision: capital fraction per strategy (summing to 1) and expert weights."""

    weights: dict[str, float]
    experts: dict[str, float]
    policy: str
    regime: str | None = None
    fallback: bool = False


@dataclass(frozen=True)
class PolicySpec:
    """What the configuration asks for; `build_policy` turns it into a policy."""

    name: str
    weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    best_expert: str | None = None


class Policy(Protocol):
    name: str

    def decide(self, bars: Sequence | None = None) -> Decision:
        """Weights for the next window, from bars up to and including now."""
        ...


def validate_weights(weights: Mapping[str, float], *, what: str = "router.weights") -> None:
    """Refuse weights that name unknown strategies, lie outside 0..1 (NaN included), or do not
    sum to 1."""
    known = strategy_names()
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ConfigError(
            f"{what} names unknown strategies {unknown}. Known strategies: {', '.join(known)}."
        )
    outside = {name: w for name, w in weights.items() if not 0 <= w <= 1}  # NaN fails too
    if outside:
        raise ConfigError(
            f"{what} has fractions outside 0..1 {outside}; each must be a number from 0 to 1. "
            "Use Cash for capital you do not want at risk."
        )
    total = sum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ConfigError(
            f"{what} sums to {total:.6f}, not 1. Capital fractions must sum to 1; "
            "put any capital you do not want at risk on Cash."
        )


def expert_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Sum strategy fractions per expert."""
    out = dict.fromkeys(EXPERTS, 0.0)
    for spec in STRATEGIES:
        out[spec.expert] += weights.get(spec.name, 0.0)
    return out


def complete(weights: Mapping[str, float]) -> dict[str, float]:
    """All eleven strategies in table order, missing ones at 0."""
    return {name: float(weights.get(name, 0.0)) for name in strategy_names()}


class StaticPolicy:
    """The same weights at every decision."""

    def __init__(self, name: str, weights: Mapping[str, float]) -> None:
        validate_weights(weights, what=f"policy {name!r}")
        self.name = name
        self._decision = Decision(complete(weights), expert_weights(weights), name)

    def decide(self, bars: Sequence | None = None) -> Decision:
        return self._decision


class RandomPolicy:
    """Dirichlet(1, ..., 1) weights over the eleven strategies, freshly drawn per decision."""

    def __init__(self, seed: int) -> None:
        self.name = "random"
        self._rng = np.random.default_rng(seed)

    def decide(self, bars: Sequence | None = None) -> Decision:
        draw = self._rng.dirichlet(np.ones(len(STRATEGIES)))
        weights = dict(zip(strategy_names(), draw.tolist(), strict=True))
        return Decision(weights, expert_weights(weights), self.name)


def build_policy(spec: PolicySpec) -> Policy:
    """Turn a policy spec into a policy, refusing unknown names with the list of valid ones."""
    if spec.name == "uniform":
        return StaticPolicy("uniform", dict.fromkeys(strategy_names(), 1 / len(STRATEGIES)))
    if spec.name == "fixed":
        return StaticPolicy("fixed", spec.weights)
    if spec.name == "random":
        return RandomPolicy(spec.seed)
    if spec.name == "best-expert":
        return StaticPolicy("best-expert", _expert_uniform(spec.best_expert))
    if spec.name.startswith("single:"):
        name = spec.name.removeprefix("single:")
        return StaticPolicy(spec.name, {name: 1.0})
    raise ConfigError(
        f"Unknown router policy {spec.name!r}. Use one of: uniform, fixed, best-expert, random, "
        f"single:<strategy> (strategies: {', '.join(strategy_names())})."
    )


def check_policy(spec: PolicySpec) -> None:
    """Refuse a bad spec before any work is done (best-expert is resolved later, on data)."""
    if spec.name != "best-expert":
        build_policy(spec)


def _expert_uniform(expert: str | None) -> dict[str, float]:
    if expert not in EXPERTS:
        raise ConfigError(
            f"best-expert needs the expert chosen on the validation split; got {expert!r}. "
            f"Experts: {', '.join(EXPERTS)}."
        )
    members = [spec.name for spec in STRATEGIES if spec.expert == expert]
    return dict.fromkeys(members, 1 / len(members))

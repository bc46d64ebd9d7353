"""The paper's Table 1 baselines, each trained on the same samples as the experts and asked
the same question: P(next day up) for every test day.

- LightGBM: gradient-boosted trees on the 55 inputs.
- MLP: one FNN (64 -> 32) on every train sample, no routing.
- LSTM: a 32-unit LSTM over the 5 days x 11 features, its last state to one logit.
- DNNE: five MLPs, each on a bootstrap sample of the train set, probabilities averaged.
- MoE_2, MoE_10: k small FNN experts under a learned softmax gate on the same inputs (the
  "static" neural router that LLMoE replaces), trained end to end.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.llmoe.experts import FitConfig, fit, fnn, predict

DNNE_MEMBERS = 5


@dataclass(frozen=True)
class Split:
    """Standardised inputs: `x_*` are (n, 55) rows, `days` how many days a row holds."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    days: int


def lightgbm(split: Split, config: FitConfig, seed: int) -> np.ndarray:
    """Gradient-boosted trees (lightgbm's own API, one thread: no scikit-learn needed)."""
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "seed": seed,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(split.x_train, split.y_train), num_boost_round=200)
    return booster.predict(split.x_test)


def mlp(split: Split, config: FitConfig, seed: int) -> np.ndarray:
    """One FNN on every train sample."""
    torch.manual_seed(seed)
    model = fnn(split.x_train.shape[1], (64, 32), (0.2, 0.0))
    return predict(fit(model, split.x_train, split.y_train, config, seed), split.x_test)


class _LSTM(nn.Module):
    def __init__(self, features: int, days: int, hidden: int = 32) -> None:
        super().__init__()
        self.days, self.features = days, features
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (state, _) = self.lstm(x.reshape(len(x), self.days, self.features))
        return self.head(state[-1])


def lstm(split: Split, config: FitConfig, seed: int) -> np.ndarray:
    """An LSTM over the window's days."""
    torch.manual_seed(seed)
    model = _LSTM(split.x_train.shape[1] // split.days, split.days)
    return predict(fit(model, split.x_train, split.y_train, config, seed), split.x_test)


def dnne(split: Split, config: FitConfig, seed: int) -> np.ndarray:
    """The mean of MLPs trained on bootstrap samples."""
    rng = np.random.default_rng(seed)
    members = []
    for member in range(DNNE_MEMBERS):
        rows = rng.integers(0, len(split.x_train), len(split.x_train))
        boot = Split(split.x_train[rows], split.y_train[rows], split.x_test, split.days)
        members.append(mlp(boot, config, seed * DNNE_MEMBERS + member))
    return np.mean(members, axis=0)


class _GatedMixture(nn.Module):
    """sum_k softmax(gate(x))_k * sigmoid(expert_k(x)), returned as a logit."""

    def __init__(self, inputs: int, experts: int) -> None:
        super().__init__()
        self.gate = nn.Linear(inputs, experts)
        self.experts = nn.ModuleList(fnn(inputs, (32,), (0.0,)) for _ in range(experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.gate(x), dim=-1)
        probs = torch.sigmoid(torch.cat([expert(x) for expert in self.experts], dim=-1))
        p = (weights * probs).sum(dim=-1, keepdim=True).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)


def moe(experts: int) -> Callable[[Split, FitConfig, int], np.ndarray]:
    """A MoE baseline with `experts` experts under a learned gate."""

    def run(split: Split, config: FitConfig, seed: int) -> np.ndarray:
        torch.manual_seed(seed)
        model = _GatedMixture(split.x_train.shape[1], experts)
        return predict(fit(model, split.x_train, split.y_train, config, seed), split.x_test)

    return run


# The Table 1 order: (row name, model).
LLMOE_BASELINES: tuple[tuple[str, Callable[[Split, FitConfig, int], np.ndarray]], ...] = (
    ("LightGBM", lightgbm),
    ("MLP", mlp),
    ("LSTM", lstm),
    ("DNNE", dnne),
    ("MoE_10", moe(10)),
    ("MoE_2", moe(2)),
)

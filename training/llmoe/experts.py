"""The FNN experts and the torch training loop that the neural baselines share.

An expert is the paper's FNN: 55 inputs -> 128 -> 64 (dropout 0.3) -> 32 (dropout 0.2) -> 1,
ReLU between, a sigmoid on the output (here folded into the loss as logits). The optimistic
expert trains on the train samples the router calls Optimistic, the pessimistic one on the rest;
at test time each day's routing picks the expert whose prediction is traded.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

MIN_SAMPLES = 8  # an expert with fewer routed samples than this learns the base rate only


@dataclass(frozen=True)
class FitConfig:
    """How every neural model here is trained (Adam on binary cross-entropy)."""

    epochs: int = field(default=60, metadata={"help": "Passes over the train samples."})
    batch_size: int = field(default=32, metadata={"help": "Samples per step."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    weight_decay: float = field(default=1e-4, metadata={"help": "Adam L2 penalty."})


def fnn(inputs: int, widths: tuple[int, ...] = (128, 64, 32), dropout=(0.0, 0.3, 0.2)) -> nn.Module:
    """The paper's expert network (by default), producing one logit."""
    layers: list[nn.Module] = []
    for width, rate in zip(widths, dropout, strict=True):
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        layers += [nn.Dropout(rate)] if rate else []
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 1))


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, config: FitConfig, seed: int) -> nn.Module:
    """Train `model` (inputs -> one logit per row) on (x, y) and return it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for batch in order.split(config.batch_size):
            optimizer.zero_grad()
            loss_fn(model(inputs[batch]).reshape(-1), targets[batch]).backward()
            optimizer.step()
    return model.eval()


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """P(next day up) per row."""
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(x)).reshape(-1)).numpy()


@dataclass
class RoutedExperts:
    """The optimistic and pessimistic experts; `base_rate` answers for one too small to train."""

    optimistic: nn.Module | None
    pessimistic: nn.Module | None
    base_rate: float

    def predict(self, x: np.ndarray, optimistic: np.ndarray) -> np.ndarray:
        """Each row's prediction by the expert its routing selects."""
        result = np.full(len(x), self.base_rate, dtype=float)
        for expert, rows in ((self.optimistic, optimistic), (self.pessimistic, ~optimistic)):
            if expert is not None and rows.any():
                result[rows] = predict(expert, x[rows])
        return result


def train_experts(
    x: np.ndarray, y: np.ndarray, optimistic: np.ndarray, config: FitConfig, seed: int
) -> RoutedExperts:
    """One expert per routing, each trained on its own samples only."""
    experts = []
    for offset, rows in enumerate((optimistic, ~optimistic)):
        if rows.sum() < MIN_SAMPLES:
            experts.append(None)
            continue
        torch.manual_seed(seed * 2 + offset)
        experts.append(fit(fnn(x.shape[1]), x[rows], y[rows], config, seed * 2 + offset))
    return RoutedExperts(experts[0], experts[1], float(np.mean(y)))

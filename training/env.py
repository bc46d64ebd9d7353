"""The PPO environment: replays the precomputed strategy return paths window by window.

An action is a capital allocation over the eleven strategies, the one that is traded. Its
window's portfolio returns are the allocation-weighted per-bar returns of the strategies'
single-strategy backtests (costs inside), less the turnover cost `fee_bps` x |w_t - w_{t-1}|_1
charged on the window's first bar. The base reward (paper eq. 12),
all from `bot.core.metrics`:

    alpha_r * tanh(excess / scale) + alpha_s * tanh(Sharpe / 3) - alpha_d * max drawdown / scale

with excess = the window's total return minus `benchmark` x buy-and-hold's (1, the paper's
excess return; 0, the window's own return), and `scale` a typical window move (2%). tanh is the
paper's smoothing f, g: it keeps one outlier window from dominating a batch. The Sharpe of a
20-bar window is annualised like any other and is noisy, hence its small weight.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bot.core.bars import bar_interval
from bot.core.metrics import max_drawdown, sharpe, total_return
from training.router_dataset import RouterDataset


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward's terms."""

    alpha_r: float = 1.0
    alpha_s: float = 0.2
    alpha_d: float = 0.5
    scale: float = 0.02
    benchmark: float = 1.0
    fee_bps: float = 10.0
    periods_per_year: int = 252  # bars per year, for the Sharpe; set from the dataset


class WindowEnv:
    """Windows after each decision: `paths` (n, stride, 11) per-bar strategy returns, `hold`
    (n, stride) buy-and-hold returns, `episodes` the row sequences of each instrument."""

    def __init__(
        self,
        paths: np.ndarray,
        hold: np.ndarray,
        episodes: list[np.ndarray],
        config: RewardConfig = RewardConfig(),
    ) -> None:
        self.paths, self.hold, self.episodes, self.config = paths, hold, episodes, config

    @classmethod
    def from_dataset(
        cls, dataset: RouterDataset, config: RewardConfig = RewardConfig()
    ) -> "WindowEnv":
        """The environment over every row of `dataset` (one split of it, typically)."""
        rows = np.arange(len(dataset))
        return cls(
            dataset.window_paths(rows),
            dataset.hold_paths(rows),
            dataset.episodes(dataset.samples["split"].iloc[0]),
            replace(config, periods_per_year=_bars_per_year(dataset)),
        )

    def returns(self, row: int, weights: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Per-bar returns of holding `weights` over row's window after holding `previous`,
        net of the turnover cost."""
        returns = self.paths[row] @ weights
        cost = self.config.fee_bps * 1e-4 * np.abs(weights - previous).sum()
        returns[0] = (1.0 + returns[0]) * (1.0 - cost) - 1.0
        return returns

    def reward(self, row: int, weights: np.ndarray, previous: np.ndarray) -> float:
        """The base reward of holding `weights` over row's window after holding `previous`."""
        c = self.config
        returns = self.returns(row, weights, previous)
        excess = total_return(returns) - c.benchmark * total_return(self.hold[row])
        ratio = sharpe(returns, c.periods_per_year)
        return float(
            c.alpha_r * np.tanh(excess / c.scale)
            + c.alpha_s * np.tanh(ratio / 3.0)
            - c.alpha_d * max_drawdown(returns) / c.scale
        )

    def mean_reward(self, weights: np.ndarray) -> float:
        """The mean base reward of holding `weights[row]` (n, 11) over every window, each
        instrument's windows in time order."""
        return float(np.mean([self.reward(row, w, p) for row, w, p in self._chain(weights)]))

    def sharpe(self, weights: np.ndarray) -> float:
        """The annualised Sharpe of the per-bar returns of holding `weights[row]` over every
        window, turnover costs included: the figure evaluation reports, on the replay."""
        bars = [self.returns(row, w, p) for row, w, p in self._chain(weights)]
        return sharpe(np.concatenate(bars), self.config.periods_per_year)

    def _chain(self, weights: np.ndarray):
        for episode in self.episodes:
            previous = np.zeros(weights.shape[1])
            for row in episode:
                yield row, weights[row], previous
                previous = weights[row]


def _bars_per_year(dataset: RouterDataset) -> int:
    """Bars in a year: crypto trades around the clock every day, other assets 252 days of
    6.5 hours (one bar a day on daily bars)."""
    interval = bar_interval(dataset.config.bar)
    classes = {info["asset_class"] for info in dataset.meta["symbols"].values()}
    if classes == {"crypto"}:
        return round(365 * pd.Timedelta(days=1) / interval)
    return 252 * max(1, round(pd.Timedelta(hours=6.5) / interval))

"""Forward regime labels for supervised fine-tuning (MM-DREX "Training", SFT labels).

The per-bar rule lives in `bot.regime` (the engine's `rule` policy uses it on past bars): a bar
is "up" when MA5 > MA20, ADX(14) > 15 and +DI > -DI, and "down" when MA5 < MA20, ADX(14) > 15
and -DI > +DI; a bar whose indicators are not yet defined is neither. The label of decision bar
t looks at the H bars after it, t+1 .. t+H: uptrend when at least half of them are up, else
downtrend when at least half are down, else consolidation (codes in `training.model.REGIMES`
order, which is `bot.regime.REGIMES`). On an exact 50/50 split uptrend wins, the first listed
regime.

Labels look into the future by design; observations never do. A bar whose window runs past the
end of the data gets no label (`NO_LABEL`) and never becomes a sample.
"""

import numpy as np
import pandas as pd

from bot.regime import (
    ADX_THRESHOLD,
    CONSOLIDATION,
    DOWNTREND,
    NO_LABEL,
    UPTREND,
    check_horizon,
    classify,
    trend_bars,
)

__all__ = [
    "ADX_THRESHOLD",
    "CONSOLIDATION",
    "DOWNTREND",
    "NO_LABEL",
    "UPTREND",
    "regime_labels",
    "trend_bars",
]


def regime_labels(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """The regime label (0 uptrend, 1 downtrend, 2 consolidation) of every bar of `frame` over
    its next `horizon` bars, and `NO_LABEL` (-1) where fewer than `horizon` bars follow."""
    check_horizon(horizon)
    up, down = trend_bars(frame)
    labels = np.full(len(frame), NO_LABEL, dtype=np.int64)
    last = len(frame) - horizon  # bars 0 .. last-1 have a full window
    if last <= 0:
        return labels
    # Counts over t+1 .. t+H as differences of running sums.
    up_sum, down_sum = np.r_[0, np.cumsum(up)], np.r_[0, np.cumsum(down)]
    starts = np.arange(last) + 1
    ups = up_sum[starts + horizon] - up_sum[starts]
    downs = down_sum[starts + horizon] - down_sum[starts]
    labels[:last] = classify(ups, downs, horizon)
    return labels

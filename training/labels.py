"""Forward regime labels for supervised fine-tuning (MM-DREX "Training", SFT labels).

The per-bar rule lives in `bot.core.regime` (the engine's `rule` policy uses it on past bars): a bar
is "up" when MA5 > MA20, ADX(14) > 15 and +DI > -DI, and "down" when MA5 < MA20, ADX(14) > 15
and -DI > +DI; a bar whose indicators are not yet defined is neither. The label of decision bar
t looks at the H bars after it, t+1 .. t+H: uptrend when at least half of them are up, else
downtrend when at least half are down, else consolidation (codes in `bot.model.router_model.REGIMES`
order, which is `bot.core.regime.REGIMES`). On an exact 50/50 split uptrend wins, the first listed
regime.

Labels look into the future by design; observations never do. A bar whose window runs past the
end of the data gets no label (`NO_LABEL`) and never becomes a sample.
"""

import numpy as np
import pandas as pd

from bot.core.regime import (
    ADX_THRESHOLD,
    CONSOLIDATION,
    DOWNTREND,
    NO_LABEL,
    UPTREND,
    trailing_regimes,
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
    # The span t+1 .. t+H of bar t is the trailing span of bar t+H: one counting rule serves
    # the forward labels and the `rule` policy.
    trailing = trailing_regimes(frame, horizon)
    labels = np.full(len(frame), NO_LABEL, dtype=np.int64)
    last = len(frame) - horizon  # bars 0 .. last-1 have a full window
    if last > 0:
        labels[:last] = trailing[horizon:]
    return labels

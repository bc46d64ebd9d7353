"""Forward regime labels for supervised fine-tuning (MM-DREX "Training", SFT labels).

A bar is "up" when MA5 > MA20, ADX(14) > 15 and +DI > -DI, and "down" when MA5 < MA20,
ADX(14) > 15 and -DI > +DI; a bar whose indicators are not yet defined is neither. The label of
decision bar t looks at the H bars after it, t+1 .. t+H: uptrend when at least half of them are
up, else downtrend when at least half are down, else consolidation (codes in
`training.model.REGIMES` order). On an exact 50/50 split uptrend wins, the first listed regime.

Labels look into the future by design; observations never do. A bar whose window runs past the
end of the data gets no label (`NO_LABEL`) and never becomes a sample.
"""

import numpy as np
import pandas as pd

from bot.errors import ConfigError
from strategies import indicators
from training.model import REGIMES

UPTREND, DOWNTREND, CONSOLIDATION = (
    REGIMES.index(name) for name in ("uptrend", "downtrend", "consolidation")
)
NO_LABEL = -1
ADX_THRESHOLD = 15.0
_FAST, _SLOW, _ADX_PERIOD = 5, 20, 14
_HLC = ("high", "low", "close")


def trend_bars(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays (up, down) per bar of a bar frame, by the rule in the module docstring."""
    high, low, close = (np.ascontiguousarray(frame[c], dtype=np.float64) for c in _HLC)
    fast, slow = indicators.sma(close, _FAST), indicators.sma(close, _SLOW)
    adx, plus_di, minus_di = indicators.adx(high, low, close, _ADX_PERIOD)
    # NaN comparisons are False, so warm-up bars are neither up nor down.
    with np.errstate(invalid="ignore"):
        trending = adx > ADX_THRESHOLD
        up = (fast > slow) & trending & (plus_di > minus_di)
        down = (fast < slow) & trending & (minus_di > plus_di)
    return up, down


def regime_labels(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """The regime label (0 uptrend, 1 downtrend, 2 consolidation) of every bar of `frame` over
    its next `horizon` bars, and `NO_LABEL` (-1) where fewer than `horizon` bars follow."""
    if horizon < 1:
        raise ConfigError(f"The label horizon must be at least 1 bar, was {horizon}.")
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
    labels[:last] = np.where(
        2 * ups >= horizon, UPTREND, np.where(2 * downs >= horizon, DOWNTREND, CONSOLIDATION)
    )
    return labels

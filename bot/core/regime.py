"""The market-regime rule: which bars trend up or down, and the regime of a span of bars.

A bar is "up" when MA5 > MA20, ADX(14) > 15 and +DI > -DI, and "down" when MA5 < MA20,
ADX(14) > 15 and -DI > +DI; a bar whose indicators are not yet defined (the first
`WARMUP_BARS`) is neither. A span of H bars is an uptrend when at least half of them are up,
else a downtrend when at least half are down, else consolidation (codes in `REGIMES` order; on
an exact 50/50 split uptrend wins, the first listed regime).

Two users, one rule: `training.labels` labels decision bar t by the H bars AFTER it (the forward
training label), and `trailing_regimes` gives every bar the regime of the H bars up to and
including it (past bars only: the `rule` router policy and the trailing-regime baseline of the
evaluation). The indicators are causal, so a bar's up/down flag never depends on later bars.
"""

import numpy as np
import pandas as pd

from bot.core.errors import ConfigError
from strategies import indicators

REGIMES = ("uptrend", "downtrend", "consolidation")  # the model's regime-head order
UPTREND, DOWNTREND, CONSOLIDATION = range(len(REGIMES))
NO_LABEL = -1
ADX_THRESHOLD = 15.0
FAST, SLOW, ADX_PERIOD = 5, 20, 14
WARMUP_BARS = 2 * ADX_PERIOD  # bars before ADX (and MA20) are defined: never up nor down
_HLC = ("high", "low", "close")


def trend_bars(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays (up, down) per bar of a bar frame, by the rule in the module docstring."""
    high, low, close = (np.ascontiguousarray(frame[c], dtype=np.float64) for c in _HLC)
    fast, slow = indicators.sma(close, FAST), indicators.sma(close, SLOW)
    adx, plus_di, minus_di = indicators.adx(high, low, close, ADX_PERIOD)
    # NaN comparisons are False, so warm-up bars are neither up nor down.
    with np.errstate(invalid="ignore"):
        trending = adx > ADX_THRESHOLD
        up = (fast > slow) & trending & (plus_di > minus_di)
        down = (fast < slow) & trending & (minus_di > plus_di)
    return up, down


def _classify(ups: np.ndarray, downs: np.ndarray, horizon: int) -> np.ndarray:
    """The regime code of spans of `horizon` bars holding `ups` up and `downs` down bars."""
    return np.where(
        2 * ups >= horizon, UPTREND, np.where(2 * downs >= horizon, DOWNTREND, CONSOLIDATION)
    )


def _check_horizon(horizon: int) -> None:
    """Refuse a span shorter than one bar."""
    if horizon < 1:
        raise ConfigError(f"The regime horizon must be at least 1 bar, was {horizon}.")


def trailing_regimes(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """The regime code of every bar t of `frame` over bars t-horizon+1 .. t (past bars only),
    and `NO_LABEL` (-1) where fewer than `horizon` bars lead up to t.

    The forward label of t (`training.labels.regime_labels`) reads bars t+1 .. t+horizon, so
    `trailing_regimes(frame, H)[t]` against `regime_labels(frame, H)[t]` scores "the last H bars'
    regime persists" as a predictor. Bars of the first `WARMUP_BARS` count as neither up nor
    down, as in the labels. Wilder's ADX depends a little on where its input starts (its seed
    weighs (13/14)**100 ~ 6e-4 after 100 bars), so the router's 250-bar history can rarely
    differ from the whole frame on a bar whose ADX sits right at the threshold."""
    _check_horizon(horizon)
    up, down = trend_bars(frame)
    labels = np.full(len(frame), NO_LABEL, dtype=np.int64)
    if len(frame) < horizon:
        return labels
    # Counts over t-H+1 .. t as differences of running sums.
    up_sum, down_sum = np.r_[0, np.cumsum(up)], np.r_[0, np.cumsum(down)]
    ends = np.arange(horizon - 1, len(frame)) + 1
    ups = up_sum[ends] - up_sum[ends - horizon]
    downs = down_sum[ends] - down_sum[ends - horizon]
    labels[horizon - 1 :] = _classify(ups, downs, horizon)
    return labels

"""The paper's Table 3 features, 5-day windows of them, and the next-day label.

Every feature at day t is computed from bars up to and including t (rolling means end at t), so
a window ending at t never sees a later bar; only the label looks one day ahead.

The bundled bars are already split-adjusted, so without an "adj close" column the adjusted
close is the close and z_adjclose repeats z_close, as it would in the paper's data for any span
without a split or dividend.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot.core.errors import DataError

MA_LENGTHS = (5, 10, 15, 20, 25, 30)
FEATURES = (
    "z_open",
    "z_high",
    "z_low",
    "z_close",
    "z_adjclose",
    *(f"zd_{n}" for n in MA_LENGTHS),
)
WARMUP_BARS = max(MA_LENGTHS)  # the first day with every feature defined is the 30th


@dataclass(frozen=True)
class FeatureConfig:
    """How daily features become model inputs."""

    window: int = field(default=5, metadata={"help": "Days per window (the paper uses 5)."})


def daily_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The 11 Table 3 features per day (NaN until every moving average is defined).

    z_open/high/low = open/high/low over close - 1; z_close and z_adjclose = the day's change of
    the close and the adjusted close; zd_n = the n-day mean of the adjusted close over today's
    adjusted close - 1.
    """
    close = frame["close"].astype(float)
    adjusted = frame["adj close"].astype(float) if "adj close" in frame else close
    columns = {
        "z_open": frame["open"] / close - 1.0,
        "z_high": frame["high"] / close - 1.0,
        "z_low": frame["low"] / close - 1.0,
        "z_close": close.pct_change(fill_method=None),
        "z_adjclose": adjusted.pct_change(fill_method=None),
    }
    for n in MA_LENGTHS:
        columns[f"zd_{n}"] = adjusted.rolling(n, min_periods=n).mean() / adjusted - 1.0
    return pd.DataFrame(columns, index=frame.index)[list(FEATURES)]


def next_day_up(frame: pd.DataFrame) -> pd.Series:
    """1.0 when tomorrow's close is above today's, 0.0 when not, NaN on the last day."""
    close = frame["close"].astype(float)
    tomorrow = close.shift(-1)
    return (tomorrow > close).astype(float).where(tomorrow.notna())


@dataclass(frozen=True)
class Samples:
    """One sample per day t that has a full window and a label.

    `windows[i]` is the (window, 11) block of raw features for days t-window+1 .. t, oldest
    first; `days[i]` is t; `labels[i]` is next_day_up at t.
    """

    days: pd.DatetimeIndex
    windows: np.ndarray
    labels: np.ndarray

    def flat(self) -> np.ndarray:
        """The windows as (n, window x 11) rows, day by day (the FNN input)."""
        return self.windows.reshape(len(self.windows), -1)

    def take(self, index: slice | np.ndarray) -> "Samples":
        """The samples at `index` (a slice or a boolean/integer array)."""
        return Samples(self.days[index], self.windows[index], self.labels[index])


def build_samples(frame: pd.DataFrame, config: FeatureConfig = FeatureConfig()) -> Samples:
    """Every labelled day with `config.window` days of complete features behind it."""
    features = daily_features(frame)
    labels = next_day_up(frame)
    values = features.to_numpy()
    complete = ~np.isnan(values).any(axis=1)
    keep = []
    for t in range(config.window - 1, len(frame)):
        if complete[t - config.window + 1 : t + 1].all() and not np.isnan(labels.iloc[t]):
            keep.append(t)
    if len(keep) < 2:
        raise DataError(
            f"only {len(keep)} days have {config.window} days of features and a label: LLMoE "
            f"needs at least {WARMUP_BARS + config.window + 1} daily bars. Choose a longer span."
        )
    blocks = np.stack([values[t - config.window + 1 : t + 1] for t in keep])
    return Samples(frame.index[keep], blocks, labels.to_numpy()[keep])


@dataclass(frozen=True)
class Standardizer:
    """Per-input mean and std, fitted on the train split only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray) -> "Standardizer":
        """Statistics of `rows` (n, d); a constant input gets std 1."""
        std = rows.std(axis=0)
        return cls(rows.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """(rows - mean) / std, as float32."""
        return ((rows - self.mean) / self.std).astype(np.float32)

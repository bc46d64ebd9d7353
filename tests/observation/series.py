"""Synthetic bar frames with a known trend."""

import numpy as np
import pandas as pd


def trending_bars(drift: float, count: int = 300, seed: int = 1) -> pd.DataFrame:
    """A synthetic daily bar frame: a geometric random walk with the given drift per bar."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(drift + 0.004 * rng.standard_normal(count)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + 0.003 * rng.random(count))
    low = np.minimum(open_, close) * (1 - 0.003 * rng.random(count))
    volume = 1e6 * (1 + rng.random(count))
    index = pd.date_range("2020-01-01", periods=count, freq="D", tz="UTC", name="ts")
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(columns, index=index)

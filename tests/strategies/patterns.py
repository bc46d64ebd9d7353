"""Crafted bar series for the strategy rule tests.

Each starts with `CALM` bars zigzagging 0.3 around 100 on flat volume, which warms every
indicator (warm-up is 100 bars), then plays one pattern. Bar indices in the tests count from the
first calm bar.
"""

import numpy as np
import pandas as pd

from tests.strategies.harness import frame

CALM = 100
FLAT_VOLUME = 1_000.0


def calm(n: int = CALM) -> np.ndarray:
    return 100.0 + 0.3 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


def _with_volume(close: np.ndarray, pattern_volume=None) -> pd.DataFrame:
    volume = np.full(len(close), FLAT_VOLUME)
    if pattern_volume is not None:
        volume[CALM : CALM + len(pattern_volume)] = pattern_volume
    return frame(close, volume=volume)


def trend_then_crash() -> pd.DataFrame:
    """+1%/bar for 12 bars, a 12% crash, then -2%/bar for 9 bars."""
    up = 100.0 * 1.01 ** np.arange(1, 13)
    crash = up[-1] * 0.88
    return _with_volume(np.r_[calm(), up, crash, crash * 0.98 ** np.arange(1, 10)])


def momentum_surge() -> pd.DataFrame:
    """+1.5%/bar for 14 bars on volume rising 1.5x -> 3x, then -1.5%/bar for 9 bars."""
    up = 100.0 * 1.015 ** np.arange(1, 15)
    close = np.r_[calm(), up, up[-1] * 0.985 ** np.arange(1, 10)]
    return _with_volume(close, np.linspace(1_500.0, 3_000.0, 14))


def momentum_then_drop() -> pd.DataFrame:
    """+1.5%/bar for 4 bars on doubled volume, then a 5% drop."""
    up = 100.0 * 1.015 ** np.arange(1, 5)
    return _with_volume(np.r_[calm(), up, up[-1] * 0.95], np.full(4, 2_000.0))


def staircase_then_slide() -> pd.DataFrame:
    """A breakout to 101.5, +1/bar for 18 more bars, then -1.5/bar for 14 bars."""
    up = 100.5 + np.arange(1.0, 20.0)
    return _with_volume(np.r_[calm(), up, up[-1] - 1.5 * np.arange(1, 15)])


def spike(direction: int, then: list[float]) -> pd.DataFrame:
    """A 4% spike (down for -1, up for +1) on 3x volume, then the given closes."""
    first = 100.0 + 4.0 * direction
    return _with_volume(np.r_[calm(), first, then], np.r_[3_000.0, np.full(len(then), 1_000.0)])


def plunge_then_bounce(after_bounce: list[float]) -> pd.DataFrame:
    """-2%/bar for 6 bars, a +1% bounce on 2x volume, then closes relative to the bounce."""
    down = 100.0 * 0.98 ** np.arange(1, 7)
    bounce = down[-1] * 1.01
    close = np.r_[calm(), down, bounce, bounce * np.asarray(after_bounce)]
    return _with_volume(close, np.r_[np.full(6, 1_000.0), 2_000.0])


def rally_then_fade() -> pd.DataFrame:
    """+1%/bar for 9 bars, two down bars (the first on 2x volume), then -3%/bar for 7 bars."""
    up = 100.0 * 1.01 ** np.arange(1, 10)
    close = np.r_[calm(), up, up[-1] * 0.99, up[-1] * 0.98, up[-1] * 0.97 ** np.arange(1, 8)]
    return _with_volume(close, np.r_[np.full(9, 1_000.0), 2_000.0])


def volume_breakout(then: list[float], volume: list[float]) -> pd.DataFrame:
    """Closes and volumes after the calm bars, given whole."""
    return _with_volume(np.r_[calm(), then], np.asarray(volume, dtype=float))


def regime(seed: int = 7) -> pd.DataFrame:
    """300 bars of seeded regimes: calm, a volume-backed uptrend, a crash, a choppy range with
    spikes, a downtrend. Every directional strategy trades on it."""
    rng = np.random.default_rng(seed)
    drift = np.r_[
        np.zeros(CALM), np.full(50, 0.008), np.full(5, -0.04), np.zeros(80), np.full(65, -0.006)
    ]
    noise = rng.normal(0.0, 0.012, len(drift))
    noise[:CALM] *= 0.3
    close = 100.0 * np.exp(np.cumsum(drift + noise))
    volume = rng.lognormal(np.log(FLAT_VOLUME), 0.3, len(drift))
    volume[CALM : CALM + 50] *= 1.6
    spread = close * rng.uniform(0.002, 0.015, len(drift))
    return frame(close, high=close + spread, low=close - spread, volume=volume)

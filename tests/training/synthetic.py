"""Synthetic regime-switching daily bars with known regimes, for dataset and learning tests.

Segments of `segment` bars each follow one regime, in `bot.model.router_model.REGIMES` order:
uptrend (0) drifts up, downtrend (1) drifts down, consolidation (2) mean-reverts around the
segment's opening price. Consecutive segments always differ. Bars are business days at
00:00 UTC (valid for the "index" and "equity" asset classes), with highs and lows around the
candle body and volume that rises with the size of the move.
"""

import numpy as np
import pandas as pd

UPTREND, DOWNTREND, CONSOLIDATION = 0, 1, 2
_DRIFT = {UPTREND: 0.004, DOWNTREND: -0.004, CONSOLIDATION: 0.0}
_VOLATILITY = 0.008
_REVERSION = 0.4  # share of the gap to the anchor price closed per bar when consolidating
_START_PRICE = 100.0
_BASE_VOLUME = 1_000_000.0


def regime_switching_frame(
    n_bars: int, seed: int, segment: int = 120, start: str = "2001-01-01"
) -> tuple[pd.DataFrame, np.ndarray]:
    """A bar frame of `n_bars` business days from `start`, and the regime of every bar.

    Returns (frame, regimes): frame has float64 columns open, high, low, close, volume and a
    UTC DatetimeIndex named "ts"; regimes is an int array (0 uptrend, 1 downtrend,
    2 consolidation) of length n_bars. The same seed gives the same bars.
    """
    if n_bars < 2 or segment < 1:
        raise ValueError(f"need n_bars >= 2 and segment >= 1, got {n_bars} and {segment}")
    rng = np.random.default_rng(seed)
    regimes = np.repeat(_segment_regimes(rng, -(-n_bars // segment)), segment)[:n_bars]
    close = _closes(rng, regimes)
    previous = np.r_[_START_PRICE, close[:-1]]
    open_ = previous * np.exp(rng.normal(0.0, _VOLATILITY / 4, n_bars))
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = body_high * np.exp(np.abs(rng.normal(0.0, _VOLATILITY / 2, n_bars)))
    low = body_low * np.exp(-np.abs(rng.normal(0.0, _VOLATILITY / 2, n_bars)))
    move = np.abs(np.log(close / previous)) / _VOLATILITY
    volume = _BASE_VOLUME * (1.0 + 0.5 * move) * rng.lognormal(0.0, 0.25, n_bars)
    index = pd.bdate_range(start, periods=n_bars, tz="UTC", name="ts")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.round(volume)},
        index=index,
    )
    return frame.astype("float64"), regimes.astype(np.int64)


def _segment_regimes(rng: np.random.Generator, count: int) -> np.ndarray:
    regimes = [int(rng.integers(3))]
    for _ in range(count - 1):
        others = [r for r in (UPTREND, DOWNTREND, CONSOLIDATION) if r != regimes[-1]]
        regimes.append(int(rng.choice(others)))
    return np.array(regimes)


def _closes(rng: np.random.Generator, regimes: np.ndarray) -> np.ndarray:
    shocks = rng.normal(0.0, _VOLATILITY, len(regimes))
    log_price, anchor = np.log(_START_PRICE), np.log(_START_PRICE)
    closes = np.empty(len(regimes))
    for i, regime in enumerate(regimes):
        if i == 0 or regime != regimes[i - 1]:
            anchor = log_price
        step = _DRIFT[int(regime)] + shocks[i]
        if regime == CONSOLIDATION:
            step += _REVERSION * (anchor - log_price)
        log_price += step
        closes[i] = np.exp(log_price)
    return closes

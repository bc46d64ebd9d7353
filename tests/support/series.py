"""Synthetic bar series for the tests: the one place that makes up prices.

- `trending_bars`: a geometric random walk with a known drift (features, observations);
- `regime_switching_frame`: daily bars in regimes of known label (uptrend, downtrend,
  consolidation), for dataset and learning tests;
- `SyntheticHistory`: the fake venues' deterministic history, one seeded walk per (symbol, bar
  size) on a fixed time grid.

Each builds its frame with `bar_frame`, the bar-frame contract (float64 OHLCV indexed by a UTC
`ts` of bar open times).
"""

import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from bot.core.bars import BAR_COLUMNS


def bar_frame(open_, high, low, close, volume, index: pd.DatetimeIndex) -> pd.DataFrame:
    """A bar frame of the five columns, float64, on `index` (renamed "ts")."""
    columns = dict(zip(BAR_COLUMNS, (open_, high, low, close, volume), strict=True))
    return pd.DataFrame(columns, index=index.rename("ts")).astype("float64")


def trending_bars(drift: float, count: int = 300, seed: int = 1) -> pd.DataFrame:
    """A synthetic daily bar frame: a geometric random walk with the given drift per bar."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(drift + 0.004 * rng.standard_normal(count)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + 0.003 * rng.random(count))
    low = np.minimum(open_, close) * (1 - 0.003 * rng.random(count))
    volume = 1e6 * (1 + rng.random(count))
    index = pd.date_range("2020-01-01", periods=count, freq="D", tz="UTC")
    return bar_frame(open_, high, low, close, volume, index)


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
    index = pd.bdate_range(start, periods=n_bars, tz="UTC")
    frame = bar_frame(open_, high, low, close, np.round(volume), index)
    return frame, regimes.astype(np.int64)


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


@dataclass(frozen=True)
class SyntheticHistory:
    """A venue's whole history: bars opening from `start` (inclusive) to `end` (exclusive)."""

    start: datetime
    end: datetime
    seed: int = 7

    def frame(self, symbol: str, step_s: int) -> pd.DataFrame:
        """Every bar of `symbol` at `step_s` seconds, in the bar-frame contract (float64 OHLCV
        indexed by a UTC `ts` of bar open times)."""
        return _walk(self.seed, symbol, step_s, _ms(self.start), _ms(self.end))

    def between(self, symbol: str, step_s: int, first_ms: int, last_ms: int) -> pd.DataFrame:
        """Bars whose open time lies in [first_ms, last_ms] (epoch milliseconds)."""
        frame = self.frame(symbol, step_s)
        opens = frame.index.asi8 // 1_000_000
        lo = np.searchsorted(opens, first_ms, side="left")
        hi = np.searchsorted(opens, last_ms, side="right")
        return frame.iloc[lo:hi]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@lru_cache(maxsize=32)
def _walk(seed: int, symbol: str, step_s: int, start_ms: int, end_ms: int) -> pd.DataFrame:
    step_ms = step_s * 1000
    count = max(0, (end_ms - start_ms) // step_ms)
    symbol_seed = zlib.crc32(f"{symbol}|{step_s}".encode())
    rng = np.random.default_rng([seed, symbol_seed])
    # Prices in integer cents and volumes in 1e-4 units, so every value survives the venues'
    # decimal-string and JSON encodings unchanged.
    base = 100 + symbol_seed % 900
    close = np.rint(base * 100 * np.exp(np.cumsum(rng.normal(0.0, 0.002, count)))).astype(np.int64)
    open_ = np.concatenate([[base * 100], close[:-1]])[:count]
    wicks = np.abs(rng.normal(0.0, 0.001, (2, count)))
    high = np.rint(np.maximum(open_, close) * (1 + wicks[0])).astype(np.int64)
    low = np.rint(np.minimum(open_, close) * (1 - wicks[1])).astype(np.int64)
    volume = np.rint((np.abs(rng.normal(5.0, 2.0, count)) + 0.1) * 10_000).astype(np.int64)
    index = pd.DatetimeIndex(
        pd.to_datetime(start_ms + step_ms * np.arange(count), unit="ms", utc=True)
    )
    return bar_frame(open_ / 100, high / 100, low / 100, close / 100, volume / 10_000, index)

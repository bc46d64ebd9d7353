"""Deterministic synthetic bars for the fake venues.

Each (symbol, bar size) gets its own seeded random walk on a fixed time grid, so any page a fake
serves is a slice of one series: tests can assert exact counts, continuity across page
boundaries (each open is the previous close) and equality with `SyntheticHistory.frame`.
"""

import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

COLUMNS = ("open", "high", "low", "close", "volume")


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
        pd.to_datetime(start_ms + step_ms * np.arange(count), unit="ms", utc=True), name="ts"
    )
    columns = [open_ / 100, high / 100, low / 100, close / 100, volume / 10_000]
    return pd.DataFrame(dict(zip(COLUMNS, columns, strict=True)), index=index)

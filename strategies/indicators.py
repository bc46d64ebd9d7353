"""Indicator math on numpy arrays, shared by the strategies and the observation features.

Every function takes float64 arrays ordered oldest to newest and returns arrays of the same
length, NaN where the look-back is not yet filled. A value at index t uses only inputs up to and
including t (Donchian channels use only inputs before t). The Wilder-smoothed indicators (RSI,
ATR, ADX/DI) and MACD come from ta-lib; they are seeded from the first bars of the array, so the
same trailing window always gives the same value, in backtests and live alike.

`BarWindow` is the fixed-size ring buffer of recent OHLCV bars that the strategies feed once per
bar; its field views are contiguous arrays that the functions here accept directly.
"""

import numpy as np
import talib


def _raw(function):
    # ta-lib wraps each function to accept pandas/polars series; our inputs are always float64
    # arrays, and the per-call dispatch check costs more than the indicator on a short window.
    return getattr(function, "__wrapped__", function)


_SMA, _RSI, _ATR = _raw(talib.SMA), _raw(talib.RSI), _raw(talib.ATR)
_MAX, _MIN, _BBANDS, _MACD = _raw(talib.MAX), _raw(talib.MIN), _raw(talib.BBANDS), _raw(talib.MACD)
_ADX, _PLUS_DI, _MINUS_DI = _raw(talib.ADX), _raw(talib.PLUS_DI), _raw(talib.MINUS_DI)

# KDJ smoothing: Y_t = (2 * Y_{t-1} + X_t) / 3, the Chinese "SMA(X, 3, 1)".
_KDJ_DECAY = 2.0 / 3.0
# Terms older than this weigh less than (2/3)**110 ~ 4e-20 and are dropped.
_KDJ_TERMS = 110


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over n values."""
    return _SMA(x, n)


def roc(x: np.ndarray, n: int) -> np.ndarray:
    """Rate of change as a fraction: x[t] / x[t - n] - 1."""
    out = np.full(len(x), np.nan)
    if len(x) > n:
        out[n:] = x[n:] / x[:-n] - 1.0
    return out


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder RSI on the 0..100 scale."""
    return _RSI(close, n)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder-smoothed average true range."""
    return _ATR(high, low, close, n)


def adx(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wilder ADX, +DI and -DI (0..100)."""
    return (
        _ADX(high, low, close, n),
        _PLUS_DI(high, low, close, n),
        _MINUS_DI(high, low, close, n),
    )


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, its signal line (EMA of the MACD) and the histogram."""
    return _MACD(close, fast, slow, signal)


def bollinger(
    close: np.ndarray, n: int = 20, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper, middle (SMA) and lower bands at k population standard deviations."""
    return _BBANDS(close, n, k, k, 0)


def kdj(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KDJ oscillator: K, D and J.

    RSV = 100 * (close - lowest low) / (highest high - lowest low) over n bars (50 when the range
    is zero). K = SMA(RSV, 3, 1) and D = SMA(K, 3, 1) in the Chinese sense, i.e.
    Y_t = (2 * Y_{t-1} + X_t) / 3 seeded at 50, and J = 3K - 2D.
    """
    hh, ll = _MAX(high, n), _MIN(low, n)
    span = hh - ll
    rsv = np.where(span > 0, 100.0 * (close - ll) / np.where(span > 0, span, 1.0), 50.0)
    k, d = np.full(len(close), np.nan), np.full(len(close), np.nan)
    first = n - 1
    if len(close) > first:
        k[first:] = _chinese_sma(rsv[first:])
        d[first:] = _chinese_sma(k[first:])
    return k, d, 3.0 * k - 2.0 * d


def _chinese_sma(x: np.ndarray, seed: float = 50.0) -> np.ndarray:
    # The recursion written as a truncated convolution, so it runs in C.
    weights = (1.0 - _KDJ_DECAY) * _KDJ_DECAY ** np.arange(min(len(x), _KDJ_TERMS))
    seeded = seed * _KDJ_DECAY ** np.arange(1, len(x) + 1)
    return np.convolve(x, weights)[: len(x)] + seeded


def donchian(high: np.ndarray, low: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Highest high and lowest low of the n bars BEFORE each bar (the current bar excluded)."""
    upper, lower = np.full(len(high), np.nan), np.full(len(low), np.nan)
    if len(high) > n:
        upper[1:] = _MAX(high, n)[:-1]
        lower[1:] = _MIN(low, n)[:-1]
    return upper, lower


def volume_ratio(volume: np.ndarray, n: int) -> np.ndarray:
    """Volume over the mean volume of the n bars before it (NaN where that mean is zero)."""
    out = np.full(len(volume), np.nan)
    if len(volume) > n:
        prior = _SMA(volume, n)[:-1]
        np.divide(volume[1:], prior, out=out[1:], where=prior > 0)
    return out


class BarWindow:
    """Fixed-size ring buffer of the most recent OHLCV bars.

    Each bar is written twice, `capacity` apart, so the last `capacity` bars are always one
    contiguous slice: reading a field is a view, not a copy.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"BarWindow capacity must be >= 1, was {capacity}")
        self.capacity = capacity
        self.count = 0  # bars pushed since creation, not capped
        self._next = 0
        self._data = np.full((5, 2 * capacity), np.nan)
        self._expose()

    def push(self, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """Append one bar, dropping the oldest when full."""
        row = (open_, high, low, close, volume)
        self._data[:, self._next] = row
        self._data[:, self._next + self.capacity] = row
        self._next = (self._next + 1) % self.capacity
        self.count += 1
        self._expose()

    def deepen(self, capacity: int) -> None:
        """Hold at least `capacity` bars from now on; only before the first bar."""
        if capacity > self.capacity:
            if self.count:
                raise ValueError(f"BarWindow has {self.count} bars: deepen it before the first")
            self.__init__(capacity)

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    def _expose(self) -> None:
        # Views of the last len(self) bars, oldest first, refreshed once per push.
        end = self._next + self.capacity
        view = self._data[:, end - len(self) : end]
        self.open, self.high, self.low, self.close, self.volume = view

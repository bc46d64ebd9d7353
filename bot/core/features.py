"""The 100 x 17 feature matrix of MM-DREX Table 12, its indicators, and its train-split statistics.

The raw matrix is scale-free, so one set of statistics serves every asset and price level:

- close, high, low, open, MA10, MA20, MA100 and the Bollinger bands are relative to the close of
  the decision bar t: x / close_t - 1 (row t of "close" is therefore always 0);
- normalised volume is volume / the mean volume of the 100-bar window (0 when the window has no
  volume, e.g. FX feeds without it);
- price change is close / previous close - 1 and amplitude (high - low) / previous close;
- RSI(14), K, D and J(9) keep their 0..100 oscillator scale (J can leave it).

`FeatureStats` (mean and std per feature, fitted on train-split raw matrices only) standardises
the raw matrix as in the paper's eq. E.7. Without stats, e.g. for an untrained model, each column
is standardised over its own 100-bar window instead: inputs stay unit-scale, but a level (RSI at
80 rather than 50) is only visible relative to the rest of the window.

Every indicator is computed over exactly the last `REQUIRED_BARS` bars, never more: the Wilder
and EMA indicators depend on where their input starts, so a fixed-length tail makes the matrix a
function of those bars alone, identical in datasets, backtests and live trading.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.core.errors import ConfigError, DataError
from strategies import indicators

LOOKBACK = 100
# MA100 on the first window row needs the 99 bars before it and price change one more; 50 more
# bars let RSI, ATR and MACD forget their seed ((13/14)**50 ~ 2.5%, then 99 rows of window).
_WARMUP = 50
REQUIRED_BARS = 2 * LOOKBACK + _WARMUP

FEATURE_NAMES = (
    "close",
    "high",
    "low",
    "open",
    "volume",
    "price_change",
    "amplitude",
    "ma10",
    "ma20",
    "ma100",
    "rsi",
    "boll_upper",
    "boll_middle",
    "boll_lower",
    "kdj_k",
    "kdj_d",
    "kdj_j",
)
_RELATIVE = ("close", "high", "low", "open", "ma10", "ma20", "ma100")
_RELATIVE += ("boll_upper", "boll_middle", "boll_lower")
_OSCILLATORS = ("rsi", "kdj_k", "kdj_d", "kdj_j")
_OHLCV = ("open", "high", "low", "close", "volume")
_MIN_STD = 1e-12


@dataclass(frozen=True, eq=False)
class Indicators:
    """Bars and indicators over the last `REQUIRED_BARS` bars, oldest first: the one set of
    numbers that the features, charts and text summary all read."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    ma10: np.ndarray
    ma20: np.ndarray
    ma100: np.ndarray
    rsi: np.ndarray
    boll_upper: np.ndarray
    boll_middle: np.ndarray
    boll_lower: np.ndarray
    kdj_k: np.ndarray
    kdj_d: np.ndarray
    kdj_j: np.ndarray
    macd: np.ndarray
    macd_signal: np.ndarray
    macd_hist: np.ndarray
    atr: np.ndarray

    def window(self, column: str, length: int = LOOKBACK) -> np.ndarray:
        """The last `length` values of `column`."""
        return getattr(self, column)[-length:]


def compute_indicators(bars: pd.DataFrame) -> Indicators:
    """The indicators of the last `REQUIRED_BARS` rows of a bar frame (DataError if fewer)."""
    if len(bars) < REQUIRED_BARS:
        raise DataError(
            f"An observation needs {REQUIRED_BARS} bars of history (a {LOOKBACK}-bar window, "
            f"MA100 over it and indicator warm-up) but {len(bars)} were given; start the "
            f"decisions later or load more history."
        )
    tail = bars.iloc[-REQUIRED_BARS:]
    o, h, lo, c, v = (np.ascontiguousarray(tail[name], dtype=np.float64) for name in _OHLCV)
    upper, middle, lower = indicators.bollinger(c, 20, 2.0)
    k, d, j = indicators.kdj(h, lo, c, 9)
    line, signal, hist = indicators.macd(c)
    return Indicators(
        o, h, lo, c, v,
        ma10=indicators.sma(c, 10),
        ma20=indicators.sma(c, 20),
        ma100=indicators.sma(c, 100),
        rsi=indicators.rsi(c, 14),
        boll_upper=upper, boll_middle=middle, boll_lower=lower,
        kdj_k=k, kdj_d=d, kdj_j=j,
        macd=line, macd_signal=signal, macd_hist=hist,
        atr=indicators.atr(h, lo, c, 14),
    )  # fmt: skip


def raw_features(ind: Indicators) -> np.ndarray:
    """The unstandardised (LOOKBACK, 17) float64 matrix in `FEATURE_NAMES` order."""
    with np.errstate(all="ignore"):  # zero or NaN prices: caught as non-finite features
        columns = _raw_columns(ind)
        return np.column_stack([columns[name] for name in FEATURE_NAMES])


def _raw_columns(ind: Indicators) -> dict[str, np.ndarray]:
    close_t = ind.close[-1]
    previous = ind.close[-LOOKBACK - 1 : -1]
    volume = ind.window("volume")
    mean_volume = volume.mean()
    columns = {name: ind.window(name) / close_t - 1.0 for name in _RELATIVE}
    columns |= {name: ind.window(name) for name in _OSCILLATORS}
    # `!= 0` rather than `> 0`, so that a NaN volume stays NaN and is refused.
    columns["volume"] = volume / mean_volume if mean_volume != 0 else np.zeros(LOOKBACK)
    columns["price_change"] = ind.window("close") / previous - 1.0
    columns["amplitude"] = (ind.window("high") - ind.window("low")) / previous
    return columns


@dataclass(frozen=True, eq=False)
class FeatureStats:
    """Per-feature mean and standard deviation, both shaped (17,), from the train split."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = np.array(getattr(self, name), dtype=np.float64)
            if value.shape != (len(FEATURE_NAMES),) or not np.all(np.isfinite(value)):
                raise ConfigError(
                    f"Feature stats {name} must be {len(FEATURE_NAMES)} finite numbers, got "
                    f"shape {value.shape}; refit the stats on the training split."
                )
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if np.any(self.std <= 0):
            raise ConfigError("Feature stats std must be positive; refit on the training split.")

    @classmethod
    def fit(cls, raw_matrices: Iterable[np.ndarray] | np.ndarray) -> "FeatureStats":
        """Fit on raw matrices (each (LOOKBACK, 17), from `raw_features`) of the train split
        only; every row of every matrix counts once. A constant feature gets std 1."""
        rows = [
            np.asarray(m, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)) for m in raw_matrices
        ]
        stacked = np.concatenate(rows) if rows else np.empty((0, len(FEATURE_NAMES)))
        if len(stacked) == 0 or not np.all(np.isfinite(stacked)):
            raise DataError(
                "Cannot fit feature stats: no matrices, or some hold NaN/inf values. Build them "
                "with build_observation's raw features on bars with enough history."
            )
        std = stacked.std(axis=0)
        return cls(mean=stacked.mean(axis=0), std=np.where(std > _MIN_STD, std, 1.0))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Standardise a raw matrix: (raw - mean) / std, as float32."""
        with np.errstate(all="ignore"):
            return ((raw - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict:
        """A JSON-safe dict; floats survive a JSON round trip exactly."""
        return {
            "features": list(FEATURE_NAMES),
            "mean": [float(x) for x in self.mean],
            "std": [float(x) for x in self.std],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "FeatureStats":
        """The stats saved by `to_dict`; refuses stats of a different feature schema."""
        names = tuple(data.get("features", ()))
        if names != FEATURE_NAMES:
            raise ConfigError(
                f"Feature stats are for features {list(names)}, but this version uses "
                f"{list(FEATURE_NAMES)}; refit the stats (and retrain) with this version."
            )
        return cls(mean=np.asarray(data["mean"]), std=np.asarray(data["std"]))


def window_standardise(raw: np.ndarray) -> np.ndarray:
    """The no-stats fallback: each column standardised over its own window, as float32."""
    std = raw.std(axis=0)
    with np.errstate(all="ignore"):
        return ((raw - raw.mean(axis=0)) / np.where(std > _MIN_STD, std, 1.0)).astype(np.float32)


def feature_matrix(ind: Indicators, stats: FeatureStats | None) -> np.ndarray:
    """The standardised (LOOKBACK, 17) float32 matrix; DataError if any value is not finite."""
    raw = raw_features(ind)
    _require_finite(raw)
    matrix = window_standardise(raw) if stats is None else stats.apply(raw)
    _require_finite(matrix)  # float32 overflow
    return matrix


def _require_finite(matrix: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(matrix))
    if len(bad):
        row, column = bad[0]
        raise DataError(
            f"Feature {FEATURE_NAMES[column]} is not finite {LOOKBACK - 1 - row} bar(s) before "
            f"the decision bar ({len(bad)} bad value(s)): the bars hold NaN, inf or zero prices. "
            "Validate the data (bot data check); the router falls back to its static policy."
        )

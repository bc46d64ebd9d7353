"""The paper's simple indicator baselines (Appendix D): MACD, KDJ-RSI and BIAS.

Each is a position in {-1, 0, +1} decided at the close of bar t from bars up to t, held over
bar t+1, charged `fee_bps` per unit of position change. These are vectorised signal backtests,
not nautilus runs: they are reference rows in the evaluation table, costed like the engine
(commission per side on traded notional) but without slippage.
"""

import numpy as np
import pandas as pd

from strategies.indicators import kdj, macd, rsi, sma

BIAS_PERIOD = 20  # the paper gives no n for BIAS; 20 bars, the common choice


def macd_position(bars: pd.DataFrame) -> np.ndarray:
    """sign(EMA12 - EMA26): long above, short below."""
    line, _, _ = macd(bars["close"].to_numpy())
    return np.sign(np.nan_to_num(line))


def kdj_rsi_position(bars: pd.DataFrame) -> np.ndarray:
    """+1 when K < 20 and RSI < 30, -1 when K > 80 and RSI > 70, else flat."""
    high, low, close = (bars[c].to_numpy() for c in ("high", "low", "close"))
    k, _, _ = kdj(high, low, close)
    strength = rsi(close)
    long = (k < 20) & (strength < 30)
    short = (k > 80) & (strength > 70)
    return long.astype(float) - short.astype(float)


def bias_position(bars: pd.DataFrame) -> np.ndarray:
    """sign(-BIAS), BIAS = (close - MA_n) / MA_n: long below the average, short above."""
    close = bars["close"].to_numpy()
    average = sma(close, BIAS_PERIOD)
    return np.sign(np.nan_to_num(-(close - average) / average))


BASELINES = {"MACD": macd_position, "KDJ-RSI": kdj_rsi_position, "BIAS": bias_position}


def baseline_equity(
    bars: pd.DataFrame, position: np.ndarray, capital: float, fee_bps: float
) -> pd.Series:
    """Equity of holding `position[t]` over bar t+1, paying fees on every change of position."""
    close = bars["close"].to_numpy()
    held = np.concatenate(([0.0], position[:-1]))  # decided at t, earns from t to t+1
    change = np.abs(np.diff(np.concatenate(([0.0], held))))
    bar_return = np.concatenate(([0.0], close[1:] / close[:-1] - 1.0))
    growth = (1.0 + held * bar_return) * (1.0 - change * fee_bps / 1e4)
    return pd.Series(capital * np.cumprod(growth), index=bars.index)

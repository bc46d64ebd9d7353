"""The paper's rule baselines (Table 2, defined in Appendix D.5-D.10): MACD, KDJ-RSI, CR, BBI,
WR and BIAS.

Each is a position in {-1, 0, +1} decided at the close of bar t from bars up to and including t
(P_t is the close); a NaN indicator (look-back not yet filled) means flat.

| name    | rule (Appendix D)                                                    | parameters   |
|---------|----------------------------------------------------------------------|--------------|
| MACD    | sign(EMA12 - EMA26)                                                  | 12, 26       |
| KDJ-RSI | +1 if K < 20 and RSI < 30; -1 if K > 80 and RSI > 70; else 0         | KDJ 9, RSI 14|
| CR      | sign(P_t - CR_t), CR_t = (high + low + open + close) / 4 of bar t    | none         |
| BBI     | sign(P_t - BBI_t), BBI_t = (MA3 + MA6 + MA12 + MA24) / 4 (simple MA) | 3, 6, 12, 24 |
| WR      | +1 if WR_t < -80; -1 if WR_t > -20; else 0, WR_t = -100 (HH_N - P_t) | N = 14       |
|         | / (HH_N - LL_N), highest high and lowest low of the last N bars (t in)|              |
| BIAS    | sign(-BIAS_t), BIAS_t = (P_t - MA_n) / MA_n                          | n = 20       |

The paper gives no N for WR nor n for BIAS: 14 and 20 are the usual choices. Its prose calls CR
mean-reverting, but its formula (followed here) goes long when the close is above the bar's
typical price.

`baseline_equity` is their one vectorised backtest, costed and timed like the engine
(`bot.engine.sim`): a position decided at bar t's close is entered at bar t+1's OPEN, paying
`fee_bps`
per side and `slippage_bps` on the notional traded; it is marked at each close. Evaluation feeds
it the positions over the same traded bars as the strategies, computed on the whole history
before them so the indicators are warm at the first bar, and long-only where they are
(`rule_positions`).
"""

import numpy as np
import pandas as pd

from strategies.indicators import kdj, macd, rsi, sma

BIAS_PERIOD = 20  # the paper gives no n for BIAS; 20 bars, the common choice
BBI_PERIODS = (3, 6, 12, 24)
WR_PERIOD = 14  # the paper gives no N for WR; 14 bars, the common choice


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


def cr_position(bars: pd.DataFrame) -> np.ndarray:
    """sign(close - (high + low + open + close) / 4): long when the bar closed above its
    typical price, short below."""
    typical = bars[["high", "low", "open", "close"]].to_numpy().mean(axis=1)
    return np.sign(bars["close"].to_numpy() - typical)


def bbi_position(bars: pd.DataFrame) -> np.ndarray:
    """sign(close - BBI), BBI the mean of the 3, 6, 12 and 24-bar simple averages."""
    close = bars["close"].to_numpy()
    bbi = np.mean([sma(close, n) for n in BBI_PERIODS], axis=0)
    return np.sign(np.nan_to_num(close - bbi))


def wr_position(bars: pd.DataFrame) -> np.ndarray:
    """Williams %R over the last 14 bars: long below -80 (oversold), short above -20."""
    highest = bars["high"].rolling(WR_PERIOD).max().to_numpy()
    lowest = bars["low"].rolling(WR_PERIOD).min().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat range: no signal
        wr = -100.0 * (highest - bars["close"].to_numpy()) / (highest - lowest)
    return (wr < -80).astype(float) - (wr > -20).astype(float)


def bias_position(bars: pd.DataFrame) -> np.ndarray:
    """sign(-BIAS), BIAS = (close - MA_n) / MA_n: long below the average, short above."""
    close = bars["close"].to_numpy()
    average = sma(close, BIAS_PERIOD)
    return np.sign(np.nan_to_num(-(close - average) / average))


RULE_BASELINES = {
    "MACD": macd_position,
    "KDJ-RSI": kdj_rsi_position,
    "CR": cr_position,
    "BBI": bbi_position,
    "WR": wr_position,
    "BIAS": bias_position,
}


def rule_positions(bars: pd.DataFrame, long_only: bool) -> dict[str, np.ndarray]:
    """Every rule baseline's positions on `bars`; with `long_only` (spot crypto, where the routed
    strategies may not short either) a short is flat."""
    low = 0.0 if long_only else -1.0
    return {name: np.clip(position(bars), low, 1.0) for name, position in RULE_BASELINES.items()}


def baseline_equity(
    bars: pd.DataFrame,
    position: np.ndarray,
    capital: float,
    fee_bps: float,
    slippage_bps: float = 1.0,
) -> pd.Series:
    """Equity, marked at each close, of trading `position[t]` (a fraction of equity decided at
    bar t's close) at bar t+1's open.

    Over bar t the held fraction h_t = position[t-1] (h_0 = 0) earns, in this order: the gap
    open_t / close_{t-1} - 1 on h_{t-1}; minus |h_t - h_{t-1}| x (fee_bps + slippage_bps) / 1e4
    paid at the open; and close_t / open_t - 1 on h_t. The fraction is kept constant (rebalanced
    at each open), and the fee on the slippage itself (under 0.01 bp) is left out.
    """
    open_, close = bars["open"].to_numpy(float), bars["close"].to_numpy(float)
    held = np.concatenate(([0.0], np.asarray(position, dtype=float)[:-1]))
    before = np.concatenate(([0.0], held[:-1]))  # what was held into bar t's open
    gap = np.concatenate(([0.0], open_[1:] / close[:-1] - 1.0))
    cost = np.abs(held - before) * (fee_bps + slippage_bps) / 1e4
    growth = (1.0 + before * gap) * (1.0 - cost) * (1.0 + held * (close / open_ - 1.0))
    return pd.Series(capital * np.cumprod(growth), index=bars.index)

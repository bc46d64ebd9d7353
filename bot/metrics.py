"""Performance metrics from a daily mark-to-market equity curve, and trade statistics from fills.

The scalar functions take a numpy array of per-period simple returns (or an equity curve via
`returns_of`), so the PPO reward calls exactly these functions on window returns.
Conventions: risk-free rate 0; sample standard deviation (ddof=1); annualisation by
`periods_per_year` (252 for equities, indices and FX; 365 for crypto); a metric that is undefined
(zero variance, no drawdown, fewer than two returns) is 0.0, never NaN or inf, so JSON and the
reward stay finite.
"""

import math

import numpy as np
import pandas as pd

EPS = 1e-12


def daily_equity(equity: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """The last value of each UTC day (days without a value are dropped)."""
    return equity.groupby(equity.index.normalize()).last().dropna(how="all")


def returns_of(equity: pd.Series | np.ndarray) -> np.ndarray:
    """Simple per-period returns of an equity curve."""
    values = np.asarray(equity, dtype=float)
    return values[1:] / values[:-1] - 1.0 if values.size > 1 else np.empty(0)


def total_return(returns: np.ndarray) -> float:
    return float(np.prod(1.0 + returns) - 1.0) if len(returns) else 0.0


def cagr(returns: np.ndarray, periods_per_year: int = 252) -> float:
    if not len(returns):
        return 0.0
    growth = 1.0 + total_return(returns)
    if growth <= 0:
        return -1.0
    return float(growth ** (periods_per_year / len(returns)) - 1.0)


def volatility(returns: np.ndarray, periods_per_year: int = 252) -> float:
    if len(returns) < 2:
        return 0.0
    return float(np.std(returns, ddof=1) * math.sqrt(periods_per_year))


def sharpe(returns: np.ndarray, periods_per_year: int = 252) -> float:
    if len(returns) < 2:
        return 0.0
    std = np.std(returns, ddof=1)
    return 0.0 if std < EPS else float(np.mean(returns) / std * math.sqrt(periods_per_year))


def sortino(returns: np.ndarray, periods_per_year: int = 252) -> float:
    """Mean return over downside deviation (root mean square of the negative returns)."""
    if len(returns) < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return (
        0.0 if downside < EPS else float(np.mean(returns) / downside * math.sqrt(periods_per_year))
    )


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough fall of the compounded curve, as a positive fraction."""
    if not len(returns):
        return 0.0
    curve = np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    return float(np.max(1.0 - curve / np.maximum.accumulate(curve)))


def calmar(returns: np.ndarray, periods_per_year: int = 252) -> float:
    mdd = max_drawdown(returns)
    return 0.0 if mdd < EPS else cagr(returns, periods_per_year) / mdd


def round_trips(fills: pd.DataFrame) -> list[float]:
    """Net PnL of each closed round trip (flat -> position -> flat) per strategy, in time order.

    `fills` columns: ts, strategy, side (BUY/SELL), qty (>0), price, commission (quote currency).
    """
    trips: list[float] = []
    for _, group in fills.sort_values("ts", kind="stable").groupby("strategy", sort=False):
        units = cash = 0.0
        for side, qty, price, fee in group[["side", "qty", "price", "commission"]].itertuples(
            index=False
        ):
            signed = qty if str(side).upper() == "BUY" else -qty
            units += signed
            cash -= signed * price + fee
            if abs(units) < 1e-9:
                trips.append(cash)
                units = cash = 0.0
    return trips


def summarize(
    equity: pd.Series,
    *,
    fills: pd.DataFrame | None = None,
    exposure: pd.Series | None = None,
    periods_per_year: int = 252,
) -> dict[str, float]:
    """All metrics of one run. `equity` is mark-to-market (any bar size; resampled to daily);
    `exposure` is gross exposure as a fraction of equity per bar.

    turnover: traded notional over mean equity, per year. costs: commissions paid.
    exposure: mean gross exposure. trades: fills. win_rate: winning share of closed round trips.
    """
    daily = daily_equity(equity)
    returns = returns_of(daily)
    years = max(len(returns), 1) / periods_per_year
    fills = fills if fills is not None else pd.DataFrame(columns=["qty", "price", "commission"])
    trips = round_trips(fills) if len(fills) else []
    notional = float((fills["qty"] * fills["price"]).sum()) if len(fills) else 0.0
    return {
        "total_return": total_return(returns),
        "cagr": cagr(returns, periods_per_year),
        "volatility": volatility(returns, periods_per_year),
        "sharpe": sharpe(returns, periods_per_year),
        "sortino": sortino(returns, periods_per_year),
        "max_drawdown": max_drawdown(returns),
        "calmar": calmar(returns, periods_per_year),
        "turnover": notional / float(daily.mean()) / years if len(daily) else 0.0,
        "costs": float(fills["commission"].sum()) if len(fills) else 0.0,
        "exposure": float(exposure.mean()) if exposure is not None and len(exposure) else 0.0,
        "trades": float(len(fills)),
        "win_rate": sum(pnl > 0 for pnl in trips) / len(trips) if trips else 0.0,
    }

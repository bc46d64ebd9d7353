"""The tear sheet's statistics: monthly and yearly returns, rolling Sharpe and volatility, the
worst drawdowns, alpha and beta against the benchmark, and PnL per strategy and per expert.

Returns are daily (`bot.core.metrics.daily_equity`, the curves the metrics table reads), so the
yearly returns compound to the table's total return. empyrical computes the statistics it has
(aggregation, rolling ratios, alpha/beta, with the same ddof=1 and risk-free 0 as
`bot.core.metrics`); the drawdown periods are ours (empyrical has only the maximum).
"""

import empyrical
import numpy as np
import pandas as pd

from bot.core.metrics import daily_equity

ROLLING_DAYS = 126  # about six months of trading days
WORST_DRAWDOWNS = 5
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def daily_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Per-day simple returns of each curve (one column per run, UTC index)."""
    return daily_equity(equity.ffill()).pct_change().iloc[1:]


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return per month: one row per year, one column per month (`MONTHS`), NaN for
    a month without data."""
    grouped = empyrical.aggregate_returns(returns.dropna(), "monthly")
    table = grouped.unstack().reindex(columns=range(1, 13))
    table.columns = list(MONTHS)
    table.index.name = "year"
    return table


def yearly_returns(returns: pd.DataFrame) -> pd.DataFrame:
    """Compounded return per calendar year: one row per year, one column per run."""
    return pd.DataFrame(
        {name: empyrical.aggregate_returns(returns[name].dropna(), "yearly") for name in returns}
    ).rename_axis("year")


def rolling_stats(
    returns: pd.Series, periods_per_year: int, window: int = ROLLING_DAYS
) -> pd.DataFrame:
    """Annualised Sharpe and volatility over the trailing `window` days (NaN before it fills)."""
    r = returns.dropna()
    sharpe = empyrical.roll_sharpe_ratio(r, window=window, annualization=periods_per_year)
    vol = empyrical.roll_annual_volatility(r, window=window, annualization=periods_per_year)
    return pd.DataFrame({"sharpe": sharpe, "volatility": vol}).reindex(r.index)


def worst_drawdowns(returns: pd.Series, top: int = WORST_DRAWDOWNS) -> pd.DataFrame:
    """The `top` deepest drawdowns, deepest first: peak, trough and recovery dates (NaT while
    not recovered), depth as a positive fraction of the peak, and days from peak to recovery
    (or to the last day)."""
    r = returns.dropna()
    curve = pd.concat(
        [pd.Series([1.0], index=r.index[:1] - pd.Timedelta(days=1)), (1 + r).cumprod()]
    )
    peak = curve.cummax()
    under = curve < peak
    rows = []
    episode = (~under).cumsum()  # one id per stretch from a peak to the next high
    for _, span in curve[under].groupby(episode[under]):
        start = curve.index[curve.index.get_loc(span.index[0]) - 1]
        after = curve.index[curve.index > span.index[-1]]
        recovery = after[0] if len(after) else pd.NaT
        trough = span.idxmin()
        days = ((recovery if len(after) else curve.index[-1]) - start).days
        rows.append((start, trough, recovery, 1.0 - span.min() / peak[trough], days))
    table = pd.DataFrame(rows, columns=["peak", "trough", "recovery", "depth", "days"])
    return table.sort_values("depth", ascending=False).head(top).reset_index(drop=True)


def alpha_beta(
    returns: pd.DataFrame, benchmark: str, periods_per_year: int
) -> dict[str, dict[str, float | None]]:
    """Annualised alpha and beta of each run's daily returns against the `benchmark` column
    (risk-free 0); {} without the benchmark."""
    if benchmark not in returns:
        return {}
    result = {}
    for name in returns:
        if name == benchmark:
            continue
        both = returns[[name, benchmark]].dropna()
        alpha, beta = empyrical.alpha_beta(
            both[name], both[benchmark], annualization=periods_per_year
        )
        result[name] = {"alpha": _finite(alpha), "beta": _finite(beta)}
    return result


def pnl_by(pnl: pd.DataFrame, experts: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """Each strategy's PnL over the run (the last row of its cumulative PnL, which starts at 0;
    account currency) and the sum per expert (`experts`: strategy -> expert, in table order)."""
    if pnl is None or pnl.empty:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    change = pnl.iloc[-1].astype(float)
    families = list(dict.fromkeys(experts.get(name, "other") for name in change.index))
    per_expert = change.groupby([experts.get(name, "other") for name in change.index]).sum()
    return change, per_expert.reindex(families)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

"""Performance metrics from a daily mark-to-market equity curve, and trade statistics from fills.

The return metrics take per-period simple returns: a numpy array or a pandas Series (NaN entries,
such as the first value of `pct_change`, are ignored). The PPO reward calls exactly these
functions on window returns, so they stay plain numpy and cheap (microseconds per call).
`returns_of` turns an equity curve into returns; `summarize` does the whole run.

Conventions:
- risk-free rate 0; annualisation by `periods_per_year` (252 for equities, indices and FX,
  365 for crypto);
- volatility and Sharpe use the sample standard deviation (ddof=1); Sortino divides the mean by
  the downside deviation, the root mean square of min(r, 0) over all periods (target 0);
- max drawdown is a positive fraction of the running peak; the curve starts at 1 before the
  first return, so a first-period loss counts;
- a return metric that is undefined (fewer than two returns, zero variance, no downside, no
  drawdown) is 0.0, never NaN or inf, so the reward and JSON stay finite.

Fills schema (one row per execution, as `bot.engine.fills` builds it):
    ts: datetime64[ns, UTC]; strategy: str; side: "BUY" | "SELL"; qty: float > 0;
    price: float, per unit (no contract multiplier); commission: float, account currency;
    optionally reason: str, the rule that sent the order (read by `bot.core.trades` only).
Each strategy holds its own netting position, so a closed position (a round trip) is a run of
one strategy's fills from flat back to flat.
"""

import math

import numpy as np
import pandas as pd

from bot.core.trades import trade_list

EPS = 1e-12


def periods_per_year(asset_class: str) -> int:
    """Daily periods a year of `asset_class`: 365 for crypto, which trades every day, else 252."""
    return 365 if asset_class == "crypto" else 252


KEYS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "turnover",
    "costs",
    "exposure",
    "gross_exposure",
    "trades",
    "win_rate",
)
_FLAT = 1e-9  # a position this small, relative to the fill's size, is flat (float residue)


def daily_equity(equity: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """The last value of each UTC calendar day; days without a value are dropped. When the
    first day holds several values (an intraday curve), the curve's first value opens it,
    stamped the day before, so that the first day's move counts like every other day's.

    Needs a timezone-aware DatetimeIndex (any zone; days are cut in UTC).
    """
    if getattr(equity.index, "tz", None) is None:
        raise ValueError(
            "daily_equity needs a timezone-aware DatetimeIndex (UTC); got "
            f"{type(equity.index).__name__} without a zone. Localise it with tz_localize('UTC')."
        )
    utc = equity.tz_convert("UTC")
    days = utc.index.normalize()
    daily = utc.groupby(days).last()
    if len(days) > 1 and days[1] == days[0]:
        # Else the first day's close would be the start: its trading and costs would vanish.
        opening = utc.iloc[:1].set_axis(days[:1] - pd.Timedelta(days=1))
        daily = pd.concat([opening, daily])
    return daily.dropna(how="all")


def returns_of(equity: pd.Series | np.ndarray) -> np.ndarray:
    """Simple per-period returns of an equity curve (one fewer than its values)."""
    values = np.asarray(equity, dtype=float)
    if values.size < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):  # a wiped-out curve; summarize copes
        return values[1:] / values[:-1] - 1.0


def total_return(returns: np.ndarray | pd.Series) -> float:
    """Compounded return over the whole span."""
    r = _clean(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else 0.0


def cagr(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """Compound annual growth rate; -1.0 when the curve lost everything."""
    r = _clean(returns)
    if not r.size:
        return 0.0
    growth = float(np.prod(1.0 + r))
    return -1.0 if growth <= 0 else growth ** (periods_per_year / r.size) - 1.0


def volatility(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """Annualised sample standard deviation of the returns."""
    r = _clean(returns)
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year)) if r.size > 1 else 0.0


def sharpe(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """Annualised mean over sample standard deviation (risk-free 0); 0.0 for zero variance."""
    r = _clean(returns)
    if r.size < 2:
        return 0.0
    std = float(np.std(r, ddof=1))
    return 0.0 if std < EPS else float(np.mean(r)) / std * math.sqrt(periods_per_year)


def downside_deviation(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """Annualised root mean square of min(r, 0) over all periods (target 0), the "DD" of the
    LLMoE paper's Table 1 and the denominator of Sortino."""
    r = _clean(returns)
    if not r.size:
        return 0.0
    return math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)) * periods_per_year)


def sortino(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """Annualised mean over downside deviation; 0.0 when no period lost."""
    r = _clean(returns)
    if r.size < 2:
        return 0.0
    downside = downside_deviation(r, periods_per_year)
    return 0.0 if downside < EPS else float(np.mean(r)) / downside * periods_per_year


def max_drawdown(returns: np.ndarray | pd.Series) -> float:
    """Largest peak-to-trough fall of the compounded curve, as a positive fraction."""
    r = _clean(returns)
    if not r.size:
        return 0.0
    curve = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    return float(np.max(1.0 - curve / np.maximum.accumulate(curve)))


def calmar(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> float:
    """CAGR over max drawdown; 0.0 without a drawdown."""
    mdd = max_drawdown(returns)
    return 0.0 if mdd < EPS else cagr(returns, periods_per_year) / mdd


def performance(returns: np.ndarray | pd.Series, periods_per_year: int = 252) -> dict[str, float]:
    """The seven return metrics at once: total_return, cagr, volatility, sharpe, sortino,
    max_drawdown, calmar."""
    r = _clean(returns)
    return {
        "total_return": total_return(r),
        "cagr": cagr(r, periods_per_year),
        "volatility": volatility(r, periods_per_year),
        "sharpe": sharpe(r, periods_per_year),
        "sortino": sortino(r, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar(r, periods_per_year),
    }


def round_trips(fills: pd.DataFrame) -> list[float]:
    """Net PnL (after commissions) of each closed position: strategy by strategy, each in time
    order (`bot.core.trades.trade_list`, whose rules say when a position closes)."""
    return trade_list(fills)["pnl"].tolist()


def win_rate(fills: pd.DataFrame) -> float | None:
    """Share of closed positions with a positive net PnL; None when none closed."""
    trips = round_trips(fills)
    return sum(pnl > 0 for pnl in trips) / len(trips) if trips else None


def costs(fills: pd.DataFrame) -> float:
    """Commissions paid."""
    return float(fills["commission"].sum()) if len(fills) else 0.0


def turnover(fills: pd.DataFrame, average_equity: float, years: float) -> float:
    """Traded notional (qty x price, both sides) over average equity, per year: 2.0 means the
    average equity was bought and sold once a year."""
    if not len(fills) or average_equity <= 0 or years <= 0:
        return 0.0
    return float((fills["qty"] * fills["price"]).sum()) / average_equity / years


def time_in_market(exposure: pd.Series | np.ndarray) -> float:
    """Fraction of the recorded bars with a non-zero gross exposure."""
    values = np.asarray(exposure, dtype=float)
    return float(np.mean(np.abs(values) > _FLAT)) if values.size else 0.0


def summarize(
    equity: pd.Series,
    *,
    fills: pd.DataFrame | None = None,
    exposure: pd.Series | None = None,
    periods_per_year: int = 252,
) -> dict[str, float | None]:
    """All metrics of one run, keyed as `KEYS`.

    `equity` is the mark-to-market curve at any bar size (UTC index), resampled to daily closes.
    `exposure` is gross exposure as a fraction of equity, one value per recorded bar.

    - turnover: annualised, see `turnover`; costs: commissions paid; trades: number of fills.
    - exposure: fraction of bars in the market; gross_exposure: mean gross exposure.
    - win_rate: share of closed positions that made money, after commissions.

    A curve that reaches zero or below is cut there (total return -1 or worse, CAGR -1).
    None means "not measured": the trade statistics without `fills`, the exposures without
    `exposure`, win_rate without a closed position, and any metric that came out non-finite.
    Every value is a finite float or None, so the dict is JSON-safe.
    """
    daily = daily_equity(equity)
    result: dict[str, float | None] = dict.fromkeys(KEYS)
    result.update(performance(returns_of(_until_ruin(daily.to_numpy())), periods_per_year))
    if fills is not None:
        years = max(len(daily) - 1, 1) / periods_per_year
        result["turnover"] = turnover(fills, float(daily.mean()) if len(daily) else 0.0, years)
        result["costs"] = costs(fills)
        result["trades"] = float(len(fills))
        result["win_rate"] = win_rate(fills)
    if exposure is not None:
        result["exposure"] = time_in_market(exposure)
        result["gross_exposure"] = float(np.mean(exposure)) if len(exposure) else 0.0
    return {key: _finite_or_none(result[key]) for key in KEYS}


def _clean(returns: np.ndarray | pd.Series) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    return r[~np.isnan(r)]


def _until_ruin(values: np.ndarray) -> np.ndarray:
    # Returns after equity reached zero (or below) mean nothing: keep the curve up to there.
    ruined = np.flatnonzero(values <= 0)
    return values[: ruined[0] + 1] if ruined.size else values


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None

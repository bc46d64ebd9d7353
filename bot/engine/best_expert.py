"""The best-expert policy's choice: the expert whose strategies had the best Sharpe on a
validation span just before the test start (`bot.engine.backtest.choose_best_expert` runs the
validation backtest between the two)."""

import pandas as pd

from bot.core.errors import ConfigError
from bot.core.metrics import daily_equity, sharpe
from bot.engine.backtest_request import BacktestRequest, request_day
from strategies import EXPERTS, STRATEGIES

VALIDATION_FRACTION = 0.25  # best-expert: validation span before start, as a share of the test span


def validation_span(
    frame: pd.DataFrame, request: BacktestRequest, start: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The validation span before `start`: from `request.validation_start`, else a quarter of
    the test span long; refused when the data start later."""
    test_span = (request.end and request_day(request.end) or frame.index[-1]) - start
    val_start = start - test_span * VALIDATION_FRACTION
    if request.validation_start is not None:
        val_start = request_day(request.validation_start)
    if val_start < frame.index[0]:
        raise ConfigError(
            f"best-expert chooses its expert on a validation span before the test start; "
            f"{request.symbol} has data only from {frame.index[0].date()}, but the span needs "
            f"{val_start.date()}. Choose a later --start."
        )
    return val_start, start - pd.Timedelta(seconds=1)


def best_expert(pnl: pd.DataFrame, capital: float) -> str:
    """The expert whose strategies' summed PnL (a validation run's, per strategy) had the best
    daily Sharpe."""
    daily = daily_equity(pnl.ffill())
    scores = {}
    for expert in EXPERTS:
        members = [s.name for s in STRATEGIES if s.expert == expert]
        returns = daily[members].sum(axis=1).diff().dropna() / capital
        scores[expert] = sharpe(returns.to_numpy())
    return max(scores, key=lambda k: scores[k])

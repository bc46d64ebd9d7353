"""Backtests of prediction series on the project's simulated venue, in worker processes.

Each job is one fresh nautilus engine (`bot.engine.sim.new_engine`: fees per side, slippage in the
fill price) holding one `PredictionStrategy`; the engine leaks memory, so workers are replaced
every few jobs. Metrics come from the strategy's mark-to-market equity (`bot.core.metrics`).
"""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.core.bars import bar_interval
from bot.core.metrics import (
    calmar,
    daily_equity,
    downside_deviation,
    max_drawdown,
    returns_of,
    sharpe,
    sortino,
    total_return,
    volatility,
)
from bot.core.parallel import Parallel, fan_out
from bot.engine.catalog import bar_type_for, to_nautilus_bars
from bot.engine.instruments import make_instrument
from bot.engine.sim import account_for, new_engine
from strategies.prediction import PredictionStrategy, PredictionStrategyConfig

THRESHOLD = 0.5  # all-in when P(next day up) is above this
_DAY_NS = bar_interval("1d").value


@dataclass(frozen=True)
class TradeJob:
    """One backtest: `targets` (1 all-in, 0 all-out) per bar time, on `bars` of `asset_class`."""

    name: str
    symbol: str
    bars: pd.DataFrame
    targets: dict[int, int]
    fee_bps: float
    slippage_bps: float
    asset_class: str
    capital: float = 100_000.0


def targets_of(days: pd.DatetimeIndex, probabilities: np.ndarray) -> dict[int, int]:
    """All-in on the days whose P(up) is above `THRESHOLD`, all-out on the others."""
    return {int(d.value): int(p > THRESHOLD) for d, p in zip(days, probabilities, strict=True)}


def run_job(job: TradeJob) -> pd.Series:
    """The job's equity curve, one value per bar, on the bars' (open-time) index."""
    # Sized and accounted as the backtests of the other rows are (`bot.engine.backtest`):
    # fractional units, and the account `account_for` gives (cash for spot crypto).
    instrument = make_instrument(job.symbol, job.asset_class, fee_bps=job.fee_bps, fractional=True)
    bar_type = bar_type_for(instrument, "1d")
    engine = new_engine(
        instrument,
        to_nautilus_bars(job.bars, instrument, "1d"),
        capital=job.capital,
        account=account_for(job.asset_class),
        fee_bps=job.fee_bps,
        slippage_bps=job.slippage_bps,
    )
    strategy = PredictionStrategy(
        PredictionStrategyConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            # Nautilus stamps a bar at its close, a day after the frame's open-time index.
            targets_json=json.dumps({str(k + _DAY_NS): v for k, v in job.targets.items()}),
        )
    )
    engine.add_strategy(strategy)
    engine.run()
    equity = pd.Series(
        [value for _, value in strategy.equity],
        index=pd.to_datetime([ts - _DAY_NS for ts, _ in strategy.equity], utc=True),
        name=job.name,
    )
    engine.dispose()
    return equity


def run_jobs(jobs: list[TradeJob], parallel: Parallel | None = None) -> list[pd.Series]:
    """Every job's equity, in job order, one engine per task (`bot.core.parallel`)."""
    return fan_out(run_job, jobs, parallel or Parallel(), desc="backtests", progress=True)


def table_metrics(equity: pd.Series) -> dict[str, float]:
    """Table 1's columns from an equity curve: TR, SR, CR, SoR, VOL, DD, MDD (fractions)."""
    r = returns_of(daily_equity(equity).to_numpy())
    return {
        "TR": total_return(r),
        "SR": sharpe(r),
        "CR": calmar(r),
        "SoR": sortino(r),
        "VOL": volatility(r),
        "DD": downside_deviation(r),
        "MDD": max_drawdown(r),
    }

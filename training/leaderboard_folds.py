"""The leaderboard's folds (`training.leaderboard`): which samples each calendar fold trains,
validates and tests on, the dataset it trains on, and each test instrument's span.

Fold i tests [D_i, D_i+1). Its train and validation samples are the decisions whose label and
return window (the max(horizon, window) bars after the decision bar) ends more than `purge`
bars before the first bar of D_i; per instrument, the last `VALIDATION_SHARE` of them by date
validate, and train keeps those more than `purge` bars before the first validation decision,
as `training.dataset` purges its own splits. Validation is cut per instrument, not at one
pooled date, so the series that end early (IBM, MSFT and the .WIKI copies stop in 2013) still
validate; validation only stops SFT early, and it too ends before D_i.

A test instrument's span is [D_i, D_i+1) within its data, when it has `warmup_bars()` of history
and `MIN_VALIDATION_DAYS` of tradable days before D_i (best-expert validates on up to
`BEST_EXPERT_DAYS` of them, all before D_i) and `MIN_TEST_BARS` bars in the span.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import structlog

from bot.core.errors import ConfigError, DataError
from bot.engine.backtest_request import BacktestRequest
from bot.engine.data import load_bars
from training.dataset_config import bars_path
from training.eval_windows import EvalWindow, warmup_bars
from training.router_dataset import RouterDataset

log = structlog.get_logger(__name__)

VALIDATION_SHARE = 0.25  # of each instrument's training decisions in a fold, the last by date
BEST_EXPERT_DAYS = 365  # best-expert validates on at most this span before D_i
MIN_VALIDATION_DAYS = 90  # a test instrument needs this much tradable history before D_i
MIN_TEST_BARS = 60  # and this many bars in [D_i, D_i+1)
UNUSED = "unused"


def fold_splits(
    dataset: RouterDataset, cuts: tuple[date, ...], tested: tuple[str, ...] | None = None
) -> list[np.ndarray]:
    """Per fold i of the cut dates, every sample's split (module docstring): "test" when its
    decision time lies in [D_i, D_i+1) (and its symbol is in `tested`, when given), "train" or
    "val" when its label and return window ends more than `purge` bars before D_i, else
    "unused"."""
    samples = dataset.samples
    config = dataset.config
    reach, purge = max(config.horizon, config.window), config.purge_bars
    decided = pd.to_datetime(samples["ts"].to_numpy(), utc=True)
    testable = samples["symbol"].isin(tested).to_numpy() if tested else np.ones(len(samples), bool)
    opens = {s: _bar_opens(dataset, s) for s in samples["symbol"].unique()}
    folds = []
    for start, end in zip(cuts[:-1], cuts[1:], strict=True):
        split = np.full(len(samples), UNUSED, dtype=object)
        split[testable & (decided >= _utc(start)) & (decided < _utc(end))] = "test"
        for symbol, group in samples.groupby("symbol", sort=False):
            first_test_bar = opens[symbol].searchsorted(_utc(start))  # first bar open >= D_i
            eligible = group[group["t"] + reach + purge < first_test_bar].sort_values("t")
            _train_and_val(split, eligible.index.to_numpy(), eligible["t"].to_numpy(), purge)
        folds.append(split)
    return folds


def _train_and_val(split: np.ndarray, rows: np.ndarray, t: np.ndarray, purge: int) -> None:
    if not len(t):
        return
    val = np.arange(int(round(len(t) * (1 - VALIDATION_SHARE))), len(t))
    split[rows[val]] = "val"
    if len(val):
        split[rows[t < t[val[0]] - purge]] = "train"


def training_view(dataset: RouterDataset, split: np.ndarray, tag: str) -> RouterDataset:
    """The fold's dataset for training (`dataset.with_splits`): its train and validation
    samples, over the symbols that have any; everything else is unused. A checkpoint trained on
    it is out of sample after the last bar those splits read (`bot.core.fingerprint`)."""
    samples = dataset.samples
    learned = np.isin(split, ("train", "val"))
    keep = list(samples.loc[learned, "symbol"].unique())
    if not keep:
        raise DataError(
            f"Fold {tag} has no instrument with train and validation decisions before its test "
            "span: choose a later first cut date or load longer histories."
        )
    dropped = sorted(set(samples["symbol"]) - set(keep))
    if dropped:
        log.info("fold trains without", fold=tag, symbols=dropped)
    mine = samples["symbol"].isin(keep).to_numpy()
    view = np.where(learned, split, UNUSED).astype(object)
    return dataset.of_symbols(keep).with_splits(view[mine], tag)


def fold_windows(
    start: date, end: date, instruments: tuple[str, ...], base: BacktestRequest
) -> list[EvalWindow]:
    """The test window [start, end) of every instrument with enough history before `start`
    and enough bars in the span (module docstring); refuses a fold without any."""
    windows = []
    for symbol in instruments:
        frame = load_bars(symbol, base.bar, policy=base.data_policy, catalog_dir=base.catalog)
        if len(frame) <= warmup_bars():
            continue
        earliest = frame.index[warmup_bars()].ceil("D")
        validation = max(earliest, _utc(start - timedelta(days=BEST_EXPERT_DAYS)))
        last = min(_utc(end) - pd.Timedelta(days=1), frame.index[-1].floor("D"))
        traded = ((frame.index >= _utc(start)) & (frame.index <= last)).sum()
        if _utc(start) - validation < pd.Timedelta(days=MIN_VALIDATION_DAYS):
            continue
        if traded < MIN_TEST_BARS:
            continue
        note = f"retrained on decisions whose labels end before {start} (purged); tested {start} on"
        windows.append(EvalWindow(symbol, base.bar, validation.date(), start, last.date(), note))
    if not windows:
        raise ConfigError(
            f"No test instrument has {warmup_bars()} warm-up bars and {MIN_VALIDATION_DAYS} days "
            f"before {start} and {MIN_TEST_BARS} bars in {start} .. {end}: choose other cut "
            "dates or test instruments."
        )
    return windows


def _bar_opens(dataset: RouterDataset, symbol: str) -> pd.DatetimeIndex:
    return pd.read_parquet(bars_path(dataset.root, symbol)).index


def _utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC")

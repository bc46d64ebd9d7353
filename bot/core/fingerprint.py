"""Price fingerprints: whether a run trades prices a model was trained on, whatever the symbol.

A series' fingerprint is the set of hashes of every run of `SPAN` consecutive close-to-close
log returns, rounded to `DECIMALS` decimals. Returns, not prices, so a rescaled copy (another
currency unit, an adjusted series) matches too; runs with no price change at all are left
out, since any flat stretch would match any other. A checkpoint keeps the fingerprint of the
bars its training and validation read (`fingerprint.npy`); a backtest or evaluation flags the
share of its own runs found there.
"""

from pathlib import Path

import numpy as np
import pandas as pd

SPAN = 5  # returns per run: five days of identical returns do not happen by chance
DECIMALS = 6
# A share of matching runs above this marks a run in-sample: a handful of chance matches on a
# long series are no overlap.
IN_SAMPLE_SHARE = 0.01
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so every position mixes differently


def fingerprint(close: np.ndarray | pd.Series) -> np.ndarray:
    """The sorted unique run hashes (uint64) of a close series."""
    prices = np.asarray(close, dtype=np.float64)
    if len(prices) <= SPAN or np.any(prices <= 0):
        return np.empty(0, dtype=np.uint64)
    steps = np.round(np.diff(np.log(prices)), DECIMALS)
    codes = np.round(steps * 10**DECIMALS).astype(np.int64).view(np.uint64)
    runs = np.lib.stride_tricks.sliding_window_view(codes, SPAN)
    runs = runs[np.any(runs != 0, axis=1)]
    hashes = np.zeros(len(runs), dtype=np.uint64)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps around by design
        for column in range(SPAN):
            hashes = (hashes ^ runs[:, column]) * _MULTIPLIER
    return np.unique(hashes)


def overlap(close: np.ndarray | pd.Series, trained: np.ndarray) -> float:
    """The share of `close`'s runs that appear in the fingerprint `trained` (0 when either
    is empty)."""
    mine = fingerprint(close)
    if len(mine) == 0 or len(trained) == 0:
        return 0.0
    return float(np.isin(mine, trained, assume_unique=True).mean())


FILE = "fingerprint.npy"  # inside a checkpoint folder


def in_sample_warning(checkpoint: Path, close: pd.Series) -> str | None:
    """An IN-SAMPLE warning when `close` (a run's traded closes) shares more than
    `IN_SAMPLE_SHARE` of its return runs with the bars `checkpoint` was trained or validated
    on; None otherwise, or when the checkpoint has no fingerprint."""
    path = Path(checkpoint) / FILE
    if not path.is_file():
        return None
    share = overlap(close, np.load(path))
    if share <= IN_SAMPLE_SHARE:
        return None
    return (
        f"IN-SAMPLE: {share:.0%} of this run's price moves match bars the router was trained or "
        f"validated on (price fingerprint, whatever the symbol is called): results over them "
        "are not out of sample."
    )


def learned_until(splits: dict) -> pd.Timestamp | None:
    """The last bar that a checkpoint's train and validation splits of one symbol read
    (`splits`: meta.json's per-split ranges), or None when it learned nothing from it."""
    used = [
        pd.Timestamp(splits[name]["last_bar_used"]) for name in ("train", "val") if name in splits
    ]
    return max(used) if used else None


def out_of_sample_start(splits: dict) -> pd.Timestamp | None:
    """Where one symbol's out-of-sample span starts for a checkpoint trained on it: the day
    after the last bar its train and validation labels and windows read (at or before its test
    split's first decision); None when it learned nothing from the symbol."""
    learned = learned_until(splits)
    return None if learned is None else learned.floor("D") + pd.Timedelta(days=1)


def out_of_sample_warning(
    checkpoint: Path, symbol: str, splits: dict | None, start: pd.Timestamp, close: pd.Series
) -> str | None:
    """Why trading `close` (bars of `symbol` from `start`) with `checkpoint` is not out of
    sample, or None when it is: `symbol` is in its training data (`splits`, meta.json's
    per-split dates) and `start` comes before its out-of-sample span; else, for a symbol it
    never learned from by name, its prices match those it was trained on (`in_sample_warning`)."""
    out_of_sample = out_of_sample_start(splits) if splits else None
    if out_of_sample is None:
        return in_sample_warning(checkpoint, close)
    if start >= out_of_sample:
        return None
    learned = [splits[name] for name in ("train", "val") if name in splits]
    return (
        f"IN-SAMPLE: {checkpoint} was trained and validated on {symbol} decisions from "
        f"{learned[0]['first_decision'][:10]} to {learned[-1]['last_decision'][:10]}; "
        f"this span starts {start.date()}, and only results from {out_of_sample.date()} on "
        "are out of sample."
    )

"""The spans an evaluation (`training.evaluate`) tests on: one `EvalWindow` per instrument.

They come from either
- `test_windows`: the test split of every instrument of the dataset the checkpoint was trained
  on (`bot evaluate CKPT --dataset D`); or
- `symbol_windows`: any instrument, seen or not (`bot evaluate CKPT --symbols A,B`). A symbol
  the checkpoint never saw is out of sample from its first bar with `warmup_bars()` of history
  before it; the first `VALIDATION_SHARE` of that span is best-expert's validation and the rest
  is the test span of every method. A symbol it was trained on is out of sample only from its
  test split's first decision, where its test span starts (best-expert validates from its
  validation split, as with --dataset). `--start/--end` narrow the span or move its start; a
  test span that overlaps the training data (`in_sample_overlap`) is refused unless allowed,
  and then every row is flagged IN-SAMPLE.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import msgspec
import pandas as pd

from bot.core.errors import CheckpointError, ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.fingerprint import out_of_sample_start, out_of_sample_warning
from bot.engine.backtest_request import BacktestRequest
from bot.engine.data import load_bars
from bot.model.checkpoint import read_meta
from strategies import STRATEGIES

VALIDATION_SHARE = 0.2  # --symbols: best-expert validates on this first share of the span
IN_SAMPLE = "IN-SAMPLE"


@dataclass(frozen=True)
class EvalWindow:
    """One instrument's out-of-sample span and the validation span before it."""

    symbol: str
    bar: str
    validation_start: date
    test_start: date
    test_end: date
    out_of_sample: str = ""  # which span is out of sample, and why
    in_sample: str | None = None  # the overlap with the training data, when it was allowed


def test_windows(dataset_meta: dict) -> list[EvalWindow]:
    """Each symbol's test span (its first test decision to the end of its last test window)
    and the start of its validation split, for the symbols with both (calendar cuts can leave
    a symbol without one)."""
    bar = dataset_meta["config"]["bar"]
    return [
        EvalWindow(
            symbol=symbol,
            bar=bar,
            validation_start=_day(info["splits"]["val"]["first_decision"]),
            test_start=_day(info["splits"]["test"]["first_decision"]),
            test_end=_day(info["splits"]["test"]["window_end"]),
            out_of_sample="the test split of the checkpoint's dataset",
        )
        for symbol, info in dataset_meta["symbols"].items()
        if {"val", "test"} <= set(info["splits"])
    ]


def check_trained_on(checkpoint_meta: dict, dataset_meta: dict, checkpoint: Path) -> None:
    """Refuse to evaluate a checkpoint on a dataset it was not trained on: that dataset's test
    split could overlap the checkpoint's training data."""
    trained = checkpoint_meta["extra"].get("dataset", {}).get("config_hash")
    if trained != dataset_meta["config_hash"]:
        raise CheckpointError(
            f"{checkpoint} was trained on dataset {trained or '(unknown)'}, not on "
            f"{dataset_meta['config_hash']}: its test split could overlap the checkpoint's "
            "training data. Evaluate on the dataset it was trained on (`--dataset`), or on "
            "symbols (`--symbols`), which checks each one's overlap."
        )


def warmup_bars() -> int:
    """Bars of history a backtest prepends before its first traded bar: the observation's
    `REQUIRED_BARS` or the longest strategy warm-up, whichever is longer."""
    fields = (msgspec.structs.fields(spec.config) for spec in STRATEGIES)
    longest = max(f.default for fs in fields for f in fs if f.name == "warmup_bars")
    return max(REQUIRED_BARS, longest)


def in_sample_overlap(checkpoint: Path, symbol: str, frame: pd.DataFrame) -> str | None:
    """Why trading `frame` (bars of `symbol`) with `checkpoint` would not be out of sample, or
    None when it is: `symbol` is in the checkpoint's training data and `frame` starts before
    its test split's first decision, or `frame`'s price moves match those it was trained or
    validated on under whatever name (`bot.core.fingerprint`)."""
    if frame.empty:
        return None
    splits = _trained_splits(checkpoint).get(symbol)
    return out_of_sample_warning(checkpoint, symbol, splits, frame.index[0], frame["close"])


def symbol_windows(
    checkpoint: Path, symbols: list[str], base: BacktestRequest, *, allow_in_sample: bool = False
) -> list[EvalWindow]:
    """The out-of-sample span of each symbol (module docstring), within `base.start` ..
    `base.end` when set, on `base.bar` bars. Refuses a span that overlaps the checkpoint's
    training data unless `allow_in_sample`, which flags it instead."""
    trained = _trained_splits(checkpoint)
    return [
        _symbol_window(checkpoint, symbol, trained.get(symbol), base, allow_in_sample)
        for symbol in symbols
    ]


def _trained_splits(checkpoint: Path) -> dict[str, dict]:
    # Per symbol, the checkpoint's train/val/test splits; an unreadable meta.json raises.
    return read_meta(checkpoint)["extra"].get("dataset", {}).get("symbols", {})


def _symbol_window(
    checkpoint: Path, symbol: str, splits: dict | None, base: BacktestRequest, allow: bool
) -> EvalWindow:
    frame = load_bars(symbol, base.bar, policy=base.data_policy, catalog_dir=base.catalog)
    warmup = warmup_bars()
    if len(frame) <= warmup + 2:
        raise DataError(
            f"{symbol} {base.bar} has {len(frame)} bars; an evaluation needs {warmup} bars of "
            "warm-up history before its first traded bar, and bars to trade after them."
        )
    earliest = frame.index[warmup].ceil("D")
    split_start = out_of_sample_start(splits) if splits else None
    start = _ts(base.start) if base.start else max(earliest, split_start or earliest)
    end = _ts(base.end) if base.end else frame.index[-1]
    if start < earliest:
        raise DataError(
            f"{symbol} {base.bar} starts {frame.index[0].date()}: with {warmup} warm-up bars the "
            f"first day that can be traded is {earliest.date()}. Use --start {earliest.date()} "
            "or later."
        )
    span = frame[(frame.index >= start) & (frame.index <= end)]
    if len(span) < 10:
        raise DataError(
            f"{symbol}: {start.date()} .. {end.date()} holds {len(span)} bars, too few to "
            f"evaluate (its data: {frame.index[0].date()} .. {frame.index[-1].date()})."
        )
    learned_val = (splits or {}).get("val")
    validation = _ts(_day(learned_val["first_decision"])) if learned_val else None
    if validation is not None and validation < start:  # trained on it: its own validation split
        test = start
        note = f"trained on it: out of sample from {split_start.date()}"
    else:
        validation, test = start, span.index[int(len(span) * VALIDATION_SHARE)].floor("D")
        note = "" if splits else "never seen: "
        note += (
            f"{start.date()} .. {end.date()} after {warmup} warm-up bars; best-expert "
            f"validated on the first {VALIDATION_SHARE:.0%}, every method tested from {test.date()}"
        )
    overlap = in_sample_overlap(checkpoint, symbol, span[span.index >= test])
    if overlap and not allow:
        raise ConfigError(
            f"{overlap} Evaluate from {split_start.date() if split_start else test.date()} on "
            "(drop --start), or pass --allow-in-sample to evaluate anyway with every row "
            f"flagged {IN_SAMPLE}."
        )
    return EvalWindow(symbol, base.bar, validation.date(), test.date(), end.date(), note, overlap)


def _day(iso: str) -> date:
    return pd.Timestamp(iso).date()


def _ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC")

"""One symbol's LLMoE data: its daily bars, the samples, and the 80/20 split by time."""

from dataclasses import dataclass, field

import pandas as pd

from bot.core.errors import DataError
from bot.engine.data import load_bars
from training.llmoe.features import FeatureConfig, Samples, build_samples


@dataclass(frozen=True)
class DataConfig:
    """Which bars, and how they are split."""

    years: int = field(default=10, metadata={"help": "Years of daily bars, ending at the last."})
    train_fraction: float = field(default=0.8, metadata={"help": "Share of samples to train."})
    train_days: int = field(
        default=0,
        metadata={
            "help": "Fit on only the most recent N train samples (0: all, the paper's split). "
            "The LLM routes every sample a model trains on, about 0.8 s each on a CPU core pair."
        },
    )
    data_policy: str = field(default="repair", metadata={"help": "Bar validation policy."})
    catalog: str | None = field(default=None, metadata={"help": "Bar catalog folder."})
    features: FeatureConfig = FeatureConfig()


@dataclass(frozen=True)
class SymbolData:
    """The bars (the whole span), the samples, and which of them train and test."""

    symbol: str
    bars: pd.DataFrame
    samples: Samples
    train: Samples
    test: Samples


def load_symbol(symbol: str, config: DataConfig = DataConfig()) -> SymbolData:
    """The last `years` of daily bars, split by time; the train part keeps its most recent
    `train_days` samples."""
    frame = load_bars(symbol, "1d", policy=config.data_policy, catalog_dir=config.catalog)
    start = frame.index[-1] - pd.DateOffset(years=config.years)
    bars = frame[frame.index > start]
    samples = build_samples(bars, config.features)
    cut = int(len(samples.days) * config.train_fraction)
    if cut < 10 or len(samples.days) - cut < 2:
        raise DataError(
            f"{symbol}: {len(samples.days)} samples leave {cut} to train and "
            f"{len(samples.days) - cut} to test; choose more years (--years)."
        )
    first = max(cut - config.train_days, 0) if config.train_days else 0
    return SymbolData(
        symbol, bars, samples, samples.take(slice(first, cut)), samples.take(slice(cut, None))
    )

"""What a built router dataset is, shared by its builder and its reader: the `DatasetConfig`,
the folder's files (`training.dataset` describes them) and the per-symbol split ranges and
train-split feature stats that meta.json records.

The builder (`training.dataset.build_dataset`) writes a dataset; the reader
(`training.router_dataset.RouterDataset`) loads it and, when re-splitting, redoes the split
ranges and stats the same way.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bot.core.bars import bar_interval
from bot.core.configs import described, from_saved
from bot.core.errors import ConfigError
from bot.core.features import FeatureStats
from bot.core.observation import ObservationConfig
from bot.core.settings import Settings
from bot.engine.backtest_request import base_request

SPLITS = ("train", "val", "test")
SAMPLES, FEATURES, META = "samples.parquet", "features.npy", "meta.json"


@dataclass(frozen=True)
class DatasetConfig:
    """What `build_dataset` builds (saved, with its hash, in meta.json)."""

    symbols: tuple[str, ...] = described("Symbols to include (built-in or catalog datasets).", ())
    bar: str = described("Bar size, e.g. '1d'.", "1d")
    horizon: int = described(
        "Label horizon H in bars: the router window (the paper: 90 daily bars).", 20
    )
    stride: int = described("Bars between decisions (windows overlap below `window`).", 20)
    window: int = described("Bars each decision's allocation is held: the router window.", 20)
    splits: tuple[float, float, float] = described(
        "Train, validation and test shares of each symbol's decisions, by time.", (0.6, 0.2, 0.2)
    )
    purge: int | None = described("Bars between splits' decisions; None means horizon.", None)
    cuts: tuple[str, str] | None = described(
        "Validation and test start dates (ISO, UTC) for every symbol; None splits by `splits`.",
        None,
    )
    fee_bps: float = described("Fee per side in basis points for the strategy backtests.", 10.0)
    slippage_bps: float = described("Slippage per fill in basis points for the backtests.", 1.0)
    fill: str = described("Fill price of the backtests (bot.engine.sim.FILLS).", "next_open")
    fractional: bool = described("Fractional units for equities and indices.", True)
    workers: int = described(
        "Workers for the backtests and observation chunks (Ray, bot.core.parallel); 0 means one "
        "per CPU, 1 runs everything serially in this process.",
        0,
    )
    image_size: int = described(
        "Chart view side in pixels, a multiple of 28 (56 or more for the compact backbone).", 224
    )
    alpha: float = described("Share of the chart that the local view zooms into.", 0.25)
    catalog: str | None = described("Catalog directory with imported bars, if any.", None)
    data_policy: str = described(
        "Bar validation policy for loaded data: repair or strict.", "repair"
    )
    returns_cache: str | None = described(
        "Folder caching each instrument's strategy return paths for later builds over the same "
        "bars and backtest settings (training.returns_cache); None runs the backtests every time.",
        None,
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "splits", tuple(float(s) for s in self.splits))
        bar_interval(self.bar)
        ObservationConfig(self.image_size, self.alpha)  # ConfigError on bad chart settings
        if not self.symbols:
            raise ConfigError("DatasetConfig.symbols is empty; name at least one symbol.")
        repeated = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
        if repeated:
            raise ConfigError(
                f"DatasetConfig.symbols names {', '.join(repeated)} more than once: each sample "
                "would be built and trained on twice. Name each symbol once."
            )
        if min(self.horizon, self.stride, self.window) < 1 or self.workers < 0:
            raise ConfigError("horizon, stride and window must be >= 1 bar and workers >= 0.")
        if self.purge is not None and self.purge < self.horizon:
            raise ConfigError(
                f"purge ({self.purge} bars) is shorter than the label horizon ({self.horizon}): "
                "training labels would overlap the next split's decisions. Use purge >= horizon."
            )
        if self.cuts is not None:
            object.__setattr__(self, "cuts", tuple(str(c) for c in self.cuts))
            days = [cut_day(c) for c in self.cuts]
            if len(days) != 2 or days[0] >= days[1]:
                raise ConfigError(
                    f"cuts must be two dates, validation start before test start, was {self.cuts}."
                )
        if len(self.splits) != 3 or min(self.splits) <= 0 or abs(sum(self.splits) - 1) > 1e-9:
            raise ConfigError(
                f"splits must be three positive shares summing to 1, was {self.splits}."
            )

    @property
    def purge_bars(self) -> int:
        """The purge gap in bars: `purge`, or `horizon` when unset."""
        return self.horizon if self.purge is None else self.purge

    @classmethod
    def from_settings(cls, settings: Settings, image_size: int = 224) -> "DatasetConfig":
        """The dataset `bot train data` builds from the `train` settings, with the router
        window, costs, fills and data options of every backtest (`base_request`)."""
        train, base = settings.train, base_request(settings)
        return cls(
            symbols=train.symbols,
            bar=train.bar,
            horizon=train.horizon,
            stride=train.stride,
            window=base.window,
            fee_bps=base.fee_bps,
            slippage_bps=base.slippage_bps,
            cuts=tuple(day.isoformat() for day in train.cuts) if train.cuts else None,
            fill=base.fill,
            fractional=base.fractional,
            workers=train.workers,
            image_size=image_size,
            catalog=base.catalog,
            data_policy=base.data_policy,
            returns_cache=str(train.returns_cache),
        )

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        data = asdict(self)
        cuts = list(self.cuts) if self.cuts else None
        return data | {"symbols": list(self.symbols), "splits": list(self.splits), "cuts": cuts}

    @classmethod
    def from_dict(cls, data: dict) -> "DatasetConfig":
        """The config saved by `to_dict`; unknown keys are refused."""
        return from_saved(cls, data, "the dataset was built by another version; rebuild it.")

    def digest(self) -> str:
        """SHA-256 of the config's canonical JSON, less `workers` and `returns_cache` (they do
        not change the data)."""
        content = self.to_dict() | {"workers": None}
        del content["returns_cache"]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def cut_day(day: str) -> pd.Timestamp:
    """A cut date (ISO, UTC) as a timestamp; ConfigError when it is not one."""
    try:
        return pd.Timestamp(day, tz="UTC")
    except ValueError as exc:
        raise ConfigError(f"Cut date {day!r} is not an ISO date (YYYY-MM-DD).") from exc


def bars_path(root: Path, symbol: str) -> Path:
    """The symbol's bars, as nautilus sees them, in the dataset at `root`."""
    return root / "bars" / f"{symbol}.parquet"


def returns_path(root: Path, symbol: str) -> Path:
    """The symbol's per-bar strategy returns in the dataset at `root`."""
    return root / "returns" / f"{symbol}.parquet"


def fit_stats(samples: pd.DataFrame, raws: np.ndarray) -> FeatureStats:
    """The feature stats of the train rows of `samples` (rows into `raws`)."""
    # Train rows only: validation and test data must not shape the standardisation.
    train = samples.loc[samples["split"] == "train", "row"].to_numpy()
    return FeatureStats.fit(raws[train].astype(np.float64))


def symbol_meta(
    config: DatasetConfig, symbol: str, asset_class: str, bars: pd.DataFrame, samples: pd.DataFrame
) -> dict:
    """What meta.json records of one symbol: its bars and the range of each split it has."""
    mine = samples[samples["symbol"] == symbol]
    splits = {}
    for name in SPLITS:
        t = mine.loc[mine["split"] == name, "t"].to_numpy()
        if not len(t):  # a symbol outside a split's dates (calendar cuts)
            continue
        splits[name] = {
            "samples": len(t),
            "first_decision": bars.index[t[0]].isoformat(),
            "last_decision": bars.index[t[-1]].isoformat(),
            # The last bar any of the split's labels or return windows reads.
            "last_bar_used": bars.index[t[-1] + max(config.horizon, config.window)].isoformat(),
            # The last bar of the split's last router window: where its trading ends.
            "window_end": bars.index[t[-1] + config.window].isoformat(),
        }
    return {
        "asset_class": asset_class,
        "bars": len(bars),
        "first_bar": bars.index[0].isoformat(),
        "last_bar": bars.index[-1].isoformat(),
        "bars_sha256": hashlib.sha256(bars.to_numpy().tobytes()).hexdigest(),
        "splits": splits,
    }

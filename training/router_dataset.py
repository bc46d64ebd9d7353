"""A built router dataset read back for training (`training.dataset` builds it): samples,
observations, regime labels and the strategy return paths of each decision's window.

Its meta.json records, as a checkpoint's does, a sha-256 of every data file ("files": samples,
features, each symbol's bars and returns) and one over all its charts ("charts_sha256", named
and hashed in order). Loading checks them and the keys training reads, and refuses (DataError)
a missing, damaged or edited file, or a dataset built before digests were recorded: training on
it would silently learn from other data than was built, or fail only once a run is over.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bot.core.bars import bar_interval
from bot.core.digests import changed_file, sha256_file
from bot.core.errors import ConfigError, DataError
from bot.core.features import FeatureStats
from bot.core.fingerprint import fingerprint, learned_until
from bot.core.observation import Observation
from bot.model.checkpoint import feature_schema, strategy_table
from strategies import strategy_names
from training.dataset_config import (
    FEATURES,
    META,
    SAMPLES,
    SPLITS,
    DatasetConfig,
    bars_path,
    fit_stats,
    returns_path,
    symbol_meta,
)


class RouterDataset:
    """A built dataset, read back for training. Row arguments are positions in `samples`."""

    def __init__(self, root: Path, meta: dict, samples: pd.DataFrame, features: np.ndarray) -> None:
        self.root = root
        self.meta = meta
        self.stats = FeatureStats.from_dict(meta["stats"])
        self.config = DatasetConfig.from_dict(meta["config"])  # the config it was built with
        self.samples = samples.reset_index(drop=True)
        self._features = features
        self._paths: dict[str, np.ndarray] = {}
        self._closes: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, out_dir: str | Path) -> "RouterDataset":
        """The dataset `build_dataset` wrote to `out_dir`; refuses (DataError) one built for
        another strategy table or feature schema, or with a missing, damaged or edited file."""
        root = Path(out_dir)
        meta = _read_meta(root)
        if meta["strategy_table"] != strategy_table() or meta["feature_schema"] != feature_schema():
            raise DataError(
                f"The dataset at {root} was built for another strategy table or feature schema "
                "than this version's; rebuild it."
            )
        # Every file the reader reads, whatever "files" lists: one without a digest is refused.
        files = {name: meta["files"].get(name) for name in _data_files(meta["symbols"])}
        changed = changed_file(root, files)
        if changed is not None:
            raise _damaged(root, changed)
        samples = pd.read_parquet(root / SAMPLES)
        _check_charts(root, meta, samples)
        return cls(root, meta, samples, np.load(root / FEATURES, mmap_mode="r"))

    def __len__(self) -> int:
        return len(self.samples)

    def split(self, name: str) -> "RouterDataset":
        """The samples of one split ("train", "val" or "test"), in build order."""
        if name not in SPLITS:
            raise ConfigError(f"Unknown split {name!r}; use one of {SPLITS}.")
        chosen = self.samples[self.samples["split"] == name]
        return RouterDataset(self.root, self.meta, chosen, self._features)

    def of_symbols(self, symbols: list[str]) -> "RouterDataset":
        """The samples and per-symbol meta of `symbols` only."""
        chosen = self.samples[self.samples["symbol"].isin(symbols)]
        meta = self.meta | {"symbols": {s: self.meta["symbols"][s] for s in symbols}}
        return RouterDataset(self.root, meta, chosen, self._features)

    def with_splits(self, splits: np.ndarray, tag: str) -> "RouterDataset":
        """This dataset with every sample's split replaced by `splits` ("train", "val", "test"
        or "unused"), the feature stats refitted on the new train rows and the per-symbol split
        ranges redone (a symbol may miss a split; train and validation must not be empty); its
        config hash gets `tag` appended, so checkpoints trained on it are told apart from the
        original's."""
        samples = self.samples.assign(split=np.asarray(splits))
        missing = [name for name in ("train", "val") if not (samples["split"] == name).any()]
        if missing:
            raise DataError(
                f"Re-splitting ({tag}) leaves no {' or '.join(missing)} samples: choose later "
                "cut dates or a dataset with more decisions."
            )
        config = self.config
        symbols = {}
        for symbol, info in self.meta["symbols"].items():
            bars = pd.read_parquet(bars_path(self.root, symbol))
            symbols[symbol] = symbol_meta(config, symbol, info["asset_class"], bars, samples)
        stats = fit_stats(samples, self._features)
        meta = self.meta | {
            "config_hash": f"{self.meta['config_hash']}-{tag}",
            "symbols": symbols,
            "stats": stats.to_dict(),
        }
        return RouterDataset(self.root, meta, samples, self._features)

    def provenance(self) -> dict:
        """What a checkpoint records of the data it was trained on: the folder, the build
        config and its hash, the chart settings and each symbol's split ranges."""
        return {
            "path": str(self.root),
            "config": self.meta["config"],
            "config_hash": self.meta["config_hash"],
            "symbols": {symbol: info["splits"] for symbol, info in self.meta["symbols"].items()},
        }

    def fingerprint(self) -> np.ndarray:
        """The price fingerprint (`bot.core.fingerprint`) of every bar the train and validation
        splits read, over all symbols: a checkpoint keeps it to recognise these prices later,
        under any symbol name."""
        parts = []
        for symbol, info in self.meta["symbols"].items():
            close = pd.read_parquet(bars_path(self.root, symbol))["close"]
            learned = learned_until(info["splits"])
            if learned is not None:
                parts.append(fingerprint(close[:learned]))
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)

    @property
    def labels(self) -> np.ndarray:
        """Regime label per sample (index into bot.model.router_model.REGIMES)."""
        return self.samples["label"].to_numpy(dtype=np.int64)

    def raw_features(self, rows) -> np.ndarray:
        """The raw (n, 100, 17) float32 matrices of `rows`."""
        return np.asarray(self._features[self.samples["row"].to_numpy()[np.asarray(rows)]])

    def observations(self, rows) -> list[Observation]:
        """The observations of `rows`: features standardised with the train stats, charts read
        back from the PNG cache."""
        interval = bar_interval(self.meta["config"]["bar"]).value
        picked = self.samples.iloc[np.asarray(rows)]
        raws = self.raw_features(rows)
        return [
            Observation(
                ts=int(sample.ts) - interval,
                global_view=self._image(sample.global_chart),
                local_view=self._image(sample.local_chart),
                features=self.stats.apply(raw),
                summary=sample.summary,
                prompt=sample.prompt,
            )
            for sample, raw in zip(picked.itertuples(index=False), raws, strict=True)
        ]

    def window_paths(self, rows) -> np.ndarray:
        """Per-bar simple returns of every strategy over bars t+1 .. t+window after each
        decision: (n, window, 11), strategies in table order."""
        return np.stack([self._window(self._path, row) for row in np.atleast_1d(rows)])

    def window_returns(self, rows) -> np.ndarray:
        """Each strategy's compounded return over the window after each decision, (n, 11)."""
        return np.prod(1.0 + self.window_paths(rows), axis=1) - 1.0

    def hold_paths(self, rows) -> np.ndarray:
        """Per-bar close-to-close returns of the asset (buy and hold, no costs) over bars
        t+1 .. t+window after each decision: (n, window)."""
        return np.stack([self._window(self._hold, row) for row in np.atleast_1d(rows)])

    def episodes(self, split: str) -> list[np.ndarray]:
        """Row positions of `split`'s decisions, one array per symbol in time order."""
        chosen = self.samples[self.samples["split"] == split]
        return [
            group.sort_values("t").index.to_numpy()
            for _, group in chosen.groupby("symbol", sort=False)
        ]

    def _window(self, series_of, row: int) -> np.ndarray:
        sample = self.samples.iloc[int(row)]
        window = self.config.window
        return series_of(sample.symbol)[sample.t + 1 : sample.t + 1 + window]

    def _path(self, symbol: str) -> np.ndarray:
        if symbol not in self._paths:
            frame = pd.read_parquet(returns_path(self.root, symbol))
            self._paths[symbol] = frame[list(strategy_names())].to_numpy()
        return self._paths[symbol]

    def _hold(self, symbol: str) -> np.ndarray:
        if symbol not in self._closes:
            close = pd.read_parquet(bars_path(self.root, symbol))["close"]
            self._closes[symbol] = close.pct_change().fillna(0.0).to_numpy()
        return self._closes[symbol]

    def _image(self, relative: str) -> np.ndarray:
        with Image.open(self.root / relative) as image:
            return np.asarray(image.convert("RGB"))


def sealed(root: Path, meta: dict, samples: pd.DataFrame) -> dict:
    """`meta` with the digests `RouterDataset.load` checks: of the data files under `root` and
    of the charts `samples` show."""
    files = {name: sha256_file(root / name) for name in _data_files(meta["symbols"])}
    return meta | {"files": files, "charts_sha256": _charts_digest(root, samples)}


def _data_files(symbols) -> list[str]:
    paths = [p(Path(), symbol) for symbol in symbols for p in (bars_path, returns_path)]
    return [SAMPLES, FEATURES, *map(str, paths)]


def _chart_names(samples: pd.DataFrame) -> list[str]:
    return sorted(set(samples["global_chart"]) | set(samples["local_chart"]))


def _charts_digest(root: Path, samples: pd.DataFrame) -> str:
    # One digest over thousands of small charts keeps meta.json small. Hashing the shipped
    # recipe's 10,402 charts takes about 0.4 s (2.6 s from a cold disk): little beside
    # training, which reads every chart many times.
    lines = (f"{name} {sha256_file(root / name)}\n" for name in _chart_names(samples))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


# What training and the checkpoint it saves read of meta.json: one without them is refused now,
# not when a finished run saves its checkpoint.
_KEYS = ("config", "config_hash", "symbols", "stats", "strategy_table", "feature_schema",
         "charts_sha256")  # fmt: skip


def _rebuild(root: Path) -> str:
    return f"rebuild it with `bot train data --out {root}` and the settings it was built with."


def _read_meta(root: Path) -> dict:
    path = root / META
    if not path.exists():
        raise DataError(
            f"No dataset at {root} (no {META}); build it with `bot train data --out {root}`."
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} is unreadable ({error}); {_rebuild(root)}") from error
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise DataError(
            f"{path} records no digests of the dataset's files: it was built before datasets "
            f"recorded them, so its files cannot be checked; {_rebuild(root)}"
        )
    missing = [key for key in _KEYS if key not in meta]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: edited or damaged; {_rebuild(root)}")
    wrong = [key for key in ("config", "symbols", "stats") if not isinstance(meta[key], dict)]
    if not wrong:  # each symbol's entry and its splits are read by key too
        wrong = [
            f"symbols.{symbol}"
            for symbol, info in meta["symbols"].items()
            if not isinstance(info, dict) or not isinstance(info.get("splits"), dict)
        ]
    if wrong:
        raise DataError(
            f"{path} holds no object at {', '.join(wrong)}: edited or damaged; {_rebuild(root)}"
        )
    return meta


def _damaged(root: Path, path: Path) -> DataError:
    state = "is missing" if not path.exists() else "differs from the one built (its sha-256)"
    return DataError(f"Dataset file {path} {state}; {_rebuild(root)}")


def _check_charts(root: Path, meta: dict, samples: pd.DataFrame) -> None:
    missing = next((n for n in _chart_names(samples) if not (root / n).is_file()), None)
    if missing is not None:
        raise _damaged(root, root / missing)
    if _charts_digest(root, samples) != meta["charts_sha256"]:
        raise DataError(
            f"A chart under {root / 'charts'} differs from the one built (their sha-256); "
            + _rebuild(root)
        )

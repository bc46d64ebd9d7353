"""The router's training dataset: observations, regime labels and strategy return paths.

`build_dataset` writes, under `out_dir`:
- `samples.parquet`: one row per decision (symbol, split, ts = decision bar CLOSE time in ns,
  t = bar index, label, global_chart / local_chart paths relative to out_dir, summary,
  prompt, row into features.npy);
- `features.npy`: the raw (unstandardised) (N, 100, 17) float32 feature matrices;
- `charts/<sha256 of the pixels>.png`: both chart views, stored once per distinct image;
- `bars/<symbol>.parquet`: the bars exactly as nautilus sees them (rounded to the instrument);
- `returns/<symbol>.parquet`: per-bar simple returns of each strategy's equity in a
  single-strategy backtest over the whole history (fees and slippage included; run on Ray
  workers, `bot.core.parallel`), one column per
  strategy in table order, indexed by bar open time; 0 before the backtest's first day;
- `meta.json`: config and its hash, per-symbol data and split ranges, train-split feature
  stats, feature schema and strategy table.

Decision bars are every `stride` bars from REQUIRED_BARS - 1 on, while the label window
(t+1 .. t+horizon) and the return window (t+1 .. t+window, the router window over which the
allocation is held) fit in the data; with a stride below the window, windows overlap. Decisions
are split by time in one of two ways:
- `cuts` (validation start, test start): one calendar for every symbol, so no symbol's training
  data overlaps another's test span (`bot train data` uses this). A symbol may miss a split;
  each split must hold some symbol's decisions. Train and validation decisions are purged:
  kept only while they lie more than max(`purge` (>= horizon), `window`) bars before the next
  split's first bar, so their label and return windows end before it and the test split
  starts at its cut date;
- else `splits` shares of each symbol's own decisions (60/20/20 by default), for single series:
  the first decisions of the validation and test splits are dropped until their decision bar
  lies more than `purge` bars after the previous split's last decision bar.
Either way no label window reaches a later split's decision bar. Observations come from
`bot.core.observation.build_observation` on the bars up to and including t, never later ones.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import structlog
from PIL import Image
from tqdm import tqdm

from bot.core.bars import bar_interval, from_nautilus_bars
from bot.core.configs import described, from_saved
from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS, FeatureStats, compute_indicators, raw_features
from bot.core.fingerprint import fingerprint, learned_until
from bot.core.observation import Observation, ObservationConfig, build_observation
from bot.core.parallel import FanOut, Parallel
from bot.core.settings import Settings
from bot.engine.backtest import BacktestRequest, run_backtest
from bot.engine.catalog import to_nautilus_bars
from bot.engine.data import dataset_asset_class, load_bars, store_bars
from bot.engine.instruments import make_instrument
from bot.model.checkpoint import feature_schema, strategy_table
from bot.model.router_model import REGIMES
from strategies import strategy_names
from training.labels import NO_LABEL, regime_labels

log = structlog.get_logger(__name__)

SPLITS = ("train", "val", "test")
SAMPLES, FEATURES, META = "samples.parquet", "features.npy", "meta.json"


@dataclass(frozen=True)
class DatasetConfig:
    """What `build_dataset` builds (saved, with its hash, in meta.json)."""

    symbols: tuple[str, ...] = described("Symbols to include (built-in or catalog datasets).", ())
    bar: str = described("Bar size, e.g. '1d'.", "1d")
    horizon: int = described("Label horizon H in bars (the paper: 90 daily bars).", 90)
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
        "Backtest workers (Ray, bot.core.parallel); 0 means one per CPU, 1 runs them serially.", 0
    )
    image_size: int = described("Chart view side in pixels, a multiple of 28.", 224)
    alpha: float = described("Share of the chart that the local view zooms into.", 0.25)
    catalog: str | None = described("Catalog directory with imported bars, if any.", None)
    data_policy: str = described(
        "Bar validation policy for loaded data: repair or strict.", "repair"
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "splits", tuple(float(s) for s in self.splits))
        bar_interval(self.bar)
        ObservationConfig(self.image_size, self.alpha)  # ConfigError on bad chart settings
        if not self.symbols:
            raise ConfigError("DatasetConfig.symbols is empty; name at least one symbol.")
        if min(self.horizon, self.stride, self.window) < 1 or self.workers < 0:
            raise ConfigError("horizon, stride and window must be >= 1 bar and workers >= 0.")
        if self.purge is not None and self.purge < self.horizon:
            raise ConfigError(
                f"purge ({self.purge} bars) is shorter than the label horizon ({self.horizon}): "
                "training labels would overlap the next split's decisions. Use purge >= horizon."
            )
        if self.cuts is not None:
            object.__setattr__(self, "cuts", tuple(str(c) for c in self.cuts))
            days = [_cut(c) for c in self.cuts]
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
        """The dataset `bot train data` builds from the `train`, `backtest` and `data` settings."""
        train = settings.train
        return cls(
            symbols=train.symbols,
            bar=train.bar,
            horizon=train.horizon,
            stride=train.stride,
            window=settings.router.window,
            fee_bps=settings.backtest.fee_bps,
            slippage_bps=settings.backtest.slippage_bps,
            cuts=tuple(day.isoformat() for day in train.cuts) if train.cuts else None,
            fill=settings.backtest.fill,
            fractional=settings.backtest.fractional,
            workers=train.workers,
            image_size=image_size,
            catalog=str(settings.data.catalog),
            data_policy=settings.data.policy,
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
        """SHA-256 of the config's canonical JSON, less `workers` (it does not change the data)."""
        content = self.to_dict() | {"workers": None}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


Frames = dict[str, tuple[pd.DataFrame, str]]


@dataclass
class _Asset:
    symbol: str
    asset_class: str
    bars: pd.DataFrame  # rounded as nautilus sees them
    catalog: str | None


def build_dataset(
    config: DatasetConfig, out_dir: str | Path, *, frames: Frames | None = None, progress=True
) -> Path:
    """Build the dataset described in the module docstring into `out_dir` and return it.

    `frames` (symbol -> (bar frame, asset class)) supplies the bars directly, e.g. synthetic
    ones in tests; otherwise each symbol comes from `load_bars`. Raises DataError for a symbol
    too short for REQUIRED_BARS + horizon bars, an empty split, or non-finite features."""
    root = Path(out_dir)
    for folder in ("bars", "returns"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    assets = [_asset(config, symbol, root, frames) for symbol in config.symbols]
    plans = [_plan(config, asset) for asset in assets]
    _check_splits(config, plans)
    requests = [request for asset in assets for request in _requests(config, asset)]
    with FanOut(Parallel(workers=config.workers), len(requests)) as pool:
        # Backtests run in workers while this process draws the observations; leaving the
        # block on a bad observation stops them.
        batch = pool.submit(_equity_curve, requests)
        samples, raws = _observe(config, assets, plans, root, progress)
        equities = batch.results("backtests", progress)
    curves = {(r.symbol, r.policy): equity for r, equity in zip(requests, equities, strict=True)}
    _write_returns(config, assets, curves, root)
    stats = _fit_stats(samples, raws)
    np.save(root / FEATURES, raws)
    samples.to_parquet(root / SAMPLES, index=False)
    meta = _meta(config, assets, samples, stats)
    (root / META).write_text(json.dumps(meta, indent=2))
    log.info("dataset built", out_dir=str(root), samples=len(samples), symbols=len(assets))
    return root


def _asset(config: DatasetConfig, symbol: str, root: Path, frames: Frames | None) -> _Asset:
    catalog = config.catalog
    if frames is not None:
        if symbol not in frames:
            raise ConfigError(f"No frame given for symbol {symbol!r}; frames has {list(frames)}.")
        frame, asset_class = frames[symbol]
        # Through a private catalog, so the backtests read exactly these bars.
        catalog = str(root / "catalog")
        store_bars(frame, symbol, asset_class, config.bar, policy="strict", catalog_dir=catalog,
                   adjusted=True)  # fmt: skip
    asset_class = dataset_asset_class(symbol, config.bar, catalog_dir=catalog)
    loaded = load_bars(symbol, config.bar, policy=config.data_policy, catalog_dir=catalog)
    # The engine's instrument, so observations see the bars the backtests trade on.
    instrument = make_instrument(symbol, asset_class, fee_bps=config.fee_bps)
    bars = from_nautilus_bars(to_nautilus_bars(loaded, instrument, config.bar), config.bar)
    needed = REQUIRED_BARS + max(config.horizon, config.window)
    if len(bars) < needed:
        raise DataError(
            f"{symbol} {config.bar} has {len(bars)} bars, but a sample needs {REQUIRED_BARS} bars "
            f"of history plus {max(config.horizon, config.window)} ahead ({needed} in all); load "
            "more history or lower the horizon."
        )
    bars.to_parquet(_bars_path(root, symbol))
    return _Asset(symbol, asset_class, bars, catalog)


def _plan(config: DatasetConfig, asset: _Asset) -> pd.DataFrame:
    """The symbol's decision bars with label and split (purged decisions dropped)."""
    labels = regime_labels(asset.bars, config.horizon)
    last = len(asset.bars) - 1 - config.window
    t = np.arange(REQUIRED_BARS - 1, last + 1, config.stride)
    t = t[labels[t] != NO_LABEL]
    parts = _by_date(config, asset, t) if config.cuts else _by_share(config, asset, t)
    return pd.DataFrame(
        {
            "t": np.concatenate(parts),
            "split": np.repeat(SPLITS, [len(p) for p in parts]),
            "label": np.concatenate([labels[p] for p in parts]),
        }
    )


def _check_splits(config: DatasetConfig, plans: list[pd.DataFrame]) -> None:
    held = set().union(*(set(plan["split"]) for plan in plans))
    empty = [name for name in SPLITS if name not in held]
    if empty:
        raise DataError(
            f"No symbol has decisions in the {' and '.join(empty)} split (cuts {config.cuts}, "
            f"purge {config.purge_bars} bars): move the cut dates or add symbols that cover them."
        )


def _by_date(config: DatasetConfig, asset: _Asset, t: np.ndarray) -> list[np.ndarray]:
    firsts = asset.bars.index.searchsorted([_cut(c) for c in config.cuts])  # first bar >= cut
    reach = max(config.purge_bars, config.window)
    bounds = np.searchsorted(t, firsts)
    parts = np.split(t, bounds)
    for i in (0, 1):
        parts[i] = parts[i][parts[i] + reach < firsts[i]]
    return parts


def _by_share(config: DatasetConfig, asset: _Asset, t: np.ndarray) -> list[np.ndarray]:
    bounds = np.round(np.cumsum(config.splits)[:2] * len(t)).astype(int)
    parts = np.split(t, bounds)
    for i in (1, 2):
        previous = parts[i - 1]
        if len(previous):
            parts[i] = parts[i][parts[i] > previous[-1] + config.purge_bars]
    for name, part in zip(SPLITS, parts, strict=True):
        if not len(part):
            raise DataError(
                f"{asset.symbol}: the {name} split is empty ({len(t)} decisions every "
                f"{config.stride} bars over {len(asset.bars)} bars, purge {config.purge_bars}). "
                "Load more history, or lower the stride, horizon or purge."
            )
    return parts


def _cut(day: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(day, tz="UTC")
    except ValueError as exc:
        raise ConfigError(f"Cut date {day!r} is not an ISO date (YYYY-MM-DD).") from exc


def _observe(
    config: DatasetConfig, assets: list[_Asset], plans: list[pd.DataFrame], root: Path, progress
) -> tuple[pd.DataFrame, np.ndarray]:
    interval = bar_interval(config.bar).value
    rows, raws = [], []
    total = sum(len(p) for p in plans)
    with tqdm(total=total, desc="observations", disable=not progress) as bar:
        for asset, plan in zip(assets, plans, strict=True):
            obs_config = ObservationConfig(config.image_size, config.alpha, asset.symbol)
            for t, split, label in plan.itertuples(index=False):
                window = asset.bars.iloc[: t + 1]
                observation, raw = _observation(window, obs_config, asset.symbol)
                rows.append(
                    {
                        "symbol": asset.symbol,
                        "split": split,
                        "ts": observation.ts + interval,
                        "t": int(t),
                        "label": int(label),
                        "global_chart": _cache_chart(observation.global_view, root),
                        "local_chart": _cache_chart(observation.local_view, root),
                        "summary": observation.summary,
                        "prompt": observation.prompt,
                        "row": len(raws),
                    }
                )
                raws.append(raw)
                bar.update()
    return pd.DataFrame(rows), np.stack(raws).astype(np.float32)


def _observation(
    window: pd.DataFrame, config: ObservationConfig, symbol: str
) -> tuple[Observation, np.ndarray]:
    try:
        observation = build_observation(window, None, config)
    except DataError as error:
        raise DataError(f"{symbol} at {window.index[-1]}: {error}") from error
    return observation, raw_features(compute_indicators(window))


def _cache_chart(view: np.ndarray, root: Path) -> str:
    relative = f"charts/{hashlib.sha256(view.tobytes()).hexdigest()}.png"
    path = root / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Level 1: several times faster to encode than the default 6, for files ~20% larger.
        Image.fromarray(view).save(path, format="PNG", compress_level=1)
    return relative


def _requests(config: DatasetConfig, asset: _Asset) -> list[BacktestRequest]:
    # A backtest starts on a calendar day: the first midnight at or after the first bar.
    start = asset.bars.index[0].ceil("D").date()
    return [
        BacktestRequest(
            symbol=asset.symbol,
            policy=f"single:{name}",
            bar=config.bar,
            start=start,
            window=config.stride,
            fee_bps=config.fee_bps,
            slippage_bps=config.slippage_bps,
            fill=config.fill,
            fractional=config.fractional,
            data_policy=config.data_policy,
            catalog=asset.catalog,
        )
        for name in strategy_names()
    ]


def _equity_curve(request: BacktestRequest) -> pd.Series:
    # Runs in a worker process: return only the equity, not the whole result.
    return run_backtest(request).equity


def _write_returns(config: DatasetConfig, assets: list[_Asset], curves: dict, root: Path) -> None:
    interval = bar_interval(config.bar)
    for asset in assets:
        columns = {}
        for name in strategy_names():
            equity = curves[(asset.symbol, f"single:{name}")]
            # Equity is stamped at bar close; the frame index holds bar open times.
            returns = pd.Series(equity.to_numpy(), index=equity.index - interval).pct_change()
            columns[name] = returns.reindex(asset.bars.index).fillna(0.0)
        frame = pd.DataFrame(columns, index=asset.bars.index)
        frame.to_parquet(_returns_path(root, asset.symbol))


def _fit_stats(samples: pd.DataFrame, raws: np.ndarray) -> FeatureStats:
    # Train rows only: validation and test data must not shape the standardisation.
    train = samples.loc[samples["split"] == "train", "row"].to_numpy()
    return FeatureStats.fit(raws[train].astype(np.float64))


def _meta(
    config: DatasetConfig, assets: list[_Asset], samples: pd.DataFrame, stats: FeatureStats
) -> dict:
    return {
        "config": config.to_dict(),
        "config_hash": config.digest(),
        "symbols": {asset.symbol: _symbol_meta(config, asset, samples) for asset in assets},
        "stats": stats.to_dict(),
        "feature_schema": feature_schema(),
        "strategy_table": strategy_table(),
        "regimes": list(REGIMES),
        "samples": len(samples),
    }


def _symbol_meta(config: DatasetConfig, asset: _Asset, samples: pd.DataFrame) -> dict:
    bars = asset.bars
    mine = samples[samples["symbol"] == asset.symbol]
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
        "asset_class": asset.asset_class,
        "bars": len(bars),
        "first_bar": bars.index[0].isoformat(),
        "last_bar": bars.index[-1].isoformat(),
        "bars_sha256": hashlib.sha256(bars.to_numpy().tobytes()).hexdigest(),
        "splits": splits,
    }


def _bars_path(root: Path, symbol: str) -> Path:
    return root / "bars" / f"{symbol}.parquet"


def _returns_path(root: Path, symbol: str) -> Path:
    return root / "returns" / f"{symbol}.parquet"


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
        """The dataset `build_dataset` wrote to `out_dir`; refuses one built for another
        strategy table or feature schema."""
        root = Path(out_dir)
        if not (root / META).exists():
            raise DataError(f"No dataset at {root} (no {META}); build it with build_dataset.")
        meta = json.loads((root / META).read_text())
        if meta["strategy_table"] != strategy_table() or meta["feature_schema"] != feature_schema():
            raise DataError(
                f"The dataset at {root} was built for another strategy table or feature schema "
                "than this version's; rebuild it."
            )
        samples = pd.read_parquet(root / SAMPLES)
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
            bars = pd.read_parquet(_bars_path(self.root, symbol))
            asset = _Asset(symbol, info["asset_class"], bars, config.catalog)
            symbols[symbol] = _symbol_meta(config, asset, samples)
        stats = _fit_stats(samples, self._features)
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
            close = pd.read_parquet(_bars_path(self.root, symbol))["close"]
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
            frame = pd.read_parquet(_returns_path(self.root, symbol))
            self._paths[symbol] = frame[list(strategy_names())].to_numpy()
        return self._paths[symbol]

    def _hold(self, symbol: str) -> np.ndarray:
        if symbol not in self._closes:
            close = pd.read_parquet(_bars_path(self.root, symbol))["close"]
            self._closes[symbol] = close.pct_change().fillna(0.0).to_numpy()
        return self._closes[symbol]

    def _image(self, relative: str) -> np.ndarray:
        with Image.open(self.root / relative) as image:
            return np.asarray(image.convert("RGB"))

"""Building the router's training dataset: observations, regime labels and strategy return
paths. Its config is `DatasetConfig` (`training.dataset_config`); `RouterDataset`
(`training.router_dataset`) reads it back for training.

`build_dataset` writes, under `out_dir`:
- `samples.parquet`: one row per decision (symbol, split, ts = decision bar CLOSE time in ns,
  t = bar index, label, global_chart / local_chart paths relative to out_dir, summary,
  prompt, row into features.npy);
- `features.npy`: the raw (unstandardised) (N, 100, 17) float32 feature matrices;
- `charts/<sha256 of the pixels>.png`: both chart views, stored once per distinct image;
- `bars/<symbol>.parquet`: the bars exactly as nautilus sees them (rounded to the instrument);
- `returns/<symbol>.parquet`: per-bar simple returns of each strategy's equity in a
  single-strategy backtest over the whole history (fees and slippage included), one column per
  strategy in table order, indexed by bar open time; 0 before the backtest's first day;
- `meta.json`: config and its hash, per-symbol data and split ranges, train-split feature
  stats, feature schema and strategy table, and the digests `RouterDataset` checks on loading.

A build is written whole or not at all (`bot.core.staging`): a failed or interrupted one leaves
the dataset at `out_dir` as it was. `out_dir` must be new, empty or a dataset: it is replaced.

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
  lies more than max(`purge`, `window`) bars after the previous split's last decision bar.
  Symbols whose shares fall on different dates are refused, since one would train on the days
  another is tested on.
Either way no label or return window reaches a later split's decision bar. Observations come from
`bot.core.observation` (`observe`, the path of `build_observation`) on the bars up to and
including t, never later ones.

The return paths are cached per instrument in `config.returns_cache` (`bot train data`:
`train.returns_cache`, var/returns-cache by default; None turns the cache off): a later build
over the same bars and backtest settings (another stride, horizon, cut or chart size, or the
same dataset rebuilt) reads them instead of running the eleven backtests again;
`training.returns_cache` says what the key holds and how a damaged entry is rebuilt. The build
logs "strategy returns" with how many instruments it reused and how many backtests it ran.

The work fans out through `bot.core.parallel` (`workers`; 1 runs it all in this process): one
task per strategy backtest still to run, then one per chunk of decisions
(`training.dataset_samples`), whose rows, features and charts come back in decision order, so
the files are the same for any number of workers.
"""

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import structlog

import bot
import strategies
import training
from bot.core.bars import bar_interval, from_nautilus_bars
from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS, FeatureStats
from bot.core.observation import Account, ObservationConfig
from bot.core.parallel import FanOut, Parallel
from bot.core.staging import staged_folder
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.catalog import to_nautilus_bars
from bot.engine.data import dataset_asset_class, load_bars, store_bars
from bot.engine.instruments import make_instrument
from bot.model.checkpoint import feature_schema, strategy_table
from bot.model.router_model import REGIMES
from strategies import strategy_names
from training.code_digest import code_digest
from training.dataset_config import (
    FEATURES,
    META,
    SAMPLES,
    SPLITS,
    DatasetConfig,
    bars_path,
    cut_day,
    fit_stats,
    returns_path,
    symbol_meta,
)
from training.dataset_samples import Chunk, Drawn, chunks, draw
from training.labels import NO_LABEL, regime_labels
from training.returns_cache import entry_path, load_returns, returns_key, store_returns
from training.router_dataset import sealed

# A decision's holdings depend on the policy being trained, so dataset prompts carry a flat book
# at the backtests' default capital (Listing 3's account line; live and backtest prompts carry
# the real portfolio).
DATASET_ACCOUNT = Account.flat(BacktestRequest.capital)

log = structlog.get_logger(__name__)

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
    too short for REQUIRED_BARS + horizon bars, an empty split, or non-finite features, and
    ConfigError for an `out_dir` that holds anything but a dataset."""
    target = Path(out_dir).resolve()  # through a symlink, so the link keeps pointing at it
    # Also on KeyboardInterrupt: nothing half-built remains.
    with staged_folder(target, "dataset", DATASET_ENTRIES) as root:
        meta = _build(config, root, frames, progress)
    log.info(
        "dataset built", out_dir=str(out_dir), samples=meta["samples"], symbols=len(meta["symbols"])
    )
    return Path(out_dir)


def _build(config: DatasetConfig, root: Path, frames: Frames | None, progress) -> dict:
    for folder in ("bars", "returns", "charts"):
        (root / folder).mkdir()
    assets = [_asset(config, symbol, root, frames) for symbol in config.symbols]
    plans = [_plan(config, asset) for asset in assets]
    _check_splits(config, plans)
    if not config.cuts:
        _check_shares_line_up(config, assets, plans)
    cached = {asset.symbol: _cached_returns(config, asset) for asset in assets}
    missing = [asset for asset in assets if cached[asset.symbol][0] is None]
    requests = [request for asset in missing for request in _requests(config, asset)]
    chunks = [
        chunk
        for asset, plan in zip(assets, plans, strict=True)
        for chunk in _chunks(config, asset, plan)
    ]
    log.info("strategy returns", reused=len(assets) - len(missing), backtests=len(requests))
    with FanOut(Parallel(workers=config.workers), len(requests) + len(chunks)) as pool:
        # Backtests first: they are the longest tasks. Leaving the block on a bad observation
        # stops them.
        backtests = pool.submit(_equity_curve, requests)
        samples, raws = _samples(pool.submit(draw, chunks).each("observations", progress), root)
        equities = backtests.results("backtests", progress)
    curves = {(r.symbol, r.policy): equity for r, equity in zip(requests, equities, strict=True)}
    for asset in assets:
        _write_returns(config, asset, cached[asset.symbol], curves, root)
    stats = fit_stats(samples, raws)
    np.save(root / FEATURES, raws)
    samples.to_parquet(root / SAMPLES, index=False)
    meta = sealed(root, _meta(config, assets, samples, stats), samples)
    (root / META).write_text(json.dumps(meta, indent=2))
    return meta


# What a build writes (`catalog` only when given frames): the only entries of a folder it
# replaces, so that a mistyped --out never deletes anything else.
DATASET_ENTRIES = frozenset({META, SAMPLES, FEATURES, "bars", "returns", "charts", "catalog"})


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
    bars.to_parquet(bars_path(root, symbol))
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


def _check_shares_line_up(config: DatasetConfig, assets: list, plans: list) -> None:
    """Share splits cut each symbol at its own dates: refuse symbols whose train or validation
    windows reach past another symbol's next split, where a model would learn the very market
    it is then tested on (calendar `cuts` split every symbol on the same dates)."""
    ends, starts = {}, {}
    for asset, plan in zip(assets, plans, strict=True):
        last = len(asset.bars) - 1
        for name in SPLITS:
            t = plan.loc[plan["split"] == name, "t"]
            ends[asset.symbol, name] = asset.bars.index[min(t.max() + _reach(config), last)]
            starts[asset.symbol, name] = asset.bars.index[t.min()]
    symbols = [asset.symbol for asset in assets]
    for before, after in itertools.pairwise(SPLITS):
        end, a = max((ends[symbol, before], symbol) for symbol in symbols)
        start, b = min((starts[symbol, after], symbol) for symbol in symbols)
        if end >= start:
            raise ConfigError(
                f"Split by shares, {a}'s {before} windows reach {end:%Y-%m-%d} but "
                f"{b}'s {after} split starts {start:%Y-%m-%d}: the model would learn the "
                "market it is tested on. Set calendar cuts (`train.cuts`, DatasetConfig.cuts), "
                "which split every symbol on the same dates."
            )


def _reach(config: DatasetConfig) -> int:
    # Bars a decision's label (horizon) and held window read ahead: the next split's decisions
    # start beyond them.
    return max(config.purge_bars, config.window)


def _by_date(config: DatasetConfig, asset: _Asset, t: np.ndarray) -> list[np.ndarray]:
    firsts = asset.bars.index.searchsorted([cut_day(c) for c in config.cuts])  # first bar >= cut
    reach = _reach(config)
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
            parts[i] = parts[i][parts[i] > previous[-1] + _reach(config)]
    for name, part in zip(SPLITS, parts, strict=True):
        if not len(part):
            raise DataError(
                f"{asset.symbol}: the {name} split is empty ({len(t)} decisions every "
                f"{config.stride} bars over {len(asset.bars)} bars, purge {config.purge_bars}). "
                "Load more history, or lower the stride, horizon or purge."
            )
    return parts


def _chunks(config: DatasetConfig, asset: _Asset, plan: pd.DataFrame) -> list[Chunk]:
    observation = ObservationConfig(config.image_size, config.alpha, asset.symbol)
    interval = bar_interval(config.bar).value
    return chunks(asset.bars, plan, observation, DATASET_ACCOUNT, interval)


def _samples(drawn: Iterable[Drawn], root: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The chunks' rows in decision order, numbered into the stacked features; their charts
    written once each as each chunk arrives, so that a build holds no more than a chunk's."""
    rows, raws = [], []
    for part in drawn:
        for relative, data in part.charts.items():
            path = root / relative
            if not path.exists():
                path.write_bytes(data)
        rows += part.rows
        raws.append(part.raws)
    samples = pd.DataFrame(rows)
    samples["row"] = np.arange(len(samples))
    return samples, np.concatenate(raws)


def _requests(config: DatasetConfig, asset: _Asset) -> list[BacktestRequest]:
    # A backtest starts on a calendar day: the first midnight at or after the first bar.
    start = asset.bars.index[0].ceil("D").date()
    return [
        BacktestRequest(
            symbol=asset.symbol,
            policy=f"single:{name}",
            bar=config.bar,
            start=start,
            # One decision: a single policy's weights never change, and its strategy rebalances
            # every bar, so the router window leaves the path as it is (returns_cache).
            window=len(asset.bars),
            fee_bps=config.fee_bps,
            slippage_bps=config.slippage_bps,
            fill=config.fill,
            fractional=config.fractional,
            data_policy=config.data_policy,
            catalog=asset.catalog,
        )
        for name in strategy_names()
    ]


def _cached_returns(
    config: DatasetConfig, asset: _Asset
) -> tuple[pd.DataFrame | None, Path | None]:
    """The asset's cached paths (None when not cached) and where its entry lives (None without
    a cache)."""
    if config.returns_cache is None:
        return None, None
    key = returns_key(asset.bars, asset.asset_class, _requests(config, asset)[0])
    path = entry_path(config.returns_cache, asset.symbol, key)
    return load_returns(path, asset.bars.index, list(strategy_names())), path


def _equity_curve(request: BacktestRequest) -> pd.Series:
    # Runs in a worker process: return only the equity, not the whole result.
    return run_backtest(request).equity


def _write_returns(
    config: DatasetConfig, asset: _Asset, cached: tuple, curves: dict, root: Path
) -> None:
    frame, entry = cached
    if frame is None:
        frame = _returns_frame(config, asset, curves)
        if entry is not None:
            store_returns(entry, frame)
    frame.to_parquet(returns_path(root, asset.symbol))


def _returns_frame(config: DatasetConfig, asset: _Asset, curves: dict) -> pd.DataFrame:
    interval = bar_interval(config.bar)
    columns = {}
    for name in strategy_names():
        equity = curves[(asset.symbol, f"single:{name}")]
        # Equity is stamped at bar close; the frame index holds bar open times.
        returns = pd.Series(equity.to_numpy(), index=equity.index - interval).pct_change()
        columns[name] = returns.reindex(asset.bars.index).fillna(0.0)
    return pd.DataFrame(columns, index=asset.bars.index)


def _meta(
    config: DatasetConfig, assets: list[_Asset], samples: pd.DataFrame, stats: FeatureStats
) -> dict:
    return {
        "config": config.to_dict(),
        "config_hash": config.digest(),
        "symbols": {
            a.symbol: symbol_meta(config, a.symbol, a.asset_class, a.bars, samples) for a in assets
        },
        "stats": stats.to_dict(),
        "feature_schema": feature_schema(),
        "strategy_table": strategy_table(),
        "regimes": list(REGIMES),
        "samples": len(samples),
        "code": dataset_code(),
    }


def dataset_code() -> str:
    """The digest of the code a dataset's backtests, features, labels and charts come from (its
    meta's "code"): a dataset kept for reuse is stale once this changes."""
    return code_digest(bot, strategies, training)

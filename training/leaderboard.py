"""The router leaderboard (`bot evaluate CKPT --leaderboard`, `make leaderboard`): the router's
recipe, retrained and tested walk-forward by calendar date, all out of sample.

What is judged is the checkpoint's recipe (its dataset, model, SFT and PPO configs), not its
weights: each fold retrains from scratch on data that ends before the fold's test span.

1. Data. One dataset (`training.dataset.build_dataset`) over `TRAIN_INSTRUMENTS`, every daily
   price history that ships offline, each once and on its full length, as `train.symbols`
   has them (MSFT.PMD, AMZN.TSD and NVDA.TSD cover MSFT, AMZN and NVDA; SP500 repeats SPX and
   GOOGL nearly repeats GOOG; TSLA and BTCUSD are too short for the dataset's purged splits).
   It is built with the checkpoint's recorded dataset config, only the symbols (and the
   stride, when given) replaced, kept in `<datasets>/leaderboard-<hash[:8]>` and reused while
   its config hash matches and this code built it, so reruns skip it; so is the checkpoint's
   own dataset folder when both match (a router trained by `make router` on the default
   instruments). A code change rebuilds it: its strategies' returns may have changed. The test
   instruments outside it (MSFT, GOOGL, AMZN, NVDA, BTCUSD) are tested on catalog bars.
2. Folds by calendar date (`training.leaderboard_folds`). Fold i tests the decisions dated in
   [D_i, D_i+1) of the cut dates `CUTS` and trains on every decision of every training
   instrument whose label and return window ends more than `purge` bars before D_i (the last
   quarter of each instrument's, by date, validates). One date cuts every instrument, so no
   fold trains on one instrument's 2015 while testing another's 2015: the cross-sectional
   look-ahead of `training.walk_forward`, which cuts each instrument's decisions by its own
   fractions. For the same reason one underlying under two names (SPX and SP500, AMZN and
   AMZN.TSD, GOOG and GOOGL) is harmless: under any name, its prices are trained on before
   D_i and tested after.
3. Per fold, a router trained from scratch with the checkpoint's model, SFT and PPO configs
   (`train_sft`, then `train_ppo` when the checkpoint had PPO) and a LightGBM router
   (`train_lgbm`), both on the fold's train split with feature stats refitted on it.
4. Per fold, `training.evaluate.run_evaluation` on every test instrument with enough history
   before D_i and bars in [D_i, D_i+1), over that span: the router, uniform, best-expert
   (validated before D_i), random, the rule and momentum routers, the LightGBM router,
   buy-and-hold and the paper's rule baselines, with the dataset's costs and fills,
   rebalancing every router window (the dataset's `window`).

`training.leaderboard_report` then averages over the (instrument, fold) pairs and writes
`router_leaderboard.json` and `router_leaderboard.md`.

The cut dates follow the bundled daily histories: SPX 1982-2024; SP500, IXIC 1999-2018; IBM,
MSFT 2000-2013; GOOGL 2009-2018; AAPL, AMZN, GOOG, META, NVDA, NFLX 2013-2023; BTCUSD
2020-2021. 2011 gives the first fold ten years of training on eight instruments and five test
instruments; 2015 gives the six large caps their 250 warm-up bars and a year of best-expert
validation first; 2021 gives BTCUSD its warm-up and four months of validation; 2024-07 is past
SPX's last bar. That makes 5, 9, 9 and 8 test instruments: 31 pairs over 12 instruments.

Running time on two idle CPU cores at the shipped recipe's stride (20 bars): about 45 minutes,
an estimate from measured rates (see `timings` in the JSON for a run's own): the dataset about
5 (132 full-history strategy backtests, 2,500 observations), evaluation about 8 (31 pairs, about
25 s each), and training the rest, PPO most of it (30 iterations of 4 epochs over each fold's
1,000-1,700 training decisions, at about 50 ms of CPU per minibatch). Stride 10 doubles the
decisions and about doubles the training; `--stride 40` or `--folds 2` cut it.
"""

import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import structlog

from bot.core.configs import described, from_saved
from bot.core.errors import ConfigError
from bot.core.parallel import Parallel
from bot.core.saved_meta import project_relative
from bot.core.settings import TrainSettings
from bot.engine.backtest_request import BacktestRequest
from bot.model.checkpoint import read_meta
from bot.model.router_model import ModelConfig
from training.dataset import Frames, build_dataset, dataset_code
from training.dataset_config import META, DatasetConfig
from training.eval_windows import EvalWindow
from training.evaluate import run_evaluation
from training.leaderboard_folds import fold_splits, fold_windows, training_view
from training.leaderboard_report import write_leaderboard
from training.lgbm import LGBMConfig, train_lgbm
from training.ppo import PPOConfig, train_ppo
from training.router_dataset import RouterDataset
from training.sft import SFTConfig, train_sft

log = structlog.get_logger(__name__)

TEST_INSTRUMENTS = (
    "SPX", "IXIC", "IBM", "MSFT", "GOOGL", "AAPL", "AMZN", "GOOG", "META", "NVDA", "NFLX", "BTCUSD",
)  # fmt: skip
TRAIN_INSTRUMENTS = TrainSettings().symbols  # the default training set, defined once
CUTS = (date(2011, 1, 1), date(2015, 1, 1), date(2018, 1, 1), date(2021, 1, 1), date(2024, 7, 1))
QUICK_TEST = QUICK_TRAIN = ("SPX", "AAPL")
QUICK_IMAGE_SIZE = 56  # chart side in pixels for --quick
QUICK_STEPS = 2  # optimizer steps of SFT and of PPO for --quick
QUICK_TREES = 5


@dataclass(frozen=True)
class LeaderboardConfig:
    """What `run_leaderboard` runs (saved in router_leaderboard.json)."""

    test_instruments: tuple[str, ...] | None = described(
        "Instruments tested in each fold they have data for; None: the table (quick: 2).", None
    )
    train_instruments: tuple[str, ...] | None = described(
        "Instruments of the training dataset; None: the table (quick: 2).", None
    )
    cuts: tuple[date, ...] = described("Cut dates D_1 < ...: fold i tests [D_i, D_i+1).", CUTS)
    folds: int | None = described("Run only the last N folds; None: all (quick: 1).", None)
    stride: int | None = described("Bars between decisions; None: the checkpoint's.", None)
    quick: bool = described("Smoke run: 2 instruments, 56-px charts, 2 training steps.", False)
    singles: bool = described("Also evaluate the eleven single strategies.", False)
    datasets: Path = described("Folder of the leaderboard's dataset.", Path("var/datasets"))
    work: Path = described("Folder of the fold checkpoints and reports.", Path("var/leaderboard"))

    def __post_init__(self) -> None:
        test = self.test_instruments or (QUICK_TEST if self.quick else TEST_INSTRUMENTS)
        train = self.train_instruments or (QUICK_TRAIN if self.quick else TRAIN_INSTRUMENTS)
        object.__setattr__(self, "test_instruments", tuple(test))
        object.__setattr__(self, "train_instruments", tuple(train))
        object.__setattr__(self, "cuts", tuple(self.cuts))
        if self.folds is None:  # 0 is refused below, not taken for "all"
            object.__setattr__(self, "folds", 1 if self.quick else len(self.cuts) - 1)
        if len(self.cuts) < 2 or list(self.cuts) != sorted(set(self.cuts)):
            raise ConfigError(f"cuts must be at least two increasing dates, were {self.cuts}.")
        if not 1 <= self.folds < len(self.cuts):
            raise ConfigError(
                f"--folds {self.folds}: the {len(self.cuts)} cut dates make "
                f"{len(self.cuts) - 1} folds; choose 1 .. {len(self.cuts) - 1}."
            )
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"--stride must be at least 1 bar, was {self.stride}.")

    def run_cuts(self) -> tuple[date, ...]:
        """The cut dates of the folds that run, the last `folds` ones: fold i tests
        [run_cuts[i], run_cuts[i+1])."""
        return self.cuts[-(self.folds + 1) :]

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        return json.loads(json.dumps(asdict(self), default=str))


def run_leaderboard(
    checkpoint: Path,
    config: LeaderboardConfig,
    out_dir: Path,
    base: BacktestRequest,
    parallel: Parallel | None = None,
    frames: Frames | None = None,
) -> dict:
    """Retrain and evaluate every fold (module docstring), write `router_leaderboard.json` and
    `router_leaderboard.md` to `out_dir` and return the JSON. `base` carries the settings of
    the evaluation backtests (capital, seed, catalog; costs, fills and the router window come
    from the dataset config); `frames` (symbol -> (bars, asset class)) supplies the bars instead
    of the catalog, e.g. synthetic ones in tests."""
    began = time.monotonic()
    saved = read_meta(checkpoint)
    data_config = leaderboard_dataset_config(saved, config, base, frames)
    trained_on = saved["extra"]["dataset"].get("path")
    reuse = (Path(trained_on),) if trained_on else ()
    dataset = leaderboard_dataset(data_config, config.datasets, frames, reuse)
    catalog = str(dataset.root / "catalog") if frames is not None else data_config.catalog
    base = replace(
        base,
        window=data_config.window,
        fee_bps=data_config.fee_bps,
        slippage_bps=data_config.slippage_bps,
        fill=data_config.fill,
        fractional=data_config.fractional,
        catalog=catalog,
    )
    cuts = config.run_cuts()
    spans = list(zip(cuts[:-1], cuts[1:], strict=True))
    windows = [fold_windows(start, end, config.test_instruments, base) for start, end in spans]
    splits = fold_splits(dataset, cuts, config.test_instruments)
    timings = {"dataset_s": round(time.monotonic() - began, 1)}
    folds = []
    for i, (start, end) in enumerate(spans):
        log.info("leaderboard fold", fold=f"{i + 1}/{len(spans)}", test=f"{start} .. {end}",
                 instruments=[w.symbol for w in windows[i]])  # fmt: skip
        folder = (config.work / data_config.digest()[:8] / f"fold-{start}").resolve()
        fold = _run_fold(saved, config, dataset, splits[i], windows[i], folder, base, parallel)
        folds.append(fold | {"test_span": [str(start), str(end)]})
    timings["total_s"] = round(time.monotonic() - began, 1)
    context = {
        "config": config.to_dict(),
        "checkpoint": str(checkpoint),
        "cuts": [str(day) for day in cuts],
        "dataset": {
            "path": str(dataset.root),
            "config_hash": dataset.meta["config_hash"],
            "samples": len(dataset),
            "config": dataset.meta["config"],
        },
        "timings": timings | {"folds": [f["timings"] for f in folds]},
    }
    return write_leaderboard(folds, context, out_dir)


def leaderboard_dataset_config(
    saved: dict, config: LeaderboardConfig, base: BacktestRequest, frames: Frames | None
) -> DatasetConfig:
    """The checkpoint's recorded dataset config with the training instruments, the stride
    (when given), the quick chart size and, for catalog data, `base`'s catalog."""
    recorded = saved["extra"].get("dataset", {}).get("config")
    if recorded is None:
        raise ConfigError(
            "The checkpoint records no dataset config (meta.json extra.dataset.config): the "
            "leaderboard retrains its recipe, so it needs a checkpoint trained by `bot train`."
        )
    data = DatasetConfig.from_dict(recorded)
    return replace(
        data,
        symbols=config.train_instruments,
        stride=config.stride or data.stride,
        image_size=QUICK_IMAGE_SIZE if config.quick else data.image_size,
        catalog=data.catalog if frames is not None else base.catalog,
    )


def leaderboard_dataset(
    config: DatasetConfig,
    datasets: Path,
    frames: Frames | None = None,
    reuse: tuple[Path, ...] = (),
) -> RouterDataset:
    """The dataset of `config`: the first of `reuse` (e.g. the folder the checkpoint was
    trained on) and `datasets/leaderboard-<hash[:8]>` whose config hash matches and that this
    code built (`dataset_code`), else built in the latter."""
    root = Path(datasets) / f"leaderboard-{config.digest()[:8]}"
    for folder in (*reuse, root):
        meta = Path(folder) / META
        if not meta.exists():
            continue
        try:
            saved = json.loads(meta.read_text())
        except (OSError, ValueError):  # damaged: not reused, and the root is built again
            continue
        if saved.get("config_hash") != config.digest():
            continue
        if saved.get("code") != dataset_code():  # e.g. a strategy changed: its returns did too
            log.info("leaderboard dataset built by other code; not reused", path=str(folder))
            continue
        log.info("leaderboard dataset reused", path=str(folder))
        return RouterDataset.load(folder)
    log.info("leaderboard dataset build", path=str(root), symbols=len(config.symbols))
    build_dataset(config, root, frames=frames)
    return RouterDataset.load(root)


def _run_fold(
    saved: dict,
    config: LeaderboardConfig,
    dataset: RouterDataset,
    split: np.ndarray,
    windows: list[EvalWindow],
    folder: Path,
    base: BacktestRequest,
    parallel: Parallel | None,
) -> dict:
    began = time.monotonic()
    data = training_view(dataset, split, folder.name)
    model = ModelConfig.from_dict(saved["model_config"])
    sft, ppo, trees = _recipe(saved, config.quick)
    warm = train_sft(data, model, folder / "sft", sft)
    router = train_ppo(data, warm, folder / "router", ppo) if ppo else warm
    lgbm = train_lgbm(data, folder / "lgbm", trees)
    trained = time.monotonic()
    summary = run_evaluation(
        router,
        windows,
        folder / "evaluation",
        horizon=dataset.config.horizon,
        base=base,
        parallel=parallel,
        extra=(f"lgbm:{lgbm}",),
        singles=config.singles,
    )
    draws = np.load(folder / "evaluation" / "bootstrap.npz")
    counts = {name: int(np.sum(split == name)) for name in ("train", "val", "test")}
    return {
        "instruments": summary["instruments"],
        "draws": {key: draws[key] for key in draws.files},
        "samples": counts | {"trained_on": int(np.sum(data.samples["split"] == "train"))},
        "trained_symbols": sorted(data.meta["symbols"]),
        # relative to the project: router_leaderboard.json names no machine's folders
        "router": project_relative(router),
        "lgbm": project_relative(lgbm),
        "evaluation": project_relative(folder / "evaluation"),
        "timings": {
            "train_s": round(trained - began, 1),
            "evaluate_s": round(time.monotonic() - trained, 1),
        },
    }


def _recipe(saved: dict, quick: bool) -> tuple[SFTConfig, PPOConfig | None, LGBMConfig]:
    """The checkpoint's SFT and PPO configs (PPO None when it had none) and the LightGBM
    config; quick cuts each to a few steps."""
    extra = saved["extra"]
    advice = "the checkpoint was trained by another version; retrain it with this one."
    sft = from_saved(SFTConfig, extra.get("sft_config", {}), advice)
    ppo = from_saved(PPOConfig, extra["ppo_config"], advice) if "ppo_config" in extra else None
    if not quick:
        return sft, ppo, LGBMConfig()
    sft = replace(sft, max_steps=QUICK_STEPS)
    ppo = ppo and replace(ppo, iterations=1, max_steps=QUICK_STEPS)
    return sft, ppo, LGBMConfig(trees=QUICK_TREES)

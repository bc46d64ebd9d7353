"""Walk-forward evaluation: retrain on expanding windows, test on the slice that follows.

Per symbol, the decisions after the dataset's training share are cut by time into `folds`
consecutive test slices. Fold i trains on every decision before its slice: the last quarter of
those is the validation split, and a purge gap of `purge` bars separates train from validation
and validation from test, as in the dataset itself. Later decisions are unused. The feature stats
are refitted on each fold's train rows, the router is retrained from scratch with the
checkpoint's own model, SFT and PPO configs, and `run_evaluation` scores it on the slice.
"""

import json
from pathlib import Path

import numpy as np

from bot.backtest import BacktestRequest
from bot.errors import ConfigError
from bot.parallel import Parallel
from training.checkpoint import read_meta
from training.config import from_saved
from training.dataset import RouterDataset
from training.evaluate import average_metrics, run_evaluation, table3, test_windows
from training.model import ModelConfig
from training.ppo import PPOConfig, train_ppo
from training.sft import SFTConfig, train_sft

VALIDATION_SHARE = 0.25  # of each fold's training decisions


def fold_splits(dataset: RouterDataset, folds: int) -> list[np.ndarray]:
    """The split name of every sample for each fold (see the module docstring)."""
    if folds < 1:
        raise ConfigError(f"--folds must be at least 1, was {folds}.")
    config = dataset.config
    samples = dataset.samples
    assignments = [np.full(len(samples), "unused", dtype=object) for _ in range(folds)]
    for _, group in samples.groupby("symbol", sort=False):
        group = group.sort_values("t")
        rows, t = group.index.to_numpy(), group["t"].to_numpy()
        first_test = int(round(config.splits[0] * len(t)))
        for fold, test in enumerate(np.array_split(np.arange(first_test, len(t)), folds)):
            if not len(test):
                continue
            _assign(assignments[fold], rows, t, test, config.purge_bars)
    return assignments


def _assign(split: np.ndarray, rows: np.ndarray, t: np.ndarray, test: np.ndarray, purge: int):
    split[rows[test]] = "test"
    before = np.flatnonzero(t < t[test[0]] - purge)
    val_start = int(round(len(before) * (1 - VALIDATION_SHARE)))
    val = before[val_start:]
    split[rows[val]] = "val"
    if len(val):
        split[rows[before[t[before] < t[val[0]] - purge]]] = "train"


def walk_forward(
    checkpoint: Path,
    dataset: RouterDataset,
    folds: int,
    out_dir: Path,
    base: BacktestRequest,
    parallel: Parallel | None = None,
) -> dict:
    """Retrain and evaluate each fold (its backtests fanned out as `parallel` says); write
    `walk_forward.json` and return it."""
    saved = read_meta(checkpoint)
    extra = saved["extra"]
    model = ModelConfig.from_dict(saved["model_config"])
    advice = "the checkpoint was trained by another version; retrain it with this one."
    sft = from_saved(SFTConfig, extra.get("sft_config", {}), advice)
    ppo = from_saved(PPOConfig, extra.get("ppo_config", {}), advice)
    results = {}
    for fold, splits in enumerate(fold_splits(dataset, folds)):
        data = dataset.with_splits(splits, f"wf{fold}")
        folder = out_dir / f"fold-{fold}"
        warm = train_sft(data, model, folder / "sft", sft)
        trained = train_ppo(data, warm, folder / "router", ppo) if "ppo_config" in extra else warm
        summary = run_evaluation(
            trained,
            test_windows(data.meta),
            folder / "evaluation",
            horizon=dataset.config.horizon,
            base=base,
            parallel=parallel,
        )
        results[f"fold-{fold}"] = {
            "test": {s: i["splits"]["test"] for s, i in data.meta["symbols"].items()},
            "average": summary["average"],
            "sharpe_diff_vs_uniform": summary["sharpe_diff_vs_uniform"],
            "regime_accuracy": summary["regime_accuracy"],
            "table": summary["table"],
        }
    out = {"folds": results, "table": _fold_table(results, len(dataset.meta["symbols"]))}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "walk_forward.json").write_text(json.dumps(out, indent=2))
    return out


def _fold_table(results: dict[str, dict], count: int) -> str:
    """The Table 3 layout averaged over the folds (each fold a mean over instruments)."""
    average = average_metrics([r["average"] for r in results.values()])
    return table3(average, f"method (mean of {count} instruments, {len(results)} folds)")

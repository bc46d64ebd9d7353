"""LightGBM router baseline (`bot train lgbm`): a small gradient-boosted classifier of the expert.

Features: `bot.model.lgbm.tree_features` of each sample's raw 100 x 17 matrix and text summary,
the vector the `lgbm:<dir>` policy builds from the bars at decision time.

Target: the expert whose strategies, weighted evenly, made the most over the window after the
decision (`RouterDataset.window_returns`, fees and slippage included): the mean of its members'
window returns, which is what the policy's allocation earns with all probability on that expert
(a best-member target would reward an expert for a strategy the even split dilutes). A tie goes
to the first expert in `EXPERTS` order.

It fits on the train split and stops early on the validation split's multi-class log loss, with
a fixed seed, one thread and LightGBM's deterministic mode, so a rerun writes the same model.
The folder gets `model.txt`, the price fingerprint of the train and validation bars
(`fingerprint.npy`, `bot.core.fingerprint`) and `meta.json` (see `bot.model.lgbm`), with the
dataset's provenance under `extra.dataset`: backtests flag in-sample runs as for a checkpoint.
It is written whole or not at all, as a checkpoint is (`bot.core.staging`).
"""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import lightgbm
import numpy as np
import structlog

from bot.core.configs import SEEDS, check_range, described
from bot.core.digests import sha256_file
from bot.core.errors import DataError
from bot.core.fingerprint import FILE as FINGERPRINT
from bot.core.staging import staged_folder
from bot.model.checkpoint import _git_sha
from bot.model.lgbm import FORMAT, KIND, META, MODEL, TREE_FEATURES, model_table
from bot.model.lgbm import tree_features as tree_vector
from strategies import EXPERTS, STRATEGIES
from training.router_dataset import RouterDataset

log = structlog.get_logger(__name__)

TARGET = "expert with the highest mean window return of its strategies (ties: EXPERTS order)"
LGBM_ENTRIES = frozenset({META, MODEL, FINGERPRINT})  # all a save writes


@dataclass(frozen=True)
class LGBMConfig:
    """How `train_lgbm` fits (saved in meta.json)."""

    trees: int = described("Most boosting rounds; early stopping usually keeps fewer.", 200)
    learning_rate: float = described("Shrinkage per boosting round.", 0.05)
    num_leaves: int = described("Most leaves per tree.", 15)
    min_data_in_leaf: int = described("Fewest train samples in a leaf.", 20)
    patience: int = described("Rounds without a better validation log loss before stopping.", 20)
    seed: int = described("Seed of LightGBM's sampling.", 0)

    def __post_init__(self) -> None:
        check_range(self, "seed", 0, SEEDS)  # the same seeds as `bot train sft|ppo --seed`


def tree_features(data: RouterDataset, rows: np.ndarray) -> np.ndarray:
    """The (n, len(TREE_FEATURES)) feature table of `rows` (positions in `data.samples`)."""
    raws = data.raw_features(rows)
    summaries = data.samples["summary"].to_numpy()[np.asarray(rows)]
    return np.stack(
        [tree_vector(raw, summary) for raw, summary in zip(raws, summaries, strict=True)]
    )


def expert_targets(data: RouterDataset, rows: np.ndarray) -> np.ndarray:
    """The target expert (index into `EXPERTS`) of every row, as the module docstring says."""
    returns = data.window_returns(rows)
    means = np.stack(
        [returns[:, [s.expert == e for s in STRATEGIES]].mean(axis=1) for e in EXPERTS], axis=1
    )
    return means.argmax(axis=1)


def train_lgbm(data: RouterDataset, out_dir: Path, config: LGBMConfig | None = None) -> Path:
    """Fit on `data`'s train split, stop early on its validation split, and write the model
    folder `out_dir`; returns it. `config` None means `LGBMConfig()`."""
    config = config or LGBMConfig()
    train, val = _split(data, "train"), _split(data, "val")
    train_rows, val_rows = np.arange(len(train)), np.arange(len(val))
    x_train, y_train = tree_features(train, train_rows), expert_targets(train, train_rows)
    x_val, y_val = tree_features(val, val_rows), expert_targets(val, val_rows)
    names = list(TREE_FEATURES)
    train_set = lightgbm.Dataset(x_train, y_train, feature_name=names, free_raw_data=False)
    val_set = lightgbm.Dataset(x_val, y_val, reference=train_set, free_raw_data=False)
    booster = lightgbm.train(
        _params(config),
        train_set,
        num_boost_round=config.trees,
        valid_sets=[val_set],
        valid_names=["val"],
        callbacks=[lightgbm.early_stopping(config.patience, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    predicted = booster.predict(x_val, num_iteration=best).argmax(axis=1)
    validation = {
        "accuracy": float((predicted == y_val).mean()),
        "majority_rate": _majority_rate(y_train, y_val),
        "log_loss": float(booster.best_score["val"]["multi_logloss"]),
        "best_iteration": int(best),
    }
    return save_model(booster, best, out_dir, data, config, validation)


def save_model(
    booster, iterations: int, out_dir: Path, data: RouterDataset, config: LGBMConfig,
    validation: dict,
) -> Path:  # fmt: skip
    """Write `booster` (its first `iterations` trees) and meta.json to `out_dir`, replacing the
    LightGBM router there; returns the folder. Written whole in a hidden sibling first
    (`staged_folder`), so a save that fails leaves an earlier model there as it was, and a
    folder holding other files is refused (ConfigError) rather than written into."""
    with staged_folder(out_dir, "LightGBM router", LGBM_ENTRIES) as folder:
        booster.save_model(str(folder / MODEL), num_iteration=iterations)
        np.save(folder / FINGERPRINT, data.fingerprint())
        meta = model_table() | {
            "format": FORMAT,
            "kind": KIND,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": TARGET,
            "config": asdict(config),
            "versions": {name: version(name) for name in ("lightgbm", "nautilus_trader")},
            "git_sha": _git_sha(),
            "files": {MODEL: sha256_file(folder / MODEL)},
            "extra": {"dataset": data.provenance(), "validation": validation},
        }
        (folder / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
    log.info("lightgbm router saved", path=str(out_dir), **validation)
    return Path(out_dir)


def _params(config: LGBMConfig) -> dict:
    return {
        "objective": "multiclass",
        "num_class": len(EXPERTS),
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }


def _majority_rate(y_train: np.ndarray, y_val: np.ndarray) -> float:
    """How often always guessing the train split's commonest expert is right on validation."""
    commonest = np.bincount(y_train, minlength=len(EXPERTS)).argmax()
    return float((y_val == commonest).mean())


def _split(data: RouterDataset, name: str) -> RouterDataset:
    part = data.split(name)
    if not len(part):
        raise DataError(f"The dataset at {data.root} has no {name} samples; rebuild it.")
    return part

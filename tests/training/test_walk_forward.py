"""Walk-forward: expanding, purged folds, each retrained and evaluated on the slice after it."""

import json

import numpy as np
import pytest

from bot.backtest import BacktestRequest
from training.ppo import PPOConfig, train_ppo
from training.sft import SFTConfig, train_sft
from training.walk_forward import fold_splits, walk_forward


def test_folds_expand_and_are_purged(regime_dataset):
    purge = regime_dataset.config.purge_bars
    samples = regime_dataset.samples

    folds = fold_splits(regime_dataset, 3)

    previous_test_end = {}
    for splits in folds:
        for symbol, group in samples.assign(split=splits).groupby("symbol"):
            t = {name: group.loc[group["split"] == name, "t"] for name in ("train", "val", "test")}
            assert t["train"].max() + purge < t["val"].min()
            assert t["val"].max() + purge < t["test"].min()
            # each fold tests the slice after the previous fold's, on more training data
            assert t["test"].min() > previous_test_end.get(symbol, -1)
            previous_test_end[symbol] = t["test"].max()
    tests = [set(np.flatnonzero(splits == "test")) for splits in folds]
    assert not tests[0] & tests[1] and not tests[1] & tests[2]
    trains = [np.sum(splits == "train") for splits in folds]
    assert trains[0] < trains[1] < trains[2]


def test_each_fold_refits_stats_on_its_own_train_rows(regime_dataset):
    splits = fold_splits(regime_dataset, 2)[0]

    fold = regime_dataset.with_splits(splits, "wf0")

    assert fold.meta["config_hash"].endswith("-wf0")
    assert fold.stats.to_dict() != regime_dataset.stats.to_dict()
    assert len(fold.split("train")) == np.sum(splits == "train")


@pytest.mark.slow
def test_walk_forward_retrains_and_evaluates_every_fold(regime_dataset, hashed, tmp_path):
    sft = train_sft(regime_dataset, hashed, tmp_path / "sft", SFTConfig(max_steps=2), False)
    checkpoint = train_ppo(regime_dataset, sft, tmp_path / "ppo", PPOConfig(max_steps=2), False)
    base = BacktestRequest(symbol="", catalog=str(regime_dataset.root / "catalog"))

    result = walk_forward(checkpoint, regime_dataset, 2, tmp_path / "wf", base)

    assert set(result["folds"]) == {"fold-0", "fold-1"}
    for name, fold in result["folds"].items():
        meta = json.loads((tmp_path / "wf" / name / "router" / "meta.json").read_text())
        assert meta["extra"]["dataset"]["config_hash"].endswith(name.replace("fold-", "-wf"))
        assert {"router", "uniform", "buy_and_hold"} <= set(fold["average"])
    assert result["table"].startswith("method (mean of 2 instruments, 2 folds)")
    assert json.loads((tmp_path / "wf" / "walk_forward.json").read_text())["table"]

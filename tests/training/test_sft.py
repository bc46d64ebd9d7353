"""SFT on synthetic regime-switching data: it learns, stops early and refuses bad input."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.core.errors import CheckpointError, DataError
from bot.core.features import FeatureStats
from bot.model.checkpoint import load_checkpoint, read_meta, save_checkpoint
from bot.model.router_model import RouterModel
from training.router_dataset import RouterDataset
from training.sft import SFTConfig, train_sft


@pytest.fixture(scope="module")
def trained(regime_dataset, hashed, tmp_path_factory) -> Path:
    config = SFTConfig(epochs=12, patience=4, prior_weight=0.1)
    return train_sft(regime_dataset, hashed, tmp_path_factory.mktemp("sft"), config, False)


def regime_accuracy(checkpoint: Path, part: RouterDataset) -> float:
    model, _, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        out = model(model.encode_observations(part.observations(np.arange(len(part)))))
    return float((out.regime_logits.argmax(1).numpy() == part.labels).mean())


def test_sft_learns_regimes_on_held_out_data(trained, regime_dataset):
    test = regime_dataset.split("test")

    accuracy = regime_accuracy(trained, test)

    assert len(test) >= 50
    assert accuracy >= 0.8  # chance is about 1/3


def test_checkpoint_records_validation_and_dataset(trained, regime_dataset):
    extra = read_meta(trained)["extra"]

    assert extra["stage"] == "sft"
    assert extra["dataset"]["config_hash"] == regime_dataset.meta["config_hash"]
    assert 0.0 <= extra["validation"]["regime_accuracy"] <= 1.0
    assert extra["validation"]["loss"] > 0
    # recorded at the best epoch, not re-measured: still the saved model's own accuracy
    assert extra["validation"]["regime_accuracy"] == regime_accuracy(
        trained, regime_dataset.split("val")
    )
    assert load_checkpoint(trained)[2].to_dict() == regime_dataset.stats.to_dict()


def test_early_stopping_ends_when_validation_stalls(regime_dataset, hashed, tmp_path):
    # lr 0: the validation loss never improves after the first epoch
    config = SFTConfig(epochs=20, patience=2, lr=0.0)

    folder = train_sft(regime_dataset, hashed, tmp_path, config, False)

    assert read_meta(folder)["extra"]["validation"]["epochs_run"] == 3


def test_empty_split_is_refused(regime_dataset, hashed, tmp_path):
    only_train = regime_dataset.split("train")  # no validation rows

    with pytest.raises(DataError, match="val split .* is empty"):
        train_sft(only_train, hashed, tmp_path, SFTConfig(epochs=1), False)


def test_nan_features_are_refused(regime_dataset, hashed, tmp_path):
    # In memory: a NaN written into the dataset's file is refused on loading (its sha-256).
    features = np.array(regime_dataset.raw_features(np.arange(len(regime_dataset))))
    features[3, -1, 0] = np.nan
    data = RouterDataset(regime_dataset.root, regime_dataset.meta, regime_dataset.samples, features)

    with pytest.raises(DataError, match="Non-finite features"):
        train_sft(data, hashed, tmp_path / "out", SFTConfig(epochs=1), False)
    assert not (tmp_path / "out" / "meta.json").exists()


def test_a_regime_the_train_split_lacks_leaves_the_validation_loss_finite(
    regime_dataset, hashed, tmp_path
):
    # Balanced class weights come from the train split, where this regime has weight 0: a
    # validation micro-batch of only that regime once made the loss 0 / 0.
    samples = regime_dataset.samples
    absent = int(samples.loc[samples["split"] == "val", "label"].iloc[0])
    lacking = ((samples["split"] == "train") & (samples["label"] == absent)).to_numpy()
    data = regime_dataset.with_splits(np.where(lacking, "unused", samples["split"]), "lacks")
    config = SFTConfig(epochs=1, batch_size=8, micro_batch=1)

    folder = train_sft(data, hashed, tmp_path / "out", config, False)

    assert np.isfinite(read_meta(folder)["extra"]["validation"]["loss"])


def test_resume_from_a_checkpoint_with_other_feature_stats_is_refused(
    regime_dataset, hashed, tmp_path
):
    other = FeatureStats(mean=np.zeros(17), std=np.ones(17))
    foreign = save_checkpoint(RouterModel(hashed), tmp_path / "foreign", stats=other)

    with pytest.raises(CheckpointError, match="feature statistics differ"):
        train_sft(regime_dataset, foreign, tmp_path / "out", SFTConfig(epochs=1), False)


def test_micro_batches_accumulate_to_the_whole_batchs_step(regime_dataset, hashed, tmp_path):
    # Unweighted regimes: a class-weighted mean normalises by each micro-batch's own weights.
    whole = SFTConfig(epochs=1, batch_size=8, max_steps=2, lr=1e-3, balanced=False)
    micro = replace(whole, micro_batch=3)

    folders = [train_sft(regime_dataset, hashed, tmp_path / str(i), config, False)
               for i, config in enumerate((whole, micro))]  # fmt: skip

    a, b = (load_checkpoint(folder)[0].state_dict() for folder in folders)
    torch.manual_seed(whole.seed)  # the initial weights, as train_sft draws them
    start = RouterModel(hashed).state_dict()
    assert any(not torch.equal(a[k], start[k]) for k in a)
    for name in a:  # Adam's step on a near-zero gradient magnifies float rounding: up to ~lr
        torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=2e-4)

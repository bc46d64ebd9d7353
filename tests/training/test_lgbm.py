"""The LightGBM router baseline: `bot train lgbm` on a tiny dataset, then `--policy lgbm:DIR`."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.errors import CheckpointError, ConfigError
from bot.core.saved_meta import trained_on
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.policy import GuardedPolicy, PolicySpec, RouterContext, build_policy
from bot.model.lgbm import MODEL, TREE_FEATURES, bar_features
from bot.model.policy import load_policy
from strategies import EXPERTS, STRATEGIES
from tests.support.series import regime_switching_frame
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig
from training.lgbm import LGBMConfig, expert_targets, train_lgbm, tree_features
from training.router_dataset import RouterDataset

SYMBOL = "SYNL"
SMALL = LGBMConfig(trees=40, min_data_in_leaf=5, patience=10)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> RouterDataset:
    """One synthetic regime-switching instrument: 800 daily bars, a decision every 5 bars."""
    frames = {SYMBOL: (regime_switching_frame(800, seed=5)[0], "index")}
    config = DatasetConfig(symbols=(SYMBOL,), horizon=10, stride=5, image_size=56, workers=1)
    out = tmp_path_factory.mktemp("lgbm_dataset")
    build_dataset(config, out, frames=frames, progress=False)
    return RouterDataset.load(out)


@pytest.fixture(scope="module")
def model_dir(dataset, tmp_path_factory):
    return train_lgbm(dataset, tmp_path_factory.mktemp("lgbm") / "model", SMALL)


def _context(dataset: RouterDataset, row: int) -> RouterContext:
    bars = pd.read_parquet(dataset.root / "bars" / f"{SYMBOL}.parquet")
    t = int(dataset.samples["t"].iloc[row])
    return RouterContext(bars.iloc[: t + 1], np.zeros((0, len(STRATEGIES))))


def test_decision_features_are_the_datasets_features(dataset):
    rows = np.array([0, len(dataset) // 2, len(dataset) - 1])

    table = tree_features(dataset, rows)

    assert table.shape == (3, len(TREE_FEATURES))
    for row, expected in zip(rows, table, strict=True):
        np.testing.assert_array_equal(bar_features(_context(dataset, row).bars), expected)


def test_targets_are_the_expert_with_the_best_mean_window_return(dataset):
    rows = np.arange(len(dataset))
    returns = dataset.window_returns(rows)

    targets = expert_targets(dataset, rows)

    for row in rows[:20]:
        means = [np.mean([returns[row, i] for i, s in enumerate(STRATEGIES) if s.expert == e])
                 for e in EXPERTS]  # fmt: skip
        assert targets[row] == int(np.argmax(means))


def test_trained_policy_gives_valid_weights_spread_within_each_expert(dataset, model_dir):
    policy = build_policy(PolicySpec(f"lgbm:{model_dir}"), load_policy)

    decisions = [policy.decide(context=_context(dataset, row)) for row in range(0, len(dataset), 7)]

    for decision in decisions:
        assert math.fsum(decision.weights.values()) == pytest.approx(1.0)
        assert all(0.0 <= w <= 1.0 for w in decision.weights.values())
        for expert in EXPERTS:
            members = [decision.weights[s.name] for s in STRATEGIES if s.expert == expert]
            assert members == pytest.approx(
                [decision.experts[expert] / len(members)] * len(members)
            )
    assert decisions[0].policy == f"lgbm:{model_dir}"
    assert len({tuple(d.weights.values()) for d in decisions}) > 1  # it reads the bars


def test_meta_records_the_dataset_like_a_router_checkpoint(dataset, model_dir):
    meta = json.loads((model_dir / "meta.json").read_text())

    assert trained_on(f"lgbm:{model_dir}") == dataset.provenance()
    np.testing.assert_array_equal(np.load(model_dir / "fingerprint.npy"), dataset.fingerprint())
    assert meta["tree_features"] == list(TREE_FEATURES)
    assert meta["extra"]["validation"]["best_iteration"] >= 1
    assert 0.0 <= meta["extra"]["validation"]["accuracy"] <= 1.0


def test_save_load_round_trip_and_retraining_is_deterministic(dataset, model_dir, tmp_path):
    context = _context(dataset, len(dataset) - 1)
    first = build_policy(PolicySpec(f"lgbm:{model_dir}"), load_policy).decide(context=context)
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)

    again = build_policy(PolicySpec(f"lgbm:{copy}"), load_policy).decide(context=context)
    retrained = train_lgbm(dataset, tmp_path / "retrained", SMALL)

    assert again.weights == first.weights
    assert (retrained / MODEL).read_text() == (model_dir / MODEL).read_text()


def test_a_corrupt_or_missing_model_is_a_clear_config_error(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / MODEL).write_text("tree\nnot a model\n")

    with pytest.raises(ConfigError, match="missing or corrupt"):
        build_policy(PolicySpec(f"lgbm:{broken}"), load_policy)
    with pytest.raises(ConfigError, match="bot train lgbm"):
        build_policy(PolicySpec(f"lgbm:{tmp_path / 'nowhere'}"), load_policy)


def test_a_failed_retrain_leaves_the_earlier_model_as_it_was(
    dataset, model_dir, tmp_path, monkeypatch
):
    # Arrange: a save interrupted midway, once model.txt is written
    earlier = tmp_path / "earlier"
    shutil.copytree(model_dir, earlier)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(RouterDataset, "fingerprint", interrupted)

    # Act
    with pytest.raises(KeyboardInterrupt):
        train_lgbm(dataset, earlier, SMALL)

    # Assert: the earlier model whole (was: meta.json deleted, model.txt replaced), nothing beside
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["earlier"]
    build_policy(PolicySpec(f"lgbm:{earlier}"), load_policy)


def test_the_router_refuses_a_model_that_does_not_load_instead_of_falling_back(tmp_path):
    with pytest.raises(CheckpointError, match="No meta.json") as refused:
        GuardedPolicy(PolicySpec(f"lgbm:{tmp_path}"), "uniform", 5.0, load_policy)

    assert f"lgbm:{tmp_path} did not load" in str(refused.value)


def test_backtest_routes_with_the_model_and_flags_in_sample_days(dataset, model_dir):
    request = BacktestRequest(
        symbol=SYMBOL,
        policy=f"lgbm:{model_dir}",
        start=pd.Timestamp(
            dataset.meta["symbols"][SYMBOL]["splits"]["val"]["first_decision"]
        ).date(),
        window=5,
        catalog=str(dataset.root / "catalog"),
    )

    result = run_backtest(request, load_policy)

    assert not any("fell back" in flag for flag in result.flags)
    assert any(flag.startswith("IN-SAMPLE") for flag in result.flags)
    assert np.allclose(result.weights.sum(axis=1), 1.0)
    assert result.weights.std().max() > 0


def test_cli_train_lgbm_writes_a_model_folder(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cli-model"

    result = CliRunner().invoke(
        app, ["train", "lgbm", "--dataset", str(dataset.root), "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert (out / MODEL).is_file() and (out / "meta.json").is_file()
    assert f"Wrote {out}" in result.stdout

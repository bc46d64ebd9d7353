"""The router leaderboard: calendar folds without look-ahead, and one quick run end to end."""

import json
from dataclasses import asdict
from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.runs import list_runs
from bot.core.fingerprint import out_of_sample_start
from bot.core.parallel import Parallel
from bot.core.saved_meta import PROJECT_ROOT, project_relative
from bot.engine.backtest_request import BacktestRequest
from bot.engine.journal import Journal
from bot.model.checkpoint import init_checkpoint
from tests.support.series import regime_switching_frame
from training.dataset_config import META
from training.leaderboard import LeaderboardConfig, leaderboard_dataset, run_leaderboard
from training.leaderboard_folds import fold_splits, training_view
from training.ppo import PPOConfig
from training.sft import SFTConfig

torch.set_num_threads(1)

# regime_dataset: SYNA and SYNB, business days 2001-01-01 .. 2006-09, a decision every 5 bars
CUTS = (date(2004, 1, 1), date(2005, 1, 1), date(2006, 1, 1))
REQUIRED = {"instruments", "folds", "rows", "router_minus", "regime", "weight_change"}


def _utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_folds_test_their_dates_and_train_only_on_windows_that_end_before(regime_dataset):
    config = regime_dataset.config
    reach, purge = max(config.horizon, config.window), config.purge_bars
    samples = regime_dataset.samples
    decided = pd.to_datetime(samples["ts"].to_numpy(), utc=True)

    folds = fold_splits(regime_dataset, CUTS)

    for start, end, split in zip(CUTS[:-1], CUTS[1:], folds, strict=True):
        inside = (decided >= _utc(start)) & (decided < _utc(end))
        assert np.array_equal(split == "test", inside) and inside.any()
        for symbol, group in samples.assign(split=split).groupby("symbol"):
            opens = pd.read_parquet(regime_dataset.root / "bars" / f"{symbol}.parquet").index
            first_test_bar = opens.searchsorted(_utc(start))
            learned = group[group["split"].isin(["train", "val"])]
            # the last bar each label or return window reads, purge bars before the test
            assert (opens[learned["t"] + reach] < opens[first_test_bar - purge]).all()
            train, val = (group.loc[group["split"] == s, "t"] for s in ("train", "val"))
            assert len(train) and len(val) and train.max() + purge < val.min()
    assert (folds[0] == "train").sum() < (folds[1] == "train").sum()


def test_a_fold_puts_each_sample_in_one_split_and_trains_on_its_train_rows(regime_dataset):
    split = fold_splits(regime_dataset, CUTS)[0]
    rows = {name: set(np.flatnonzero(split == name)) for name in ("train", "val", "test")}

    view = training_view(regime_dataset, split, "lb0")

    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]
    assert len(view.split("train")) == len(rows["train"])
    assert len(view.split("val")) == len(rows["val"])
    assert view.meta["config_hash"].endswith("-lb0")
    assert view.stats.to_dict() != regime_dataset.stats.to_dict()  # refitted on the fold's train
    # the fold's own test span lies after what its checkpoint learned from each symbol
    assert not len(view.split("test"))
    test_bars = regime_dataset.samples.iloc[sorted(rows["test"])]
    for symbol, info in view.meta["symbols"].items():
        first_test = test_bars.loc[test_bars["symbol"] == symbol, "ts"].min()
        assert out_of_sample_start(info["splits"]).value < first_test


def test_a_series_that_ended_before_the_fold_still_trains(regime_dataset):
    after_the_data = (date(2007, 1, 1), date(2008, 1, 1))
    split = fold_splits(regime_dataset, after_the_data)[0]

    view = training_view(regime_dataset, split, "late")

    assert not (split == "test").any()
    assert set(view.meta["symbols"]) == {"SYNA", "SYNB"}
    assert len(view.split("train")) == (split == "train").sum()


def test_leaderboard_refuses_what_does_not_apply(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    with_symbols = runner.invoke(app, ["evaluate", "ckpt", "--leaderboard", "--symbols", "SPX"])
    quick_alone = runner.invoke(app, ["evaluate", "ckpt", "--quick"])
    too_many = runner.invoke(app, ["evaluate", "ckpt", "--leaderboard", "--folds", "9"])

    assert with_symbols.exit_code == 2 and "--symbols does not apply" in with_symbols.output
    assert quick_alone.exit_code == 2 and "go with --leaderboard" in quick_alone.output
    assert too_many.exit_code == 2 and "choose 1 .. 4" in too_many.output


@pytest.fixture
def recipe(regime_dataset, hashed, tmp_path):
    """A checkpoint whose meta.json records the regime dataset and SFT and PPO configs, as
    `bot train` writes them: the recipe the leaderboard retrains."""
    folder = init_checkpoint(tmp_path / "recipe", hashed)
    meta = json.loads((folder / "meta.json").read_text())
    meta["extra"] |= {
        "dataset": regime_dataset.provenance(),
        "sft_config": asdict(SFTConfig()),
        "ppo_config": asdict(PPOConfig()),
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_a_leaderboard_run_is_journalled_for_bot_runs_list(recipe, tmp_path, monkeypatch):
    # Arrange: the 20-minute retraining replaced by one that only writes the table.
    monkeypatch.chdir(tmp_path)
    seen = []

    def table_only(checkpoint, config, out_dir, base, parallel):
        seen.append(config.test_instruments)
        out_dir.mkdir(parents=True)
        (out_dir / "router_leaderboard.md").write_text("| policy |")

    monkeypatch.setattr("training.leaderboard.run_leaderboard", table_only)
    journal = ["--set", f"journal.path={tmp_path / 'journal.sqlite'}"]
    out = tmp_path / "board"

    # Act
    ran = CliRunner().invoke(
        app, [*journal, "evaluate", str(recipe), "--leaderboard", "--quick", "--out", str(out)]
    )
    listed = CliRunner().invoke(app, [*journal, "runs", "list", "--mode", "leaderboard"])

    # Assert
    assert ran.exit_code == 0, ran.output
    with Journal(tmp_path / "journal.sqlite") as opened:
        (run,) = list_runs(opened, "leaderboard")
    assert run.symbols == (",".join(seen[0]),) and run.policies == (f"model:{recipe}",)
    assert run.report_dir == str(out.resolve()) and run.run_id in listed.output


def test_a_checkpoint_without_a_recorded_dataset_is_refused_before_journalling(
    hashed, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    untrained = init_checkpoint(tmp_path / "untrained", hashed)
    journal = tmp_path / "journal.sqlite"

    result = CliRunner().invoke(
        app, ["--set", f"journal.path={journal}", "evaluate", str(untrained), "--leaderboard"]
    )

    assert result.exit_code == 2 and "records no dataset config" in result.output
    assert not journal.exists()


def test_a_dataset_with_the_same_config_hash_built_by_this_code_is_reused(regime_dataset, tmp_path):
    config = regime_dataset.config
    (tmp_path / f"leaderboard-{config.digest()[:8]}").symlink_to(regime_dataset.root)

    dataset = leaderboard_dataset(config, tmp_path)  # no frames: building would fail

    assert dataset.root == tmp_path / f"leaderboard-{config.digest()[:8]}"
    assert len(dataset) == len(regime_dataset)


def test_a_dataset_other_code_built_is_rebuilt_though_its_config_hash_matches(
    regime_dataset, tmp_path, monkeypatch
):
    # Arrange: the same dataset, as if a version with other strategies had built it.
    config = regime_dataset.config
    kept = tmp_path / f"leaderboard-{config.digest()[:8]}"
    kept.mkdir()
    for entry in regime_dataset.root.iterdir():
        if entry.name != META:
            (kept / entry.name).symlink_to(entry)
    meta = json.loads((regime_dataset.root / META).read_text())
    (kept / META).write_text(json.dumps(meta | {"code": "the digest of an older version"}))
    built = []
    monkeypatch.setattr(
        "training.leaderboard.build_dataset", lambda config, root, frames: built.append(root)
    )

    # Act
    leaderboard_dataset(config, tmp_path, reuse=(kept,))

    # Assert: neither the checkpoint's folder nor the kept one is reused; the latter is rebuilt.
    assert built == [kept]


@pytest.mark.slow
def test_quick_leaderboard_writes_the_table(regime_dataset, recipe, tmp_path):
    config = LeaderboardConfig(
        test_instruments=("SYNA", "SYNB"),
        train_instruments=("SYNA", "SYNB"),
        cuts=(date(2005, 1, 3), date(2005, 5, 2), date(2005, 9, 1)),
        folds=2,
        quick=True,
        datasets=tmp_path / "datasets",
        work=tmp_path / "work",
    )
    frames = {s: (regime_switching_frame(1500, seed)[0], "index") for s, seed in (("SYNA", 1),
              ("SYNB", 2))}  # fmt: skip
    out = tmp_path / "results"

    result = run_leaderboard(recipe, config, out, BacktestRequest(symbol=""), Parallel(1), frames)

    written = json.loads((out / "router_leaderboard.json").read_text())
    assert REQUIRED <= set(written) and written["folds"] == 2
    assert written["instruments"] == ["SYNA", "SYNB"] and written["pairs"] == 4
    assert {"router", "uniform", "best-expert", "lgbm", "buy_and_hold"} <= set(written["rows"])
    assert set(written["rows"]["router"]) == {"tr", "sharpe", "sortino", "mdd", "turnover", "costs"}
    router_sharpes = [
        i["sharpe"]["router"]
        for fold in written["fold_details"]
        for i in fold["instruments"].values()
    ]
    assert written["rows"]["router"]["sharpe"] == pytest.approx(np.mean(router_sharpes))
    low, high = written["router_minus"]["uniform"]["ci95"]
    assert low <= high and set(written["router_minus"]) >= {"uniform", "best-expert", "lgbm"}
    assert 0 <= written["regime"]["accuracy"] <= 1 and 0 < written["regime"]["majority"] <= 1
    assert 0 <= written["regime"]["trailing_rule"] <= 1
    assert 0 <= written["weight_change"] <= 1
    assert written["dataset"]["path"] == str(regime_dataset.root)  # the recipe's own, reused
    markdown = (out / "router_leaderboard.md").read_text()
    assert "| policy | TR % | Sharpe | Sortino | MDD % | turnover | costs |" in markdown
    assert "| router |" in markdown and "regime accuracy >= majority + 5 points" in markdown
    assert result["rows"] == written["rows"]


def test_fold_paths_are_written_relative_to_the_project_when_inside_it(tmp_path):
    inside = PROJECT_ROOT / "var" / "leaderboard" / "fold-2021-01-01" / "router"

    assert project_relative(inside) == "var/leaderboard/fold-2021-01-01/router"
    assert project_relative(tmp_path / "router") == str((tmp_path / "router").resolve())

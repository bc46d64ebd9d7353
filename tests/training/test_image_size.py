"""Charts smaller than the compact backbone's chart network takes: `bot train data` builds them
(the hf backbone reads any size) and says so; `bot train sft` and `train_ppo` refuse them with
the minimum before any work, instead of a convolution error mid-training."""

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.errors import ConfigError
from bot.model.backbones import COMPACT_MIN_IMAGE_SIZE
from bot.model.checkpoint import init_checkpoint
from training.ppo import PPOConfig, train_ppo
from training.router_dataset import RouterDataset

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {
        "BOT__JOURNAL__PATH": str(tmp_path / "journal.sqlite"),
        "BOT__TRAIN__CHECKPOINTS": str(tmp_path / "checkpoints"),
    }


def test_train_data_notes_that_small_charts_train_only_the_hf_backbone(
    env, small_chart_dataset, tmp_path, monkeypatch
):
    # Arrange: the build itself is the fixture's
    monkeypatch.setattr("training.dataset.build_dataset", lambda *a, **k: small_chart_dataset)

    # Act
    args = ["train", "data", "--symbols", "SYN", "--image-size", "28", "--out", tmp_path / "d"]
    result = runner.invoke(app, [str(arg) for arg in args], env=env)

    # Assert
    assert result.exit_code == 0, result.output
    message = " ".join(result.output.split())
    assert f"the compact one needs --image-size {COMPACT_MIN_IMAGE_SIZE} or more" in message


def test_train_sft_refuses_charts_below_the_compact_minimum(env, small_chart_dataset, tmp_path):
    # Act
    out = tmp_path / "sft"
    args = ["train", "sft", "--dataset", small_chart_dataset, "--max-steps", "1", "--out", out]
    result = runner.invoke(app, [str(arg) for arg in args], env=env)

    # Assert: a ConfigError naming the minimum and the rebuild (was: a RuntimeError, exit 1)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{small_chart_dataset} has 28-px charts" in message
    assert f"needs at least {COMPACT_MIN_IMAGE_SIZE} px" in message
    assert f"`bot train data --image-size {COMPACT_MIN_IMAGE_SIZE}`" in message
    assert not out.exists()


def test_ppo_refuses_charts_below_the_compact_minimum(small_chart_dataset, hashed, tmp_path):
    # Arrange: a compact checkpoint without feature stats, so only the chart size differs
    start = init_checkpoint(tmp_path / "start", hashed)
    data = RouterDataset.load(small_chart_dataset)

    # Act / Assert
    with pytest.raises(ConfigError, match=f"needs at least {COMPACT_MIN_IMAGE_SIZE} px"):
        train_ppo(data, start, tmp_path / "ppo", PPOConfig(max_steps=1), progress=False)
    assert not (tmp_path / "ppo").exists()

"""`bot train sft` and `bot train ppo` on a tiny random Qwen2.5-VL write LoRA adapters that
`bot backtest --policy model:` loads; the base weights stay as they were."""

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from bot.app.cli import app
from tests.support.series import regime_switching_frame
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def tiny_dataset(tmp_path):
    """One synthetic instrument of 420 bars: about a dozen decisions, enough for a few steps of
    a VLM on CPU. Built serially: one symbol's backtests gain nothing from Ray's dispatch."""
    frames = {"SYN": (regime_switching_frame(420, seed=3)[0], "index")}
    config = DatasetConfig(
        symbols=("SYN",), horizon=10, stride=10, window=10, image_size=56, workers=1
    )
    return build_dataset(config, tmp_path / "ds", frames=frames, progress=False)


def _bot(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _lora(folder) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter" / "adapter_model.safetensors")


def _base(model_dir) -> dict[str, torch.Tensor]:
    return load_file(next(model_dir.glob("*.safetensors")))


def test_cli_sft_then_ppo_train_adapters_that_a_backtest_loads(
    tiny_dataset, tiny_qwen_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT__LOGGING__FORMAT", "json")
    hf = ["--backbone", "hf", "--hf-model-dir", str(tiny_qwen_dir)]
    # one shared adapter keeps this end-to-end run at one pass per step; adapters per role train
    # and round-trip in tests/model/test_hf_backbone.py
    # micro-batches of 2 accumulate to batches of 4: the gradient-accumulation path of a GPU;
    # one optimizer step per stage is enough to move every LoRA weight
    data = ["--dataset", str(tiny_dataset), "--max-steps", "1", "--batch-size", "4"]
    data += ["--micro-batch", "2"]
    sft, ppo = tmp_path / "sft", tmp_path / "ppo"
    base_before = _base(tiny_qwen_dir)

    _bot("train", "sft", *hf, "--adapters", "shared", *data, "--out", str(sft))
    _bot("train", "ppo", str(sft), *hf, *data, "--out", str(ppo))
    printed = _bot(
        "backtest", "--policy", f"model:{ppo}", "--start", "2019-01-01", "--end", "2019-02-28"
    )

    # LoRA B starts at zero: non-zero B means SFT trained the adapters; PPO moved them again.
    sft_lora, ppo_lora = _lora(sft), _lora(ppo)
    b_keys = [k for k in sft_lora if "lora_B" in k]
    assert b_keys and all(sft_lora[k].abs().sum() > 0 for k in b_keys)
    assert any(not torch.equal(sft_lora[k], ppo_lora[k]) for k in sft_lora)
    base_after = _base(tiny_qwen_dir)
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    assert f"model:{ppo}" in printed
    assert "fell back" not in printed and "WARNING" not in printed

"""`train_sft` and `train_ppo` on a tiny random Qwen2.5-VL: LoRA adapters that a backtest loads."""

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bot.backtest import BacktestRequest, run_backtest
from training.model import ModelConfig
from training.ppo import PPOConfig, train_ppo
from training.sft import SFTConfig, train_sft

pytestmark = pytest.mark.slow


def _lora(folder) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter" / "adapter_model.safetensors")


def _base(model_dir) -> dict[str, torch.Tensor]:
    return load_file(next(model_dir.glob("*.safetensors")))


def _few(dataset, per_split=(4, 2, 2)):
    """The dataset cut to a few decisions per symbol and split (the rest unused): a tiny VLM is
    slow on CPU."""
    samples = dataset.samples
    keep = samples.groupby(["symbol", "split"]).cumcount()
    limit = samples["split"].map(dict(zip(("train", "val", "test"), per_split, strict=True)))
    return dataset.with_splits(np.where(keep < limit, samples["split"], "unused"), "few")


def test_sft_then_ppo_train_lora_adapters_a_backtest_loads(regime_dataset, tiny_qwen_dir, tmp_path):
    few = _few(regime_dataset)
    config = ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir))
    base_before = _base(tiny_qwen_dir)

    sft_config, ppo_config = SFTConfig(max_steps=2, lr=1e-3), PPOConfig(max_steps=2, lr=1e-3)

    sft = train_sft(few, config, tmp_path / "sft", sft_config, False)
    ppo = train_ppo(few, sft, tmp_path / "ppo", ppo_config, False)

    # LoRA B starts at zero: non-zero B means SFT trained the adapters; PPO moved them again.
    sft_lora, ppo_lora = _lora(sft), _lora(ppo)
    b_keys = [k for k in sft_lora if "lora_B" in k]
    assert b_keys and all(sft_lora[k].abs().sum() > 0 for k in b_keys)
    assert any(not torch.equal(sft_lora[k], ppo_lora[k]) for k in sft_lora)
    base_after = _base(tiny_qwen_dir)
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)

    request = BacktestRequest(
        symbol="SPX", start=date(2019, 1, 1), end=date(2019, 4, 30), policy=f"model:{ppo}"
    )
    result = run_backtest(request)
    assert not [flag for flag in result.flags if "fell back" in flag or "fallback" in flag]
    assert len(result.weights) >= 3  # a decision every 20 bars over four months
    assert result.weights.sum(axis=1).round(6).eq(1.0).all()
    assert not run_backtest(replace(request, policy="uniform")).weights.equals(result.weights)

"""The hf backbone on a tiny random Qwen2.5-VL: CPU, no download."""

import pytest
import torch

from bot.model.checkpoint import load_checkpoint, save_checkpoint
from bot.model.router_model import ModelConfig, RouterModel
from strategies import STRATEGIES


@pytest.fixture
def hf_model(tiny_qwen_dir) -> RouterModel:
    torch.manual_seed(0)
    return RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir)))


def test_forward_reads_both_charts_and_the_prompt(hf_model, observation):
    batch = hf_model.encode_observations([observation])

    out = hf_model(batch)

    assert "mm_token_type_ids" in batch
    assert batch["image_grid_thw"].shape[0] == 2
    assert out.strategy_weights.shape == (1, len(STRATEGIES))
    assert float(out.strategy_weights.detach().sum()) == pytest.approx(1.0, abs=1e-5)


def test_one_step_changes_lora_weights_only(hf_model, observations):
    params = dict(hf_model.named_parameters())
    lora = {n: p.detach().clone() for n, p in params.items() if "lora_" in n}
    base = {
        n: p.detach().clone() for n, p in params.items() if "lora_" not in n and "heads" not in n
    }
    trainable = [p for p in hf_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=1e-2)
    hf_model.train()

    out = hf_model(hf_model.encode_observations(observations[:2]))
    loss = -out.strategy_weights[:, 0].sum() + out.values.pow(2).sum()
    loss.backward()
    optimiser.step()

    assert lora and base
    assert all(not params[n].requires_grad for n in base)
    changed = [n for n, before in lora.items() if not torch.equal(params[n], before)]
    assert changed
    assert all(torch.equal(params[n], before) for n, before in base.items())


def test_adapter_and_heads_save_and_reload_identically(hf_model, observation, tmp_path):
    with torch.no_grad():  # make the LoRA B matrices non-zero so the adapter matters
        for name, param in hf_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    hf_model.eval()
    batch = hf_model.encode_observations([observation])
    expected = hf_model(batch)

    folder = save_checkpoint(hf_model, tmp_path / "hf")
    loaded, meta, _ = load_checkpoint(folder)

    assert (folder / "adapter" / "adapter_config.json").is_file()
    assert meta["model_config"]["backbone"] == "hf"
    got = loaded(batch)
    torch.testing.assert_close(got.strategy_weights, expected.strategy_weights)
    torch.testing.assert_close(got.values, expected.values)

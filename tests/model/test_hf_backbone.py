"""The hf backbone on a tiny random Qwen2.5-VL: CPU, no download."""

import dataclasses

import numpy as np
import pytest
import torch

from bot.model.checkpoint import load_checkpoint, save_checkpoint
from bot.model.hf_backbone import ROLES
from bot.model.router_model import ModelConfig, RouterModel
from strategies import EXPERTS, STRATEGIES


@pytest.fixture
def hf_model(tiny_qwen_dir) -> RouterModel:
    torch.manual_seed(0)
    return RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir))).eval()


def _perturb_lora(model: RouterModel, role: str | None = None) -> None:
    """Non-zero LoRA B matrices (of one role's adapter, or all), so that the adapters matter."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name and (role is None or f".{role}." in name):
                param.normal_(0, 0.05)


def test_forward_reads_both_charts_the_matrix_and_the_prompt(hf_model, observation):
    batch = hf_model.encode_observations([observation])

    out = hf_model(batch)

    assert "mm_token_type_ids" in batch
    assert batch["image_grid_thw"].shape[0] == 2
    assert batch["features"].shape == (1, *observation.features.shape)
    assert out.strategy_weights.shape == (1, len(STRATEGIES))
    assert float(out.strategy_weights.detach().sum()) == pytest.approx(1.0, abs=1e-5)


@torch.no_grad()
def test_the_temporal_matrix_changes_the_output(hf_model, observation):
    shuffled = np.random.default_rng(0).permutation(observation.features)
    other = dataclasses.replace(observation, features=shuffled.astype(np.float32))

    a = hf_model(hf_model.encode_observations([observation]))
    b = hf_model(hf_model.encode_observations([other]))

    assert not torch.allclose(a.expert_logits, b.expert_logits)
    assert not torch.allclose(a.values, b.values)


@torch.no_grad()
def test_each_experts_adapter_changes_only_its_own_policy(hf_model, observation):
    batch = hf_model.encode_observations([observation])
    before = hf_model(batch)
    changed = EXPERTS.index("reversal")

    _perturb_lora(hf_model, "reversal")
    after = hf_model(batch)

    for k in range(len(EXPERTS)):
        same = torch.equal(before.policy_logits[k], after.policy_logits[k])
        assert same == (k != changed)
        assert torch.equal(before.values[:, k], after.values[:, k]) == (k != changed)
    assert torch.equal(before.expert_logits, after.expert_logits)
    assert torch.equal(before.regime_logits, after.regime_logits)


def test_one_step_trains_every_roles_lora_and_the_encoder_not_the_base(hf_model, observations):
    params = dict(hf_model.named_parameters())
    trained = {n: p.detach().clone() for n, p in params.items() if p.requires_grad}
    base = {n: p.detach().clone() for n, p in params.items() if not p.requires_grad}
    optimiser = torch.optim.AdamW([p for p in params.values() if p.requires_grad], lr=1e-2)
    hf_model.train()

    out = hf_model(hf_model.encode_observations(observations[:1]))
    loss = -out.strategy_weights[:, 0].sum() + out.values.pow(2).sum()
    loss.backward()
    optimiser.step()

    assert base and all(n.startswith("backbone.peft.") and "lora_" not in n for n in base)
    changed = {n for n, before in trained.items() if not torch.equal(params[n], before)}
    for role in ROLES:
        assert any("lora_B" in n and f".{role}." in n for n in changed), role
    assert any(n.startswith("backbone.temporal.") for n in changed)
    assert all(torch.equal(params[n], before) for n, before in base.items())


@pytest.mark.parametrize("adapters", ["per_role", "shared"])
def test_adapters_and_heads_save_and_reload_identically(tiny_qwen_dir, observation, tmp_path,
                                                        adapters):  # fmt: skip
    torch.manual_seed(0)
    config = ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir), adapters=adapters)
    model = RouterModel(config).eval()
    _perturb_lora(model)
    batch = model.encode_observations([observation])
    expected = model(batch)

    folder = save_checkpoint(model, tmp_path / "hf")
    torch.manual_seed(1)  # a fresh temporal encoder and heads, until the checkpoint's load
    loaded, meta, _ = load_checkpoint(folder)

    adapter = folder / "adapter"
    roots = [adapter / role for role in ROLES] if adapters == "per_role" else [adapter]
    assert all((root / "adapter_config.json").is_file() for root in roots)
    assert meta["model_config"]["adapters"] == adapters
    got = loaded(batch)
    torch.testing.assert_close(got.strategy_weights, expected.strategy_weights)
    torch.testing.assert_close(got.values, expected.values)

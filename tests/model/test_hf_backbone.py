"""The hf backbone on a tiny random Qwen2.5-VL: CPU, no download."""

import dataclasses

import numpy as np
import pytest
import torch

from bot.core.observation import Observation
from bot.model.checkpoint import load_checkpoint, save_checkpoint
from bot.model.hf_backbone import ROLES
from bot.model.router_model import ModelConfig, RouterModel
from strategies import EXPERTS, STRATEGIES


@pytest.fixture
def hf_model(tiny_qwen_dir) -> RouterModel:
    torch.manual_seed(0)
    return RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir))).eval()


@pytest.fixture(scope="module")
def short(observations) -> list[Observation]:
    """The observations with their prompt cut to its market-summary line. The tiny model's
    tokenizer spends a token per byte (2,200 for the whole prompt), and the tests below are about
    adapters and the matrix, not the text; charts and soft tokens stay."""
    return [dataclasses.replace(o, prompt=_summary_line(o.prompt)) for o in observations]


def _summary_line(prompt: str) -> str:
    return next(line for line in prompt.splitlines() if line.startswith("Market summary:"))


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
def test_the_temporal_matrix_changes_the_output(hf_model, short):
    shuffled = np.random.default_rng(0).permutation(short[0].features)
    other = dataclasses.replace(short[0], features=shuffled.astype(np.float32))

    a = hf_model(hf_model.encode_observations(short[:1]))
    b = hf_model(hf_model.encode_observations([other]))

    assert not torch.allclose(a.expert_logits, b.expert_logits)
    assert not torch.allclose(a.values, b.values)


@torch.no_grad()
def test_each_experts_adapter_changes_only_its_own_policy(hf_model, short):
    batch = hf_model.encode_observations(short[:1])
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


def _train_one_step(model: RouterModel, observations: list[Observation]) -> torch.Tensor:
    """One AdamW step on a loss that reaches every head; returns the loss."""
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    out = model(model.encode_observations(observations))
    loss = -out.strategy_weights[:, 0].sum() + out.values.pow(2).sum()
    loss.backward()
    optimiser.step()
    return loss


def test_one_step_trains_every_roles_lora_and_the_encoder_not_the_base(hf_model, short):
    params = dict(hf_model.named_parameters())
    trained = {n: p.detach().clone() for n, p in params.items() if p.requires_grad}
    base = {n: p.detach().clone() for n, p in params.items() if not p.requires_grad}

    _train_one_step(hf_model, short[:1])

    assert base and all(n.startswith("backbone.peft.") and "lora_" not in n for n in base)
    changed = {n for n, before in trained.items() if not torch.equal(params[n], before)}
    for role in ROLES:
        assert any("lora_B" in n and f".{role}." in n for n in changed), role
    assert any(n.startswith("backbone.temporal.") for n in changed)
    assert all(torch.equal(params[n], before) for n, before in base.items())


def test_the_gpu_precision_trains_and_routes(tiny_qwen_dir, short, monkeypatch):
    """What a GPU runs, here on the CPU: the base model in bf16 (`_device_and_dtype` on CUDA),
    LoRA, temporal encoder and heads in fp32."""
    monkeypatch.setattr(
        "bot.model.hf_backbone._device_and_dtype", lambda: (torch.device("cpu"), torch.bfloat16)
    )
    torch.manual_seed(0)
    model = RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir)))
    params = dict(model.named_parameters())
    lora = {n: p.detach().clone() for n, p in params.items() if "lora_B" in n}

    loss = _train_one_step(model, short[:1])
    decision = model.eval().decide(short[0])

    frozen = {p.dtype for p in params.values() if not p.requires_grad}
    trained = {p.dtype for p in params.values() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}
    assert torch.isfinite(loss) and any(not torch.equal(params[n], b) for n, b in lora.items())
    weights = np.array(list(decision["weights"].values()))
    assert np.isfinite(weights).all() and weights.sum() == pytest.approx(1.0)


def _outputs_and_lora_grads(model: RouterModel, batch: dict, share_vision: bool):
    """A training step's forward and backward (LoRA dropout on, seeded alike for both paths)."""
    model.backbone.share_vision = share_vision
    torch.manual_seed(1)
    out = model(batch)
    loss = -out.strategy_weights[:, 0].sum() + out.values.pow(2).sum()
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    return out, torch.autograd.grad(loss, lora)


def _vision_calls(model: RouterModel) -> list[bool]:
    """A list that grows at each run of the model's vision tower by whether autograd recorded
    it."""
    calls = []
    model.backbone.peft.get_base_model().model.visual.register_forward_hook(
        lambda module, args, out: calls.append(out.pooler_output.requires_grad)
    )
    return calls


def test_image_features_computed_once_equal_a_whole_pass_per_role(hf_model, short):
    calls = _vision_calls(hf_model)
    _perturb_lora(hf_model)
    batch = hf_model.encode_observations(short[:2])

    assert hf_model.backbone.share_vision  # the default targets leave the vision tower alone
    with torch.no_grad():
        shared = hf_model(batch)
        assert len(calls) == 1  # once for the five roles
        hf_model.backbone.share_vision = False
        per_pass = hf_model(batch)
        assert len(calls) == 1 + len(ROLES)
    hf_model.train()
    trained, grads = _outputs_and_lora_grads(hf_model, batch, share_vision=True)
    assert calls[-1] is False  # no graph, saved activations or backward for the frozen tower
    trained_per_pass, grads_per_pass = _outputs_and_lora_grads(hf_model, batch, share_vision=False)

    for field in ("expert_logits", "regime_logits", "values", "strategy_weights"):
        torch.testing.assert_close(getattr(shared, field), getattr(per_pass, field))
        torch.testing.assert_close(getattr(trained, field), getattr(trained_per_pass, field))
    for got, expected in zip(grads, grads_per_pass, strict=True):
        torch.testing.assert_close(got, expected)


@torch.no_grad()
def test_a_target_in_the_vision_tower_runs_it_under_each_adapter(tiny_qwen_dir, short):
    # "qkv" is the attention projection of Qwen2.5-VL's vision blocks.
    targets = ("q_proj", "v_proj", "qkv")
    config = ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir), lora_targets=targets)
    model = RouterModel(config).eval()
    calls = _vision_calls(model)

    model(model.encode_observations(short[:1]))

    assert any("visual" in n and "lora_" in n for n, _ in model.named_parameters())
    assert not model.backbone.share_vision
    assert len(calls) == len(ROLES)


@pytest.mark.parametrize("adapters", ["per_role", "shared"])
def test_adapters_and_heads_save_and_reload_identically(tiny_qwen_dir, short, tmp_path,
                                                        adapters):  # fmt: skip
    torch.manual_seed(0)
    config = ModelConfig(backbone="hf", hf_model_dir=str(tiny_qwen_dir), adapters=adapters)
    model = RouterModel(config).eval()
    _perturb_lora(model)
    batch = model.encode_observations(short[:1])
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

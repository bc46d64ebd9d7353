"""`python -m benchmarks.hf_memory`: the activation memory of an hf SFT step at the widths of
Qwen2.5-VL-3B and -7B, measured on the CPU; the source of the README's "hf on a GPU" estimates.

For each model's text shape (hidden width, heads, MLP width) and each adapter variant, the tests'
tiny Qwen2.5-VL is built with that shape and 1, then 2, decoder layers, loaded in bf16 as on a
GPU (LoRA, temporal encoder and heads in fp32), and one SFT step runs with gradient
checkpointing on one observation. The bytes autograd saves for backward are counted: 2 layers
minus 1 is one layer's share, and 1 layer minus that share is the fixed share (embeddings,
soft tokens, final norm, heads). Both are divided by the prompt's tokens, then scaled to the
model's depth and to `REAL_TOKENS`, the length of the same prompt under Qwen's own tokenizer
(the tiny model's is byte-level, so its prompt is longer).

What this leaves out, and a GPU run of `gpu_check --model-dir` measures: the transient memory of
one layer's recompute, the CUDA context and the allocator's fragmentation.

Writes benchmarks/results/hf_memory-cpu.json.
"""

import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# The Listing 3 prompt of an SPX observation in Qwen2.5-VL's chat template, counted with Qwen's
# BPE vocabulary (qwen.tiktoken): 879 text tokens, 13 special ones, the 11 of the system line the
# real template adds, and 64 image tokens for each of the two image placeholders (a 224 x 224
# chart view is 16 x 16 patches of 14 pixels, merged 2 x 2).
REAL_TOKENS = 1029


def main() -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the CPU, as the figures say
    import torch

    from bot.core.observation import Account, build_observation
    from bot.engine.data import load_bars
    from tests.support.tiny_qwen import QWEN_TEXT_SHAPES

    torch.set_num_threads(1)
    began = time.perf_counter()
    bars = load_bars("SPX", start="2017-01-01", end="2019-12-31")
    observation = build_observation(bars, account=Account.flat(100_000.0))
    report = {"real_tokens": REAL_TOKENS, "models": {}}
    for model, shape in QWEN_TEXT_SHAPES.items():
        report["models"][model] = {
            adapters: _measure(shape, adapters, observation) for adapters in ("per_role", "shared")
        }
        print(json.dumps({model: report["models"][model]}, indent=2), flush=True)
    report["wall_s"] = round(time.perf_counter() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hf_memory-cpu.json").write_text(json.dumps(report, indent=2) + "\n")


def _measure(shape: dict, adapters: str, observation) -> dict:
    saved, tokens = {}, 0
    for depth in (1, 2):
        text = shape | {"num_hidden_layers": depth}
        saved[depth], tokens = _saved_bytes(text, adapters, observation)
    layer = (saved[2] - saved[1]) / tokens
    fixed = (saved[1] - layer * tokens) / tokens
    per_sample = (fixed + shape["num_hidden_layers"] * layer) * REAL_TOKENS
    return {
        "tiny_prompt_tokens": tokens,
        "layer_bytes_per_token": round(layer, 1),
        "fixed_bytes_per_token": round(fixed, 1),
        "fixed_in_layers": round(fixed / layer, 2),
        "per_sample_mb": round(per_sample / 1e6, 1),
    }


def _saved_bytes(text: dict, adapters: str, observation) -> tuple[int, int]:
    """Bytes autograd saves in one SFT step on `observation` of a tiny model of `text`'s shape,
    and its tokens."""
    from unittest import mock

    import torch

    from benchmarks.gpu_check import _sft_step, saved_bytes
    from bot.model.router_model import ModelConfig, RouterModel
    from tests.support.tiny_qwen import make_tiny_qwen

    # The base model in bf16, as `_device_and_dtype` gives on a GPU; on a CPU it gives fp32.
    bf16 = (torch.device("cpu"), torch.bfloat16)
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch("bot.model.hf_backbone._device_and_dtype", return_value=bf16),
    ):
        torch.manual_seed(0)
        config = ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(folder, text)),
                             adapters=adapters)  # fmt: skip
        model = RouterModel(config)
    batch = model.encode_observations([observation])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    saved = saved_bytes(lambda: _sft_step(model, batch, optimiser))
    return saved, int(batch["attention_mask"].sum())


if __name__ == "__main__":
    main()

"""Router decision latency on one CPU thread, p50 and p99: observation building (both charts),
the compact model (hashed words and MiniLM text), the hf backbone on the tiny random Qwen2.5-VL
of the tests, and, on a GPU, a Qwen2.5-VL of the 3B model's shape (random weights, bf16)."""

import tempfile
import time

import numpy as np
import torch

from bot.core.observation import build_observation
from bot.engine.data import load_bars
from bot.model.backbones import minilm_embedding
from bot.model.router_model import ModelConfig, RouterModel


def _latency(work, repeats: int) -> dict[str, float]:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    p50, p99 = np.percentile(times, [50, 99])
    return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2), "n": repeats}


def run(quick: bool) -> dict:
    """Latencies in milliseconds."""
    from tests.support.tiny_qwen import make_tiny_qwen

    torch.set_num_threads(1)
    repeats = 30 if quick else 200
    bars = load_bars("SPX", start="2017-01-01", end="2019-12-31")
    observation = build_observation(bars)
    results = {"observation_build": _latency(lambda: build_observation(bars), repeats)}
    for encoder in ("hashed", "minilm"):
        model = RouterModel(ModelConfig(text_encoder=encoder))
        results[f"compact_{encoder}_cpu"] = _latency(lambda m=model: m.decide(observation), repeats)

    def uncached(m=model):
        minilm_embedding.cache_clear()
        m.decide(observation)

    results["compact_minilm_uncached_text_cpu"] = _latency(uncached, repeats // 5)
    with tempfile.TemporaryDirectory() as folder:
        tiny = RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(folder))))
        results["hf_tiny_qwen_cpu"] = _latency(lambda: tiny.decide(observation), repeats // 5)
    results["hf_qwen_3b_shape_gpu_bf16"] = _gpu_3b(observation, repeats // 5)
    return results


def _gpu_3b(observation, repeats: int) -> dict | str:
    if not torch.cuda.is_available():
        return "not measured: no GPU was lent to this run"
    from tests.support.tiny_qwen import QWEN_TEXT_SHAPES, make_tiny_qwen

    with tempfile.TemporaryDirectory() as folder:
        model_dir = make_tiny_qwen(folder, text=QWEN_TEXT_SHAPES["qwen2.5-vl-3b"])
        model = RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(model_dir)))
        return _latency(lambda: model.decide(observation), repeats)

"""Router latency on one CPU thread: observation building (both charts), compact-model
inference per decision, and the hf backbone on the tiny random Qwen2.5-VL of the tests.
Results go to benchmarks/results/router_speed.json.

    python benchmarks/router_speed.py
"""

import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.data import load_bars  # noqa: E402
from bot.observation import build_observation  # noqa: E402
from training.backbones import minilm_embedding  # noqa: E402
from training.model import ModelConfig, RouterModel  # noqa: E402

OUT = Path(__file__).parent / "results" / "router_speed.json"
REPEATS = 50


def _ms(work, repeats: int = REPEATS) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    torch.set_num_threads(1)
    bars = load_bars("SPX", start="2017-01-01", end="2019-12-31")
    observation = build_observation(bars)
    results = {"observation_build_ms": _ms(lambda: build_observation(bars))}
    for encoder in ("hashed", "minilm"):
        model = RouterModel(ModelConfig(text_encoder=encoder))
        results[f"compact_{encoder}_decide_ms"] = _ms(lambda m=model: m.decide(observation))

    def uncached(m=model):
        minilm_embedding.cache_clear()
        m.decide(observation)

    results["compact_minilm_decide_uncached_text_ms"] = _ms(uncached, 10)
    from tests.training.tiny_qwen import make_tiny_qwen

    with tempfile.TemporaryDirectory() as folder:
        tiny = RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(folder))))
        results["hf_tiny_qwen_decide_ms"] = _ms(lambda: tiny.decide(observation), 10)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "statistic": "median milliseconds",
        "results": results,
        "gpu_real_size": None,  # no GPU was lent when this was measured
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

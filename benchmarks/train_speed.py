"""Training speed: dataset build rate (samples/s, strategy backtests included), and SFT and PPO
optimizer steps/s for the compact backbone and for the tiny random Qwen2.5-VL (LoRA), on
whatever device torch finds (CPU here; a GPU when there is one). Results go to
benchmarks/results/train_speed[-<device>].json.

    python benchmarks/train_speed.py
"""

import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.synthetic import regime_switching_frame  # noqa: E402
from tests.training.tiny_qwen import make_tiny_qwen  # noqa: E402
from training.dataset import DatasetConfig, RouterDataset, build_dataset  # noqa: E402
from training.model import ModelConfig  # noqa: E402
from training.ppo import PPOConfig, train_ppo  # noqa: E402
from training.sft import SFTConfig, train_sft  # noqa: E402

RESULTS = Path(__file__).parent / "results"
STEPS = {"compact": 200, "hf": 6}


def _timed(work) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _steps_per_s(dataset, config: ModelConfig, steps: int, root: Path) -> dict[str, float]:
    """SFT and PPO optimizer steps per second, loading the model and encoding the samples
    included."""
    sft_config = SFTConfig(epochs=10_000, max_steps=steps, patience=10_000)
    sft_s = _timed(lambda: train_sft(dataset, config, root / "sft", sft_config, False))
    ppo_config = PPOConfig(iterations=10_000, max_steps=steps)
    ppo_s = _timed(lambda: train_ppo(dataset, root / "sft", root / "ppo", ppo_config, False))
    return {
        "sft_steps": steps,
        "sft_steps_per_s_incl_setup": round(steps / sft_s, 2),
        "ppo_steps_per_s_incl_setup": round(steps / ppo_s, 2),
    }


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        frames = {"SYN": (regime_switching_frame(1500, seed=1)[0], "index")}
        config = DatasetConfig(symbols=("SYN",), horizon=10, stride=5, workers=2)
        build_s = _timed(lambda: build_dataset(config, root / "ds", frames=frames, progress=False))
        dataset = RouterDataset.load(root / "ds")
        results = {
            "dataset_samples": len(dataset),
            "dataset_samples_per_s": round(len(dataset) / build_s, 1),
            "compact": _steps_per_s(dataset, ModelConfig(), STEPS["compact"], root / "compact"),
        }
        tiny = ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(root / "qwen")))
        results["hf_tiny_qwen"] = _steps_per_s(dataset, tiny, STEPS["hf"], root / "hf")
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "notes": "1 synthetic daily instrument of 1,500 bars, a decision every 5 bars, 224-px "
        "charts, batch 16; steps/s include loading the model and encoding the samples once.",
        "results": results,
    }
    out = RESULTS / ("train_speed.json" if device == "cpu" else f"train_speed-{device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

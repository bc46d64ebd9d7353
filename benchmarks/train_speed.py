"""Training step rates: dataset build rate (samples/s, strategy backtests included), and SFT and
PPO optimizer steps/s for the compact backbone and for the tiny random Qwen2.5-VL (LoRA), on
whatever device torch finds (CPU here; a GPU when there is one)."""

import tempfile
import time
from pathlib import Path

import torch

from bot.model.router_model import ModelConfig
from tests.support.series import regime_switching_frame
from tests.support.tiny_qwen import make_tiny_qwen
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig
from training.ppo import PPOConfig, train_ppo
from training.router_dataset import RouterDataset
from training.sft import SFTConfig, train_sft


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


def run(quick: bool) -> dict:
    """Dataset samples/s and steps/s per backbone (fewer steps with `quick`)."""
    steps = {"compact": 50, "hf": 3} if quick else {"compact": 200, "hf": 6}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        frames = {"SYN": (regime_switching_frame(1500, seed=1)[0], "index")}
        config = DatasetConfig(symbols=("SYN",), horizon=10, stride=5, workers=2)
        build_s = _timed(lambda: build_dataset(config, root / "ds", frames=frames, progress=False))
        dataset = RouterDataset.load(root / "ds")
        results = {
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "threads": torch.get_num_threads(),
            "dataset_samples": len(dataset),
            "dataset_samples_per_s": round(len(dataset) / build_s, 1),
            "compact": _steps_per_s(dataset, ModelConfig(), steps["compact"], root / "compact"),
        }
        tiny = ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(root / "qwen")))
        results["hf_tiny_qwen"] = _steps_per_s(dataset, tiny, steps["hf"], root / "hf")
    return results

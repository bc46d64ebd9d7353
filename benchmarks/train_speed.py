"""Training step rates: dataset build rates, and SFT and PPO optimizer steps/s for the compact
backbone and for the tiny random Qwen2.5-VL (LoRA), on whatever device torch finds (CPU here; a
GPU when there is one).

The dataset is one synthetic daily instrument with 224-px charts, a decision every 5 bars, built
three times: on one core with its eleven strategy backtests (`dataset_samples_per_s`, the
figure the targets judge), the same on two workers, and again on one core from the return-path
cache the first build filled (no backtests: the observations alone)."""

import tempfile
import time
from dataclasses import replace
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
        # three significant digits: the tiny Qwen's rate on a loaded CPU is below 0.01
        "sft_steps_per_s_incl_setup": float(f"{steps / sft_s:.3g}"),
        "ppo_steps_per_s_incl_setup": float(f"{steps / ppo_s:.3g}"),
    }


def _dataset_rates(root: Path, bars: int) -> dict:
    frames = {"SYN": (regime_switching_frame(bars, seed=1)[0], "index")}
    config = DatasetConfig(symbols=("SYN",), horizon=10, stride=5, workers=1)

    def build(name: str, **changes) -> float:
        folder = replace(config, **changes)
        return _timed(lambda: build_dataset(folder, root / name, frames=frames, progress=False))

    one_core = build("one_core", returns_cache=str(root / "cache"))
    cached = build("from_cache", returns_cache=str(root / "cache"))
    two_workers = build("two_workers", workers=2, returns_cache=str(root / "cache2"))
    samples = len(RouterDataset.load(root / "one_core"))
    return {
        "dataset_bars": bars,
        "dataset_samples": samples,
        "dataset_samples_per_s": round(samples / one_core, 1),
        "dataset_samples_per_s_2_workers": round(samples / two_workers, 1),
        "dataset_samples_per_s_from_cache": round(samples / cached, 1),
        # what the cached rebuild skips: the eleven backtests (and their Ray-free set-up)
        "dataset_backtests_s": round(one_core - cached, 1),
        "dataset_observations_s": round(cached, 1),
    }


def run(quick: bool) -> dict:
    """Dataset samples/s and steps/s per backbone (fewer bars and steps with `quick`)."""
    steps = {"compact": 50, "hf": 3} if quick else {"compact": 200, "hf": 6}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        rates = _dataset_rates(root / "datasets", 1500 if quick else 2500)
        dataset = RouterDataset.load(root / "datasets" / "one_core")
        results = {
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "threads": torch.get_num_threads(),
            **rates,
            "compact": _steps_per_s(dataset, ModelConfig(), steps["compact"], root / "compact"),
        }
        tiny = ModelConfig(backbone="hf", hf_model_dir=str(make_tiny_qwen(root / "qwen")))
        results["hf_tiny_qwen"] = _steps_per_s(dataset, tiny, steps["hf"], root / "hf")
    return results

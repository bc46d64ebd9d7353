"""`bot evaluate --workers 1` against `--workers 2` (local Ray): wall time and equal numbers.

A small real dataset (daily AAPL, IBM and MSFT; only AAPL and IBM with --quick) and a 3-step SFT
checkpoint; each evaluation runs every method on every test split (15 backtests per symbol)
through the command line in a fresh process, Ray start-up included.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.model.router_model import ModelConfig
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig
from training.router_dataset import RouterDataset
from training.sft import SFTConfig, train_sft


def _evaluate(checkpoint: Path, dataset: Path, out: Path, workers: int) -> float:
    command = [sys.executable, "-m", "bot", "evaluate", str(checkpoint), "--dataset",
               str(dataset), "--out", str(out), "--workers", str(workers)]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


def _numbers(out: Path) -> dict:
    result = json.loads((out / "evaluation.json").read_text())
    for instrument in result["instruments"].values():
        instrument.pop("report")  # the folder's own path
    return result


def run(quick: bool) -> dict:
    """Seconds with 1 and 2 workers, and whether evaluation.json agrees."""
    symbols = ("AAPL", "IBM") if quick else ("AAPL", "IBM", "MSFT")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = DatasetConfig(symbols=symbols, horizon=20, image_size=56, workers=2)
        build_dataset(config, root / "ds", progress=False)
        sft = SFTConfig(max_steps=3)
        checkpoint = train_sft(RouterDataset.load(root / "ds"), ModelConfig(), root / "ck", sft)
        serial = _evaluate(checkpoint, root / "ds", root / "w1", 1)
        parallel = _evaluate(checkpoint, root / "ds", root / "w2", 2)
        same = _numbers(root / "w1") == _numbers(root / "w2")
    return {
        "symbols": list(symbols),
        "backtests": 15 * len(symbols),
        "workers_1_s": round(serial, 1),
        "workers_2_s": round(parallel, 1),
        "speedup": round(serial / parallel, 2),
        "identical_numbers": same,
    }

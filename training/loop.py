"""What SFT and PPO share: devices through accelerate, seeding, encoding each sample once,
the compatibility check of a starting checkpoint, and the guard against non-finite losses."""

import random
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm import tqdm

from bot.core.errors import CheckpointError, ConfigError, DataError
from bot.model.backbones import COMPACT_MIN_IMAGE_SIZE
from bot.model.checkpoint import load_checkpoint
from bot.model.router_model import ModelConfig, RouterModel
from training.router_dataset import RouterDataset

ENCODE_CHUNK = 64  # observations encoded per call while caching


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def accelerator() -> Accelerator:
    """CPU, one GPU or several, as `accelerate launch` (or nothing) set up the process."""
    return Accelerator()


def require_split(dataset: RouterDataset, name: str) -> RouterDataset:
    """The split, or DataError when it holds no sample."""
    part = dataset.split(name)
    if not len(part):
        raise DataError(
            f"The {name} split of the dataset at {dataset.root} is empty: nothing to train or "
            "validate on. Rebuild it with more history, more symbols or a smaller stride."
        )
    return part


def start_model(
    init: Path | ModelConfig, dataset: RouterDataset, hf_model_dir: str | None = None
) -> tuple[RouterModel, dict]:
    """A fresh model for a ModelConfig, or the checkpoint at `init` (its hf base model read from
    `hf_model_dir` when given) after checking that it was trained on inputs this dataset gives
    (same feature statistics, when it has any), and that its backbone can read the dataset's
    charts."""
    if isinstance(init, ModelConfig):
        _check_image_size(init, dataset)
        return RouterModel(init), {}
    model, meta, stats = load_checkpoint(init, hf_model_dir=hf_model_dir)
    _check_image_size(model.config, dataset)
    if stats is not None and stats.to_dict() != dataset.stats.to_dict():
        trained = meta["extra"].get("dataset", {}).get("path", "another dataset")
        raise CheckpointError(
            f"{init} was trained on {trained}, whose feature statistics differ from those of "
            f"{dataset.root}: its inputs would mean something else. Start from a fresh model "
            "(no --init), or train on the dataset the checkpoint came from."
        )
    return model, meta


def _check_image_size(config: ModelConfig, dataset: RouterDataset) -> None:
    size = dataset.config.image_size
    if config.backbone == "compact" and size < COMPACT_MIN_IMAGE_SIZE:
        raise ConfigError(
            f"The dataset at {dataset.root} has {size}-px charts, but the compact backbone's "
            f"chart network needs at least {COMPACT_MIN_IMAGE_SIZE} px. Rebuild the dataset with "
            f"`bot train data --image-size {COMPACT_MIN_IMAGE_SIZE}` (or larger), or use the hf "
            "backbone (`bot train sft --backbone hf`), whose processor resizes the charts."
        )


class EncodedSamples:
    """The model inputs of some dataset rows, encoded once (the compact backbone) or per batch
    (hf: the processor output depends on the batch's padding)."""

    def __init__(self, model: RouterModel, dataset: RouterDataset, progress: bool) -> None:
        self.dataset = dataset
        self.model = model
        self.cached = model.config.backbone == "compact"
        self._tensors: dict[str, torch.Tensor] = {}
        parts = []
        for chunk in tqdm(batches(len(dataset), ENCODE_CHUNK), desc="encode", disable=not progress):
            observations = dataset.observations(chunk)
            _check_finite(observations, dataset)
            if self.cached:
                parts.append(model.backbone.encode(observations, torch.device("cpu")))
        if self.cached:
            self._tensors = {name: torch.cat([p[name] for p in parts]) for name in parts[0]}

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """The model inputs of `positions` (indices into this split), on the model's device."""
        index = torch.as_tensor(np.asarray(positions), dtype=torch.long)
        if self.cached:
            return {name: t[index].to(self.model.device) for name, t in self._tensors.items()}
        return self.model.encode_observations(self.dataset.observations(np.asarray(positions)))


def _check_finite(observations: list, dataset: RouterDataset) -> None:
    for observation in observations:
        if not np.isfinite(observation.features).all():
            raise DataError(
                f"Non-finite features in the dataset at {dataset.root} (decision at "
                f"{observation.ts} ns): training on them would give NaN losses. Check the bars "
                "with `bot data check` and rebuild the dataset."
            )


def check_loss(loss: torch.Tensor, step: int, stage: str) -> None:
    """Stop at once on a non-finite loss: a NaN run must never go on silently."""
    if not torch.isfinite(loss):
        raise DataError(
            f"{stage}: the loss became {loss.item()} at step {step}. Nothing was saved. Lower "
            "the learning rate, or check the dataset for extreme values."
        )


def batches(count: int, size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Positions 0..count-1 in chunks of `size`: shuffled by `rng`, or in order without one."""
    order = np.arange(count) if rng is None else rng.permutation(count)
    return [order[i : i + size] for i in range(0, count, size)]


def micro_batches(positions: np.ndarray, size: int | None) -> list[np.ndarray]:
    """`positions` in chunks of at most `size` (all at once when None): one forward and backward
    each, their gradients accumulated into one optimizer step, so that a large model fits in
    GPU memory at the same effective batch."""
    size = size or len(positions)
    return [positions[i : i + size] for i in range(0, len(positions), size)]


def shard(positions: np.ndarray, accel: Accelerator) -> np.ndarray:
    """This process's share of a batch: with several GPUs each takes every n-th sample (the
    gradients are averaged across processes by `accel.backward`)."""
    return positions[accel.process_index :: accel.num_processes]


def trainable(model: RouterModel) -> list[torch.nn.Parameter]:
    """The parameters that train: all of a compact model; LoRA and heads of an hf one (the
    base model stays frozen: peft marks only the adapters trainable)."""
    return [p for p in model.parameters() if p.requires_grad]

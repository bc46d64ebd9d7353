"""Supervised training (`bot train sft`): the regime head plus a supervised prior for the router.

Loss per sample = cross-entropy of the regime head against the forward regime label (each class
weighted by the inverse of its share of the train split, `balanced`, so that the head does not
settle on the commonest regime) + `prior_weight` x the router prior. The prior's targets come
from the strategies' realised returns over the window after the decision
(`RouterDataset.window_returns`, costs included):
- experts: softmax over the experts of their best strategy's window return / `temperature`;
- each expert's policy: softmax of its own strategies' window returns / `temperature`.
Soft targets, not argmax ones: when two experts did about as well the prior stays undecided,
which leaves PPO room to move. Both are cross-entropies against the heads' logits.

`compact` trains every weight; `hf` trains the LoRA adapters and the heads (the base model is
frozen). The best weights on validation loss are kept; training stops after `patience` epochs
without improvement.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import structlog
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bot.core.configs import check_counts_and_seed, described
from bot.model.checkpoint import save_checkpoint
from bot.model.router_model import EXPERT_ROWS, REGIMES, ModelConfig, RouterModel, RouterOutput
from training import loop
from training.router_dataset import RouterDataset

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SFTConfig:
    """How `train_sft` trains (saved in the checkpoint's meta.json)."""

    epochs: int = described("Most passes over the train split.", 30)
    batch_size: int = described("Samples per optimizer step.", 16)
    micro_batch: int | None = described(
        "Samples per forward/backward, accumulated to batch_size (GPU memory); None: all.", None
    )
    lr: float | None = described("AdamW learning rate; None: 1e-3 compact, 3e-5 hf (LoRA).", None)
    weight_decay: float = described("AdamW weight decay.", 0.01)
    patience: int = described("Epochs without a better validation loss before stopping.", 5)
    seed: int = described("Seed of initialisation and shuffling.", 0)
    prior_weight: float = described("Weight of the router prior next to the regime loss.", 0.5)
    balanced: bool = described("Weigh regime classes by their inverse train frequency.", True)
    temperature: float = described("Return scale of the prior's soft targets (0.02 = 2%).", 0.02)
    max_steps: int | None = described("Stop after this many optimizer steps (smoke runs).", None)

    def __post_init__(self) -> None:
        check_counts_and_seed(self, "epochs", "batch_size", "micro_batch", "patience", "max_steps")

    def learning_rate(self, backbone: str) -> float:
        """`lr`, or the default for the backbone."""
        return self.lr if self.lr is not None else (1e-3 if backbone == "compact" else 3e-5)


def train_sft(
    dataset: RouterDataset,
    init: Path | ModelConfig,
    out_dir: Path,
    config: SFTConfig,
    progress: bool = True,
    hf_model_dir: str | None = None,
) -> Path:
    """Train on the dataset's train split, stop early on its validation split, and write the
    best checkpoint to `out_dir`; returns the folder. `hf_model_dir`: where the base model of
    an hf `init` checkpoint is on this machine."""
    loop.seed_everything(config.seed)
    train, val = loop.require_split(dataset, "train"), loop.require_split(dataset, "val")
    model, _ = loop.start_model(init, dataset, hf_model_dir)
    accel = loop.accelerator()
    params = loop.trainable(model)
    optimizer = torch.optim.AdamW(
        params, lr=config.learning_rate(model.config.backbone), weight_decay=config.weight_decay
    )
    model, optimizer = accel.prepare(model, optimizer)
    core: RouterModel = accel.unwrap_model(model)
    sets = {name: (loop.EncodedSamples(core, part, progress), _targets(part, config)) for name, part
            in (("train", train), ("val", val))}  # fmt: skip
    class_weights = _class_weights(train.labels) if config.balanced else None
    for _, targets in sets.values():
        targets["class_weights"] = class_weights
    rng = np.random.default_rng(config.seed)
    best, best_metrics, stale, step, epochs_run = None, {"loss": float("inf")}, 0, 0, 0
    bar = tqdm(total=config.max_steps or config.epochs, desc="sft", disable=not progress)
    for epoch in range(config.epochs):
        model.train()
        for positions in loop.batches(len(train), config.batch_size, rng):
            optimizer.zero_grad()
            mine = loop.shard(positions, accel)
            for part in loop.micro_batches(mine, config.micro_batch):
                loss, _ = _loss(model, sets["train"], part, config)
                loop.check_loss(loss, step, "SFT")
                accel.backward(loss * len(part) / len(mine))
            optimizer.step()
            step += 1
            if config.max_steps:
                bar.update()
            if config.max_steps and step >= config.max_steps:
                break
        epochs_run = epoch + 1
        metrics = _evaluate(model, sets["val"], config)
        loop.check_loss(torch.tensor(metrics["loss"]), step, "SFT validation")
        bar.set_postfix(val_loss=f"{metrics['loss']:.4f}", acc=f"{metrics['regime_accuracy']:.2f}")
        if not config.max_steps:
            bar.update()
        if metrics["loss"] < best_metrics["loss"]:
            best, best_metrics, stale = _state(core), metrics, 0
        else:
            stale += 1
        if stale >= config.patience or (config.max_steps and step >= config.max_steps):
            break
    bar.close()
    _restore(core, best)  # its validation metrics are the best epoch's: not evaluated again
    metrics = best_metrics | {"epochs_run": epochs_run, "steps": step}
    log.info("sft finished", **metrics)
    return save_checkpoint(
        core,
        out_dir,
        stats=dataset.stats,
        prices=dataset.fingerprint(),
        extra_meta={
            "stage": "sft",
            "dataset": dataset.provenance(),
            "sft_config": asdict(config),
            "validation": metrics,
        },
    )


def _targets(part: RouterDataset, config: SFTConfig) -> dict[str, torch.Tensor]:
    returns = torch.as_tensor(part.window_returns(np.arange(len(part))), dtype=torch.float32)
    best = torch.stack([returns[:, list(rows)].max(dim=1).values for rows in EXPERT_ROWS], 1)
    return {
        "regime": torch.as_tensor(part.labels),
        "experts": torch.softmax(best / config.temperature, dim=1),
        "policies": [
            torch.softmax(returns[:, list(rows)] / config.temperature, 1) for rows in EXPERT_ROWS
        ],  # fmt: skip
    }


def _loss(model, data, positions, config: SFTConfig) -> tuple[torch.Tensor, RouterOutput]:
    encoded, targets = data
    out: RouterOutput = model(encoded.batch(positions))
    index = torch.as_tensor(positions)
    device = out.regime_logits.device
    weights, labels = targets["class_weights"], targets["regime"][index]
    if weights is not None and weights[labels].sum() == 0:
        # Only regimes the train split lacks (weight 0): the weighted mean would be 0 / 0.
        regime = out.regime_logits.sum() * 0.0
    else:
        regime = F.cross_entropy(
            out.regime_logits,
            labels.to(device),
            weight=None if weights is None else weights.to(device),
        )
    prior = _soft_ce(out.expert_logits, targets["experts"][index].to(device))
    for logits, target in zip(out.policy_logits, targets["policies"], strict=True):
        prior = prior + _soft_ce(logits, target[index].to(device)) / len(EXPERT_ROWS)
    return regime + config.prior_weight * prior, out


def _class_weights(labels: np.ndarray) -> torch.Tensor:
    # Inverse frequency, normalised to mean 1 over the classes present; an absent class gets 0.
    counts = np.bincount(labels, minlength=len(REGIMES)).astype(np.float64)
    weights = np.divide(counts.sum(), counts, out=np.zeros_like(counts), where=counts > 0)
    return torch.as_tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


@torch.no_grad()
def _evaluate(model, data, config: SFTConfig) -> dict[str, float]:
    model.eval()
    encoded, targets = data
    losses, hits, prior_hits = [], [], []
    for positions in loop.batches(len(encoded), config.micro_batch or config.batch_size, None):
        loss, out = _loss(model, data, positions, config)
        losses.append(loss.item() * len(positions))
        index = torch.as_tensor(positions)
        hits += (out.regime_logits.argmax(1).cpu() == targets["regime"][index]).tolist()
        expected = targets["experts"][index].argmax(1)
        prior_hits += (out.expert_weights.argmax(1).cpu() == expected).tolist()
    labels = encoded.dataset.labels
    return {
        "loss": float(np.sum(losses) / len(encoded)),
        "regime_accuracy": float(np.mean(hits)),
        "regime_majority": float(np.bincount(labels).max() / len(labels)),
        "prior_accuracy": float(np.mean(prior_hits)),
    }


def _state(model: RouterModel) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _restore(model: RouterModel, state: dict[str, torch.Tensor] | None) -> None:
    if state is None:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)

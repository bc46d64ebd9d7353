"""PPO (`bot train ppo`) over replayed strategy returns, from an SFT checkpoint.

The action is the allocation that is traded. The model's router logits (4) and each expert's
policy logits are the means of Gaussians (std `noise`, in logit space); a rollout samples
logits z_r and z_k from them and trades a = softmax(z_r)_k x softmax(z_k)(s) over the eleven
strategies, exactly as evaluation and trading blend the mean logits' weights. Gaussian logits
keep log-probabilities exact, which PPO's ratio needs (a Dirichlet would do too; this one leaves
the heads as they are).

One iteration:
1. Rollout. For every decision of the train split, in time order per instrument, sample the
   allocation and replay it over the window (`training.env.WindowEnv`): the blended per-bar
   returns of the eleven strategies' single-strategy backtests, net of the turnover cost of
   changing weights from the previous window. Its reward (eq. 12) is the router's. Each expert
   also holds its own sampled policy softmax(z_k) as a whole portfolio, and that reward is the
   expert's (the per-expert rewards of eq. 8).
2. Advantages by GAE along each instrument's decisions: the router's against V(s) =
   sum_k w_k V_k(s), each expert's against its own V_k(s); normalised. gamma is 0 by default: a
   window's allocation changes no later window's returns (only the next window's turnover
   cost), so later rewards would add only noise (the paper's 0.99 learned 5x slower here).
3. `epochs` passes of minibatches of 16 minimise the router's clipped objective (eq. 5, the
   ratio of z_r's densities) plus the mean of the experts' clipped objectives (eq. 8, the
   ratios of z_k's densities) plus the value loss of each V_k against its expert's returns;
   gradients clipped to norm 0.5. A Gaussian's entropy does not depend on its mean, so there is
   no entropy bonus; `noise` sets exploration. The group term of eq. 13 is left out: with
   allocations, not sampled strategies, no expert acts through another's action.
   `regime_spread` (off by default; tried on validation, README "Training and evaluation")
   adds a bonus for routing capital differently in each regime the regime head predicts.
`compact` trains the whole model (`finetune_backbone`, lr 3e-4) or only the heads on the frozen
SFT backbone (cached, much faster; lr 1e-3); `hf` the LoRA adapters and the heads (lr 3e-5).
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import structlog
import torch
from tqdm import tqdm

from bot.core.configs import check_counts_and_seed, described
from bot.core.errors import CheckpointError, ConfigError
from bot.model.checkpoint import save_checkpoint
from bot.model.router_model import EXPERT_ROWS, RouterModel, RouterOutput
from strategies import STRATEGIES
from training import loop
from training.env import RewardConfig, WindowEnv
from training.router_dataset import RouterDataset

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    """How `train_ppo` trains (saved in the checkpoint's meta.json)."""

    iterations: int = described("Rollouts over the train split.", 30)
    epochs: int = described("Optimisation passes over each rollout.", 4)
    batch_size: int = described("Decisions per minibatch.", 16)
    micro_batch: int | None = described(
        "Decisions per forward/backward, accumulated to batch_size (GPU memory); None: all.", None
    )
    lr: float | None = described(
        "Adam learning rate; None: 3e-4 compact (1e-3 heads only), 3e-5 hf.", None
    )
    clip: float = described("PPO clip range epsilon.", 0.15)
    value_coef: float = described("Weight of the value loss (c1).", 0.5)
    noise: float = described("Std of the exploration noise on the logits.", 1.0)
    gamma: float = described("Discount per window (0: each window is its own episode).", 0.0)
    gae_lambda: float = described("GAE lambda.", 0.95)
    grad_clip: float = described("Gradient norm limit.", 0.5)
    # The reward's weights won on validation (README, "Training variants" and "Regime target and
    # drawdown"): the paper's excess over buy-and-hold with its drawdown penalty (0.5) taught the
    # router to sit in cash; a tenth of that penalty cut the validation drawdown by a fifth for
    # about 0.04 of Sharpe.
    alpha_r: float = described("Weight of the smoothed excess return.", 1.0)
    alpha_s: float = described("Weight of the smoothed window Sharpe.", 0.0)
    alpha_d: float = described("Weight of the drawdown penalty (per `scale` of drawdown).", 0.05)
    benchmark: float = described("Share of buy-and-hold's return the excess is taken over.", 0.0)
    fee_bps: float = described("Turnover cost per unit of weight change, bps.", 10.0)
    finetune_backbone: bool = described("compact: train the backbone too, not only heads.", False)
    regime_spread: float = described(
        "Weight of a bonus for routing by the predicted regime (0: off; see `_regime_spread`).",
        0.0,
    )
    seed: int = described("Seed of sampling and shuffling.", 0)
    max_steps: int | None = described("Stop after this many optimizer steps (smoke runs).", None)

    def __post_init__(self) -> None:
        counts = ("iterations", "epochs", "batch_size", "micro_batch", "max_steps")
        check_counts_and_seed(self, *counts)

    def reward(self) -> RewardConfig:
        """The environment's reward settings."""
        terms = (self.alpha_r, self.alpha_s, self.alpha_d)
        return RewardConfig(*terms, benchmark=self.benchmark, fee_bps=self.fee_bps)


def train_ppo(
    dataset: RouterDataset,
    sft_checkpoint: Path,
    out_dir: Path,
    config: PPOConfig,
    progress: bool = True,
    env: WindowEnv | None = None,
    hf_model_dir: str | None = None,
) -> Path:
    """Fine-tune the SFT checkpoint with PPO on the train split (or `env`, built over the train
    split's rows) and write the result to `out_dir`; returns the folder. `hf_model_dir`: where
    the base model of an hf checkpoint is on this machine."""
    loop.seed_everything(config.seed)
    train, val = loop.require_split(dataset, "train"), loop.require_split(dataset, "val")
    model, sft_meta = loop.start_model(sft_checkpoint, dataset, hf_model_dir)
    _check_dataset(sft_meta, dataset, sft_checkpoint)
    policy = _Policy(model, config, progress)
    inputs = {"train": policy.inputs(train), "val": policy.inputs(val)}
    env = env or WindowEnv.from_dataset(train, config.reward())
    if len(env.paths) != len(train):
        raise ConfigError(
            f"The PPO environment has {len(env.paths)} windows but the train split has "
            f"{len(train)} decisions: build it over the train split's rows."
        )
    rng = np.random.default_rng(config.seed)
    step = 0
    bar = tqdm(range(config.iterations), desc="ppo", disable=not progress)
    for _ in bar:
        batch = _rollout(policy, inputs["train"], env, config, rng)
        step = _optimise(policy, inputs["train"], batch, config, rng, step)
        bar.set_postfix(reward=f"{batch['rewards'].mean():.4f}")
        if config.max_steps and step >= config.max_steps:
            break
    validation = _validate(
        policy, inputs["val"], WindowEnv.from_dataset(val, config.reward()), config.micro_batch
    )
    log.info("ppo finished", steps=step, **validation)
    return save_checkpoint(
        policy.core,
        out_dir,
        stats=dataset.stats,
        prices=dataset.fingerprint(),
        extra_meta={
            "stage": "ppo",
            "dataset": dataset.provenance(),
            "sft_checkpoint": {"path": str(sft_checkpoint), "files": sft_meta.get("files")},
            "sft_config": sft_meta["extra"].get("sft_config", {}),
            "ppo_config": asdict(config),
            "validation": validation | {"steps": step},
        },
    )


def _check_dataset(meta: dict, dataset: RouterDataset, checkpoint: Path) -> None:
    trained = meta.get("extra", {}).get("dataset", {}).get("config_hash")
    if trained != dataset.meta["config_hash"]:
        raise CheckpointError(
            f"{checkpoint} was not trained by SFT on the dataset at {dataset.root} (its dataset: "
            f"{trained or 'none recorded'}). PPO must start from an SFT checkpoint of the same "
            "dataset: run `bot train sft` on it first."
        )


class _Policy:
    """The model under PPO: which parameters train, and the heads' outputs for some rows."""

    def __init__(self, model: RouterModel, config: PPOConfig, progress: bool) -> None:
        compact = model.config.backbone == "compact"
        self.frozen_backbone = compact and not config.finetune_backbone
        if self.frozen_backbone:
            model.backbone.requires_grad_(False)
        self.accel = loop.accelerator()
        model.to(self.accel.device)
        default = 1e-3 if self.frozen_backbone else (3e-4 if compact else 3e-5)
        lr = config.lr if config.lr is not None else default
        # What trains goes through accelerate: the heads alone on cached h (frozen compact), or
        # the whole model, so several GPUs average their gradients.
        module = model.heads if self.frozen_backbone else model
        optimizer = torch.optim.Adam(loop.trainable(module), lr=lr)
        self.module, self.optimizer = self.accel.prepare(module, optimizer)
        self.core = model
        self.progress = progress

    def inputs(self, part: RouterDataset):
        """Cached backbone outputs h (frozen compact), or the encoded samples."""
        encoded = loop.EncodedSamples(self.core, part, self.progress)
        if not self.frozen_backbone:
            return encoded
        with torch.no_grad():
            chunks = loop.batches(len(encoded), loop.ENCODE_CHUNK)
            return torch.cat([self.core.backbone(encoded.batch(c)) for c in chunks])

    def __call__(self, inputs, positions: np.ndarray) -> RouterOutput:
        if self.frozen_backbone:
            return self.module(inputs[torch.as_tensor(positions)].to(self.accel.device))
        return self.module(inputs.batch(positions))

    def step(self, parts: Iterable[torch.Tensor], grad_clip: float) -> None:
        """One update from the losses of a minibatch's micro-batches, already weighted by their
        share of it (their gradients add up to the minibatch's)."""
        self.optimizer.zero_grad()
        for loss in parts:
            self.accel.backward(loss)
        self.accel.clip_grad_norm_(loop.trainable(self.module), grad_clip)
        self.optimizer.step()


def allocation(router: np.ndarray, policies: list[np.ndarray]) -> np.ndarray:
    """(n, 11) capital fractions from router logits (n, 4) and each expert's policy logits
    (n, n_k): softmax(router)_k x softmax(policy_k), in strategy-table order."""
    weights = _softmax(router)
    out = np.zeros((len(router), len(STRATEGIES)))
    for k, (rows, logits) in enumerate(zip(EXPERT_ROWS, policies, strict=True)):
        out[:, list(rows)] = weights[:, k : k + 1] * _softmax(logits)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _expert_portfolios(policies: list[np.ndarray]) -> list[np.ndarray]:
    """Per expert, (n, 11) fractions holding only its own strategies at softmax(policy_k)."""
    out = []
    for rows, logits in zip(EXPERT_ROWS, policies, strict=True):
        alone = np.zeros((len(logits), len(STRATEGIES)))
        alone[:, list(rows)] = _softmax(logits)
        out.append(alone)
    return out


@torch.no_grad()
def _rollout(policy: _Policy, inputs, env: WindowEnv, config: PPOConfig, rng) -> dict:
    policy.module.eval()  # old log-probs without dropout noise, as in `_validate`
    n = len(env.paths)
    out = _all_outputs(policy, inputs, n, config.micro_batch or config.batch_size)
    z_router = out["router"] + config.noise * rng.standard_normal(out["router"].shape)
    z_policies = [mu + config.noise * rng.standard_normal(mu.shape) for mu in out["policies"]]
    traded = allocation(z_router, z_policies)
    alone = _expert_portfolios(z_policies)
    experts = len(EXPERT_ROWS)
    rewards, expert_rewards = np.zeros(n), np.zeros((n, experts))
    advantages, expert_advantages = np.zeros(n), np.zeros((n, experts))
    values = out["values"]  # (n, 4): V_k
    router_values = (out["experts"] * values).sum(axis=1)
    for episode in env.episodes:
        previous = np.zeros(len(STRATEGIES))
        previous_alone = [previous] * experts
        for row in episode:
            rewards[row] = env.reward(row, traded[row], previous)
            for k in range(experts):
                expert_rewards[row, k] = env.reward(row, alone[k][row], previous_alone[k])
            previous, previous_alone = traded[row], [a[row] for a in alone]
        advantages[episode] = _gae(rewards[episode], router_values[episode], config)
        for k in range(experts):
            expert_advantages[episode, k] = _gae(
                expert_rewards[episode, k], values[episode, k], config
            )
    return {
        "z_router": z_router,
        "z_policies": z_policies,
        "old_router": _log_density(out["router"], z_router, config.noise),
        "old_policies": np.stack(
            [_log_density(mu, z, config.noise) for mu, z in zip(out["policies"], z_policies,
                                                                 strict=True)], 1),
        "advantages": _normalised(advantages),
        "expert_advantages": _normalised(expert_advantages),
        "returns": expert_advantages + values,
        "rewards": rewards,
    }  # fmt: skip


def _log_density(mean: np.ndarray, z: np.ndarray, noise: float) -> np.ndarray:
    # Up to a constant, which cancels in PPO's ratio.
    return -(((z - mean) / noise) ** 2).sum(axis=1) / 2


def _normalised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-8)


def _all_outputs(policy: _Policy, inputs, n: int, size: int) -> dict:
    parts = [policy(inputs, positions) for positions in loop.batches(n, size)]
    cat = lambda tensors: torch.cat(list(tensors)).double().cpu().numpy()  # noqa: E731
    return {
        "router": cat(p.expert_logits for p in parts),
        "policies": [cat(p.policy_logits[k] for p in parts) for k in range(len(EXPERT_ROWS))],
        "experts": cat(p.expert_weights for p in parts),
        "values": cat(p.values for p in parts),
    }


def _gae(rewards: np.ndarray, values: np.ndarray, config: PPOConfig) -> np.ndarray:
    advantages = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        following = values[t + 1] if t + 1 < len(rewards) else 0.0
        delta = rewards[t] + config.gamma * following - values[t]
        running = delta + config.gamma * config.gae_lambda * running
        advantages[t] = running
    return advantages


def _optimise(policy: _Policy, inputs, batch: dict, config: PPOConfig, rng, step: int) -> int:
    policy.module.train()
    tensors = {key: _tensor(value) for key, value in batch.items()}
    for _ in range(config.epochs):
        for minibatch in loop.batches(len(batch["rewards"]), config.batch_size, rng):
            positions = loop.shard(minibatch, policy.accel)
            parts = (
                _checked(_ppo_loss(policy(inputs, part), tensors, part, config), step)
                * (len(part) / len(positions))
                for part in loop.micro_batches(positions, config.micro_batch)
            )  # a generator: each micro-batch's graph is freed by its backward before the next
            policy.step(parts, config.grad_clip)
            step += 1
            if config.max_steps and step >= config.max_steps:
                return step
    return step


def _checked(loss: torch.Tensor, step: int) -> torch.Tensor:
    loop.check_loss(loss, step, "PPO")
    return loss


def _tensor(value):
    if isinstance(value, list):
        return [torch.as_tensor(v) for v in value]
    return torch.as_tensor(value)


def _ppo_loss(out: RouterOutput, batch: dict, positions: np.ndarray, config: PPOConfig):
    index = torch.as_tensor(positions)
    device = out.expert_logits.device
    take = lambda tensor: tensor[index].to(device).float()  # noqa: E731
    router_loss = _clipped(
        _log_density_t(out.expert_logits, take(batch["z_router"]), config.noise),
        take(batch["old_router"]),
        take(batch["advantages"]),
        config.clip,
    )
    expert_loss = sum(
        _clipped(
            _log_density_t(logits, take(z), config.noise),
            take(batch["old_policies"])[:, k],
            take(batch["expert_advantages"])[:, k],
            config.clip,
        )
        for k, (logits, z) in enumerate(zip(out.policy_logits, batch["z_policies"], strict=True))
    ) / len(EXPERT_ROWS)
    value_loss = ((out.values.float() - take(batch["returns"])) ** 2).mean()
    loss = router_loss + expert_loss + config.value_coef * value_loss
    if config.regime_spread:
        loss = loss - config.regime_spread * _regime_spread(out)
    return loss


def _regime_spread(out: RouterOutput) -> torch.Tensor:
    """How much the router's capital split depends on the regime its head predicts: the
    total-variation distance between the mean expert weights within each predicted regime and
    the minibatch's mean, averaged over regimes by their share (0: the same split in every
    regime, as the shipped router nearly does). The regime probabilities are detached, so the
    bonus moves the router, never the regime head."""
    regime = torch.softmax(out.regime_logits.detach().float(), dim=-1)  # (B, 3)
    weights = out.expert_weights.float()  # (B, 4)
    share = regime.sum(dim=0)
    per_regime = regime.T @ weights / share.clamp_min(1e-8).unsqueeze(1)
    distance = (per_regime - weights.mean(dim=0)).abs().sum(dim=1) / 2
    return (share / share.sum() * distance).sum()


def _log_density_t(mean: torch.Tensor, z: torch.Tensor, noise: float) -> torch.Tensor:
    return -(((z - mean.float()) / noise) ** 2).sum(dim=1) / 2


def _clipped(logp, old_logp, advantage, clip: float) -> torch.Tensor:
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * advantage
    return -torch.min(ratio * advantage, clipped).mean()


@torch.no_grad()
def _validate(policy: _Policy, inputs, env: WindowEnv, chunk: int | None) -> dict[str, float]:
    """Mean validation reward of the model's mean allocation against uniform weights, and the
    Sharpe of each over the whole split (windows chained per instrument)."""
    policy.module.eval()
    out = _all_outputs(policy, inputs, len(env.paths), chunk or 64)
    weights = allocation(out["router"], out["policies"])
    uniform = np.full_like(weights, 1.0 / weights.shape[1])
    return {
        "reward": env.mean_reward(weights),
        "uniform_reward": env.mean_reward(uniform),
        "sharpe": env.sharpe(weights),
        "uniform_sharpe": env.sharpe(uniform),
    }

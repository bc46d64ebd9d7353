"""PPO on a synthetic market where one expert is clearly best in each regime."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.core.configs import from_saved
from bot.core.errors import CheckpointError
from bot.model.checkpoint import init_checkpoint, load_checkpoint, read_meta
from strategies import EXPERTS, STRATEGIES
from training.env import WindowEnv
from training.ppo import PPOConfig, train_ppo
from training.sft import SFTConfig, train_sft

# The expert that wins in each regime (uptrend, downtrend, consolidation) of this market.
WINNER = {0: "trend", 1: "position", 2: "reversal"}


def synthetic_env(part) -> WindowEnv:
    """Each window: the winning expert's strategies gain 0.4% a bar, all others lose 0.4%."""
    window = part.config.window
    paths = np.full((len(part), window, len(STRATEGIES)), -0.004)
    for row, label in enumerate(part.labels):
        winners = [i for i, s in enumerate(STRATEGIES) if s.expert == WINNER[int(label)]]
        paths[row, :, winners] = 0.004
    return WindowEnv(paths, np.zeros((len(part), window)), part.episodes("train"))


@pytest.fixture(scope="module")
def sft(regime_dataset, hashed, tmp_path_factory) -> Path:
    # No router prior: whatever the router learns about experts here comes from PPO.
    config = SFTConfig(epochs=12, patience=4, prior_weight=0.0)
    return train_sft(regime_dataset, hashed, tmp_path_factory.mktemp("sft"), config, False)


def test_ppo_puts_weight_on_the_right_expert(regime_dataset, sft, tmp_path):
    env = synthetic_env(regime_dataset.split("train"))
    config = PPOConfig(iterations=40)

    folder = train_ppo(regime_dataset, sft, tmp_path, config, progress=False, env=env)

    test = regime_dataset.split("test")
    model, _, _ = load_checkpoint(folder)
    with torch.no_grad():
        out = model(model.encode_observations(test.observations(np.arange(len(test)))))
    right = [EXPERTS.index(WINNER[int(label)]) for label in test.labels]
    weight = out.expert_weights[np.arange(len(test)), right]
    assert float(weight.mean()) >= 0.6  # 0.25 before any learning


def test_ppo_checkpoint_records_its_provenance(regime_dataset, sft, tmp_path):
    folder = train_ppo(regime_dataset, sft, tmp_path, PPOConfig(max_steps=3), progress=False)

    extra = read_meta(folder)["extra"]
    assert extra["stage"] == "ppo"
    assert extra["validation"]["steps"] == 3
    assert extra["sft_checkpoint"]["path"] == str(sft)
    assert extra["sft_config"]["prior_weight"] == 0.0
    assert np.isfinite(extra["validation"]["reward"])


def test_a_regime_routed_model_trains_without_moving_its_regime_head(
    regime_dataset, hashed, tmp_path
):
    routed = replace(hashed, regime_routing=True)
    sft = train_sft(regime_dataset, routed, tmp_path / "sft", SFTConfig(max_steps=2), False)

    folder = train_ppo(regime_dataset, sft, tmp_path / "ppo", PPOConfig(max_steps=3), False)

    before, _, _ = load_checkpoint(sft)
    after, meta, _ = load_checkpoint(folder)
    assert meta["model_config"]["regime_routing"] and after.config.regime_routing
    # routing reads the regime head's probabilities but never trains it
    torch.testing.assert_close(after.heads.regime.weight, before.heads.regime.weight)
    assert not torch.equal(after.heads.router.weight, before.heads.router.weight)


def test_the_default_reward_penalises_drawdown_at_equal_return():
    # The same twenty daily moves, alternating or all falls first: the same window return, the
    # second through a drawdown of about 17%. Only the drawdown term tells them apart.
    moves = np.tile([0.02, -0.02], 10)
    paths = np.zeros((1, len(moves), len(STRATEGIES)))
    paths[0, :, 0], paths[0, :, 1] = moves, np.sort(moves)
    alternating, falls_first = np.eye(len(STRATEGIES))[:2]

    def reward(config: PPOConfig, weights: np.ndarray) -> float:
        env = WindowEnv(paths, np.zeros((1, len(moves))), [np.array([0])], config.reward())
        return env.reward(0, weights, weights)  # held before: no turnover cost

    assert reward(PPOConfig(), falls_first) < reward(PPOConfig(), alternating) - 0.3
    no_penalty = PPOConfig(alpha_d=0.0)
    assert reward(no_penalty, falls_first) == pytest.approx(reward(no_penalty, alternating))


def test_ppo_refuses_a_checkpoint_not_trained_on_the_dataset(regime_dataset, hashed, tmp_path):
    untrained = init_checkpoint(tmp_path / "init", hashed)

    with pytest.raises(CheckpointError, match="run `bot train sft`"):
        train_ppo(regime_dataset, untrained, tmp_path / "out", PPOConfig(max_steps=1), False)


def _split_by_predicted_regime(folder: Path, part) -> float:
    """The largest gap, over experts and pairs of predicted regimes, between the mean weights."""
    model, _, _ = load_checkpoint(folder)
    with torch.no_grad():
        out = model(model.encode_observations(part.observations(np.arange(len(part)))))
    predicted = out.regime_logits.argmax(dim=1)
    means = torch.stack([out.expert_weights[predicted == r].mean(0) for r in predicted.unique()])
    return float((means.max(0).values - means.min(0).values).max())


def test_the_regime_spread_bonus_makes_the_router_split_capital_by_regime(
    regime_dataset, sft, tmp_path
):
    plain = train_ppo(regime_dataset, sft, tmp_path / "plain", PPOConfig(max_steps=40), False)
    bonus = PPOConfig(max_steps=40, regime_spread=5.0)
    spread = train_ppo(regime_dataset, sft, tmp_path / "spread", bonus, False)

    train = regime_dataset.split("train")
    split = _split_by_predicted_regime
    assert split(spread, train) > split(plain, train) + 0.1
    # an older checkpoint's recipe, saved before the option existed, reads back as "off"
    saved = read_meta(plain)["extra"]["ppo_config"]
    del saved["regime_spread"]
    assert from_saved(PPOConfig, saved, "retrain").regime_spread == 0.0

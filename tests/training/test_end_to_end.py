import pytest

from bot.core.observation import build_observation
from bot.model.checkpoint import init_checkpoint, load_checkpoint
from strategies import STRATEGIES


def test_real_bars_to_a_decision_from_an_untrained_checkpoint(spx, tmp_path):
    observation = build_observation(spx.iloc[:500])
    model, _, stats = load_checkpoint(init_checkpoint(tmp_path / "ckpt"))

    decision = model.decide(observation)

    assert stats is None
    assert list(decision["weights"]) == [spec.name for spec in STRATEGIES]
    assert sum(decision["weights"].values()) == pytest.approx(1.0)
    assert all(0.0 <= w <= 1.0 for w in decision["weights"].values())

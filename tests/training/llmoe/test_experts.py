"""FNN experts and the Table 1 baselines: they train, predict and use their routing."""

import numpy as np
import pytest

from training.llmoe.baselines import LLMOE_BASELINES, Split
from training.llmoe.experts import FitConfig, fnn, train_experts

FAST = FitConfig(epochs=30)


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 55)).astype(np.float32)
    regime = x[:, 0] > 0  # the routing signal
    # The label follows input 1 in one regime and input 2 in the other: each expert must learn
    # its own rule.
    y = np.where(regime, x[:, 1] > 0, x[:, 2] > 0).astype(np.float32)
    return x, y, regime


def test_the_expert_network_has_the_papers_shape():
    net = fnn(55)

    widths = [layer.out_features for layer in net if hasattr(layer, "out_features")]
    rates = [layer.p for layer in net if hasattr(layer, "p")]
    assert widths == [128, 64, 32, 1] and rates == [0.3, 0.2]


def test_routed_experts_each_learn_their_regime_and_are_selected_by_it():
    x, y, regime = _data(800)
    test_x, test_y, test_regime = _data(400, seed=1)

    experts = train_experts(x, y, regime, FAST, seed=0)
    routed = experts.predict(test_x, test_regime)
    swapped = experts.predict(test_x, ~test_regime)

    assert np.mean((routed > 0.5) == test_y) > 0.8
    assert np.mean((swapped > 0.5) == test_y) < 0.65  # the wrong expert is no better than luck


def test_an_expert_without_enough_samples_answers_the_base_rate():
    x, y, _ = _data(100)

    experts = train_experts(x, y, np.zeros(100, dtype=bool), FAST, seed=0)

    assert experts.optimistic is None
    np.testing.assert_allclose(experts.predict(x[:3], np.ones(3, dtype=bool)), np.mean(y))


@pytest.mark.parametrize(
    ("name", "model"), LLMOE_BASELINES, ids=[name for name, _ in LLMOE_BASELINES]
)
def test_each_baseline_learns_a_simple_rule(name, model):
    x, y, _ = _data(600)
    y = (x[:, 1] + x[:, 3] > 0).astype(np.float32)
    test_x, _, _ = _data(200, seed=1)
    split = Split(x, y, test_x, days=5)

    p = model(split, FitConfig(epochs=15), 0)

    assert p.shape == (200,) and np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == (test_x[:, 1] + test_x[:, 3] > 0)) > 0.7

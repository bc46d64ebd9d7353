import dataclasses

import numpy as np

from bot.core.features import FEATURE_NAMES, LOOKBACK
from bot.model.attribution import chart_occlusion, feature_attributions


def test_feature_attributions_are_the_strongest_gradient_x_input(compact_model, observation):
    result = feature_attributions(compact_model, observation, top=5)

    assert len(result) == 5
    assert all(name in FEATURE_NAMES for name, _, _ in result)
    assert all(-(LOOKBACK - 1) <= offset <= 0 for _, offset, _ in result)
    magnitudes = [abs(score) for _, _, score in result]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert magnitudes[0] > 0


def test_zero_features_have_no_attribution(compact_model, observation):
    blank = dataclasses.replace(observation, features=np.zeros_like(observation.features))

    result = feature_attributions(compact_model, blank, top=3)

    assert [score for _, _, score in result] == [0.0, 0.0, 0.0]


def test_occlusion_of_a_real_chart_moves_the_weight(compact_model, observation):
    drops = chart_occlusion(compact_model, observation, grid=4)

    assert drops.shape == (4, 4)
    assert np.abs(drops).max() > 1e-4


def test_occlusion_of_a_blank_chart_changes_nothing(compact_model, observation):
    blank = dataclasses.replace(observation, global_view=np.full_like(observation.global_view, 200))

    drops = chart_occlusion(compact_model, blank, grid=3)

    assert drops.shape == (3, 3)
    assert np.abs(drops).max() < 1e-6  # batch-size rounding only

import json

import numpy as np
import pytest

from bot.core.errors import ConfigError, DataError
from bot.core.features import (
    FEATURE_NAMES,
    LOOKBACK,
    REQUIRED_BARS,
    FeatureStats,
    compute_indicators,
    raw_features,
)
from bot.core.observation import build_observation
from tests.support.series import trending_bars


def _raw_matrices(frame, ends):
    return [raw_features(compute_indicators(frame.iloc[:end])) for end in ends]


def test_feature_schema_is_table_12():
    assert FEATURE_NAMES == (
        "close", "high", "low", "open", "volume", "price_change", "amplitude",
        "ma10", "ma20", "ma100", "rsi", "boll_upper", "boll_middle", "boll_lower",
        "kdj_k", "kdj_d", "kdj_j",
    )  # fmt: skip
    assert LOOKBACK == 100
    assert REQUIRED_BARS >= 2 * LOOKBACK


def test_raw_features_are_relative_to_the_decision_close(spx):
    # Arrange
    window = spx.iloc[:REQUIRED_BARS]
    close = window["close"].to_numpy()

    # Act
    raw = raw_features(compute_indicators(window))

    # Assert
    column = {name: raw[:, i] for i, name in enumerate(FEATURE_NAMES)}
    assert raw.shape == (LOOKBACK, len(FEATURE_NAMES))
    np.testing.assert_allclose(column["close"], close[-LOOKBACK:] / close[-1] - 1.0)
    np.testing.assert_allclose(column["price_change"], close[-LOOKBACK:] / close[-101:-1] - 1)
    np.testing.assert_allclose(column["ma100"][-1], close[-100:].mean() / close[-1] - 1.0)
    assert column["volume"].mean() == pytest.approx(1.0)
    assert np.all((column["rsi"] >= 0) & (column["rsi"] <= 100))


def test_raw_features_do_not_depend_on_price_or_volume_scale(spx):
    # Arrange
    window = spx.iloc[:REQUIRED_BARS]
    scaled = window * 1000.0

    # Act
    raw, raw_scaled = (raw_features(compute_indicators(f)) for f in (window, scaled))

    # Assert
    np.testing.assert_allclose(raw_scaled, raw, rtol=1e-9, atol=1e-9)


def test_too_few_bars_is_a_data_error_naming_the_count(spx):
    with pytest.raises(DataError, match=f"needs {REQUIRED_BARS} bars.*but {REQUIRED_BARS - 1}"):
        build_observation(spx.iloc[: REQUIRED_BARS - 1])


@pytest.mark.parametrize("column", ["close", "volume", "high"])
def test_nan_in_the_window_is_a_data_error(spx, column):
    # Arrange
    bars = spx.iloc[:REQUIRED_BARS].copy()
    bars.iloc[-5, bars.columns.get_loc(column)] = np.nan

    # Act / Assert
    with pytest.raises(DataError, match="not finite"):
        build_observation(bars)


def test_zero_close_is_a_data_error(spx):
    bars = spx.iloc[:REQUIRED_BARS].copy()
    bars.iloc[-1, bars.columns.get_loc("close")] = 0.0
    with pytest.raises(DataError, match="not finite"):
        build_observation(bars)


def test_stats_round_trip_through_json_exactly(spx):
    # Arrange
    stats = FeatureStats.fit(_raw_matrices(spx, range(REQUIRED_BARS, len(spx), 50)))

    # Act
    restored = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))

    # Assert
    assert restored.mean.tobytes() == stats.mean.tobytes()
    assert restored.std.tobytes() == stats.std.tobytes()


def test_fitted_stats_standardise_their_own_rows(spx):
    # Arrange
    matrices = _raw_matrices(spx, range(REQUIRED_BARS, len(spx), 100))

    # Act
    stats = FeatureStats.fit(matrices)
    standardised = np.concatenate([stats.apply(m) for m in matrices])

    # Assert
    assert standardised.dtype == np.float32
    np.testing.assert_allclose(standardised.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(axis=0), 1.0, atol=1e-4)


def test_build_observation_uses_the_given_stats(spx):
    # Arrange
    bars = spx.iloc[: REQUIRED_BARS + 40]
    stats = FeatureStats(mean=np.arange(17.0), std=np.full(17, 2.0))
    raw = raw_features(compute_indicators(bars))

    # Act
    features = build_observation(bars, stats).features

    # Assert
    np.testing.assert_array_equal(features, ((raw - np.arange(17.0)) / 2.0).astype(np.float32))


def test_without_stats_each_column_is_standardised_over_its_window(spx):
    features = build_observation(spx.iloc[:REQUIRED_BARS]).features
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(features.std(axis=0), 1.0, atol=1e-4)


def test_a_constant_feature_gets_unit_std():
    # Arrange: a bar frame whose volume never changes
    bars = trending_bars(0.001)
    bars["volume"] = 5.0

    # Act
    stats = FeatureStats.fit(_raw_matrices(bars, [REQUIRED_BARS, len(bars)]))

    # Assert
    assert stats.std[FEATURE_NAMES.index("volume")] == 1.0


def test_stats_of_another_schema_are_refused(spx):
    data = FeatureStats(mean=np.zeros(17), std=np.ones(17)).to_dict()
    data["features"] = data["features"][::-1]
    with pytest.raises(ConfigError, match="refit"):
        FeatureStats.from_dict(data)


@pytest.mark.parametrize("std", [np.ones(16), np.zeros(17), np.full(17, np.nan)])
def test_malformed_stats_are_refused(std):
    with pytest.raises(ConfigError):
        FeatureStats(mean=np.zeros(len(std)) if len(std) == 17 else np.zeros(17), std=std)


def test_fitting_on_nan_matrices_is_refused():
    with pytest.raises(DataError, match="NaN"):
        FeatureStats.fit([np.full((LOOKBACK, 17), np.nan)])

"""Table 3 features: formulas, no look-ahead, windows and train-only standardisation."""

import numpy as np
import pandas as pd
import pytest

from training.llmoe.features import (
    FEATURES,
    Standardizer,
    build_samples,
    daily_features,
    next_day_up,
)


@pytest.fixture
def bars():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    index = pd.date_range("2021-01-04", periods=120, freq="B", tz="UTC")
    open_ = close * (1 + rng.normal(0, 0.003, 120))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": 1e6,
        },
        index=index,
    )


def test_features_at_t_equal_those_from_bars_truncated_at_t(bars):
    full = daily_features(bars)

    for t in (40, 77, 119):
        truncated = daily_features(bars.iloc[: t + 1])
        pd.testing.assert_series_equal(full.iloc[t], truncated.iloc[-1])


def test_the_formulas_of_table_3(bars):
    features = daily_features(bars)
    t = 50
    close = bars["close"]

    assert features["z_open"].iloc[t] == pytest.approx(bars["open"].iloc[t] / close.iloc[t] - 1)
    assert features["z_close"].iloc[t] == pytest.approx(close.iloc[t] / close.iloc[t - 1] - 1)
    ma20 = close.iloc[t - 19 : t + 1].mean()
    assert features["zd_20"].iloc[t] == pytest.approx(ma20 / close.iloc[t] - 1)
    assert features["z_adjclose"].iloc[t] == features["z_close"].iloc[t]  # adjusted bars


def test_samples_are_5_day_windows_labelled_with_the_next_day(bars):
    samples = build_samples(bars)
    labels = next_day_up(bars)

    assert samples.windows.shape[1:] == (5, len(FEATURES))
    assert samples.flat().shape[1] == 55
    assert samples.days[0] == bars.index[29 + 4]  # zd_30 needs 30 days, the window 5
    assert samples.days[-1] == bars.index[-2]  # the last day has no label
    i = 10
    position = bars.index.get_loc(samples.days[i])
    np.testing.assert_array_equal(
        samples.windows[i], daily_features(bars).iloc[position - 4 : position + 1].to_numpy()
    )
    assert samples.labels[i] == labels.iloc[position]


def test_standardisation_uses_only_the_rows_it_was_fitted_on():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])

    scaler = Standardizer.fit(train)

    np.testing.assert_allclose(scaler.apply(np.array([[2.0, 5.0], [4.0, 6.0]])), [[0, 0], [2, 1]])

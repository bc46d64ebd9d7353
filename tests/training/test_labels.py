import numpy as np
import pandas as pd
import pytest

from bot.core.errors import ConfigError
from bot.model.router_model import REGIMES
from tests.support.series import regime_switching_frame
from training.labels import (
    CONSOLIDATION,
    DOWNTREND,
    NO_LABEL,
    UPTREND,
    regime_labels,
    trend_bars,
)

WARMUP = 40  # ADX(14) needs about 2 x 14 bars; MA20 20


def _frame(close: np.ndarray) -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=len(close), tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1e3},
        index=index,
    )


def test_codes_follow_the_model_regime_order():
    assert [REGIMES[c] for c in (UPTREND, DOWNTREND, CONSOLIDATION)] == [
        "uptrend",
        "downtrend",
        "consolidation",
    ]


def test_steady_rise_is_up_and_labelled_uptrend():
    frame = _frame(100.0 + np.arange(120.0))

    up, down = trend_bars(frame)
    labels = regime_labels(frame, horizon=10)

    assert up[WARMUP:].all() and not down.any()
    assert (labels[WARMUP:-10] == UPTREND).all()


def test_steady_fall_is_down_and_labelled_downtrend():
    frame = _frame(300.0 - np.arange(120.0))

    up, down = trend_bars(frame)
    labels = regime_labels(frame, horizon=10)

    assert down[WARMUP:].all() and not up.any()
    assert (labels[WARMUP:-10] == DOWNTREND).all()


def test_zigzag_without_trend_is_consolidation():
    frame = _frame(100.0 + np.tile([0.0, 1.0], 60))

    up, down = trend_bars(frame)
    labels = regime_labels(frame, horizon=10)

    assert not up.any() and not down.any()
    assert (labels[:-10] == CONSOLIDATION).all()


def test_label_counts_the_h_bars_after_t_with_half_or_more_deciding():
    frame, _ = regime_switching_frame(600, seed=7, segment=40)
    horizon = 12
    up, down = trend_bars(frame)

    labels = regime_labels(frame, horizon)

    for t in range(len(frame) - horizon):
        ups, downs = up[t + 1 : t + 1 + horizon].sum(), down[t + 1 : t + 1 + horizon].sum()
        expected = UPTREND if ups >= 6 else DOWNTREND if downs >= 6 else CONSOLIDATION
        assert labels[t] == expected, t
    assert set(np.unique(labels[:-horizon])) == {UPTREND, DOWNTREND, CONSOLIDATION}


def test_bars_without_a_full_window_get_no_label():
    frame, _ = regime_switching_frame(200, seed=1)

    labels = regime_labels(frame, horizon=30)

    assert (labels[-30:] == NO_LABEL).all()
    assert (labels[:-30] != NO_LABEL).all()
    assert (regime_labels(frame.iloc[:20], horizon=30) == NO_LABEL).all()


def test_label_ignores_bars_after_its_window():
    frame, _ = regime_switching_frame(300, seed=2)
    t, horizon = 150, 20
    cut = t + horizon + 1
    changed = frame.copy()
    rise = frame["close"].iloc[cut - 1] * (1.0 + 0.01 * np.arange(1, len(frame) - cut + 1))
    changed.iloc[cut:] = _frame(rise).to_numpy()

    assert regime_labels(changed, horizon)[t] == regime_labels(frame, horizon)[t]
    assert not np.array_equal(regime_labels(changed, horizon), regime_labels(frame, horizon))


def test_horizon_must_be_positive():
    frame, _ = regime_switching_frame(100, seed=0)

    with pytest.raises(ConfigError, match="horizon"):
        regime_labels(frame, horizon=0)


def test_synthetic_regimes_are_recovered_by_the_labels():
    frame, regimes = regime_switching_frame(2000, seed=3)
    horizon = 20
    labels = regime_labels(frame, horizon)
    majority = np.array(
        [np.bincount(regimes[t + 1 : t + 1 + horizon], minlength=3).argmax() for t in range(1980)]
    )

    agreement = (labels[:1980] == majority).mean()

    assert agreement > 0.75

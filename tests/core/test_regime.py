"""The regime rule on past bars (`bot.core.regime.trailing_regimes`) and its tie to the labels."""

import numpy as np
import pandas as pd
import pytest

from bot.core.errors import ConfigError
from bot.core.regime import (
    CONSOLIDATION,
    DOWNTREND,
    NO_LABEL,
    REGIMES,
    UPTREND,
    WARMUP_BARS,
    trailing_regimes,
    trend_bars,
)
from tests.support.series import regime_switching_frame
from training.labels import regime_labels


def _frame(close: np.ndarray) -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=len(close), tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1e3},
        index=index,
    )


def test_codes_are_the_models_regime_order():
    from bot.model.router_model import REGIMES as MODEL_REGIMES

    assert REGIMES == MODEL_REGIMES
    assert [REGIMES[c] for c in (UPTREND, DOWNTREND, CONSOLIDATION)] == list(MODEL_REGIMES)


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        (100.0 + np.arange(150.0), UPTREND),
        (300.0 - np.arange(150.0), DOWNTREND),
        (100.0 + np.tile([0.0, 1.0], 75), CONSOLIDATION),
    ],
    ids=["rise", "fall", "zigzag"],
)
def test_clean_histories_get_their_regime_once_warm(close, expected):
    horizon = 10

    regimes = trailing_regimes(_frame(close), horizon)

    assert (regimes[: horizon - 1] == NO_LABEL).all()
    assert (regimes[WARMUP_BARS + horizon :] == expected).all()


def test_trailing_regime_counts_the_h_bars_up_to_t():
    frame, _ = regime_switching_frame(500, seed=7, segment=40)
    horizon = 12
    up, down = trend_bars(frame)

    regimes = trailing_regimes(frame, horizon)

    for t in range(horizon - 1, len(frame)):
        ups, downs = up[t - horizon + 1 : t + 1].sum(), down[t - horizon + 1 : t + 1].sum()
        expected = UPTREND if ups >= 6 else DOWNTREND if downs >= 6 else CONSOLIDATION
        assert regimes[t] == expected, t
    assert set(np.unique(regimes[horizon - 1 :])) == {UPTREND, DOWNTREND, CONSOLIDATION}


def test_trailing_regime_is_the_forward_label_shifted_by_the_horizon():
    frame, _ = regime_switching_frame(400, seed=4)
    horizon = 15

    trailing, forward = trailing_regimes(frame, horizon), regime_labels(frame, horizon)

    # The H bars after t are the H bars up to t + H.
    np.testing.assert_array_equal(trailing[2 * horizon :], forward[horizon:-horizon])


def test_no_look_ahead_changing_later_bars_keeps_every_earlier_regime():
    frame, _ = regime_switching_frame(400, seed=2)
    t, horizon = 250, 20
    changed = frame.copy()
    changed.iloc[t + 1 :] = changed.iloc[t + 1 :].to_numpy()[::-1]  # a different future

    before, after = trailing_regimes(frame, horizon), trailing_regimes(changed, horizon)

    np.testing.assert_array_equal(before[: t + 1], after[: t + 1])
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(trailing_regimes(frame.iloc[: t + 1], horizon), before[: t + 1])


def test_horizon_must_be_positive():
    with pytest.raises(ConfigError, match="horizon"):
        trailing_regimes(_frame(100.0 + np.arange(50.0)), 0)

import dataclasses

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bot.core.bars import from_nautilus_bars
from bot.core.errors import ConfigError, DataError
from bot.core.features import LOOKBACK, REQUIRED_BARS
from bot.core.observation import Account, BarHistory, ObservationConfig, build_observation
from bot.engine.catalog import to_nautilus_bars
from bot.engine.instruments import make_instrument
from strategies import STRATEGIES
from tests.support.series import trending_bars
from training import dataset, dataset_samples
from training.dataset_config import DatasetConfig

DECISIONS = (REQUIRED_BARS - 1, REQUIRED_BARS + 57, 600)
CUT = REQUIRED_BARS + 30  # the decision bar t of the look-ahead tests
OBSERVED = (REQUIRED_BARS - 1, CUT - 7, CUT, CUT + 1, CUT + 40)  # decision bars they build
_HONEST_INDICATORS = dataset_samples.compute_indicators


def _assert_identical(a, b):
    assert a.ts == b.ts
    for name in ("global_view", "local_view", "features"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert (a.summary, a.prompt, a.digest()) == (b.summary, b.prompt, b.digest())


def test_dataset_and_bar_by_bar_paths_give_identical_observations(spx_nautilus):
    # Arrange
    bars, frame = spx_nautilus
    history = BarHistory(REQUIRED_BARS)
    live = {}

    # Act: the live path, one bar at a time
    for position, bar in enumerate(bars[: max(DECISIONS) + 1]):
        history.push(bar)
        if position in DECISIONS:
            live[position] = build_observation(history.frame())

    # Assert: the dataset path slices the whole frame
    for position in DECISIONS:
        _assert_identical(build_observation(frame.iloc[: position + 1]), live[position])


def test_history_frame_is_from_nautilus_bars_of_the_last_maxlen_bars(spx_nautilus):
    # Arrange
    bars, _ = spx_nautilus
    history = BarHistory(30)

    # Act
    for bar in bars[:100]:
        history.push(bar)

    # Assert
    expected = from_nautilus_bars(bars[70:100], "1d")
    pd.testing.assert_frame_equal(history.frame(), expected, check_exact=True)
    assert history.frame().to_numpy().tobytes() == expected.to_numpy().tobytes()
    assert len(history) == 30


def test_history_ignores_a_replayed_bar(spx_nautilus):
    bars, _ = spx_nautilus
    history = BarHistory(10)
    for bar in [*bars[:5], bars[3], bars[4]]:
        history.push(bar)
    pd.testing.assert_frame_equal(history.frame(), from_nautilus_bars(bars[:5], "1d"))


def test_history_refuses_another_bar_type(spx_nautilus):
    # Arrange
    bars, frame = spx_nautilus
    other = to_nautilus_bars(frame.iloc[:2], make_instrument("QQQ", "equity"), "1d")
    history = BarHistory(10)
    history.push(bars[0])

    # Act / Assert
    with pytest.raises(DataError, match="one history per bar type"):
        history.push(other[1])


def test_empty_history_frame_has_the_bar_columns():
    frame = BarHistory().frame()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"] and frame.empty


def _reshaped_after(bars, t):
    """`bars` with every bar after position t changed: prices 30% up with noise, volume shuffled."""
    rng = np.random.default_rng(3)
    reshaped = bars.copy()
    later = reshaped.index[t + 1 :]
    factor = 1.3 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(later))))
    for column in ("open", "high", "low", "close"):
        reshaped.loc[later, column] = (reshaped.loc[later, column] * factor).round(2)
    reshaped.loc[later, "volume"] = rng.permutation(reshaped.loc[later, "volume"].to_numpy())
    return reshaped


def _dataset_observations(bars, root):
    """What the dataset path (`training.dataset`'s chunks of decisions, cut from the WHOLE
    frame, drawn by `training.dataset_samples.draw`) stores for each bar of OBSERVED: the two
    chart files (named by their pixels' sha-256), summary, prompt and raw feature matrix, one
    row per decision bar t."""
    config = DatasetConfig(symbols=("SPX",))
    plan = pd.DataFrame({"t": OBSERVED, "split": "train", "label": 0})
    asset = dataset._Asset("SPX", "index", bars, None)
    drawn = [dataset_samples.draw(chunk) for chunk in dataset._chunks(config, asset, plan)]
    (root / "charts").mkdir(parents=True)
    samples, raws = dataset._samples(drawn, root)
    samples["features"] = [raw.tobytes() for raw in raws]
    columns = ["ts", "global_chart", "local_chart", "summary", "prompt", "features"]
    return samples.set_index("t")[columns]


def _changed_decisions(before, after):
    """The decision bars t whose stored observation is not bit-identical in the two builds."""
    return [int(t) for t in before.index[(before != after).any(axis=1)]]


def _reading_one_bar_past_t(monkeypatch, whole):
    """A deliberate leak: the dataset's observation at t is built from the bars up to t+1."""

    def leaky(window):
        end = whole.index.get_loc(window.index[-1]) + 1
        return _HONEST_INDICATORS(whole.iloc[: end + 1])

    monkeypatch.setattr(dataset_samples, "compute_indicators", leaky)


def test_changing_bars_after_t_leaves_the_dataset_observation_at_t_unchanged(
    spx_nautilus, tmp_path
):
    # Arrange
    _, frame = spx_nautilus
    before = _dataset_observations(frame, tmp_path / "before")

    # Act
    after = _dataset_observations(_reshaped_after(frame, CUT), tmp_path / "after")

    # Assert: bit-identical up to t; the decisions after t do see the changed bars
    assert _changed_decisions(before, after) == [CUT + 1, CUT + 40]


def test_the_look_ahead_check_catches_a_dataset_reading_one_bar_past_t(
    spx_nautilus, tmp_path, monkeypatch
):
    # Arrange
    _, frame = spx_nautilus
    reshaped = _reshaped_after(frame, CUT)
    _reading_one_bar_past_t(monkeypatch, frame)
    before = _dataset_observations(frame, tmp_path / "before")
    _reading_one_bar_past_t(monkeypatch, reshaped)

    # Act
    after = _dataset_observations(reshaped, tmp_path / "after")

    # Assert: the decision at t now differs (the one before it still reads only bars <= t)
    assert _changed_decisions(before, after) == [CUT, CUT + 1, CUT + 40]


def test_mutating_bar_t_changes_every_part_of_the_observation(spx):
    # Arrange
    t = REQUIRED_BARS + 30
    before = build_observation(spx.iloc[: t + 1])
    mutated = spx.iloc[: t + 1].copy()
    mutated.iloc[-1, mutated.columns.get_loc("close")] *= 1.03
    mutated.iloc[-1, mutated.columns.get_loc("high")] *= 1.03

    # Act
    after = build_observation(mutated)

    # Assert
    for name in ("global_view", "local_view", "features"):
        assert not np.array_equal(getattr(before, name), getattr(after, name)), name
    assert before.summary != after.summary and before.digest() != after.digest()


def test_only_the_last_required_bars_are_read(spx):
    # Arrange: corrupt a bar just older than the tail the observation uses
    bars = spx.iloc[: REQUIRED_BARS + 10].copy()
    expected = build_observation(bars)
    bars.iloc[9] = np.nan

    # Act / Assert
    _assert_identical(build_observation(bars), expected)


def test_shapes_dtypes_and_timestamp(spx):
    # Arrange
    bars = spx.iloc[: REQUIRED_BARS + 5]

    # Act
    observation = build_observation(bars, config=ObservationConfig(image_size=448))

    # Assert
    assert observation.ts == bars.index[-1].value and isinstance(observation.ts, int)
    assert observation.global_view.shape == observation.local_view.shape == (448, 448, 3)
    assert observation.global_view.dtype == observation.local_view.dtype == np.uint8
    assert observation.features.shape == (LOOKBACK, 17)
    assert observation.features.dtype == np.float32
    assert not observation.features.flags.writeable


def test_the_views_are_a_chart_and_its_right_side(spx):
    # Arrange
    bars = spx.iloc[: REQUIRED_BARS + 5]

    # Act
    zoomed = build_observation(bars)
    whole = build_observation(bars, config=ObservationConfig(alpha=1.0))

    # Assert: alpha 1 crops nothing; alpha changes only the local view
    assert whole.local_view.tobytes() == whole.global_view.tobytes()
    assert zoomed.global_view.tobytes() == whole.global_view.tobytes()
    assert zoomed.local_view.tobytes() != zoomed.global_view.tobytes()
    # the chart is drawn in colour: green and red candles are both present
    pixels = zoomed.local_view.reshape(-1, 3).astype(int)
    assert np.any(pixels[:, 1] - pixels[:, 0] > 80) and np.any(pixels[:, 0] - pixels[:, 1] > 80)


@pytest.mark.parametrize("config", [{"image_size": 100}, {"image_size": 0}, {"alpha": 0.0}])
def test_bad_config_is_refused(config):
    with pytest.raises(ConfigError):
        ObservationConfig(**config)


def test_save_chart_writes_the_global_view_as_png(spx, tmp_path):
    observation = build_observation(spx.iloc[:REQUIRED_BARS])
    path = observation.save_chart(tmp_path / "charts" / "t.png")
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), observation.global_view)


def test_digest_covers_every_field(spx):
    # Arrange
    observation = build_observation(spx.iloc[:REQUIRED_BARS])
    features = observation.features.copy()
    features[0, 0] += 1.0

    # Act
    changed = [
        dataclasses.replace(observation, ts=observation.ts + 1),
        dataclasses.replace(observation, features=features),
        dataclasses.replace(observation, local_view=observation.global_view.copy()),
        dataclasses.replace(observation, summary=observation.summary + " "),
        dataclasses.replace(observation, prompt=observation.prompt + " "),
    ]

    # Assert
    digests = {observation.digest(), *(other.digest() for other in changed)}
    assert len(digests) == 6


def test_prompt_lists_the_strategies_by_expert_and_includes_the_summary(spx):
    # Arrange
    config = ObservationConfig(symbol="SPX")

    # Act
    observation = build_observation(spx.iloc[:REQUIRED_BARS], config=config)

    # Assert
    prompt = observation.prompt
    assert observation.summary in prompt and "SPX" in prompt
    for spec in STRATEGIES:
        heading = prompt.index(f"[{spec.expert.title()}")
        assert heading < prompt.index(f"- {spec.name}: ") < prompt.index("Market condition")
    assert "Market judgment:" in prompt
    assert "uptrend, downtrend or consolidation" in prompt


@pytest.mark.parametrize(("drift", "order"), [(0.004, "bullish"), (-0.004, "bearish")])
def test_summary_reads_the_trend(drift, order):
    # Arrange
    bars = trending_bars(drift)
    close = bars["close"].to_numpy()

    # Act
    summary = build_observation(bars).summary

    # Assert
    assert f"Moving averages: {order} order" in summary
    assert f"Latest return: {close[-1] / close[-2] - 1:+.2%}" in summary
    for key in ("Price amplitude", "Volume ratio", "Historical volatility", "ATR(14)", "RSI(14)",
                "Bollinger band width", "Volatility:", "Market summary:"):  # fmt: skip
        assert key in summary


def test_the_account_line_follows_the_current_price_as_in_listing_3(spx):
    account = Account(balance=85000.0, units=0.5, total=119250.25)

    prompt = build_observation(spx.iloc[:REQUIRED_BARS], account=account).prompt.splitlines()

    assert prompt[1].startswith("Current price: ")
    assert prompt[2] == "Account balance: $85000.00, Shares held: 0.5, Total value: $119250.25"

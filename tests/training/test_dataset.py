import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bot.core.bars import from_nautilus_bars
from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS, FeatureStats
from bot.core.observation import ObservationConfig, build_observation
from bot.core.settings_loader import load_settings
from bot.engine.catalog import to_nautilus_bars
from bot.engine.data import load_bars
from bot.engine.instruments import make_instrument
from strategies import strategy_names
from tests.support.series import regime_switching_frame
from training.dataset import DATASET_ACCOUNT, _Asset, _plan, build_dataset
from training.dataset_config import SPLITS, DatasetConfig
from training.labels import regime_labels
from training.router_dataset import RouterDataset

H, STRIDE, SIZE, BARS = 10, 10, 56, 700
SYMBOLS = ("SYN", "TWIN")  # the same bars under two names: their charts must be shared


def _config(**changes) -> DatasetConfig:
    base = {
        "symbols": SYMBOLS,
        "horizon": H,
        "stride": STRIDE,
        "window": STRIDE,
        "image_size": SIZE,
        "workers": 2,
    }
    return DatasetConfig(**(base | changes))


def _engine_bars(dataset: RouterDataset, symbol: str) -> pd.DataFrame:
    """The bars a backtest engine trades: loaded from the build's catalog, at the instrument's
    precision."""
    loaded = load_bars(symbol, "1d", catalog_dir=dataset.root / "catalog")
    instrument = make_instrument(symbol, "index")
    return from_nautilus_bars(to_nautilus_bars(loaded, instrument, "1d"), "1d")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return regime_switching_frame(BARS, seed=11, segment=60)[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory, frame) -> RouterDataset:
    out = tmp_path_factory.mktemp("dataset")
    build_dataset(_config(), out, frames={s: (frame, "index") for s in SYMBOLS}, progress=False)
    return RouterDataset.load(out)


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory, frame, built) -> RouterDataset:
    """The same bars, except every bar after the train split's last label window is scaled."""
    train = built.samples[built.samples["split"] == "train"]
    cut = int(train["t"].max()) + H + 1
    changed = frame.copy()
    changed.iloc[cut:, :4] *= np.linspace(1.0, 1.5, BARS - cut)[:, None]
    out = tmp_path_factory.mktemp("perturbed")
    build_dataset(_config(), out, frames={s: (changed, "index") for s in SYMBOLS}, progress=False)
    return RouterDataset.load(out)


def test_every_observation_equals_one_built_from_bars_up_to_t(built, frame):
    for symbol in SYMBOLS:
        rounded = _engine_bars(built, symbol)
        assert (rounded - frame).abs().to_numpy().max() <= 0.01  # within a tick of the input
        config = ObservationConfig(SIZE, 0.25, symbol)
        rows = np.flatnonzero(built.samples["symbol"] == symbol)
        for sample, stored in zip(
            built.samples.iloc[rows].itertuples(), built.observations(rows), strict=True
        ):
            window = rounded.iloc[: sample.t + 1]
            expected = build_observation(window, built.stats, config, DATASET_ACCOUNT)

            assert stored.ts == expected.ts == rounded.index[sample.t].value
            assert np.array_equal(stored.global_view, expected.global_view)
            assert np.array_equal(stored.local_view, expected.local_view)
            assert (stored.summary, stored.prompt) == (expected.summary, expected.prompt)
            # features.npy holds float32 raw matrices, standardised on reading
            np.testing.assert_allclose(stored.features, expected.features, atol=1e-4)


def test_decisions_start_at_required_bars_every_stride_with_forward_labels(built, frame):
    for symbol in SYMBOLS:
        mine = built.samples[built.samples["symbol"] == symbol].sort_values("t")
        labels = regime_labels(_engine_bars(built, symbol), H)

        assert mine["t"].min() == REQUIRED_BARS - 1
        assert set(np.diff(mine["t"])) <= {STRIDE, 2 * STRIDE}  # 2x where a purge dropped one
        assert mine["t"].max() + max(H, STRIDE) <= BARS - 1
        assert np.array_equal(mine["label"], labels[mine["t"]])
        interval = pd.Timedelta(days=1).value
        assert np.array_equal(mine["ts"], frame.index[mine["t"]].asi8 + interval)


def test_splits_are_time_ordered_and_purged_by_the_horizon(built):
    for symbol in SYMBOLS:
        mine = built.samples[built.samples["symbol"] == symbol]
        t = {name: mine.loc[mine["split"] == name, "t"] for name in SPLITS}
        counts = np.array([len(t[name]) for name in SPLITS])

        # A label window t+1 .. t+H never reaches the next split's first decision bar.
        assert t["train"].max() + H < t["val"].min()
        assert t["val"].max() + H < t["test"].min()
        # No test bar comes within H bars of any bar a training sample read, labels included.
        assert t["test"].min() - (t["train"].max() + H) > H
        assert counts.min() > 0 and counts[0] > 2 * max(counts[1:])


def test_split_and_episodes_partition_the_samples(built):
    parts = [built.split(name) for name in SPLITS]

    assert sum(len(p) for p in parts) == len(built)
    for name, part in zip(SPLITS, parts, strict=True):
        episodes = built.episodes(name)
        assert len(episodes) == len(SYMBOLS)
        assert set(np.concatenate(episodes)) == set(np.flatnonzero(built.samples["split"] == name))
        for rows in episodes:
            assert built.samples["symbol"].iloc[rows].nunique() == 1
            assert (np.diff(built.samples["t"].iloc[rows]) == STRIDE).all()
        assert (part.samples["split"] == name).all()
        assert np.array_equal(part.labels, built.labels[built.samples["split"] == name])


def test_stats_come_from_train_samples_only(built, perturbed):
    train = built.samples["split"] == "train"
    val = np.flatnonzero(built.samples["split"] == "val")

    refit = FeatureStats.fit(built.raw_features(np.flatnonzero(train)).astype(np.float64))

    assert not np.array_equal(perturbed.raw_features(val), built.raw_features(val))
    assert np.array_equal(perturbed.stats.mean, built.stats.mean)
    assert np.array_equal(perturbed.stats.std, built.stats.std)
    np.testing.assert_allclose(built.stats.mean, refit.mean)
    everything = FeatureStats.fit(built.raw_features(np.arange(len(built))).astype(np.float64))
    assert not np.allclose(everything.mean, built.stats.mean)


def test_charts_are_cached_once_by_pixel_hash(built):
    files = sorted((built.root / "charts").glob("*.png"))
    syn = built.samples[built.samples["symbol"] == "SYN"].set_index("t")
    twin = built.samples[built.samples["symbol"] == "TWIN"].set_index("t")

    assert syn["global_chart"].equals(twin["global_chart"])
    assert syn["local_chart"].equals(twin["local_chart"])
    assert len(files) == len(set(built.samples["global_chart"]) | set(built.samples["local_chart"]))
    assert len(files) == 2 * len(syn)
    for path in files[:10]:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert path.stem == hashlib.sha256(pixels.tobytes()).hexdigest()


def test_window_returns_compound_the_stored_paths(built, frame):
    rows = np.arange(len(built))
    stored = {s: pd.read_parquet(built.root / "returns" / f"{s}.parquet") for s in SYMBOLS}

    compounded = built.window_returns(rows)

    assert compounded.shape == (len(built), len(strategy_names()))
    for row, sample in zip(rows, built.samples.itertuples(), strict=True):
        path = stored[sample.symbol].iloc[sample.t + 1 : sample.t + 1 + STRIDE]
        assert list(path.columns) == list(strategy_names())
        np.testing.assert_allclose(compounded[row], (1 + path).prod().to_numpy() - 1, atol=1e-12)
    assert (compounded[:, strategy_names().index("Cash")] == 0).all()
    assert np.ptp(compounded, axis=0).max() > 0.01  # the strategies really traded


def test_stored_paths_are_aligned_with_the_bars(built, frame):
    paths = pd.read_parquet(built.root / "returns" / "SYN.parquet")
    hold = _engine_bars(built, "SYN")["close"].pct_change()
    held = paths.index[300:]

    correlation = np.corrcoef(paths.loc[held, "LongOnly"], hold.loc[held])[0, 1]

    assert paths.index.equals(frame.index)
    assert correlation > 0.99
    np.testing.assert_allclose(built.hold_paths([0])[0], hold.iloc[250:260].to_numpy())


def test_meta_records_config_splits_and_stats(built):
    meta = built.meta
    config = _config()
    train = built.samples[(built.samples["symbol"] == "SYN") & (built.samples["split"] == "train")]

    assert meta["config_hash"] == config.digest()
    assert built.config == config
    assert [row["name"] for row in meta["strategy_table"]] == list(strategy_names())
    assert FeatureStats.from_dict(meta["stats"]).mean.tolist() == built.stats.mean.tolist()
    span = meta["symbols"]["SYN"]["splits"]["train"]
    assert span["samples"] == len(train)
    assert pd.Timestamp(span["last_decision"]).value == train["ts"].max() - 86_400 * 10**9
    assert json.loads((built.root / "meta.json").read_text()) == meta


def test_config_refuses_a_purge_shorter_than_the_horizon():
    with pytest.raises(ConfigError, match="purge"):
        _config(purge=H - 1)
    with pytest.raises(ConfigError, match="splits"):
        _config(splits=(0.5, 0.5, 0.5))


def test_the_default_label_horizon_is_the_router_window_and_the_setting_overrides_it(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # built-in defaults, no config file

    default = DatasetConfig.from_settings(load_settings(environ={}).settings)
    paper = DatasetConfig.from_settings(
        load_settings(cli={"train.horizon": 90}, environ={}).settings
    )

    assert default.horizon == default.window == default.purge_bars == 20
    assert paper.horizon == paper.purge_bars == 90
    assert paper.digest() != default.digest()


def test_calendar_cuts_split_every_symbol_on_the_same_dates(frame):
    """One calendar for all symbols (`bot train data`'s default): each split's decisions lie
    within its dates, train and validation labels end before the next split's first bar, and a
    symbol that ends early simply has no later split."""
    config = _config(cuts=("2002-03-01", "2002-11-01"))
    firsts = frame.index.searchsorted([pd.Timestamp(c, tz="UTC") for c in config.cuts])
    early = _Asset("EARLY", "index", frame.iloc[: firsts[1] - 5], None)
    full = _Asset("FULL", "index", frame, None)
    held = {}
    for asset in (early, full):
        plan = _plan(config, asset)
        held[asset.symbol] = set(plan["split"])
        t = {name: plan.loc[plan["split"] == name, "t"].to_numpy() for name in SPLITS}
        assert (t["train"] + H < firsts[0]).all() and (t["val"] >= firsts[0]).all()
        assert (t["val"] + H < firsts[1]).all() and (t["test"] >= firsts[1]).all()
    assert held == {"EARLY": {"train", "val"}, "FULL": {"train", "val", "test"}}
    # The test split starts at its cut date, not a purge gap later.
    assert _plan(config, full).query("split == 'test'")["t"].min() < firsts[1] + STRIDE


def test_share_splits_purge_by_the_held_window_when_it_outlasts_the_label(frame):
    # A decision's return window (window bars) reads further ahead than its label (horizon).
    config = _config(horizon=5, window=20)
    plan = _plan(config, _Asset("SYN", "index", frame, None))
    t = {name: plan.loc[plan["split"] == name, "t"] for name in SPLITS}

    assert t["train"].max() + 20 < t["val"].min()
    assert t["val"].max() + 20 < t["test"].min()


def test_share_splits_of_symbols_on_different_dates_are_refused(tmp_path, frame):
    # Each symbol's shares fall on its own dates: LATE would train on the days FULL tests on.
    frames = {"FULL": (frame, "index"), "LATE": (frame.iloc[200:], "index")}

    with pytest.raises(ConfigError, match="LATE's train windows reach .* FULL's val split"):
        build_dataset(_config(symbols=tuple(frames)), tmp_path, frames=frames, progress=False)


def test_calendar_cuts_must_leave_every_split_some_decisions(tmp_path, frame):
    with pytest.raises(ConfigError, match="cuts must be two dates"):
        _config(cuts=("2002-11-01", "2002-03-01"))
    late = _config(symbols=("SYN",), cuts=("2009-01-01", "2010-01-01"))
    with pytest.raises(DataError, match="No symbol has decisions in the val and test split"):
        build_dataset(late, tmp_path, frames={"SYN": (frame, "index")}, progress=False)


def test_too_short_history_is_refused(tmp_path, frame):
    short = frame.iloc[: REQUIRED_BARS + H - 1]

    with pytest.raises(DataError, match="SYN .*bars"):
        build_dataset(_config(symbols=("SYN",)), tmp_path, frames={"SYN": (short, "index")})


def test_an_empty_split_is_refused(tmp_path, frame):
    few = frame.iloc[: REQUIRED_BARS + 3 * STRIDE]  # three decisions: no room for validation

    with pytest.raises(DataError, match="val split is empty"):
        build_dataset(_config(symbols=("SYN",)), tmp_path, frames={"SYN": (few, "index")})


def test_non_finite_features_are_refused(tmp_path, frame):
    # Prices below the instrument's tick round to zero, as they would in the engine.
    tiny = frame.iloc[:400].copy()
    tiny.iloc[:, :4] *= 1e-5

    with pytest.raises(DataError, match="TINY at .*not finite"):
        build_dataset(
            _config(symbols=("TINY",), workers=1),
            tmp_path,
            frames={"TINY": (tiny, "index")},
            progress=False,
        )


def test_missing_frames_and_datasets_are_refused(tmp_path, frame):
    with pytest.raises(ConfigError, match="No frame given"):
        build_dataset(_config(), tmp_path, frames={"SYN": (frame, "index")})
    with pytest.raises(DataError, match="No dataset"):
        RouterDataset.load(tmp_path / "nowhere")

"""The dataset's return-path cache and its fanned-out observations: a build reuses the paths of
an earlier build over the same bars and settings, misses them when a fee or a bar changes,
rebuilds a corrupt entry, and draws the same samples in chunks on Ray as serially."""

from dataclasses import replace

import pandas as pd
import pytest
from structlog.testing import capture_logs

from bot.engine.backtest_request import BacktestRequest
from tests.support.series import regime_switching_frame
from training import dataset_samples
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig
from training.returns_cache import load_returns, returns_key

BARS = 330  # REQUIRED_BARS history and some 30 decisions every 2 bars: 11 short backtests


def _config(cache, **changes) -> DatasetConfig:
    base = {"symbols": ("SYN",), "horizon": 5, "window": 5, "stride": 2, "image_size": 56}
    return DatasetConfig(**(base | {"returns_cache": str(cache), "workers": 2} | changes))


def _build(config: DatasetConfig, out, frame: pd.DataFrame) -> tuple[dict, list[dict]]:
    """Build, and return the builder's 'strategy returns' line and its warnings."""
    with capture_logs() as logs:
        build_dataset(config, out, frames={"SYN": (frame, "index")}, progress=False)
    line = next(entry for entry in logs if entry["event"] == "strategy returns")
    return line, [entry for entry in logs if entry["log_level"] == "warning"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return regime_switching_frame(BARS, seed=5, segment=30)[0]


@pytest.fixture(scope="module")
def first(tmp_path_factory, frame):
    """A cold build on two Ray workers, observations cut into chunks of 7 decisions, filling a
    fresh cache."""
    root = tmp_path_factory.mktemp("cache_builds")
    config = _config(root / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dataset_samples, "CHUNK", 7)
        line, _ = _build(config, root / "first", frame)
    (entry,) = (root / "cache").iterdir()
    return root, config, line, entry


def _same_dataset(a, b) -> None:
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "samples.parquet"), pd.read_parquet(b / "samples.parquet")
    )
    assert (a / "features.npy").read_bytes() == (b / "features.npy").read_bytes()
    charts = sorted(path.name for path in (a / "charts").iterdir())
    assert charts == sorted(path.name for path in (b / "charts").iterdir())
    assert all((a / "charts" / n).read_bytes() == (b / "charts" / n).read_bytes() for n in charts)
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "returns/SYN.parquet"), pd.read_parquet(b / "returns/SYN.parquet")
    )


def test_a_serial_rebuild_reuses_the_paths_and_equals_the_fanned_out_build(first, frame):
    root, config, cold, _ = first

    again, warnings = _build(replace(config, workers=1), root / "serial", frame)

    assert (cold["backtests"], cold["reused"]) == (11, 0)
    assert (again["backtests"], again["reused"]) == (0, 1)
    assert not warnings
    _same_dataset(root / "first", root / "serial")


def test_another_stride_and_chart_size_reuse_the_paths(first, frame):
    root, config, _, _ = first

    line, _ = _build(replace(config, stride=3, image_size=28), root / "stride3", frame)

    assert (line["backtests"], line["reused"]) == (0, 1)
    stored = pd.read_parquet(root / "stride3/returns/SYN.parquet")
    pd.testing.assert_frame_equal(stored, pd.read_parquet(root / "first/returns/SYN.parquet"))


def test_a_changed_fee_runs_the_backtests_again(first, frame):
    root, config, _, _ = first

    line, _ = _build(replace(config, fee_bps=config.fee_bps + 5), root / "fee", frame)

    assert (line["backtests"], line["reused"]) == (11, 0)
    costly = pd.read_parquet(root / "fee/returns/SYN.parquet")["LongOnly"]
    cheap = pd.read_parquet(root / "first/returns/SYN.parquet")["LongOnly"]
    assert costly.sum() < cheap.sum()


def test_the_key_follows_the_bars_and_settings_but_not_where_or_how_often_a_run_decides(frame):
    request = BacktestRequest(symbol="SYN", policy="single:Cash")
    key = returns_key(frame, "index", request)
    one_tick = frame.copy()
    one_tick.iloc[-1, 3] += 0.01

    assert returns_key(one_tick, "index", request) != key
    assert returns_key(frame, "crypto", request) != key
    for change in ({"fee_bps": 11.0}, {"slippage_bps": 2.0}, {"fill": "close"},
                   {"fractional": False}, {"symbol": "OTHER"}):  # fmt: skip
        assert returns_key(frame, "index", replace(request, **change)) != key, change
    for change in ({"window": 7}, {"catalog": "elsewhere"}, {"policy": "single:RSI"}):
        assert returns_key(frame, "index", replace(request, **change)) == key, change


def test_a_truncated_entry_is_rebuilt_with_a_warning(first, frame):
    root, config, _, entry = first
    good, data = pd.read_parquet(entry), entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # e.g. a disk that filled up

    line, warnings = _build(config, root / "truncated", frame)

    assert (line["backtests"], line["reused"]) == (11, 0)
    assert [w["event"] for w in warnings] == ["returns cache entry unusable; rebuilding it"]
    pd.testing.assert_frame_equal(pd.read_parquet(entry), good)


def test_an_entry_with_flipped_bits_is_refused(first, tmp_path):
    _, _, _, entry = first
    good = pd.read_parquet(entry)
    flipped = tmp_path / entry.name
    data = entry.read_bytes()
    for start in range(0, len(data), 97):  # one flipped bit at each offset in turn
        changed = bytearray(data)
        changed[start] ^= 1
        flipped.write_bytes(bytes(changed))
        with capture_logs() as logs:
            loaded = load_returns(flipped, good.index, list(good.columns))
        if loaded is None:
            assert [w["event"] for w in logs] == ["returns cache entry unusable; rebuilding it"]
        else:  # a bit the reader does not use (e.g. page statistics)
            pd.testing.assert_frame_equal(loaded, good)

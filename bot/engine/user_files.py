"""User bar files: reading them (`read_user_file`) and importing them into the catalog
(`import_file`), where `bot.engine.data.load_bars` finds them.

CSV (optionally .gz) or Parquet:
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

from pathlib import Path

import numpy as np
import pandas as pd
import structlog

from bot.core.bars import BAR_COLUMNS, BAR_SIZES, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.engine.data import store_bars
from bot.engine.validation import ValidationResult

log = structlog.get_logger(__name__)


def read_user_file(path: str | Path, *, tz: str = "UTC") -> pd.DataFrame:
    """Read a user CSV or Parquet file (schema in the module docstring) into an unvalidated bar
    frame in file order; pass it to `bot.engine.validation.validate`."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {what}. Give the path of a CSV or Parquet file of bars.")
    _check_zone(tz)
    raw = _read_table(path)
    raw.columns = [str(column).strip().lower() for column in raw.columns]
    duplicated = raw.columns[raw.columns.duplicated()]
    if len(duplicated):
        raise DataError(
            f"{path}: column {duplicated[0]!r} appears more than once (names are "
            "case-insensitive). Rename or remove the extra column."
        )
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
    _check_not_finer(frame.index, bar, path)
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


def _check_not_finer(index: pd.DatetimeIndex, bar: str, path: Path) -> None:
    """ConfigError when the file's bars are mostly closer together than `bar`: validation would
    keep one row per `bar` as if it were a whole bar and drop the others (duplicates on a day,
    off the grid), storing wrong bars under a repair report."""
    steps = pd.Series(index.sort_values()).diff()
    step = steps[steps > pd.Timedelta(0)].median()
    if pd.isna(step) or step >= bar_interval(bar):
        return
    size = next((size for size in BAR_SIZES if bar_interval(size) == step), None)
    advice = f"Pass --bar {size}" if size else "Pass the bar size they have"
    raise ConfigError(
        f"{path}: its bars are {_duration(step)} apart (the median step), finer than --bar "
        f"{bar}. Imported as {bar} bars, one row per {bar} bar would be stored as the whole bar "
        f"and the rest dropped. {advice}, or resample the file to {bar} bars first; nothing was "
        "written."
    )


def _duration(step: pd.Timedelta) -> str:
    minutes = step / pd.Timedelta(minutes=1)
    return f"{minutes / 60:g} hour(s)" if minutes >= 60 else f"{minutes:g} minute(s)"


def _check_zone(tz: str) -> None:
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception as exc:  # unknown zone names raise various types
        raise ConfigError(
            f"Unknown timezone {tz!r} ({exc}). Use an IANA name such as UTC or America/New_York."
        ) from None


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
    values = values.reset_index(drop=True)
    stamps = _parse_times(values, tz, path)
    bad = stamps.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        where = _where(path, row)
        raise DataError(
            f"{path}, {where}: cannot read the time {str(values.iloc[row])!r}. Use ISO 8601 "
            "(2024-01-02, 2024-01-02T15:30:00Z) or UNIX epoch numbers."
        )
    return pd.DatetimeIndex(stamps, name="ts")


_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def _epoch_unit(magnitude: float) -> str:
    """The unit of a UNIX epoch number after 1973 by its size (seconds reach 1e11 in 5138)."""
    limits = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
    return next((unit for limit, unit in limits if magnitude < limit), "ns")


def _file_epoch_unit(values: pd.Series, path: Path) -> str:
    """The one unit of a file's epoch numbers; DataError naming the first row in another (read
    as one unit, the others would land decades away)."""
    magnitudes = values.abs()
    in_range = np.isfinite(magnitudes) & (magnitudes < pd.Timestamp.max.value)
    units = magnitudes[in_range].map(_epoch_unit)  # the rest fail `_check_epoch_range`
    if units.empty:
        return "s"
    if units.nunique() > 1:
        row = int(units.index[(units != units.iloc[0]).to_numpy().argmax()])
        raise DataError(
            f"{path}, {_where(path, row)}: the epoch {values.iloc[row]} is in "
            f"{_UNIT_NAMES[units[row]]}, the first row's in {_UNIT_NAMES[units.iloc[0]]}. "
            "Write every time in one unit."
        )
    return units.iloc[0]


def _check_epoch_range(values: pd.Series, unit: str, path: Path) -> None:
    """DataError naming the first epoch that is infinite or outside pandas' 1677-2262 range."""
    limit = pd.Timestamp.max.value / pd.Timedelta(1, unit=unit).value
    bad = values.notna() & ~(values.abs() < limit)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(
            f"{path}, {_where(path, row)}: the epoch {values.iloc[row]} is not a time between "
            "1677 and 2262. Write UNIX epoch numbers (seconds, ms, us or ns) or ISO 8601."
        )


def _where(path: Path, row: int) -> str:
    return f"row {row}" if _is_parquet(path) else f"line {row + 2}"


def _parse_times(values: pd.Series, tz: str, path: Path) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values):
        unit = _file_epoch_unit(values, path)
        _check_epoch_range(values, unit, path)
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

"""The bar frame contract, which every layer shares.

A bar frame is a pandas DataFrame with float64 columns exactly `open, high, low, close, volume`,
indexed by a UTC `DatetimeIndex` named `ts` that holds each bar's OPEN time (daily bars: the
session date at 00:00 UTC), sorted ascending and unique. Nautilus bars are stamped at CLOSE
times (`ts_event`): `bot.engine.catalog` adds the bar interval when it converts to nautilus and
`from_nautilus_bars` subtracts it, so mixed feeds cannot look ahead.
"""

import pandas as pd
from nautilus_trader.model.data import Bar

from bot.core.errors import ConfigError

BarFrame = pd.DataFrame
BAR_COLUMNS = ("open", "high", "low", "close", "volume")
ASSET_CLASSES = ("index", "equity", "crypto", "perpetual", "fx")
BAR_SIZES = ("1m", "5m", "15m", "1h", "4h", "1d")
_INTERVALS = {bar: pd.Timedelta(bar.replace("m", "min")) for bar in BAR_SIZES}


def bar_interval(bar: str) -> pd.Timedelta:
    """The length of one bar of size `bar` (one of `BAR_SIZES`)."""
    try:
        return _INTERVALS[bar]
    except KeyError:
        raise ConfigError(
            f"Unknown bar size {bar!r}: bars must be one of {', '.join(BAR_SIZES)}."
        ) from None


def bar_values(b: Bar) -> tuple[int, float, float, float, float, float]:
    """A nautilus bar's close time (ns) and its open, high, low, close and volume as floats."""
    return (
        b.ts_event,
        b.open.as_double(),
        b.high.as_double(),
        b.low.as_double(),
        b.close.as_double(),
        b.volume.as_double(),
    )


def from_nautilus_bars(bars: list[Bar], bar: str) -> BarFrame:
    """The bar frame (open-time index) of nautilus bars."""
    rows = [bar_values(b) for b in bars]
    frame = pd.DataFrame(rows, columns=["ts_event", *BAR_COLUMNS]).astype({"volume": "float64"})
    opens = pd.to_datetime(frame.pop("ts_event"), utc=True) - bar_interval(bar)
    frame.index = pd.DatetimeIndex(opens, name="ts")
    if bars:
        # as_double() can miss the stored decimal by an ulp; rounding restores the exact float.
        digits = {column: bars[0].open.precision for column in BAR_COLUMNS[:4]}
        frame = frame.round(digits | {"volume": bars[0].volume.precision})
    return frame.astype("float64")

"""Bar frames to nautilus bars (and back: `bot.core.bars`), and a thin wrapper over nautilus'
`ParquetDataCatalog`.

A bar frame is stamped at bar OPEN times; nautilus bars at CLOSE times (`ts_event`), so the
conversion adds the bar interval one way and subtracts it the other. The catalog stores prices at
the instrument's price precision and volume at its size precision, so a frame reads back equal to
itself rounded to those precisions. Each symbol's instrument is stored too; its
`info["asset_class"]` says what the symbol is.
"""

from pathlib import Path

from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import BarDataWrangler

from bot.core.bars import BAR_COLUMNS, BAR_SIZES, BarFrame, bar_interval, from_nautilus_bars
from bot.core.errors import ConfigError, DataError
from bot.engine.instruments import asset_class_of

_UNITS = {"m": "MINUTE", "h": "HOUR", "d": "DAY"}


def bar_type_for(instrument: Instrument, bar: str) -> BarType:
    """The external last-price bar type of `instrument` at size `bar`, e.g.
    `SPX.SIM-1-DAY-LAST-EXTERNAL` for ("SPX", "1d")."""
    bar_interval(bar)
    step, unit = bar[:-1], _UNITS[bar[-1]]
    return BarType.from_str(f"{instrument.id}-{step}-{unit}-LAST-EXTERNAL")


def to_nautilus_bars(frame: BarFrame, instrument: Instrument, bar: str) -> list[Bar]:
    """Nautilus bars of a (validated) bar frame, stamped at each bar's close time."""
    closes = frame[list(BAR_COLUMNS)].copy()
    closes.index = frame.index + bar_interval(bar)
    return BarDataWrangler(bar_type_for(instrument, bar), instrument).process(closes)


class BarCatalog:
    """Bars and instruments by our symbol and bar size, in a nautilus `ParquetDataCatalog`."""

    def __init__(self, path: str | Path) -> None:
        """The catalog in the folder `path` (made on the first write); ConfigError when `path`
        is, or runs through, a file: nautilus would read nothing there, without a word."""
        self.path = Path(path)
        _check_folder(self.path)
        self._catalog = ParquetDataCatalog(str(self.path))

    def write(self, instrument: Instrument, frame: BarFrame, bar: str) -> None:
        """Store `instrument` and the bars of `frame`, replacing any earlier bars of that size."""
        bar_type = bar_type_for(instrument, bar)
        bars = to_nautilus_bars(frame, instrument, bar)  # may raise: build before deleting
        for old in self._instruments(instrument.id.symbol.value):
            self._catalog.delete_data_range(type(old), identifier=old.id.value)
        self._catalog.delete_data_range(Bar, identifier=str(bar_type))
        self._catalog.write_data([instrument])
        self._catalog.write_data(bars)

    def read(self, symbol: str, bar: str) -> BarFrame:
        """The stored bars of `symbol` at size `bar` as a bar frame."""
        return from_nautilus_bars(self.read_bars(symbol, bar), bar)

    def read_bars(self, symbol: str, bar: str) -> list[Bar]:
        """The stored nautilus bars of `symbol` at size `bar`."""
        bar_type = bar_type_for(self.instrument(symbol), bar)
        bars = self._catalog.bars(bar_types=[str(bar_type)])
        if not bars:
            raise DataError(
                f"The catalog at {self.path} has no {bar} bars for {symbol} "
                f"(it has: {', '.join(self.bar_sizes(symbol)) or 'none'})."
            )
        return bars

    def symbols(self) -> list[str]:
        """Every symbol with an instrument in the catalog, sorted."""
        return sorted({instrument.id.symbol.value for instrument in self._catalog.instruments()})

    def instrument(self, symbol: str) -> Instrument:
        """The stored instrument of `symbol`."""
        found = self._instruments(symbol)
        if len(found) != 1:
            problem = "has no instrument" if not found else "has several instruments"
            raise DataError(
                f"The catalog at {self.path} {problem} for {symbol!r}; "
                f"its symbols are: {', '.join(self.symbols()) or 'none'}. Import it with "
                "`bot data import`."
            )
        return found[0]

    def asset_class(self, symbol: str) -> str:
        """The asset class stored with `symbol`."""
        return asset_class_of(self.instrument(symbol))

    def bar_sizes(self, symbol: str) -> list[str]:
        """The bar sizes stored for `symbol`, in `BAR_SIZES` order."""
        instrument = self.instrument(symbol)
        return [
            bar
            for bar in BAR_SIZES
            if self._catalog.get_intervals(Bar, str(bar_type_for(instrument, bar)))
        ]

    def _instruments(self, symbol: str) -> list[Instrument]:
        return [i for i in self._catalog.instruments() if i.id.symbol.value == symbol]


def _check_folder(path: Path) -> None:
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"runs through the file {existing}"
        raise ConfigError(
            f"The data catalog {path} {where}, not a folder, so no bars can be read from or "
            "stored in it. Point data.catalog at a folder (`--set data.catalog=DIR`, "
            "BOT__DATA__CATALOG, or [data] catalog in the config file), or move the file aside."
        )

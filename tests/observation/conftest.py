import pandas as pd
import pytest

from bot.core.bars import from_nautilus_bars
from bot.engine.catalog import to_nautilus_bars
from bot.engine.data import load_bars
from bot.engine.instruments import make_instrument, price_precision_of


@pytest.fixture(scope="session")
def spx() -> pd.DataFrame:
    """Real SPX daily bars, 2017-2019 (about 750 bars)."""
    return load_bars("SPX", start="2017-01-01", end="2019-12-31")


@pytest.fixture(scope="session")
def spx_nautilus(spx):
    """The same bars as nautilus bars, and the frame they read back as (instrument precision)."""
    instrument = make_instrument("SPX", "index", price_precision=price_precision_of(spx))
    bars = to_nautilus_bars(spx, instrument, "1d")
    return bars, from_nautilus_bars(bars, "1d")

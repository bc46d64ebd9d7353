"""The bars every backtest benchmark runs on: the same requests for ours, the floor and the peer.

- `1x10y_1d`: real SPX daily bars, 2014-06-26 .. 2024-06-26.
- `20x10y_1d`: 20 synthetic daily instruments, 10 years each (4 with --quick).
- `1x365d_1m`: the issue's crypto user, a year of 1-minute bars traded 24/7 (365 x 1440 =
  525,600 bars) on one synthetic perpetual (`SYNMUSDT-PERP`: margin account, shorts allowed, as
  the backtrader peer trades); 6 days (8,640 bars, `SYNMWUSDT-PERP`) with --quick. The traded
  span also holds the bar that closes at its first midnight (one bar more). Synthetic: no
  minute history ships offline.

Synthetic bars are a seeded random walk with regime-switching drift, written once into a
private catalog (var/bench-catalog) so that every process reads exactly the same bars.
"""

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bot.engine.backtest_request import STREAM_BARS, BacktestRequest
from bot.engine.data import store_bars

CATALOG = Path("var/bench-catalog")
DAILY_START, DAILY_END = date(2012, 1, 2), date(2022, 1, 3)
MINUTE_START = date(2023, 1, 1)


def requests(quick: bool) -> dict[str, list[BacktestRequest]]:
    """Workload name -> the uniform-policy backtests it runs (one engine each)."""
    daily = 4 if quick else 20
    days = _minute_days(quick)
    spx = BacktestRequest(symbol="SPX", start=date(2014, 6, 26), end=date(2024, 6, 26))
    synthetic = BacktestRequest(symbol="", catalog=str(CATALOG), start=DAILY_START, end=DAILY_END)
    return {
        "1x10y_1d": [spx],
        f"{daily}x10y_1d": [replace(synthetic, symbol=f"SYN{i:02d}") for i in range(daily)],
        f"1x{days}d_1m": [
            replace(
                synthetic,
                symbol=_minute_symbol(quick),
                bar="1m",
                start=MINUTE_START,
                # bars are stamped at their close: 00:01 of the first day .. 24:00 of the last
                end=MINUTE_START + timedelta(days=days),
                # --quick: small chunks, so that its 8.6k bars stream too
                stream_bars=2_000 if quick else STREAM_BARS,
            )
        ],
    }


def prepare(quick: bool) -> None:
    """Write the synthetic instruments into the benchmark catalog (idempotent)."""
    for i in range(4 if quick else 20):
        path = CATALOG / f"SYN{i:02d}"
        if not any(CATALOG.glob(f"**/*SYN{i:02d}*")) and not path.exists():
            index = pd.bdate_range("2010-01-04", "2022-01-03", tz="UTC")
            _store(_walk(index, seed=i, step=0.012), f"SYN{i:02d}", "1d")
    symbol = _minute_symbol(quick)
    if not any(CATALOG.glob(f"**/*{symbol}*")):
        # 24/7 from a month before the first traded bar (the warm-up) to a week after the last;
        # --quick's own short series, so that it does not load a year of bars to trade 6 days
        end = MINUTE_START + timedelta(days=_minute_days(quick) + 7)
        index = pd.date_range("2022-12-01 00:01", end, freq="1min", tz="UTC")
        _store(_walk(index, seed=99, step=0.0006), symbol, "1m", "perpetual")


def _minute_days(quick: bool) -> int:
    return 6 if quick else 365


def _minute_symbol(quick: bool) -> str:
    return "SYNMWUSDT-PERP" if quick else "SYNMUSDT-PERP"


def _walk(index: pd.DatetimeIndex, seed: int, step: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, step / 4, size=len(index) // 250 + 1), 250)[: len(index)]
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, step, size=len(index))))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, step / 4, len(index)))
    wiggle = np.abs(rng.normal(0, step / 2, size=(2, len(index))))
    high = np.maximum(open_, close) * (1 + wiggle[0])
    low = np.minimum(open_, close) * (1 - wiggle[1])
    volume = rng.lognormal(13, 0.4, size=len(index)).round()
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(columns, index=index)


def _store(frame: pd.DataFrame, symbol: str, bar: str, asset_class: str = "index") -> None:
    store_bars(frame, symbol, asset_class, bar, policy="repair", catalog_dir=CATALOG, adjusted=True)

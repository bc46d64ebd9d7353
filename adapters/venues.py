"""The venues the bot trades, as data: one literal table (`VENUES`) of what each venue supports,
what each mode forces there, and where its pre-flight, flatten and history download live.

The node builder, the CLI (`bot paper`, `bot live`, `bot flatten`, `bot data fetch`), the
pre-flight and the flatten all read this table; nothing branches on a venue's name. A venue's
functions are imported by module path (`importlib`) only when used, so naming a venue never
loads another venue's SDK. Each module exposes one function of a fixed name:
- `preflight_module`: `preflight(settings, secrets, symbol) -> PreflightReport`;
- `flatten_module`: `flatten(settings, secrets, symbol) -> Flattened`;
- `history_module`: `download(settings, secrets, symbol, bar, start, end, asset_class)`, the bar
  frame and the asset class it is stored as when `--asset-class` is not given.
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from adapters.alpaca.constants import LIVE_TRADING_URL, PAPER_TRADING_URL
from adapters.checks import Flattened, PreflightReport
from bot.core.errors import ConfigError
from bot.core.settings import Secrets, Settings


@dataclass(frozen=True)
class Venue:
    """What one venue supports, what each mode ("paper", "live") needs there, and the modules
    of its venue-specific functions."""

    name: str  # the --venue value
    title: str  # how messages name it
    shorting: str  # when a short sale is possible
    fractional: str  # when order sizes may be fractional
    hours: str  # when it trades: "24/7" or exchange hours
    paper: str  # where `bot paper` trades
    symbol: str  # the default --symbol of `bot paper` and `bot live`
    forced: Mapping[str, Mapping[str, Any]]  # mode -> settings (dotted keys) the mode forces
    # The settings key that selects the trading endpoint (a URL, or Binance's testnet switch)
    # when modes check it; its value per mode while left default; the value a mode refuses.
    endpoint: str | None
    mode_endpoint: Mapping[str, Any]
    forbidden: Mapping[str, Any]
    preflight_module: str
    flatten_module: str
    history_module: str


VENUES: dict[str, Venue] = {
    "binance": Venue(
        name="binance",
        title="Binance",
        shorting="USDT-M futures only (spot is long only)",
        fractional="yes, to the symbol's lot step",
        hours="24/7",
        paper="Binance's testnet (venues.binance.testnet)",
        symbol="BTCUSDT",
        forced={"paper": {"venues.binance.testnet": True}},
        endpoint="venues.binance.testnet",
        # Left default, the testnet: only `bot live` switches to production, never by accident.
        mode_endpoint={"live": False},
        forbidden={"live": True},
        preflight_module="adapters.binance.preflight",
        flatten_module="adapters.binance.flatten",
        history_module="adapters.binance.history",
    ),
    "alpaca": Venue(
        name="alpaca",
        title="Alpaca",
        shorting="equities that are shortable and easy to borrow; never crypto",
        fractional="crypto only (equities trade whole shares)",
        hours="US equity market hours (/v2/clock); crypto 24/7",
        paper=f"Alpaca's paper endpoint ({PAPER_TRADING_URL})",
        symbol="AAPL",
        forced={},
        endpoint="venues.alpaca.trading_url",
        # The default URL is the paper one, so that nothing trades real money unasked.
        mode_endpoint={"live": LIVE_TRADING_URL},
        forbidden={"paper": LIVE_TRADING_URL, "live": PAPER_TRADING_URL},
        preflight_module="adapters.alpaca.preflight",
        flatten_module="adapters.alpaca.flatten",
        history_module="adapters.alpaca.history",
    ),
}


def venue(name: str) -> Venue:
    """The table's entry for `name`; ConfigError naming the known venues when there is none."""
    try:
        return VENUES[name]
    except KeyError:
        raise ConfigError(f"Unknown venue {name!r}: use --venue {' or '.join(VENUES)}.") from None


def preflight(name: str, settings: Settings, secrets: Secrets, symbol: str) -> PreflightReport:
    """The pre-flight of venue `name` for `symbol` (ConfigError or VenueError when it fails)."""
    return _function(venue(name).preflight_module, "preflight")(settings, secrets, symbol)


def flatten(name: str, settings: Settings, secrets: Secrets, symbol: str) -> Flattened:
    """Cancel `symbol`'s open orders and close its position at venue `name`."""
    return _function(venue(name).flatten_module, "flatten")(settings, secrets, symbol)


def download(
    name: str,
    settings: Settings,
    secrets: Secrets,
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    asset_class: str | None,
) -> tuple[pd.DataFrame, str]:
    """`symbol`'s `bar` bars opening in [start, end) from venue `name`, and the asset class they
    are stored as unless `asset_class` says otherwise."""
    fetch = _function(venue(name).history_module, "download")
    return fetch(settings, secrets, symbol, bar, start, end, asset_class)


def _function(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)

"""Pre-flight checks before a node trades on Binance (`preflight`), in order, each refusing
with a message that says what to do:
- the venue answers (`/time`);
- clock skew, the venue's `serverTime` minus the local clock at the request's midpoint, stays
  within `CLOCK_SKEW_LIMIT_MS`. Binance rejects signed requests whose timestamp falls outside
  `recvWindow` (-1021), so a skewed clock would make every order fail once trading has begun;
  a -1021 answer to the account request raises the same alarm;
- the account is readable with the keys (a signed request), which also gives the equity;
- the instrument is listed and trading.

Plain signed REST over urllib (`adapters.binance.rest`): the checks run before any nautilus
component exists, and they touch only four read-only endpoints.
"""

import time
from dataclasses import dataclass
from typing import Any

from adapters.binance.rest import BinanceRest, rest_base_url, skew_alarm
from adapters.checks import CLOCK_SKEW_LIMIT_MS, PreflightReport
from bot.core.errors import ConfigError, VenueError
from bot.core.settings import Secrets, Settings


@dataclass(frozen=True)
class _Paths:
    time: str
    exchange_info: str
    account: str


_PATHS = {
    "usdt_futures": _Paths("/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v2/account"),
    "spot": _Paths("/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/account"),
}


def preflight(
    settings: Settings,
    secrets: Secrets,
    symbol: str,
    *,
    skew_limit_ms: int = CLOCK_SKEW_LIMIT_MS,
) -> PreflightReport:
    """Run the checks against the venue in `settings.venues.binance`; raise ConfigError or
    VenueError on the first that fails. Keys come from `secrets` (ConfigError naming the
    variable when missing)."""
    venue = settings.venues.binance
    base_url = rest_base_url(venue)
    rest = BinanceRest(base_url, secrets, venue.recv_window_ms)
    paths = _PATHS[venue.market]
    skew = _clock_skew_ms(rest, paths.time)
    if abs(skew) > skew_limit_ms:
        raise skew_alarm(f"the venue's clock is {skew:+d} ms from this machine's")
    info = _listed(rest.get(paths.exchange_info), symbol.upper(), base_url)
    account = rest.get(paths.account, signed=True)
    return PreflightReport(
        venue=f"Binance {'testnet' if venue.testnet else 'production'}",
        base_url=base_url,
        market=venue.market,
        symbol=symbol.upper(),
        quote_asset=info["quoteAsset"],
        clock_skew_ms=skew,
        equity=_equity(account, venue.market, info["quoteAsset"]),
    )


def _clock_skew_ms(rest: BinanceRest, path: str) -> int:
    server = rest.get(path)["serverTime"]
    received = time.time() * 1000
    return round(server - (rest.sent_ms + received) / 2)  # the try that answered, not retries


def _listed(info: dict[str, Any], symbol: str, base_url: str) -> dict[str, Any]:
    listed = {entry["symbol"]: entry for entry in info.get("symbols", [])}
    entry = listed.get(symbol)
    if entry is None:
        raise ConfigError(
            f"Pre-flight: {symbol} is not listed at {base_url}. Nothing was traded. "
            "Check --symbol (e.g. BTCUSDT) and venues.binance.market."
        )
    if entry.get("status") != "TRADING":
        raise VenueError(
            f"Pre-flight: {symbol} is not trading at {base_url} (status {entry.get('status')}). "
            "Nothing was traded. Wait until the venue lists it as TRADING."
        )
    return entry


def _equity(account: dict[str, Any], market: str, quote: str) -> float:
    if market == "usdt_futures":
        return float(account.get("totalMarginBalance", account["totalWalletBalance"]))
    held = {row["asset"]: float(row["free"]) + float(row["locked"]) for row in account["balances"]}
    return held.get(quote, 0.0)

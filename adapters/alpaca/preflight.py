"""Pre-flight checks before a node trades on Alpaca (`preflight`), through alpaca-py's
TradingClient (plain key headers, no signing):
- the account is readable with the keys (`/v2/account`) and may trade (status ACTIVE, trading
  not blocked; crypto status too for crypto), which also gives the equity;
- clock skew against `/v2/clock`'s timestamp stays within `CLOCK_SKEW_LIMIT_MS`: the stale-data
  watchdog and the bars' timestamps are judged against this machine's clock;
- the asset is listed and tradable; whether it may be shorted (shortable and easy to borrow;
  never for crypto) and whether it is fractionable are printed, with the market's state.

Every check is a GET: one answered 429 or 5xx is tried again, up to `GET_ATTEMPTS` tries in all
(as Binance's pre-flight), so a restart during a brief outage does not give up at once.
"""

import time

import requests
from alpaca.common.exceptions import APIError

from adapters.alpaca.constants import LIVE_TRADING_URL, PAPER_TRADING_URL
from adapters.alpaca.factories import trading_client
from adapters.alpaca.history import retry_requests
from adapters.alpaca.providers import fetch_asset, is_crypto, is_long_only
from adapters.alpaca.reports import value
from adapters.checks import CLOCK_SKEW_LIMIT_MS, PreflightReport
from bot.core.errors import ConfigError, VenueError
from bot.core.settings import Secrets, Settings

_NETWORKS = {PAPER_TRADING_URL: "paper", LIVE_TRADING_URL: "live"}
GET_ATTEMPTS = 4  # tries of one GET answered 429 or 5xx


def preflight(
    settings: Settings,
    secrets: Secrets,
    symbol: str,
    *,
    skew_limit_ms: int = CLOCK_SKEW_LIMIT_MS,
) -> PreflightReport:
    """Run the Alpaca checks (module docstring) against `venues.alpaca.trading_url`; raise
    ConfigError or VenueError on the first that fails. Keys come from `secrets` (ConfigError
    naming the variable when missing)."""
    base_url = settings.venues.alpaca.trading_url.rstrip("/")
    client = trading_client(
        secrets.require("alpaca_api_key"), secrets.require("alpaca_secret_key"), base_url
    )
    sent: list[float] = []  # when each try was sent
    retry_requests(client, GET_ATTEMPTS - 1, sending=lambda: sent.append(time.time() * 1000))
    account = _call(client.get_account, "/v2/account", base_url)
    clock = _call(client.get_clock, "/v2/clock", base_url)
    # From the try that answered: the waits between tries are not skew.
    skew = round(clock.timestamp.timestamp() * 1000 - (sent[-1] + time.time() * 1000) / 2)
    if abs(skew) > skew_limit_ms:
        raise VenueError(
            f"Pre-flight: CLOCK SKEW ALARM: Alpaca's clock is {skew:+d} ms from this machine's. "
            "Bar times and the stale-data watchdog are judged by this clock. Nothing was traded. "
            "Synchronise the clock (e.g. `timedatectl set-ntp true`) and retry."
        )
    asset = _call(lambda: fetch_asset(client, symbol.upper()), "/v2/assets", base_url)
    _check_tradable(account, asset, symbol.upper())
    return PreflightReport(
        venue=f"Alpaca {_NETWORKS.get(base_url, 'at a custom endpoint')}",
        base_url=base_url,
        market=value(asset.asset_class),
        symbol=asset.symbol,
        quote_asset=account.currency or "USD",
        clock_skew_ms=skew,
        equity=float(account.equity),
        notes=(_asset_note(asset), _market_note(clock, asset)),
    )


def _call(call, path: str, base_url: str):
    try:
        return call()
    except APIError as exc:
        # Branch on the HTTP status: APIError.code raises on bodies without a code.
        if exc.status_code in (401, 403):
            raise VenueError(
                f"Pre-flight: Alpaca refused the API keys on {path} (HTTP {exc.status_code}). "
                "Nothing was traded. Check APCA_API_KEY_ID and APCA_API_SECRET_KEY, and that "
                "paper keys go with the paper endpoint (venues.alpaca.trading_url)."
            ) from None
        raise VenueError(
            f"Pre-flight: Alpaca answered {path} with HTTP {exc.status_code}. Nothing was traded. "
            "Retry later; if it persists, check https://status.alpaca.markets."
        ) from None
    except requests.RequestException as exc:
        raise VenueError(
            f"Pre-flight: Alpaca at {base_url} is unreachable ({type(exc).__name__}). Nothing was "
            "traded. Check the network and venues.alpaca.trading_url, then retry."
        ) from None


def _check_tradable(account, asset, symbol: str) -> None:
    blocked = account.trading_blocked or account.account_blocked
    crypto_off = is_crypto(asset) and value(account.crypto_status) not in ("ACTIVE", "None")
    if value(account.status) != "ACTIVE" or blocked or crypto_off:
        raise VenueError(
            f"Pre-flight: the Alpaca account may not trade {symbol} (status "
            f"{value(account.status)}, crypto {value(account.crypto_status)}, trading blocked "
            f"{blocked}). Nothing was traded. Resolve it in Alpaca's dashboard."
        )
    if not asset.tradable:
        raise ConfigError(
            f"Pre-flight: Alpaca lists {symbol} as not tradable. Nothing was traded. "
            "Choose another --symbol."
        )


def _asset_note(asset) -> str:
    shorts = "long only (" + ("crypto" if is_crypto(asset) else "not shortable/easy to borrow")
    shorts = "shortable" if not is_long_only(asset) else shorts + ")"
    sizes = "fractional" if asset.fractionable and is_crypto(asset) else "whole shares"
    return f"  asset        tradable, {shorts}, {sizes}"


def _market_note(clock, asset) -> str:
    if is_crypto(asset):
        return "  market       crypto trades around the clock"
    if clock.is_open:
        return f"  market       open until {clock.next_close.isoformat()}"
    return (
        f"  market       closed until {clock.next_open.isoformat()}: equity orders wait "
        "for the open"
    )

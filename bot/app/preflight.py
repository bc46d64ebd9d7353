"""Pre-flight checks before a node trades on Binance or Alpaca (`preflight`), and the summary
printed before it starts (`format_summary`, the same for both venues).

Binance's checks, in order, each refusing with a message that says what to do:
- the venue answers (`/time`);
- clock skew, the venue's `serverTime` minus the local clock at the request's midpoint, stays
  within `CLOCK_SKEW_LIMIT_MS`. Binance rejects signed requests whose timestamp falls outside
  `recvWindow` (-1021), so a skewed clock would make every order fail once trading has begun;
  a -1021 answer to the account request raises the same alarm;
- the account is readable with the keys (a signed request), which also gives the equity;
- the instrument is listed and trading.

Plain signed REST over urllib: the checks run before any nautilus component exists, and they
touch only four read-only endpoints.

Alpaca's checks, through alpaca-py's TradingClient (plain key headers, no signing):
- the account is readable with the keys (`/v2/account`) and may trade (status ACTIVE, trading
  not blocked; crypto status too for crypto), which also gives the equity;
- clock skew against `/v2/clock`'s timestamp stays within `CLOCK_SKEW_LIMIT_MS`: the stale-data
  watchdog and the bars' timestamps are judged against this machine's clock;
- the asset is listed and tradable; whether it may be shorted (shortable and easy to borrow;
  never for crypto) and whether it is fractionable are printed, with the market's state.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from nautilus_trader.adapters.binance.common.urls import get_http_base_url

from adapters.alpaca.constants import LIVE_TRADING_URL, PAPER_TRADING_URL
from adapters.alpaca.factories import trading_client
from adapters.alpaca.providers import fetch_asset, is_crypto, is_long_only
from adapters.alpaca.reports import value
from adapters.binance.config import MARKETS
from bot.core.errors import ConfigError, VenueError
from bot.core.saved_meta import trained_bar_warning, trained_on
from bot.core.settings import AlpacaSettings, BinanceSettings, Secrets, Settings
from strategies import STRATEGIES

# Largest accepted |venue clock - local clock|. Binance's own guidance is to keep the skew well
# under recvWindow (5000 ms by default); 1000 ms leaves room for network latency on top.
CLOCK_SKEW_LIMIT_MS = 1000
TIMEOUT_S = 10.0
_AUTH_CODES = (-2014, -2015, -1022)


@dataclass(frozen=True)
class _Paths:
    time: str
    exchange_info: str
    account: str


_PATHS = {
    "usdt_futures": _Paths("/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v2/account"),
    "spot": _Paths("/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/account"),
}


@dataclass(frozen=True)
class PreflightReport:
    """What the pre-flight found at the venue."""

    venue: str  # e.g. "Binance testnet", "Alpaca paper"
    base_url: str
    market: str
    symbol: str
    quote_asset: str
    clock_skew_ms: int
    equity: float  # in the quote asset: futures margin balance, or spot quote balance
    notes: tuple[str, ...] = ()  # venue-specific lines for the summary


class BinanceRest:
    """Just enough of Binance's REST API for the pre-flight and a manual flatten: public and
    signed requests over urllib. `stage` names the caller in error messages."""

    def __init__(
        self, base_url: str, secrets: Secrets, recv_window_ms: int, stage: str = "Pre-flight"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.stage = stage
        self._key = secrets.require("binance_api_key")
        self._secret = secrets.require("binance_api_secret")
        self._recv_window_ms = recv_window_ms

    def get(self, path: str, params: dict[str, str] | None = None, signed: bool = False) -> Any:
        """GET `path`; the decoded JSON answer."""
        return self.request("GET", path, params, signed)

    def request(
        self, method: str, path: str, params: dict[str, str] | None = None, signed: bool = False
    ) -> Any:
        """`method` on `path` with `params` in the query (signed when `signed`)."""
        query = urllib.parse.urlencode(params or {})
        headers = {"X-MBX-APIKEY": self._key}
        if signed:
            stamp = f"timestamp={int(time.time() * 1000)}&recvWindow={self._recv_window_ms}"
            query = f"{query}&{stamp}" if query else stamp
            signature = hmac.new(self._secret.encode(), query.encode(), hashlib.sha256)
            query = f"{query}&signature={signature.hexdigest()}"
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _http_error(self.stage, path, exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VenueError(
                f"{self.stage}: Binance at {self.base_url} is unreachable ({reason}). Check the "
                "network and venues.binance.base_url_http, then retry."
            ) from None


def binance_preflight(
    venue: BinanceSettings,
    secrets: Secrets,
    symbol: str,
    *,
    skew_limit_ms: int = CLOCK_SKEW_LIMIT_MS,
) -> PreflightReport:
    """Run the checks against the venue in `venue`; raise ConfigError or VenueError on the
    first that fails. Keys come from `secrets` (ConfigError naming the variable when missing)."""
    base_url = venue.base_url_http or get_http_base_url(MARKETS[venue.market], venue.testnet, False)
    rest = BinanceRest(base_url, secrets, venue.recv_window_ms)
    paths = _PATHS[venue.market]
    skew = _clock_skew_ms(rest, paths.time)
    if abs(skew) > skew_limit_ms:
        raise _skew_alarm(f"the venue's clock is {skew:+d} ms from this machine's")
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


def format_summary(report: PreflightReport, settings: Settings, mode: str, bar: str) -> str:
    """What the node will trade and how much, printed before it starts."""
    router, risk = settings.router, settings.risk
    names = ", ".join(spec.name for spec in STRATEGIES)
    per_strategy = report.equity / len(STRATEGIES)
    lines = [
        f"Pre-flight passed: {mode} trading on {report.venue} ({report.base_url})",
        f"  instrument   {report.symbol} {report.market} ({bar} bars)",
        *report.notes,
        f"  clock skew   {report.clock_skew_ms:+d} ms (limit ±{CLOCK_SKEW_LIMIT_MS} ms)",
        f"  equity       {report.equity:,.2f} {report.quote_asset} at the venue",
        f"  capital      the router splits the equity across {len(STRATEGIES)} strategies "
        f"(uniform: {per_strategy:,.2f} {report.quote_asset} each)",
        f"  strategies   {names}",
        f"  router       policy {router.policy}, window {router.window} bars, "
        f"fallback {router.fallback}",
        f"  risk         max order notional {_limit(risk.max_order_notional)}, "
        f"max instrument notional {_limit(risk.max_instrument_notional)}, "
        f"{risk.max_orders_per_second} orders/s",
        f"               drawdown kill switch {risk.max_drawdown:.0%}, "
        f"daily loss limit {_limit(risk.daily_loss_limit, percent=True)}, "
        f"stale after {risk.stale_after_bars:g} bars",
    ]
    mismatch = trained_bar_warning(router.policy, trained_on(router.policy), bar)
    lines += [f"WARNING: {mismatch} Choose --policy for this market."] if mismatch else []
    return "\n".join(lines)


def _clock_skew_ms(rest: BinanceRest, path: str) -> int:
    sent = time.time() * 1000
    server = rest.get(path)["serverTime"]
    received = time.time() * 1000
    return round(server - (sent + received) / 2)


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


def _http_error(stage: str, path: str, exc: urllib.error.HTTPError) -> VenueError:
    try:
        body = json.loads(exc.read())
    except (json.JSONDecodeError, ValueError):
        body = {}
    code, msg = body.get("code"), body.get("msg", exc.reason)
    if code == -1021:
        return _skew_alarm(f"the venue rejected a signed request's timestamp (-1021: {msg})")
    if code in _AUTH_CODES or exc.code in (401, 403):
        return VenueError(
            f"{stage}: Binance refused the API keys on {path} ({code}: {msg}). Nothing was "
            "traded. Check BINANCE_API_KEY and BINANCE_API_SECRET, the key's permissions "
            "(futures trading) and its IP whitelist."
        )
    return VenueError(
        f"{stage}: Binance answered {path} with HTTP {exc.code} ({code}: {msg}). Retry later; "
        "if it persists, check the venue's status page."
    )


def _skew_alarm(detail: str) -> VenueError:
    return VenueError(
        f"Pre-flight: CLOCK SKEW ALARM: {detail}. Binance rejects signed requests outside "
        "recvWindow (-1021), so orders would fail. Nothing was traded. Synchronise this machine's "
        "clock (e.g. enable NTP: `timedatectl set-ntp true`) and retry."
    )


def _limit(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "off"
    return f"{value:.0%}" if percent else f"{value:,.2f}"


def alpaca_preflight(
    venue: AlpacaSettings,
    secrets: Secrets,
    symbol: str,
    *,
    skew_limit_ms: int = CLOCK_SKEW_LIMIT_MS,
) -> PreflightReport:
    """Run the Alpaca checks (module docstring) against `venue.trading_url`; raise ConfigError
    or VenueError on the first that fails. Keys come from `secrets` (ConfigError naming the
    variable when missing)."""
    base_url = venue.trading_url.rstrip("/")
    client = trading_client(
        secrets.require("alpaca_api_key"), secrets.require("alpaca_secret_key"), base_url
    )
    account = _alpaca_call(client.get_account, "/v2/account", base_url)
    sent = time.time() * 1000
    clock = _alpaca_call(client.get_clock, "/v2/clock", base_url)
    skew = round(clock.timestamp.timestamp() * 1000 - (sent + time.time() * 1000) / 2)
    if abs(skew) > skew_limit_ms:
        raise VenueError(
            f"Pre-flight: CLOCK SKEW ALARM: Alpaca's clock is {skew:+d} ms from this machine's. "
            "Bar times and the stale-data watchdog are judged by this clock. Nothing was traded. "
            "Synchronise the clock (e.g. `timedatectl set-ntp true`) and retry."
        )
    asset = _alpaca_call(lambda: fetch_asset(client, symbol.upper()), "/v2/assets", base_url)
    _check_tradable(account, asset, symbol.upper())
    return PreflightReport(
        venue=f"Alpaca {_ALPACA_NETWORKS.get(base_url, 'at a custom endpoint')}",
        base_url=base_url,
        market=value(asset.asset_class),
        symbol=asset.symbol,
        quote_asset=account.currency or "USD",
        clock_skew_ms=skew,
        equity=float(account.equity),
        notes=(_asset_note(asset), _market_note(clock, asset)),
    )


_ALPACA_NETWORKS = {PAPER_TRADING_URL: "paper", LIVE_TRADING_URL: "live"}


def preflight(venue: str, settings: Settings, secrets: Secrets, symbol: str) -> PreflightReport:
    """The pre-flight of `venue` ("binance" or "alpaca") for `symbol`."""
    if venue == "alpaca":
        return alpaca_preflight(settings.venues.alpaca, secrets, symbol)
    return binance_preflight(settings.venues.binance, secrets, symbol)


def _alpaca_call(call, path: str, base_url: str):
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

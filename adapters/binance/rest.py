"""Just enough of Binance's REST API for the pre-flight and a manual flatten (`BinanceRest`):
public and signed requests over plain urllib, because both run before or without any nautilus
component, and errors mapped to messages that say what to do."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import partial
from typing import Any

from nautilus_trader.adapters.binance.common.urls import get_http_base_url

from adapters.binance.config import MARKETS
from adapters.history_common import backoff_seconds, retry_after_seconds, retrying
from bot.core.errors import ConfigError, VenueError
from bot.core.settings import BinanceSettings, Secrets

TIMEOUT_S = 10.0
GET_ATTEMPTS = 4  # tries of one GET answered 5xx or 429
RETRY_WAIT_MAX_S = 5.0
_AUTH_CODES = (-2014, -2015, -1022)


def rest_base_url(venue: BinanceSettings) -> str:
    """The REST base URL of `venue`: `base_url_http` when set, else the market's (testnet or
    production) default. ConfigError for a testnet venue whose override is Binance's production
    (`bot paper` forces the testnet, but the URL decides where orders go)."""
    url = venue.base_url_http
    if venue.testnet and url and _production(url):
        raise ConfigError(
            f"venues.binance.testnet is true (as `bot paper` forces it) but "
            f"venues.binance.base_url_http = {url} is Binance's production, where orders trade "
            "real money. Nothing was done. Point it at the testnet (or a proxy of it), unset it, "
            "or trade real money with `bot live`."
        )
    return url or get_http_base_url(MARKETS[venue.market], venue.testnet, False)


def _production(url: str) -> bool:
    # binance.com and binance.us hosts, but not the demo ones (demo-fapi.binance.com).
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    real = any(host == d or host.endswith("." + d) for d in ("binance.com", "binance.us"))
    return real and not host.startswith("demo")


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
        self.sent_ms = 0.0  # when the last request (the last try of a retried GET) was sent

    def get(self, path: str, params: dict[str, str] | None = None, signed: bool = False) -> Any:
        """GET `path`; the decoded JSON answer."""
        return self.request("GET", path, params, signed)

    def request(
        self, method: str, path: str, params: dict[str, str] | None = None, signed: bool = False
    ) -> Any:
        """`method` on `path` with `params` in the query (signed when `signed`). A GET changes
        nothing, so one answered 5xx or 429 is tried again, up to `GET_ATTEMPTS` times; a POST
        or DELETE never is (a lost answer may hide an order the venue took)."""
        send = partial(self._send, method, path, params, signed)
        retries = GET_ATTEMPTS - 1 if method == "GET" else 0
        try:
            return retrying(send, retries, _retry_wait_s, "binance_request_retry", path=path)
        except urllib.error.HTTPError as exc:
            raise _http_error(self.stage, path, exc) from None

    def _send(self, method: str, path: str, params: dict[str, str] | None, signed: bool) -> Any:
        query = urllib.parse.urlencode(params or {})
        headers = {"X-MBX-APIKEY": self._key}
        if signed:
            stamp = f"timestamp={int(time.time() * 1000)}&recvWindow={self._recv_window_ms}"
            query = f"{query}&{stamp}" if query else stamp
            signature = hmac.new(self._secret.encode(), query.encode(), hashlib.sha256)
            query = f"{query}&signature={signature.hexdigest()}"
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers=headers, method=method)
        self.sent_ms = time.time() * 1000
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError:
            raise  # an answer: `request` retries it or says what the venue said
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VenueError(
                f"{self.stage}: Binance at {self.base_url} is unreachable ({reason}). Check the "
                "network and venues.binance.base_url_http, then retry."
            ) from None


def skew_alarm(detail: str) -> VenueError:
    """The CLOCK SKEW ALARM: signed requests would be rejected (-1021), so nothing may trade."""
    return VenueError(
        f"Pre-flight: CLOCK SKEW ALARM: {detail}. Binance rejects signed requests outside "
        "recvWindow (-1021), so orders would fail. Nothing was traded. Synchronise this machine's "
        "clock (e.g. enable NTP: `timedatectl set-ntp true`) and retry."
    )


def _retry_wait_s(exc: Exception, attempt: int) -> float | None:
    """The wait before trying a GET again after `exc`, None when it is not worth it."""
    if not isinstance(exc, urllib.error.HTTPError) or not (exc.code == 429 or exc.code >= 500):
        return None
    asked = retry_after_seconds(exc.headers)
    return min(backoff_seconds(attempt) if asked is None else asked, RETRY_WAIT_MAX_S)


def _http_error(stage: str, path: str, exc: urllib.error.HTTPError) -> VenueError:
    try:
        body = json.loads(exc.read())
    except (json.JSONDecodeError, ValueError):
        body = {}
    code, msg = body.get("code"), body.get("msg", exc.reason)
    if code == -1021:
        return skew_alarm(f"the venue rejected a signed request's timestamp (-1021: {msg})")
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

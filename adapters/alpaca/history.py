"""Download historical bars from Alpaca's market-data REST API through alpaca-py: US equities
(keys required) and crypto (keys optional).

The result is the bar frame described in `adapters.history_common`. alpaca-py follows
`next_page_token` itself; this module retries each page request through
`adapters.history_common.retrying`, honouring the server's Retry-After.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests
import structlog
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from pydantic import SecretStr
from tqdm import tqdm

from adapters.history_common import (
    backoff_seconds,
    bar_frame,
    check_request,
    retry_after_seconds,
    retrying,
)
from bot.core.errors import ConfigError, DataError, TemporaryError, VenueError
from bot.core.settings import Secrets, Settings

log = structlog.get_logger(__name__)

AssetClass = Literal["equity", "crypto"]
TIMEFRAMES: dict[str, TimeFrame] = {
    "1m": TimeFrame(1, TimeFrameUnit.Minute),
    "5m": TimeFrame(5, TimeFrameUnit.Minute),
    "15m": TimeFrame(15, TimeFrameUnit.Minute),
    "1h": TimeFrame(1, TimeFrameUnit.Hour),
    "4h": TimeFrame(4, TimeFrameUnit.Hour),
    "1d": TimeFrame(1, TimeFrameUnit.Day),
}
# Bars are reads, so every transient status is safe to retry (alpaca-py alone retries 429, 504).
RETRY_STATUSES = (429, 500, 502, 503, 504)
KEY_ENV = "APCA_API_KEY_ID and APCA_API_SECRET_KEY"


def download(
    settings: Settings,
    secrets: Secrets,
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    asset_class: str | None,
) -> tuple[pd.DataFrame, str]:
    """`bot data fetch --venue alpaca`: `fetch_bars` on `venues.alpaca` (its data URL and
    feed) with the keys when given, and the asset class: `asset_class`, else "crypto" for a
    pair such as BTC/USD and "equity" for anything else."""
    kind = asset_class or ("crypto" if "/" in symbol else "equity")
    alpaca = settings.venues.alpaca
    frame = fetch_bars(
        symbol,
        bar,
        start,
        end,
        asset_class=kind,
        api_key=_revealed(secrets.alpaca_api_key),
        secret_key=_revealed(secrets.alpaca_secret_key),
        url_override=alpaca.data_url,
        feed=alpaca.feed,
    )
    return frame, kind


def fetch_bars(
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    *,
    asset_class: AssetClass,
    api_key: str | None,
    secret_key: str | None,
    url_override: str | None = None,
    feed: str = "iex",
    adjustment: str = "split",
    max_retries: int = 5,
    progress: bool = True,
) -> pd.DataFrame:
    """Download the `bar` bars of `symbol` ("AAPL", or "BTC/USD" for crypto) that open in
    [start, end), as a bar frame.

    Equities need keys and use the stock `feed` ("iex" or "sip") and corporate-action
    `adjustment` ("raw", "split", "dividend" or "all"); crypto needs neither. `url_override` is
    the market-data REST base URL. Rate limits and 5xx are retried up to `max_retries` times per
    page, waiting as long as the server's Retry-After asks, else backing off exponentially.

    Raises ConfigError for missing or rejected keys and bad arguments, TemporaryError when
    retries run out or Alpaca cannot be reached, VenueError for other API errors, and DataError
    when no bars came back.
    """
    check_request(bar, start, end)
    if asset_class not in _CLIENTS:
        raise ConfigError(f"Unknown asset class {asset_class!r}: use 'equity' or 'crypto'.")
    if max_retries < 0:
        raise ConfigError(f"max_retries must be at least 0 (got {max_retries}).")
    query = _Query(symbol, TIMEFRAMES[bar], start, end, api_key, secret_key, url_override)
    client, get_bars = _CLIENTS[asset_class](query, feed, adjustment)
    with tqdm(unit="page", desc=f"alpaca {symbol} {bar}", disable=not progress) as meter:
        retry_requests(client, max_retries, answered=meter.update)  # pages that succeed
        barset = _run(get_bars, symbol, KEY_ENV if asset_class == "equity" else None)
    bars = barset.data.get(symbol, [])
    opens = pd.DatetimeIndex([item.timestamp for item in bars])
    values = np.array([[b.open, b.high, b.low, b.close, b.volume] for b in bars])
    frame = bar_frame(opens, values, start, end)
    if frame.empty:
        raise DataError(
            f"Alpaca returned no {bar} bars for {symbol} between {start.isoformat()} and "
            f"{end.isoformat()}. Check the symbol and the window (equities trade on market days "
            "only; the IEX feed starts in 2016)."
        )
    log.info("alpaca.fetched", symbol=symbol, bar=bar, asset_class=asset_class, bars=len(frame))
    return frame


@dataclass(frozen=True)
class _Query:
    symbol: str
    timeframe: TimeFrame
    start: datetime
    end: datetime
    api_key: str | None = field(repr=False)  # a traceback or log line never shows the keys
    secret_key: str | None = field(repr=False)
    url_override: str | None


Download = Callable[[], BarSet]


def _stock_client(query: _Query, feed: str, adjustment: str) -> tuple[RESTClient, Download]:
    if not (query.api_key and query.secret_key):
        raise ConfigError(
            f"Alpaca stock data needs API keys, and none were given. Export {KEY_ENV} "
            "(free paper-trading keys work) and run the command again."
        )
    request = StockBarsRequest(
        symbol_or_symbols=query.symbol,
        timeframe=query.timeframe,
        start=query.start,
        end=query.end,
        feed=_enum(DataFeed, feed, "feed"),
        adjustment=_enum(Adjustment, adjustment, "adjustment"),
    )
    client = StockHistoricalDataClient(
        query.api_key, query.secret_key, url_override=query.url_override
    )
    return client, lambda: client.get_stock_bars(request)


def _crypto_client(query: _Query, feed: str, adjustment: str) -> tuple[RESTClient, Download]:
    # Crypto bars are public: keys only raise the rate limit, and the stock feed and
    # adjustment do not apply.
    keys = (query.api_key, query.secret_key) if query.api_key and query.secret_key else (None, None)
    request = CryptoBarsRequest(
        symbol_or_symbols=query.symbol, timeframe=query.timeframe, start=query.start, end=query.end
    )
    client = CryptoHistoricalDataClient(*keys, url_override=query.url_override)
    return client, lambda: client.get_crypto_bars(request)


_CLIENTS: dict[str, Callable[[_Query, str, str], tuple[RESTClient, Download]]] = {
    "equity": _stock_client,
    "crypto": _crypto_client,
}


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


def _enum(kind: Any, value: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ConfigError(f"Unknown Alpaca {name} {value!r}: use one of {choices}.") from None


def retry_requests(
    client: RESTClient,
    max_retries: int,
    sending: Callable[[], Any] = lambda: None,
    answered: Callable[[], Any] = lambda: None,
) -> None:
    """Send every request of alpaca-py's `client` through `retrying`: a 429 or 5xx is tried again
    up to `max_retries` times, as long as Retry-After asks, else backing off. alpaca-py's own
    retry (a fixed 3 s, Retry-After ignored) is switched off. Only for a client that reads: an
    order tried again could be placed twice. `sending()` precedes each try; `answered()` follows
    each request that succeeds."""
    client._retry = 0  # alpaca-py raises APIError at once
    one_request = client._one_request

    def once(method: str, url: str, opts: dict) -> Any:
        sending()
        return one_request(method, url, opts, 0)

    def request(method: str, url: str, opts: dict, retry: int) -> Any:
        answer = retrying(
            lambda: once(method, url, opts),
            max_retries,
            _wait_seconds,
            "alpaca.throttled",
            path=urlsplit(url).path,
        )
        answered()
        return answer

    client._one_request = request


def _wait_seconds(exc: Exception, attempt: int) -> float | None:
    if not isinstance(exc, APIError) or exc.status_code not in RETRY_STATUSES:
        return None
    asked = retry_after_seconds(getattr(exc.response, "headers", None))
    return asked if asked is not None else backoff_seconds(attempt)


def _run(download: Download, symbol: str, key_env: str | None) -> BarSet:
    try:
        return download()
    except APIError as exc:
        raise _mapped(exc, symbol, key_env) from exc
    except requests.RequestException as exc:
        raise TemporaryError(
            f"Could not reach Alpaca's market-data API ({type(exc).__name__}). Check the network "
            "and the data URL override, then run the command again."
        ) from exc


def _mapped(exc: APIError, symbol: str, key_env: str | None) -> Exception:
    # Branch on the HTTP status: APIError.code raises on bodies without a code.
    status = exc.status_code
    said = f"HTTP {status}: {_message(exc)}"
    if status in (401, 403):
        fix = f"check {key_env}" if key_env else "check the keys, or give none for crypto"
        return ConfigError(f"Alpaca refused the request for {symbol} ({said}): {fix}.")
    if status in RETRY_STATUSES:
        return TemporaryError(
            f"Alpaca kept failing for {symbol} after retries ({said}). Wait a few minutes and run "
            "the command again, or fetch a shorter window."
        )
    if status in (400, 404, 422):
        return ConfigError(
            f"Alpaca rejected the request for {symbol} ({said}). Check the symbol, bar size, "
            "feed and window."
        )
    return VenueError(f"Alpaca failed the request for {symbol} ({said}).")


def _message(exc: APIError) -> str:
    text = str(exc)
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else text[:200]

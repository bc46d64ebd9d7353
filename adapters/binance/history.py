"""Download historical OHLCV bars through ccxt: Binance spot (`binance`) and USDT-M futures
(`binanceusdm`), or any other ccxt exchange that serves OHLCV publicly.

The result is the bar frame described in `adapters.history_common`.
"""

import difflib
import math
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import structlog
from tqdm import tqdm

from adapters.history_common import (
    backoff_seconds,
    bar_frame,
    check_request,
    retry_after_seconds,
    retrying,
)
from bot.core.bars import bar_interval
from bot.core.errors import ConfigError, DataError, TemporaryError, VenueError
from bot.core.settings import Secrets, Settings

log = structlog.get_logger(__name__)

# Per-exchange ccxt options, as data. Load only the markets we download from, and never call the
# signed currencies endpoint: public bars need no account even when keys are given.
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    "binanceusdm": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False},
}


def binance_api_urls(base_url: str) -> dict[str, str]:
    """The ccxt `urls['api']` entries that aim Binance spot (`/api/v3`) and USDT-M futures
    (`/fapi/v1`) market data at one base URL, such as a proxy or a fake venue."""
    base = base_url.rstrip("/")
    return {"public": f"{base}/api/v3", "fapiPublic": f"{base}/fapi/v1"}


def download(
    settings: Settings,
    secrets: Secrets,
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    asset_class: str | None,
) -> tuple[pd.DataFrame, str]:
    """`bot data fetch --venue binance`: `fetch_ohlcv` on `venues.binance` (its ccxt exchange,
    and its REST base URL when set; bars are public, so no keys), and the asset class of the
    market: "perpetual" on USDT-M futures, else "crypto"."""
    binance = settings.venues.binance
    base = binance.base_url_http
    frame = fetch_ohlcv(
        binance.ccxt_exchange,
        symbol,
        bar,
        start,
        end,
        urls=binance_api_urls(base) if base else None,
    )
    return frame, "perpetual" if binance.market == "usdt_futures" else "crypto"


def fetch_ohlcv(
    exchange_id: str,
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    *,
    urls: dict[str, str] | None = None,
    page_limit: int = 1000,
    max_retries: int = 5,
    progress: bool = True,
    api_key: str | None = None,
    secret: str | None = None,
) -> pd.DataFrame:
    """Download the `bar` bars of `symbol` (a ccxt unified symbol such as "BTC/USDT") that open
    in [start, end), as a bar frame.

    Pages of `page_limit` candles are requested until `end` or an empty page. Rate limits and
    other transient failures are retried up to `max_retries` times, waiting as long as the
    server's Retry-After header asks, else backing off exponentially. `urls` replaces entries
    of the exchange's `urls['api']` (see `binance_api_urls`).

    Raises ConfigError for an unknown exchange, symbol, bar size or URL key, TemporaryError
    when retries run out, VenueError for other venue errors, and DataError when the venue
    returned no bars in the window.
    """
    check_request(bar, start, end)
    if page_limit < 1 or max_retries < 0:
        raise ConfigError(
            f"page_limit must be at least 1 and max_retries at least 0 (got {page_limit} and "
            f"{max_retries})."
        )
    exchange = _exchange(exchange_id, urls, api_key, secret)
    try:
        _call(exchange, max_retries, exchange.load_markets)
        _check_market(exchange, symbol, bar)
        rows = _download(exchange, symbol, bar, start, end, page_limit, max_retries, progress)
    finally:
        exchange.close()
    values = np.array([row[1:6] for row in rows], dtype=np.float64)
    opens = pd.to_datetime([row[0] for row in rows], unit="ms", utc=True)
    frame = bar_frame(opens, values, start, end)
    if frame.empty:
        raise DataError(
            f"{exchange_id} returned no {bar} bars for {symbol} between {start.isoformat()} and "
            f"{end.isoformat()}. The market may not have traded then: check the listing date "
            "and the window."
        )
    log.info("ccxt.fetched", exchange=exchange_id, symbol=symbol, bar=bar, bars=len(frame))
    return frame


def _exchange(
    exchange_id: str, urls: dict[str, str] | None, api_key: str | None, secret: str | None
) -> ccxt.Exchange:
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
        raise ConfigError(
            f"ccxt knows no exchange {exchange_id!r}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + ". Use binance for spot or binanceusdm for USDT-M futures."
        )
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "options": EXCHANGE_OPTIONS.get(exchange_id, {}),
    }
    if api_key and secret:
        config.update(apiKey=api_key, secret=secret)
    exchange = getattr(ccxt, exchange_id)(config)
    if urls:
        api = exchange.urls.get("api")
        unknown = sorted(set(urls) - set(api)) if isinstance(api, dict) else sorted(urls)
        if unknown:
            known = sorted(api) if isinstance(api, dict) else []
            raise ConfigError(
                f"{exchange_id} has no API URL entries {unknown}; the entries it has are "
                f"{known}. Fix the URL override keys."
            )
        exchange.urls["api"] = {**api, **urls}
    return exchange


def _check_market(exchange: ccxt.Exchange, symbol: str, bar: str) -> None:
    try:
        exchange.market(symbol)
    except ccxt.BadSymbol:
        close = difflib.get_close_matches(symbol, exchange.symbols or [], n=3)
        raise ConfigError(
            f"{exchange.id} lists no market {symbol!r}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + ". Give a ccxt unified symbol such as BTC/USDT."
        ) from None
    if exchange.timeframes and bar not in exchange.timeframes:
        raise ConfigError(
            f"{exchange.id} serves no {bar} bars; it serves {', '.join(exchange.timeframes)}."
        )


def _download(
    exchange: ccxt.Exchange,
    symbol: str,
    bar: str,
    start: datetime,
    end: datetime,
    page_limit: int,
    max_retries: int,
    progress: bool,
) -> list[list[float]]:
    step_ms = int(bar_interval(bar).total_seconds() * 1000)
    since, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    rows: list[list[float]] = []
    expected = math.ceil((end_ms - since) / step_ms)
    with tqdm(
        total=expected, unit="bar", desc=f"{exchange.id} {symbol} {bar}", disable=not progress
    ) as meter:
        while since < end_ms:
            page = _call(
                exchange,
                max_retries,
                exchange.fetch_ohlcv,
                symbol,
                bar,
                since,
                page_limit,
                {"until": end_ms - 1},
            )
            page = [row for row in page if row[0] < end_ms]
            if not page:
                break
            rows.extend(page)
            meter.update(len(page))
            since = int(page[-1][0]) + step_ms
    return rows


def _call(exchange: ccxt.Exchange, max_retries: int, method: Callable[..., Any], *args: Any) -> Any:
    """Call one ccxt method, retrying transient failures and mapping ccxt errors to ours."""
    try:
        return retrying(
            lambda: method(*args),
            max_retries,
            partial(_wait_seconds, exchange),
            "ccxt.retry",
            exchange=exchange.id,
        )
    except ccxt.OperationFailed as exc:  # rate limits, bans, 5xx, timeouts: retries ran out
        raise TemporaryError(
            f"{exchange.id} still failed after {max_retries} retries "
            f"({type(exc).__name__}: {_brief(exc)}). The venue is rate-limiting us or "
            "is unavailable: wait a few minutes and run the command again, or fetch a "
            "shorter window."
        ) from exc
    except ccxt.AuthenticationError as exc:
        raise ConfigError(
            f"{exchange.id} rejected the API key ({_brief(exc)}). Bars are public: unset "
            "the key, or fix BINANCE_API_KEY and BINANCE_API_SECRET."
        ) from exc
    except ccxt.BaseError as exc:
        raise VenueError(
            f"{exchange.id} refused the request ({type(exc).__name__}: {_brief(exc)}). "
            "Check the symbol, bar size and window."
        ) from exc


def _wait_seconds(exchange: ccxt.Exchange, exc: Exception, attempt: int) -> float | None:
    if not isinstance(exc, ccxt.OperationFailed):
        return None  # not transient: mapped by `_call`
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        # ccxt keeps the failed response's headers; Binance names the wait on 429 and 418.
        asked = retry_after_seconds(exchange.last_response_headers)
        if asked is not None:
            return asked
    return backoff_seconds(attempt)


def _brief(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

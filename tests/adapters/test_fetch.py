"""`bot data fetch`'s engine against local fake venues: ccxt against a fake Binance, alpaca-py
against a fake Alpaca. Both fakes serve slices of one synthetic history, so a download must
equal that history exactly, across page boundaries and retries."""

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import structlog

from adapters.alpaca.history import TIMEFRAMES, _Query, fetch_bars
from adapters.binance.history import binance_api_urls, fetch_ohlcv
from bot.core.errors import ConfigError, DataError, TemporaryError
from bot.core.logging import configure_logging
from bot.core.settings import LoggingSettings
from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import HttpFault
from tests.fakes.server import REDACTED, serve_in_thread
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.integration

HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
START = HISTORY.start
MINUTE = timedelta(minutes=1)
KLINES = "/api/v3/klines"
STOCK_BARS = "/v2/stocks/bars"
CRYPTO_BARS = "/v1beta3/crypto/us/bars"
KEY_ID, SECRET = "PKTEST0123456789", "s3cr3t-never-log-me-9f8e7d"


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    with serve_in_thread(FakeBinance(HISTORY)) as fake:
        yield fake


@pytest.fixture
def alpaca() -> Iterator[FakeAlpaca]:
    with serve_in_thread(FakeAlpaca(HISTORY, key_id=KEY_ID, secret_key=SECRET)) as fake:
        yield fake


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _assert_bar_frame(frame: pd.DataFrame, step: timedelta) -> None:
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == "float64").all()
    assert frame.index.name == "ts"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert (frame.index.to_series().diff().dropna() == step).all()
    # The synthetic walk opens each bar at the previous close, also across page boundaries.
    assert (frame["open"].to_numpy()[1:] == frame["close"].to_numpy()[:-1]).all()


def _spot(
    binance: FakeBinance, symbol: str, bar: str, end: datetime, start: datetime = START, **kwargs
) -> pd.DataFrame:
    urls = binance_api_urls(binance.base_url)
    return fetch_ohlcv("binance", symbol, bar, start, end, urls=urls, progress=False, **kwargs)


# --- ccxt / Binance ----------------------------------------------------------------------------


def test_binance_spot_pages_through_the_window(binance: FakeBinance) -> None:
    end = START + 2500 * MINUTE

    frame = _spot(binance, "BTC/USDT", "1m", end, page_limit=1000)

    _assert_bar_frame(frame, MINUTE)
    pd.testing.assert_frame_equal(frame, HISTORY.frame("BTCUSDT", 60).iloc[:2500])
    pages = binance.requests_to(KLINES)
    assert [int(page.query["startTime"]) for page in pages] == [
        _ms(START + offset * MINUTE) for offset in (0, 1000, 2000)
    ]
    assert {page.query["limit"] for page in pages} == {"1000"}
    assert {page.query["endTime"] for page in pages} == {str(_ms(end) - 1)}


def test_binance_stops_on_an_empty_page_at_the_end_of_history(binance: FakeBinance) -> None:
    end = HISTORY.end + timedelta(days=2)

    frame = _spot(binance, "ETH/USDT", "5m", end, page_limit=200)

    pd.testing.assert_frame_equal(frame, HISTORY.frame("ETHUSDT", 300))
    assert len(frame) == 576
    assert len(binance.requests_to(KLINES)) == 4  # 200 + 200 + 176 bars, then an empty page


def test_binance_usdm_futures_download_from_fapi(binance: FakeBinance) -> None:
    urls = binance_api_urls(binance.base_url)

    frame = fetch_ohlcv(
        "binanceusdm", "BTC/USDT:USDT", "1h", START, HISTORY.end, urls=urls, progress=False
    )

    _assert_bar_frame(frame, timedelta(hours=1))
    pd.testing.assert_frame_equal(frame, HISTORY.frame("BTCUSDT", 3600))
    assert [request.path for request in binance.requests] == [
        "/fapi/v1/exchangeInfo",
        "/fapi/v1/klines",  # one page reaches the end of the window
    ]


@pytest.mark.parametrize(
    ("status", "retry_after", "shortest", "longest"),
    [(429, 2, 1.9, 2.9), (418, 0, 0.0, 0.5)],
)
def test_binance_rate_limit_waits_as_long_as_retry_after_asks(
    binance: FakeBinance, status: int, retry_after: int, shortest: float, longest: float
) -> None:
    binance.faults.http.append(HttpFault(status, path=KLINES, nth=2, retry_after=retry_after))
    end = START + 2500 * MINUTE

    frame = _spot(binance, "BTC/USDT", "1m", end)

    pd.testing.assert_frame_equal(frame, HISTORY.frame("BTCUSDT", 60).iloc[:2500])
    pages = binance.requests_to(KLINES)
    assert [page.status for page in pages] == [200, status, 200, 200]
    assert pages[1].query == pages[2].query  # the refused page is asked for again
    # The server's wait, not the 1 s exponential backoff used when the server names none.
    assert shortest <= pages[2].at - pages[1].at < longest


def test_binance_5xx_once_is_retried(binance: FakeBinance) -> None:
    binance.faults.http.append(HttpFault(500, path=KLINES, nth=1))

    frame = _spot(binance, "BTC/USDT", "1h", HISTORY.end)

    pd.testing.assert_frame_equal(frame, HISTORY.frame("BTCUSDT", 3600))
    assert [page.status for page in binance.requests_to(KLINES)] == [500, 200]


def test_binance_persistent_429_ends_in_temporary_error(binance: FakeBinance) -> None:
    binance.faults.http.append(HttpFault(429, path=KLINES, times=None, retry_after=0))

    with pytest.raises(TemporaryError, match="after 2 retries") as caught:
        _spot(binance, "BTC/USDT", "1m", START + 10 * MINUTE, max_retries=2)

    assert "wait a few minutes" in str(caught.value)
    assert [page.status for page in binance.requests_to(KLINES)] == [429, 429, 429]


def test_binance_unknown_symbol_is_a_config_error(binance: FakeBinance) -> None:
    with pytest.raises(ConfigError, match="BTC/USDX") as caught:
        _spot(binance, "BTC/USDX", "1m", START + 10 * MINUTE)

    assert "did you mean BTC/USDT" in str(caught.value)
    assert binance.requests_to(KLINES) == []


def test_binance_window_before_listing_is_a_data_error(binance: FakeBinance) -> None:
    before = START - timedelta(days=1)

    with pytest.raises(DataError, match="no 1h bars for BTC/USDT"):
        _spot(binance, "BTC/USDT", "1h", START, start=before)

    assert len(binance.requests_to(KLINES)) == 1


@pytest.mark.parametrize(
    ("bar", "start", "message"),
    [
        ("2m", START, "Unknown bar size"),
        ("1m", START.replace(tzinfo=None), "no timezone"),
        ("1m", START + timedelta(days=1), "window is empty"),
    ],
)
def test_bad_requests_fail_before_any_network_call(bar: str, start: datetime, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fetch_ohlcv("binance", "BTC/USDT", bar, start, START + MINUTE, progress=False)


# --- alpaca-py / Alpaca ------------------------------------------------------------------------


def _stocks(alpaca: FakeAlpaca, end: datetime, **kwargs) -> pd.DataFrame:
    keys = {"api_key": KEY_ID, "secret_key": SECRET} | kwargs
    return fetch_bars(
        "AAPL", "1m", START, end, asset_class="equity", url_override=alpaca.base_url, **keys
    )


def test_alpaca_stock_bars_follow_next_page_token(alpaca: FakeAlpaca) -> None:
    end = START + 2500 * MINUTE

    frame = _stocks(alpaca, end, progress=False)

    _assert_bar_frame(frame, MINUTE)
    pd.testing.assert_frame_equal(frame, HISTORY.frame("AAPL", 60).iloc[:2500])
    pages = alpaca.requests_to(STOCK_BARS)
    tokens = [page.query.get("page_token") for page in pages]
    assert tokens[0] is None and None not in tokens[1:] and len(set(tokens)) == 3
    assert {page.query["feed"] for page in pages} == {"iex"}
    assert {page.query["adjustment"] for page in pages} == {"split"}
    assert {page.headers["APCA-API-KEY-ID"] for page in pages} == {KEY_ID}
    assert {page.headers["APCA-API-SECRET-KEY"] for page in pages} == {REDACTED}


def test_alpaca_crypto_bars_need_no_keys(alpaca: FakeAlpaca) -> None:
    end = START + 2500 * MINUTE

    frame = fetch_bars(
        "BTC/USD",
        "1m",
        START,
        end,
        asset_class="crypto",
        api_key=None,
        secret_key=None,
        url_override=alpaca.base_url,
        progress=False,
    )

    _assert_bar_frame(frame, MINUTE)
    pd.testing.assert_frame_equal(frame, HISTORY.frame("BTC/USD", 60).iloc[:2500])
    pages = alpaca.requests_to(CRYPTO_BARS)
    assert len(pages) == 3
    assert all("APCA-API-KEY-ID" not in page.headers for page in pages)


def test_alpaca_429_waits_as_long_as_retry_after_asks(alpaca: FakeAlpaca) -> None:
    alpaca.faults.http.append(HttpFault(429, path=STOCK_BARS, nth=2, retry_after=2))

    frame = _stocks(alpaca, START + 2500 * MINUTE, progress=False)

    pd.testing.assert_frame_equal(frame, HISTORY.frame("AAPL", 60).iloc[:2500])
    pages = alpaca.requests_to(STOCK_BARS)
    assert [page.status for page in pages] == [200, 429, 200, 200]
    assert pages[1].query == pages[2].query
    # Retry-After: 2, not alpaca-py's fixed 3 s nor our 1 s first backoff.
    assert 1.9 <= pages[2].at - pages[1].at < 2.9


def test_alpaca_persistent_429_ends_in_temporary_error(alpaca: FakeAlpaca) -> None:
    alpaca.faults.http.append(HttpFault(429, path=STOCK_BARS, times=None, retry_after=0))

    with pytest.raises(TemporaryError, match="HTTP 429: rate limit exceeded"):
        _stocks(alpaca, START + MINUTE, max_retries=1, progress=False)

    assert [page.status for page in alpaca.requests_to(STOCK_BARS)] == [429, 429]


def test_alpaca_window_without_bars_is_a_data_error(alpaca: FakeAlpaca) -> None:
    with pytest.raises(DataError, match="no 1m bars for AAPL"):
        fetch_bars(
            "AAPL",
            "1m",
            START - timedelta(days=1),
            START,
            asset_class="equity",
            api_key=KEY_ID,
            secret_key=SECRET,
            url_override=alpaca.base_url,
            progress=False,
        )


def test_alpaca_stocks_without_keys_name_the_variables(alpaca: FakeAlpaca) -> None:
    with pytest.raises(ConfigError) as caught:
        _stocks(alpaca, START + MINUTE, api_key=None, secret_key=None, progress=False)

    assert "APCA_API_KEY_ID" in str(caught.value)
    assert "APCA_API_SECRET_KEY" in str(caught.value)
    assert alpaca.requests == []


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="json"), "test-run", stream=stream)
    caplog.set_level(logging.DEBUG)
    yield stream
    structlog.reset_defaults()


def test_alpaca_secret_never_reaches_logs_or_errors(
    alpaca: FakeAlpaca,
    captured_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alpaca.faults.http.append(HttpFault(429, path=STOCK_BARS, nth=1, retry_after=0))
    _stocks(alpaca, START + 1500 * MINUTE, progress=True)

    with pytest.raises(ConfigError, match="APCA_API_KEY_ID") as refused:
        _stocks(alpaca, START + MINUTE, secret_key=SECRET[::-1], progress=False)

    logs = captured_logs.getvalue()
    assert "alpaca.throttled" in logs and "alpaca.fetched" in logs  # the logs were captured
    outputs = capsys.readouterr()
    for text in (logs, caplog.text, outputs.out, outputs.err, str(refused.value)):
        assert SECRET not in text
        assert SECRET[::-1] not in text


def test_an_alpaca_query_shows_no_keys_in_its_repr() -> None:
    # A debugger, a log line or a traceback with locals shows the query as its repr.
    query = _Query("AAPL", TIMEFRAMES["1m"], START, START + MINUTE, KEY_ID, SECRET, None)

    assert "AAPL" in repr(query)
    assert KEY_ID not in repr(query) and SECRET not in repr(query)

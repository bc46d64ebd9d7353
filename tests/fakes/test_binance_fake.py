"""The fake Binance against nautilus' own Binance HTTP client and plain websocket clients:
signed requests, orders, user-data events in the shapes nautilus decodes, klines, and the
injected faults (-1022, -1021, -2010, 429 with Retry-After, 5xx, lost answers, listen-key
expiry)."""

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import pytest
from nautilus_trader.adapters.binance.common.enums import (
    BinanceAccountType,
    BinanceOrderSide,
    BinanceOrderType,
)
from nautilus_trader.adapters.binance.futures.http.account import BinanceFuturesAccountHttpAPI
from nautilus_trader.adapters.binance.futures.http.user import BinanceFuturesUserDataHttpAPI
from nautilus_trader.adapters.binance.futures.schemas.user import BinanceFuturesOrderUpdateWrapper
from nautilus_trader.adapters.binance.http.client import BinanceHttpClient
from nautilus_trader.adapters.binance.spot.schemas.user import BinanceSpotOrderUpdateWrapper
from nautilus_trader.common.component import LiveClock

from tests.fakes.binance import FakeBinance
from tests.fakes.binance_auth import sign
from tests.fakes.faults import FaultPlan, HttpFault, LostResponse
from tests.fakes.server import REDACTED, serve_in_thread
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.integration

HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
KEY, SECRET = "binance-key-1", "binance-secret-never-logged"


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def binance(faults: FaultPlan) -> Iterator[FakeBinance]:
    with serve_in_thread(FakeBinance(HISTORY, faults, api_key=KEY, api_secret=SECRET)) as fake:
        yield fake


def _call(
    fake: FakeBinance, method: str, path: str, params: dict[str, Any], secret: str = SECRET
) -> tuple[int, Any, Any]:
    """A signed request as Binance clients make it; returns (status, body, headers)."""
    query = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
    url = f"{fake.base_url}{path}?{query}&signature={sign(secret, query)}"
    request = urllib.request.Request(url, method=method, headers={"X-MBX-APIKEY": KEY})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.load(answer), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers


def _market(symbol: str, side: str, qty: float) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": qty}


def _decode(message: dict[str, Any], schema: type) -> Any:
    # Decoding with nautilus' own schemas proves the adapter will parse the fake's events.
    return msgspec.json.decode(json.dumps(message), type=schema)


async def _receive(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    return [json.loads((await ws.receive(timeout=5)).data) for _ in range(count)]


def test_nautilus_client_signs_places_an_order_and_the_fill_arrives_on_the_user_stream(
    binance: FakeBinance,
) -> None:
    price = binance.futures.book.prices["BTCUSDT"]

    async def scenario() -> tuple[Any, ...]:
        clock = LiveClock()
        client = BinanceHttpClient(clock, KEY, SECRET, binance.base_url)
        account = BinanceFuturesAccountHttpAPI(client, clock, BinanceAccountType.USDT_FUTURES)
        user = BinanceFuturesUserDataHttpAPI(client, BinanceAccountType.USDT_FUTURES)
        info = await account.query_futures_account_info(recv_window="5000")
        hedge = await account.query_futures_hedge_mode()
        key = (await user.create_listen_key()).listenKey
        async with aiohttp.ClientSession() as session:
            url = f"{binance.ws_url}/stream?streams={key}"
            async with session.ws_connect(url) as ws:
                ack = await account.new_order(
                    "BTCUSDT", BinanceOrderSide.BUY, BinanceOrderType.MARKET, quantity="5"
                )
                events = await _receive(ws, 3)
        positions = await account.query_futures_position_risk("BTCUSDT")
        return info, hedge, ack, events, positions

    info, hedge, ack, events, positions = asyncio.run(scenario())

    assert info.assets[0].walletBalance == "100000" and hedge.dualSidePosition is False
    assert (ack.status.value, ack.executedQty) == ("NEW", "0")  # fills come on the stream
    updates = [e for e in events if e["data"]["e"] == "ORDER_TRADE_UPDATE"]
    decoded = [
        msgspec.json.decode(json.dumps(e), type=BinanceFuturesOrderUpdateWrapper) for e in updates
    ]
    assert [(u.data.o.x.value, u.data.o.X.value) for u in decoded] == [
        ("NEW", "NEW"),
        ("TRADE", "FILLED"),
    ]
    assert float(decoded[1].data.o.L) == pytest.approx(price) and decoded[1].data.o.i == ack.orderId
    assert [e["data"]["e"] for e in events][2] == "ACCOUNT_UPDATE"
    assert float(positions[0].positionAmt) == 5


def test_wrong_secret_gets_minus_1022_and_changes_nothing(binance: FakeBinance) -> None:
    status, body, _ = _call(binance, "POST", "/fapi/v1/order", _market("BTCUSDT", "BUY", 1), "bad")

    assert (status, body["code"]) == (400, -1022)
    assert binance.futures.book.orders == {}
    assert SECRET not in repr(binance.requests) and REDACTED in repr(binance.requests)


def test_clock_skew_gets_minus_1021_and_shows_in_server_time(
    binance: FakeBinance, faults: FaultPlan
) -> None:
    faults.clock_skew_ms = 10_000

    status, body, _ = _call(binance, "GET", "/fapi/v2/account", {})
    with urllib.request.urlopen(binance.base_url + "/fapi/v1/time", timeout=5) as answer:
        server_ms = json.load(answer)["serverTime"]

    assert (status, body["code"]) == (400, -1021)
    assert server_ms - time.time() * 1000 == pytest.approx(10_000, abs=2_000)


def test_spot_sell_without_holdings_gets_minus_2010(binance: FakeBinance) -> None:
    status, body, _ = _call(binance, "POST", "/api/v3/order", _market("ETHUSDT", "SELL", 1))

    assert (status, body["code"]) == (400, -2010)


def test_429_carries_retry_after(binance: FakeBinance, faults: FaultPlan) -> None:
    faults.http.append(HttpFault(418, path="/fapi/v1/order", retry_after=30))

    status, body, headers = _call(binance, "POST", "/fapi/v1/order", _market("BTCUSDT", "BUY", 1))

    assert (status, body["code"], headers["Retry-After"]) == (418, -1003, "30")
    assert binance.futures.book.orders == {}


def test_5xx_after_acceptance_leaves_the_order_at_the_venue(
    binance: FakeBinance, faults: FaultPlan
) -> None:
    faults.lost_responses.append(LostResponse(status=503))

    status, _, _ = _call(binance, "POST", "/fapi/v1/order", _market("BTCUSDT", "BUY", 1))
    _, order, _ = _call(binance, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 1})

    assert status == 503
    assert (order["status"], order["executedQty"]) == ("FILLED", "1")


def test_response_lost_without_answer_times_the_client_out(
    binance: FakeBinance, faults: FaultPlan
) -> None:
    faults.lost_responses.append(LostResponse())

    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _call(binance, "POST", "/fapi/v1/order", _market("BTCUSDT", "BUY", 1))

    assert len(binance.futures.book.orders) == 1


def test_spot_execution_report_and_listen_key_expiry(
    binance: FakeBinance, faults: FaultPlan
) -> None:
    _, created, _ = _call(binance, "POST", "/api/v3/userDataStream", {})
    key = created["listenKey"]

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{binance.ws_url}/ws/{key}") as ws:
                await asyncio.to_thread(
                    _call, binance, "POST", "/api/v3/order", _market("ETHUSDT", "BUY", 2)
                )
                events = await _receive(ws, 3)
                binance.expire_listen_keys()
                return [*events, *(await _receive(ws, 1))]

    events = asyncio.run(scenario())
    status, body, _ = _call(binance, "PUT", "/api/v3/userDataStream", {"listenKey": key})

    wrapped = [{"stream": key, "data": e} for e in events if e["e"] == "executionReport"]
    reports = [
        msgspec.json.decode(json.dumps(w), type=BinanceSpotOrderUpdateWrapper) for w in wrapped
    ]
    assert [(r.data.x.value, r.data.X.value, r.data.l) for r in reports] == [
        ("NEW", "NEW", "0"),
        ("TRADE", "FILLED", "2"),
    ]
    balances = {b["a"]: float(b["f"]) for b in events[2]["B"]}
    assert events[2]["e"] == "outboundAccountPosition" and balances["ETH"] == 2
    assert events[3] == {"e": "listenKeyExpired", "E": events[3]["E"], "listenKey": key}
    assert (status, body["code"]) == (400, -1125)


def test_listen_keys_expire_after_their_ttl() -> None:
    fake = FakeBinance(HISTORY, FaultPlan(listen_key_ttl_s=0.4), api_key=KEY, api_secret=SECRET)
    with serve_in_thread(fake):
        _, created, _ = _call(fake, "POST", "/fapi/v1/listenKey", {})
        key = created["listenKey"]

        alive, _, _ = _call(fake, "PUT", "/fapi/v1/listenKey", {"listenKey": key})
        time.sleep(1.0)
        status, body, _ = _call(fake, "PUT", "/fapi/v1/listenKey", {"listenKey": key})

    assert alive == 200
    assert (status, body["code"]) == (400, -1125)


def test_closed_klines_reach_a_combined_stream_subscriber(binance: FakeBinance) -> None:
    at = datetime(2024, 1, 2, tzinfo=UTC)

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{binance.ws_url}/stream?streams=ethusdt@trade") as ws:
                await ws.send_str(
                    json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 7})
                )
                reply = json.loads((await ws.receive(timeout=5)).data)
                await asyncio.to_thread(
                    binance.push_kline, "BTCUSDT", at, (1.0, 2.0, 0.5, 1.5, 3.0)
                )
                return [reply, *(await _receive(ws, 1))]

    reply, event = asyncio.run(scenario())

    assert reply == {"result": None, "id": 7}
    assert event["stream"] == "btcusdt@kline_1m"
    kline = event["data"]["k"]
    assert (kline["t"], kline["T"], kline["c"], kline["x"]) == (
        int(at.timestamp() * 1000),
        int(at.timestamp() * 1000) + 59_999,
        "1.5",
        True,
    )
    assert binance.futures.book.prices["BTCUSDT"] == 1.5

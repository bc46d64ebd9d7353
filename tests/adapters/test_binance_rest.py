"""The pre-flight's Binance REST client against the fake USDT-M futures API: a GET answered 5xx
or 429 is tried again (the venue's Retry-After, else a doubling wait, capped), up to four tries;
an order is never sent twice, whatever the answer."""

import pytest

from adapters.binance import rest
from adapters.binance.rest import BinanceRest
from bot.core.errors import VenueError
from bot.core.settings import Secrets
from tests.fakes.faults import FaultPlan, HttpFault
from tests.support.cli import KEY, SECRET, serve_binance

pytestmark = pytest.mark.integration

SECRETS = Secrets(binance_api_key=KEY, binance_api_secret=SECRET)


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr("adapters.history_common.time.sleep", waits.append)
    return waits


def _paths(fake, path: str) -> list[int]:
    return [r.status for r in fake.requests if r.path == path]


def test_a_get_answered_503_then_429_is_tried_again_until_it_answers(no_waits) -> None:
    plan = FaultPlan(
        http=[
            HttpFault(503, path="/fapi/v1/time"),
            HttpFault(429, path="/fapi/v1/time", nth=2, retry_after=2.0),
        ]
    )
    with serve_binance(plan) as fake:
        answer = BinanceRest(fake.base_url, SECRETS, 5000).get("/fapi/v1/time")
        statuses = _paths(fake, "/fapi/v1/time")

    assert "serverTime" in answer
    assert statuses == [503, 429, 200]
    assert no_waits == [1.0, 2.0]  # the doubling wait, then the venue's Retry-After


def test_a_get_that_keeps_failing_gives_up_after_four_tries_with_the_venues_words() -> None:
    plan = FaultPlan(http=[HttpFault(503, path="/fapi/v1/time", times=None)])
    with serve_binance(plan) as fake:
        with pytest.raises(VenueError, match="503"):
            BinanceRest(fake.base_url, SECRETS, 5000).get("/fapi/v1/time")
        statuses = _paths(fake, "/fapi/v1/time")

    assert statuses == [503] * rest.GET_ATTEMPTS


def test_an_order_answered_503_is_not_sent_again() -> None:
    plan = FaultPlan(http=[HttpFault(503, path="/fapi/v1/order")])
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"}
    with serve_binance(plan) as fake:
        with pytest.raises(VenueError, match="503"):
            BinanceRest(fake.base_url, SECRETS, 5000).request(
                "POST", "/fapi/v1/order", params, signed=True
            )
        statuses = _paths(fake, "/fapi/v1/order")

    assert statuses == [503]

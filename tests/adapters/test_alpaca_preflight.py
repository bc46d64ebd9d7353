"""The Alpaca pre-flight against the fake Alpaca: like Binance's, a GET answered 5xx or 429 is
tried again (the venue's Retry-After, else a doubling wait) up to four tries, so a restart in a
brief outage does not give up at its first request; the clock skew is measured on the try that
answered."""

import pytest
from pydantic import SecretStr

from adapters.alpaca import preflight as alpaca_preflight
from bot.core.errors import ConfigError, VenueError
from bot.core.settings import Secrets
from bot.core.settings_loader import load_settings
from tests.fakes.faults import FaultPlan, HttpFault
from tests.support.alpaca_node import KEY, SECRET, serve_alpaca

pytestmark = pytest.mark.integration

SECRETS = Secrets(alpaca_api_key=SecretStr(KEY), alpaca_secret_key=SecretStr(SECRET))
ASSET = "/v2/assets/BTC/USD"


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr("adapters.history_common.time.sleep", waits.append)
    return waits


def _preflight(fake):
    settings = load_settings(cli={"venues.alpaca.trading_url": fake.base_url}).settings
    return alpaca_preflight.preflight(settings, SECRETS, "BTC/USD")


def _statuses(fake, path: str) -> list[int]:
    return [r.status for r in fake.requests if r.path == path]


def test_each_get_answered_5xx_or_429_is_tried_again_until_it_answers(no_waits) -> None:
    # Arrange
    plan = FaultPlan(
        http=[
            HttpFault(503, path="/v2/account"),
            HttpFault(500, path="/v2/clock"),
            HttpFault(429, path=ASSET, retry_after=2.0),
        ]
    )

    # Act
    with serve_alpaca(plan) as fake:
        report = _preflight(fake)
        statuses = [_statuses(fake, p) for p in ("/v2/account", "/v2/clock", ASSET)]

    # Assert
    assert report.symbol == "BTC/USD" and report.market == "crypto"
    assert statuses == [[503, 200], [500, 200], [429, 200]]
    assert no_waits == [1.0, 1.0, 2.0]  # a doubling wait from 1 s, or the venue's Retry-After


def test_a_get_that_keeps_failing_gives_up_after_four_tries_with_alpacas_status(no_waits) -> None:
    # Arrange
    plan = FaultPlan(http=[HttpFault(503, path="/v2/account", times=None)])

    # Act
    with serve_alpaca(plan) as fake:
        with pytest.raises(VenueError, match="HTTP 503") as refused:
            _preflight(fake)
        statuses = _statuses(fake, "/v2/account")

    # Assert
    assert statuses == [503] * alpaca_preflight.GET_ATTEMPTS
    assert "Nothing was traded" in str(refused.value)


def test_the_clock_skew_is_judged_by_the_try_that_answered() -> None:
    # Arrange: the clock answers only after a wait longer than twice the skew limit.
    plan = FaultPlan(http=[HttpFault(429, path="/v2/clock", retry_after=3.0)])

    # Act
    with serve_alpaca(plan) as fake:
        report = _preflight(fake)

    # Assert: the wait is not mistaken for a skewed clock.
    assert abs(report.clock_skew_ms) < 500


def test_a_symbol_alpaca_does_not_list_is_a_config_error_asked_once() -> None:
    with serve_alpaca() as fake:
        settings = load_settings(cli={"venues.alpaca.trading_url": fake.base_url}).settings
        with pytest.raises(ConfigError, match="Alpaca does not list the asset 'NOPE'"):
            alpaca_preflight.preflight(settings, SECRETS, "NOPE")
        asked = _statuses(fake, "/v2/assets/NOPE")

    assert asked == [404]  # a 404 is an answer, not tried again

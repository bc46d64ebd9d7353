"""adapters/binance/execution.py: the pieces of the guarded execution client that need no node."""

from nautilus_trader.adapters.binance.http.error import BinanceClientError

from adapters.binance.config import binance_clients
from adapters.binance.execution import _retry_after
from bot.core.breaker import Backoff
from bot.core.settings import BinanceSettings, Secrets

KEYS = {"binance_api_key": "k-123", "binance_api_secret": "s-456"}


def test_retry_after_is_read_from_an_error_whatever_the_header_case():
    assert _retry_after(BinanceClientError(429, {"code": -1003}, {"retry-after": "7"})) == "7"
    assert _retry_after(BinanceClientError(418, {"code": -1003}, {"Retry-After": "60"})) == "60"
    # What nautilus 1.221's HTTP client passes on: no headers at all.
    assert _retry_after(BinanceClientError(429, {"code": -1003}, {})) is None


def test_the_execution_config_carries_the_breaker_waits_of_risk():
    _, execution = binance_clients(BinanceSettings(), Secrets(**KEYS), Backoff(2.0, 9.0, 30.0))

    assert execution.backoff == Backoff(2.0, 9.0, 30.0)
    assert binance_clients(BinanceSettings(), Secrets(**KEYS))[1].backoff == Backoff()

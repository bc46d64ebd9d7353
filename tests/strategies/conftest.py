import pytest

from tests.strategies.harness import crypto_instrument, equity_instrument


@pytest.fixture(scope="session")
def stock():
    """A US stock on a margin account (long and short)."""
    return equity_instrument()


@pytest.fixture(scope="session")
def btc():
    """BTC/USDT spot, traded long-only on a cash account."""
    return crypto_instrument()

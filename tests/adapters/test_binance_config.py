"""adapters/binance/config.py: nautilus' Binance client configs from the settings and the
environment."""

import pytest
from nautilus_trader.adapters.binance import BinanceAccountType

from adapters.binance.config import binance_clients, is_long_only
from bot.core.errors import ConfigError
from bot.core.settings import BinanceSettings, Secrets

KEYS = {"binance_api_key": "k-123", "binance_api_secret": "s-456"}


def test_default_is_usdt_futures_one_way_without_reduce_only():
    venue = BinanceSettings()

    data, execution = binance_clients(venue, Secrets(**KEYS))

    assert data.account_type == execution.account_type == BinanceAccountType.USDT_FUTURES
    assert execution.use_reduce_only is False
    assert execution.use_position_ids is False
    assert execution.testnet is True
    assert not is_long_only(venue)


def test_urls_and_spot_market_pass_through():
    venue = BinanceSettings(
        market="spot", base_url_http="http://127.0.0.1:9", base_url_ws="ws://127.0.0.1:9"
    )

    data, execution = binance_clients(venue, Secrets(**KEYS))

    assert data.account_type == BinanceAccountType.SPOT
    assert (execution.base_url_http, execution.base_url_ws) == (
        "http://127.0.0.1:9",
        "ws://127.0.0.1:9",
    )
    assert is_long_only(venue)


def test_a_missing_key_names_its_environment_variable():
    with pytest.raises(ConfigError, match="BINANCE_API_SECRET"):
        binance_clients(BinanceSettings(), Secrets(binance_api_key="k"))

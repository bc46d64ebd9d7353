"""Factories that build the Alpaca clients inside a nautilus node, and `alpaca_venue`, which
turns the bot's settings into everything `bot.engine.node` needs for Alpaca."""

import asyncio
from dataclasses import dataclass

from alpaca.trading.client import TradingClient
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.live.factories import LiveDataClientFactory, LiveExecClientFactory
from nautilus_trader.model.identifiers import ClientId, InstrumentId

from adapters.alpaca.config import (
    AlpacaDataClientConfig,
    AlpacaExecClientConfig,
    alpaca_clients,
    alpaca_instrument_id,
)
from adapters.alpaca.constants import ALPACA
from adapters.alpaca.data import AlpacaDataClient
from adapters.alpaca.execution import AlpacaExecutionClient
from adapters.alpaca.providers import AlpacaInstrumentProvider, fetch_asset, is_long_only
from bot.core.errors import ConfigError
from bot.core.settings import AlpacaSettings, Secrets


def trading_client(api_key: str, secret_key: str, trading_url: str) -> TradingClient:
    """alpaca-py's trading REST client on `trading_url` (a base URL)."""
    return TradingClient(api_key, secret_key, url_override=trading_url.rstrip("/"))


class AlpacaLiveDataClientFactory(LiveDataClientFactory):
    """Builds the Alpaca data client (register it under the name "ALPACA")."""

    @staticmethod
    def create(
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: AlpacaDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> AlpacaDataClient:
        client = trading_client(config.api_key, config.secret_key, config.trading_url)
        provider = AlpacaInstrumentProvider(client, config.instrument_provider)
        return AlpacaDataClient(loop, ClientId(name), msgbus, cache, clock, provider, config)


class AlpacaLiveExecClientFactory(LiveExecClientFactory):
    """Builds the Alpaca execution client (register it under the name "ALPACA")."""

    @staticmethod
    def create(
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: AlpacaExecClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> AlpacaExecutionClient:
        client = trading_client(config.api_key, config.secret_key, config.trading_url)
        provider = AlpacaInstrumentProvider(client, config.instrument_provider)
        return AlpacaExecutionClient(loop, client, msgbus, cache, clock, provider, config)


FACTORIES = (ALPACA, AlpacaLiveDataClientFactory, AlpacaLiveExecClientFactory)


@dataclass(frozen=True)
class AlpacaVenue:
    """What the node builder needs to trade one Alpaca symbol."""

    instrument_id: InstrumentId
    data: AlpacaDataClientConfig
    execution: AlpacaExecClientConfig
    long_only: bool  # crypto, or an equity Alpaca will not lend


def alpaca_venue(venue: AlpacaSettings, secrets: Secrets, symbol: str, bar: str) -> AlpacaVenue:
    """The client configs for trading `symbol` on `bar` bars, and whether it may be shorted
    (one blocking `/v2/assets` request). ConfigError for a missing key, an unknown asset, or a
    bar size Alpaca does not stream."""
    if bar != "1m":
        raise ConfigError(
            f"Alpaca streams 1-minute bars only, so a live node cannot trade {bar} bars there. "
            "Use --bar 1m."
        )
    instrument_id = alpaca_instrument_id(symbol)
    data, execution = alpaca_clients(venue, secrets, instrument_id)
    client = trading_client(data.api_key, data.secret_key, venue.trading_url)
    asset = fetch_asset(client, instrument_id.symbol.value)
    return AlpacaVenue(instrument_id, data, execution, is_long_only(asset))

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
    ClientParts,
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


class _Factory:
    """The `create` of both factories: alpaca-py's trading client and the instrument provider
    from the client's config, then the client (`client_class`)."""

    client_class: type

    @classmethod
    def create(
        cls,
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: AlpacaDataClientConfig | AlpacaExecClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> AlpacaDataClient | AlpacaExecutionClient:
        rest = trading_client(config.api_key, config.secret_key, config.trading_url)
        provider = AlpacaInstrumentProvider(rest, config.instrument_provider)
        parts = ClientParts(loop, ClientId(name), msgbus, cache, clock, rest, provider)
        return cls.client_class(parts, config)


class AlpacaLiveDataClientFactory(_Factory, LiveDataClientFactory):
    """Builds the Alpaca data client (register it under the name "ALPACA")."""

    client_class = AlpacaDataClient


class AlpacaLiveExecClientFactory(_Factory, LiveExecClientFactory):
    """Builds the Alpaca execution client (register it under the name "ALPACA")."""

    client_class = AlpacaExecutionClient


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

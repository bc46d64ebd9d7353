"""Configs of the Alpaca data and execution clients, their construction from the bot's
settings (`alpaca_clients`), as `adapters.binance.config` does for Binance, and `ClientParts`,
what the factories hand both clients besides their config.

Every endpoint is configurable so tests can aim the clients at the fake Alpaca:
- `trading_url`: trading REST base URL (paper or live);
- `data_url`: market-data REST base URL (historical bars);
- `data_stream_url`: base URL of the market-data websockets; the adapter appends the feed path
  (`/v2/iex`, `/v2/sip`, `/v1beta3/crypto/us`), because alpaca-py wants the FULL URL there;
- `trade_stream_url`: FULL URL of the `trade_updates` websocket; by default the trading host's
  `/stream`, which is where Alpaca serves it.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from alpaca.trading.client import TradingClient
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.config import (
    InstrumentProviderConfig,
    LiveDataClientConfig,
    LiveExecClientConfig,
)
from nautilus_trader.model.identifiers import ClientId, InstrumentId

from adapters.alpaca.constants import (
    ALPACA,
    ALPACA_VENUE,
    CRYPTO_STREAM_PATH,
    DATA_STREAM_URL,
    DATA_URL,
    PAPER_TRADING_URL,
    STOCK_STREAM_PATH,
)
from adapters.alpaca.providers import AlpacaInstrumentProvider
from bot.core.settings import AlpacaSettings, Secrets


class AlpacaDataClientConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """Alpaca market data: instruments from the trading API's `/v2/assets`, historical bars
    from the data REST API, live bars and quotes from the msgpack websockets.

    `feed` is the stock feed ("iex" on free plans, "sip" with a subscription); crypto has one
    feed. Keys come from the environment (the CLI reads APCA_API_KEY_ID / APCA_API_SECRET_KEY).
    """

    api_key: str
    secret_key: str
    trading_url: str = PAPER_TRADING_URL
    data_url: str = DATA_URL
    data_stream_url: str = DATA_STREAM_URL
    feed: str = "iex"

    def stream_url(self, crypto: bool) -> str:
        """The full websocket URL of the stock or the crypto feed."""
        path = CRYPTO_STREAM_PATH if crypto else STOCK_STREAM_PATH.format(feed=self.feed)
        return self.data_stream_url.rstrip("/") + path


class AlpacaExecClientConfig(LiveExecClientConfig, frozen=True, kw_only=True):
    """Alpaca order entry over the trading REST API, order events from `trade_updates`.

    `trade_stream_url` None means the trading host's `/stream`. `clock_ttl_s` bounds how long a
    market-clock answer is trusted (the clock's next open/close bounds it too).
    """

    api_key: str
    secret_key: str
    trading_url: str = PAPER_TRADING_URL
    trade_stream_url: str | None = None
    clock_ttl_s: float = 60.0

    @property
    def stream_url(self) -> str:
        """The full `trade_updates` websocket URL."""
        if self.trade_stream_url:
            return self.trade_stream_url
        base = self.trading_url.rstrip("/")
        return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"

    @property
    def paper(self) -> bool:
        """Whether the trading URL is Alpaca's paper endpoint (alpaca-py wants to know)."""
        return self.trading_url.rstrip("/") == PAPER_TRADING_URL


@dataclass(frozen=True)
class ClientParts:
    """What the node and the factories hand each Alpaca client besides its config: the node's
    loop, message bus, cache and clock, the client's id, alpaca-py's trading REST client and
    the instrument provider built on it."""

    loop: asyncio.AbstractEventLoop
    client_id: ClientId
    msgbus: MessageBus
    cache: Cache
    clock: LiveClock
    rest: TradingClient
    provider: AlpacaInstrumentProvider

    def nautilus_kwargs(self) -> dict[str, Any]:
        """The keyword arguments that nautilus' live data and execution clients share."""
        return {
            "loop": self.loop,
            "client_id": self.client_id,
            "venue": ALPACA_VENUE,
            "msgbus": self.msgbus,
            "cache": self.cache,
            "clock": self.clock,
            "instrument_provider": self.provider,
        }


def alpaca_instrument_id(symbol: str) -> InstrumentId:
    """Nautilus' id of an Alpaca symbol: `AAPL.ALPACA`, or `BTC/USD.ALPACA` for crypto."""
    return InstrumentId.from_str(f"{symbol.upper()}.{ALPACA}")


def alpaca_clients(
    venue: AlpacaSettings, secrets: Secrets, instrument_id: InstrumentId
) -> tuple[AlpacaDataClientConfig, AlpacaExecClientConfig]:
    """The data and execution client configs for `venue`, loading only `instrument_id`. Keys
    come from `secrets` (ConfigError naming the environment variable when one is missing)."""
    keys = {
        "api_key": secrets.require("alpaca_api_key"),
        "secret_key": secrets.require("alpaca_secret_key"),
        "trading_url": venue.trading_url,
    }
    provider = InstrumentProviderConfig(load_ids=frozenset({instrument_id}))
    data = AlpacaDataClientConfig(
        **keys,
        data_url=venue.data_url or DATA_URL,
        data_stream_url=venue.data_stream_url or DATA_STREAM_URL,
        feed=venue.feed,
        instrument_provider=provider,
    )
    execution = AlpacaExecClientConfig(
        **keys, trade_stream_url=venue.trade_stream_url, instrument_provider=provider
    )
    return data, execution

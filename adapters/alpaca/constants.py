"""Names and endpoints of the Alpaca adapter.

alpaca-py's `url_override` is a base URL for its REST clients but the FULL URL for its
websockets, so the stream defaults below are complete URLs.
"""

from typing import Final

from nautilus_trader.model.identifiers import ClientId, Venue

ALPACA: Final[str] = "ALPACA"
ALPACA_VENUE: Final[Venue] = Venue(ALPACA)
ALPACA_CLIENT_ID: Final[ClientId] = ClientId(ALPACA)

PAPER_TRADING_URL: Final[str] = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL: Final[str] = "https://api.alpaca.markets"
DATA_URL: Final[str] = "https://data.alpaca.markets"
DATA_STREAM_URL: Final[str] = "wss://stream.data.alpaca.markets"
STOCK_STREAM_PATH: Final[str] = "/v2/{feed}"  # feed: iex or sip
CRYPTO_STREAM_PATH: Final[str] = "/v1beta3/crypto/us"
PAPER_TRADE_STREAM_URL: Final[str] = "wss://paper-api.alpaca.markets/stream"
LIVE_TRADE_STREAM_URL: Final[str] = "wss://api.alpaca.markets/stream"

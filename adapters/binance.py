"""nautilus' own Binance adapter, configured for this bot.

- The default market is USDT-M futures in one-way mode: the venue nets every strategy's orders
  into one `-BOTH` position, and each strategy keeps its own NETTING position in nautilus.
- `use_reduce_only=False`: Binance would check reduce-only against the venue's net position,
  which the other strategies share, and reject a strategy's legitimate close.
- Spot is supported long only (the strategies clip their signals to 0..1 there).
- Testnet is selectable, and both base URLs can be overridden (the tests aim them at the fake).
  Keys come from the environment only: nautilus reads them even for market data.
"""

from nautilus_trader.adapters.binance import (
    BINANCE,
    BinanceAccountType,
    BinanceDataClientConfig,
    BinanceExecClientConfig,
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
)

from bot.settings import BinanceSettings, Secrets

MARKETS = {"usdt_futures": BinanceAccountType.USDT_FUTURES, "spot": BinanceAccountType.SPOT}
FACTORIES = (BINANCE, BinanceLiveDataClientFactory, BinanceLiveExecClientFactory)


def binance_clients(
    venue: BinanceSettings, secrets: Secrets
) -> tuple[BinanceDataClientConfig, BinanceExecClientConfig]:
    """The data and execution client configs for `venue`, keys from `secrets` (ConfigError
    naming the environment variable when one is missing)."""
    common = {
        "api_key": secrets.require("binance_api_key"),
        "api_secret": secrets.require("binance_api_secret"),
        "account_type": MARKETS[venue.market],
        "base_url_http": venue.base_url_http,
        "base_url_ws": venue.base_url_ws,
        "testnet": venue.testnet,
    }
    data = BinanceDataClientConfig(**common)
    execution = BinanceExecClientConfig(
        **common,
        use_reduce_only=False,
        use_position_ids=False,  # one-way mode: the venue's position is `-BOTH`
        recv_window_ms=venue.recv_window_ms,
    )
    return data, execution


def is_long_only(venue: BinanceSettings) -> bool:
    """Spot cannot go short: its strategies trade long only."""
    return venue.market == "spot"

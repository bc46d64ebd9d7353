"""nautilus' own Binance adapter, configured for this bot.

- The default market is USDT-M futures in one-way mode: the venue nets every strategy's orders
  into one `-BOTH` position, and each strategy keeps its own NETTING position in nautilus.
- `use_reduce_only=False`: Binance would check reduce-only against the venue's net position,
  which the other strategies share, and reject a strategy's legitimate close.
- Spot is supported long only (the strategies clip their signals to 0..1 there).
- Testnet is selectable, and both base URLs can be overridden (the tests aim them at the fake).
- Futures orders go through `adapters.binance.execution`'s guarded client: a circuit breaker for
  429/418, unknown outcomes on 5xx kept for the in-flight check, orders re-queried after a
  user-stream reconnect.
  Keys come from the environment only: nautilus reads them even for market data.
"""

from nautilus_trader.adapters.binance import (
    BINANCE,
    BinanceAccountType,
    BinanceDataClientConfig,
    BinanceLiveDataClientFactory,
)

from adapters.binance.execution import (
    GuardedBinanceExecClientConfig,
    GuardedBinanceLiveExecClientFactory,
)
from bot.core.breaker import Backoff
from bot.core.settings import BinanceSettings, Secrets

MARKETS = {"usdt_futures": BinanceAccountType.USDT_FUTURES, "spot": BinanceAccountType.SPOT}
FACTORIES = (BINANCE, BinanceLiveDataClientFactory, GuardedBinanceLiveExecClientFactory)


def binance_clients(
    venue: BinanceSettings, secrets: Secrets, backoff: Backoff | None = None
) -> tuple[BinanceDataClientConfig, GuardedBinanceExecClientConfig]:
    """The data and execution client configs for `venue`, keys from `secrets` (ConfigError
    naming the environment variable when one is missing); `backoff` is the execution client's
    circuit-breaker waits after 429/418 (`Backoff()` by default)."""
    backoff = backoff or Backoff()
    common = {
        "api_key": secrets.require("binance_api_key"),
        "api_secret": secrets.require("binance_api_secret"),
        "account_type": MARKETS[venue.market],
        "base_url_http": venue.base_url_http,
        "base_url_ws": venue.base_url_ws,
        "testnet": venue.testnet,
    }
    data = BinanceDataClientConfig(**common)
    execution = GuardedBinanceExecClientConfig(
        **common,
        backoff_initial_s=backoff.initial_s,
        backoff_max_s=backoff.max_s,
        ban_default_s=backoff.ban_default_s,
        use_reduce_only=False,
        use_position_ids=False,  # one-way mode: the venue's position is `-BOTH`
        recv_window_ms=venue.recv_window_ms,
    )
    return data, execution


def is_long_only(venue: BinanceSettings) -> bool:
    """Spot cannot go short: its strategies trade long only."""
    return venue.market == "spot"

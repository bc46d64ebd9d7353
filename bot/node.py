"""One node builder: the same router actor and eleven strategies in every mode.

- `bot.router.assemble` adds the RouterActor and the strategies to a live node's Trader exactly
  as backtests add them to their engine, so the components and their configs are identical;
  only the venue block differs.
- `build_trading_node` builds a nautilus `TradingNode` for a venue from the settings: the
  venue's data and execution clients, start-up reconciliation with the venue, the pre-trade
  limits of `[risk]`, and the routed strategies on one instrument.
- The cache is nautilus' in-memory one here: positions and router state do not yet survive a
  restart. Redis persistence (`CacheConfig(database=...)`) is the next layer on this builder.
- Warm-up: each strategy requests its own history bars at start (`RoutedStrategy.on_start`);
  the router actor does not yet, so its first decisions see only the bars streamed since start.
"""

import asyncio
import json

import msgspec
from nautilus_trader.config import (
    InstrumentProviderConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import BarSpecification, BarType
from nautilus_trader.model.enums import AggregationSource, PriceType
from nautilus_trader.model.identifiers import InstrumentId

from adapters.binance import FACTORIES, binance_clients, is_long_only
from bot.errors import ConfigError
from bot.logging import nautilus_logging, new_run_id
from bot.risk import RiskGuard, risk_engine_config, risk_guard_config
from bot.router import RouterActorConfig, assemble
from bot.settings import BinanceSettings, Secrets, Settings
from bot.validation import bar_interval
from strategies import build_strategies

VENUES = ("binance",)
_BINANCE_SUFFIX = {"usdt_futures": "-PERP", "spot": ""}


def binance_instrument_id(symbol: str, venue: BinanceSettings) -> InstrumentId:
    """Nautilus' id of a Binance symbol, e.g. `BTCUSDT-PERP.BINANCE` on USDT-M futures."""
    return InstrumentId.from_str(f"{symbol.upper()}{_BINANCE_SUFFIX[venue.market]}.BINANCE")


def external_bar_type(instrument_id: InstrumentId, bar: str) -> BarType:
    """The venue-aggregated last-price bars of size `bar` (e.g. "1m") on `instrument_id`."""
    spec = BarSpecification.from_timedelta(bar_interval(bar).to_pytimedelta(), PriceType.LAST)
    return BarType(instrument_id, spec, AggregationSource.EXTERNAL)


def router_config(
    settings: Settings, instrument_id: InstrumentId, bar_type: BarType, symbol: str
) -> RouterActorConfig:
    """The router actor's config from `[router]` (decisions from the first bar on)."""
    router = settings.router
    return RouterActorConfig(
        instrument_id=instrument_id,
        bar_type=bar_type,
        policy=router.policy,
        fallback=router.fallback,
        timeout_s=router.timeout_s,
        window=router.window,
        seed=router.seed,
        weights_json=json.dumps(router.weights),
        symbol=symbol,
    )


def build_trading_node(
    settings: Settings,
    secrets: Secrets,
    *,
    venue: str = "binance",
    symbol: str,
    bar: str,
    run_id: str | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    timeout_post_stop: float = 10.0,
) -> TradingNode:
    """A built (not yet running) TradingNode trading `symbol` on `bar` bars at `venue`, its
    trader holding the router actor and the strategies. Keys come from `secrets` (ConfigError
    naming the environment variable when one is missing).

    `loop` is the event loop the node runs on; create the node in the main thread (nautilus
    installs its signal handlers there) even when the loop runs in another one.
    `timeout_post_stop` is how long a stopping node waits for in-flight orders to settle before
    it reports residual orders and positions.
    """
    if venue not in VENUES:
        raise ConfigError(
            f"venue {venue!r} has no live node yet; choose one of {', '.join(VENUES)}."
        )
    venue_settings = settings.venues.binance
    instrument_id = binance_instrument_id(symbol, venue_settings)
    bar_type = external_bar_type(instrument_id, bar)
    data, execution = _binance_clients(venue_settings, secrets, instrument_id)
    config = TradingNodeConfig(
        trader_id="MMDREX-001",
        logging=nautilus_logging(settings.logging, run_id or new_run_id()),
        exec_engine=LiveExecEngineConfig(reconciliation=True),
        risk_engine=_live(risk_engine_config(settings.risk, [instrument_id])),
        data_clients={"BINANCE": data},
        exec_clients={"BINANCE": execution},
        timeout_post_stop=timeout_post_stop,
    )
    node = TradingNode(config=config, loop=loop)
    name, data_factory, exec_factory = FACTORIES
    node.add_data_client_factory(name, data_factory)
    node.add_exec_client_factory(name, exec_factory)
    node.build()
    strategies = build_strategies(instrument_id, bar_type, long_only=is_long_only(venue_settings))
    # The guard goes first: on the bar that trips it, it flattens before any strategy trades.
    guard = RiskGuard(risk_guard_config(settings.risk, bar_type))
    node.trader.add_actor(guard)
    assemble(node.trader, strategies, router_config(settings, instrument_id, bar_type, symbol))
    guard.watch(strategies, node.kernel.risk_engine)
    return node


def _binance_clients(venue: BinanceSettings, secrets: Secrets, instrument_id: InstrumentId):
    # Load only the traded instrument at connect: the whole exchange is thousands of symbols.
    provider = InstrumentProviderConfig(load_ids=frozenset({instrument_id}))
    return tuple(
        msgspec.structs.replace(client, instrument_provider=provider)
        for client in binance_clients(venue, secrets)
    )


def _live(config) -> LiveRiskEngineConfig:
    # The live kernel checks for the live subclass; the limits are the same fields.
    return LiveRiskEngineConfig(**msgspec.structs.asdict(config))
